"""Integer golden model, bit-exact with the RTL: a driver of any cell's step.

The shared part, for element n and spike step k of a layer (DESIGN §2.1, §5)::

    z(n,k) = sat_acc(W_x . x(n,k) + W_h . h(n-1,k) + b)     exact sum, one saturation
    u(n,k), carry(n,k), h(n,k), record = cell.step(z(n,k), u(n,k-1), carry(n-1,k))
    u(n,-1) = u0,  carry(-1,k) = 0,  h(-1,k) = 0

Readout: ``logits = sat_logit(b_out + sum_k W_out . h_last(N-1, k))`` and the same per
element, or the sum over the sequence of a leaky integrator of the per-element sums
(``readout="integrator"``, :func:`readout`). The cell's step (:mod:`model.cells`, e.g. the Datta spiking LSTM in
:mod:`model.cells.datta`) and every rule here are taken from :mod:`model.numerics`.

Two evaluation orders share the step: :func:`run_element_major` goes element
by element and :func:`run_wavefront` fires every cell with ``n + k + layer == s`` at
global step ``s``. They must agree exactly; :func:`run` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import numerics as nr
from .cells import GoldenOps, constants, start_values
from .config import NetworkConfig
from .encoding import encode
from .params import NetworkParams

__all__ = ["LayerTrace", "GoldenResult", "cell_step", "gate_inputs", "readout", "run",
           "run_wavefront", "run_element_major"]


class LayerTrace:
    """Everything one layer produced, indexed ``[B, N, T, ...]``.

    ``h [B, N, T, H]`` the ternary output; ``u [B, N, T, S, H]`` the membranes after
    step k (if recorded); the cell's ``RECORD`` outputs (Datta: ``gates [B, N, T, 4,
    H]``, a spike or the non-spiking gate's value; ``c``; ``s_c``, the c spike) are
    attributes of the same names.
    """

    def __init__(self, h: np.ndarray, u: np.ndarray | None = None, **record):
        self.h, self.u, self.record = h, u, record

    def __getattr__(self, name):
        record = self.__dict__.get("record", {})
        if name in record:
            return record[name]
        raise AttributeError(f"this layer trace has no {name!r} (it has h, u, {', '.join(record)})")


@dataclass
class GoldenResult:
    logits: np.ndarray           # [B, classes] int64, readout of the last element
    predicted: np.ndarray        # [B] class index (ties to the lowest index)
    element_logits: np.ndarray   # [B, N, classes] int64, per-element readout
    layers: list[LayerTrace]
    stats: dict = field(default_factory=dict)


def _spike_matmul(spikes, w_t):
    """``spikes @ w_t`` for a ternary spike array; sparse when few spikes are set.

    Exact either way: the result is a sum of integer weights in a float type that
    holds it (see :func:`_exact_dtype`).
    """
    flat = spikes.reshape(-1, spikes.shape[-1])
    if np.count_nonzero(flat) < 0.2 * flat.size:
        from scipy.sparse import csr_matrix
        out = np.asarray(csr_matrix(flat.astype(w_t.dtype)) @ w_t)
    else:
        out = flat.astype(w_t.dtype) @ w_t
    return out.reshape(*spikes.shape[:-1], w_t.shape[-1])


def gate_inputs(cfg: NetworkConfig, layer: int, w_h_t, bias, x_part, h_prev, tally):
    """Saturated gate inputs ``z [..., G, H]``.

    ``x_part`` is ``W_x . x`` (already summed), ``h_prev`` the ternary h of the
    previous element at the same step. The sums run in float BLAS, in a type
    that :func:`_exact_dtype` has checked holds them exactly.
    """
    z = x_part + _spike_matmul(h_prev, w_h_t) + bias
    # saturated in int64 (which holds every exact sum, see _exact_dtype), then narrowed:
    # a sum beyond the state type must clamp, not wrap
    z = z.astype(np.int64).reshape(*z.shape[:-1], cfg.cell_def().gates, cfg.hidden[layer])
    return nr.saturate(z, cfg.acc_bits, tally, "acc").astype(_state_dtype(cfg))


def cell_step(cfg: NetworkConfig, lp, z, u, carry, tally):
    """One cell (n, k) of the configured cell for any leading batch shape, with the
    layer parameters ``lp``: ``(u_next, carry_next, h, record)``
    (:meth:`model.cells.Cell.step`)."""
    cell = cfg.cell_def()
    return cell.step(cfg, constants(cell, lp), z, u, tuple(carry), GoldenOps(cfg, tally))


def _state_dtype(cfg: NetworkConfig):
    """Integer type for membranes and sums: int32 unless a sum of two of the widest
    values could leave it."""
    return np.int32 if max(cfg.acc_bits, cfg.u_bits, cfg.c_bits) < 31 else np.int64


def _h_dtype(cfg: NetworkConfig):
    """Integer type of the h traces: int8 for spikes, wider for a multi-bit cell output."""
    bits = cfg.cell_def().h_bits(cfg)
    return np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32


def _exact_dtype(cfg: NetworkConfig, layer: int):
    """A type whose sums of this layer's gate inputs are exact integers: float32 (BLAS)
    when the largest possible magnitude (:meth:`NetworkConfig.gate_sum_bound`) is below
    2**24, float64 below 2**53, else int64 (NumPy's integer matmul: exact, slower;
    validation refuses configurations whose bound reaches 2**62)."""
    bound = cfg.gate_sum_bound(layer)
    if bound < 1 << 24:
        return np.float32
    return np.float64 if bound < 1 << 53 else np.int64


def _layer_x_part(cfg, layer, lp, x):
    """``W_x . x`` for every (n, k): ``[B, N, T, 4H]`` (exact integers in a float type)."""
    w_x_t = _w_x_t(cfg, layer, lp)
    dt = w_x_t.dtype
    if x.ndim == 3:  # direct input: the same features at every step
        part = x.astype(dt) @ w_x_t
        return np.broadcast_to(part[:, :, None, :], (x.shape[0], cfg.length, cfg.steps, part.shape[-1]))
    return x.astype(dt) @ w_x_t


def _w_x_t(cfg, layer, lp):
    return lp.w_x.reshape(-1, lp.w_x.shape[-1]).T.astype(_exact_dtype(cfg, layer))


def _w_h_t(cfg, layer, lp):
    return lp.w_h.reshape(-1, lp.w_h.shape[-1]).T.astype(_exact_dtype(cfg, layer))


def _bias(cfg, layer, lp):
    return lp.bias.reshape(-1).astype(_exact_dtype(cfg, layer))


def readout(cfg: NetworkConfig, params: NetworkParams, h_last: np.ndarray, tally):
    """Accumulate-only readout of the top layer's h ``[B, N, T, H]``.

    Returns ``(logits [B, C], per-element logits [B, N, C])``: the logits are the
    last element's, or with ``readout="integrator"`` the sum of the leaky integrator
    over the sequence (:func:`model.numerics.integrate_readout`); the per-element
    logits are each element's readout sum ``r(n)``, saturated.
    """
    # exact: float64 BLAS while every sum stays below 2**53, else int64 (validation keeps
    # the bound below 2**62, NetworkConfig.readout_sum_bound)
    dt = np.float64 if cfg.readout_sum_bound() < 1 << 53 else np.int64
    summed = h_last.astype(dt).sum(axis=2)  # sum over the T steps
    raw = (summed @ params.w_out.T.astype(dt)).astype(np.int64) + params.b_out
    if cfg.readout == "integrator":
        total = nr.integrated_sum(raw, cfg.readout_leak)
    else:
        total = raw[:, -1]
    logits = nr.saturate(total, cfg.logit_bits, tally, "logit")  # the counted readout
    return logits, nr.saturate(raw, cfg.logit_bits)


def _new_tally():
    return {"acc": 0, "membrane": 0, "c": 0, "logit": 0}


def _stats(cfg: NetworkConfig, x_layers, traces, tally, h_last):
    """Activity figures the hardware reports need (all totals over the batch)."""
    cell = cfg.cell_def()
    stats = {"batch": int(traces[0].h.shape[0]), "saturations": dict(tally), "layers": []}
    total_ac = total_mac = 0
    for l, (x, tr) in enumerate(zip(x_layers, traces)):
        rows = cell.gates * cfg.hidden[l]  # weights touched by one input event
        # One accumulate per active input spike per weight row it touches (G gates x H);
        # a multi-bit input (direct features, a multi-bit h) costs a multiply-accumulate.
        multibit_h = cell.h_bits(cfg) > 2
        h_prev_events = int(np.count_nonzero(tr.h[:, :-1]))
        x_multibit = x.ndim == 3 or (l > 0 and multibit_h)
        x_events = int(np.count_nonzero(x)) * (cfg.steps if x.ndim == 3 else 1)
        macs = (x_events * x_multibit + h_prev_events * multibit_h) * rows
        acs = (x_events * (not x_multibit) + h_prev_events * (not multibit_h)) * rows
        own = cell.activity(cfg, tr, x.shape[0] * cfg.length * cfg.steps)
        stats["layers"].append({
            **{k: v for k, v in own.items() if k != "comparisons"},
            "h_spikes": int(np.count_nonzero(tr.h)),
            "input_events": x_events,
            "recurrent_events": h_prev_events,
            "acs": acs,
            "macs": macs,
            "comparisons": own["comparisons"],
        })
        total_ac += acs
        total_mac += macs
    # the readout adds the W_out column of every non-zero h it reads: the last
    # element's, or every element's for the integrator (which adds twice per class and
    # element besides: the leak and the sum, counted as readout_adds) and the
    # per-element readout
    read = h_last if cfg.reads_every_element else h_last[:, -1]
    readout_events = int(np.count_nonzero(read)) * cfg.classes
    if cfg.readout == "integrator":
        stats["readout_adds"] = 2 * cfg.classes * cfg.length * stats["batch"]
    multibit_h = cell.h_bits(cfg) > 2
    stats["readout_acs"] = 0 if multibit_h else readout_events
    stats["readout_macs"] = readout_events if multibit_h else 0
    stats["acs"] = total_ac + stats["readout_acs"]
    stats["macs"] = total_mac + stats["readout_macs"]
    return stats


def run(cfg: NetworkConfig, params: NetworkParams, x, order: str = "element",
        record_membranes: bool = False) -> GoldenResult:
    """Evaluate a batch of raw inputs (see :func:`model.encoding.check_input`).

    ``order`` picks the evaluation order, ``"element"`` (the default, slightly faster
    on a large batch) or ``"wavefront"``; both give identical results.
    ``record_membranes`` keeps every membrane after every step in the traces.
    Parameters out of their declared ranges (or of the wrong shape or dtype) raise
    :class:`model.config.ConfigError` naming the array.
    """
    params.validate(cfg)  # once per call: shapes, integer dtypes, every value in range
    if order == "wavefront":
        return run_wavefront(cfg, params, x, record_membranes)
    if order == "element":
        return run_element_major(cfg, params, x, record_membranes)
    raise ValueError(f"unknown evaluation order {order!r}; choose 'wavefront' or 'element'")


class _LayerState:
    """The arrays one layer fills, ``[B, N, T, ...]``, and its fixed inputs."""

    def __init__(self, cfg: NetworkConfig, layer: int, lp, batch: int, record_membranes: bool):
        cell = self.cell = cfg.cell_def()
        h_size, shape = cfg.hidden[layer], (batch, cfg.length, cfg.steps)
        self.p = constants(cell, lp)
        self.u0 = start_values(cell, cfg, layer, lp)
        self.w_h_t, self.bias = _w_h_t(cfg, layer, lp), _bias(cfg, layer, lp)
        self.h = np.zeros((*shape, h_size), _h_dtype(cfg))
        self.carry = [np.zeros((*shape, h_size), _state_dtype(cfg)) for _ in cell.CARRY]
        self.record = {name: np.zeros((*shape, *cell.record_shape(name), h_size),
                                      cell.record_dtype(name, cfg))
                       for name in cell.RECORD}
        self.u_all = (np.zeros((*shape, len(cell.MEMBRANES), h_size), np.int64)
                      if record_membranes else None)

    def store(self, n, k, u, carry, h, record):
        self.h[:, n, k] = h
        for store, value in zip(self.carry, carry):
            store[:, n, k] = value
        for name, value in record.items():
            self.record[name][:, n, k] = value
        if self.u_all is not None:
            self.u_all[:, n, k] = u

    def previous(self, n, k):
        """h and carry of element n-1 at step k (zero for n = 0); ``n``, ``k`` arrays."""
        has_prev = n > 0
        h_prev = np.zeros((self.h.shape[0], n.size, self.h.shape[-1]), self.h.dtype)
        h_prev[:, has_prev] = self.h[:, n[has_prev] - 1, k[has_prev]]
        carry = []
        for store in self.carry:
            value = np.zeros((store.shape[0], n.size, store.shape[-1]), store.dtype)
            value[:, has_prev] = store[:, n[has_prev] - 1, k[has_prev]]
            carry.append(value)
        return h_prev, carry

    def trace(self) -> LayerTrace:
        return LayerTrace(self.h, self.u_all, **self.record)


def run_element_major(cfg: NetworkConfig, params: NetworkParams, x,
                      record_membranes: bool = False) -> GoldenResult:
    """Evaluate in element-major order: all T steps of element n, then element n+1."""
    x = encode(cfg, x)
    tally = _new_tally()
    ops = GoldenOps(cfg, tally)
    b = x.shape[0]
    layer_in = x
    x_layers, traces = [], []
    for l, lp in enumerate(params.layers):
        st = _LayerState(cfg, l, lp, b, record_membranes)
        cell, h_size = st.cell, cfg.hidden[l]
        x_part = _layer_x_part(cfg, l, lp, layer_in)
        h_prev = np.zeros((b, cfg.steps, h_size), _h_dtype(cfg))
        carry_prev = [np.zeros((b, cfg.steps, h_size), _state_dtype(cfg)) for _ in cell.CARRY]
        for n in range(cfg.length):
            z = gate_inputs(cfg, l, st.w_h_t, st.bias, x_part[:, n], h_prev, tally)
            u = np.broadcast_to(st.u0, (b, *st.u0.shape)).astype(_state_dtype(cfg))
            for k in range(cfg.steps):
                u, carry, h, record = cell.step(cfg, st.p, z[:, k], u,
                                                tuple(c[:, k] for c in carry_prev), ops)
                st.store(n, k, u, carry, h, record)
            h_prev = st.h[:, n]
            carry_prev = [store[:, n] for store in st.carry]
        x_layers.append(layer_in)
        traces.append(st.trace())
        layer_in = st.h
    logits, per_elem = readout(cfg, params, layer_in, tally)
    return GoldenResult(logits, nr.argmax_first(logits), per_elem, traces,
                        _stats(cfg, x_layers, traces, tally, layer_in))


def run_wavefront(cfg: NetworkConfig, params: NetworkParams, x,
                  record_membranes: bool = False) -> GoldenResult:
    """Evaluate in wavefront order: global step s fires every cell (layer, n, k) with
    ``layer + n + k == s`` at once, so a sequence takes ``T + N - 1 + layers - 1``
    steps. Each NumPy call batches the up to T cells of one global step.
    """
    x = encode(cfg, x)
    tally = _new_tally()
    ops = GoldenOps(cfg, tally)
    b = x.shape[0]
    n_layers, big_n, big_t = cfg.layers, cfg.length, cfg.steps
    state, u = [], []
    for l, lp in enumerate(params.layers):
        st = _LayerState(cfg, l, lp, b, record_membranes)
        st.w_x_t = _w_x_t(cfg, l, lp)
        state.append(st)
        u.append(np.broadcast_to(st.u0, (b, big_n, *st.u0.shape)).astype(_state_dtype(cfg)).copy())
    for s in range(big_t + big_n - 1 + n_layers - 1):
        for l, st in enumerate(state):
            ns = np.array([n for n in range(big_n) if 0 <= s - l - n < big_t], dtype=np.int64)
            if ns.size == 0:
                continue
            ks = s - l - ns
            if l == 0:
                xin = x[:, ns] if x.ndim == 3 else x[:, ns, ks]
            else:
                xin = state[l - 1].h[:, ns, ks]
            x_part = xin.astype(st.w_x_t.dtype) @ st.w_x_t
            h_prev, carry_prev = st.previous(ns, ks)
            z = gate_inputs(cfg, l, st.w_h_t, st.bias, x_part, h_prev, tally)
            u_next, carry, h, record = st.cell.step(cfg, st.p, z, u[l][:, ns], tuple(carry_prev), ops)
            u[l][:, ns] = u_next
            st.store(ns, ks, u_next, carry, h, record)
    traces = [st.trace() for st in state]
    x_layers = [x] + [t.h for t in traces[:-1]]
    h_last = traces[-1].h
    logits, per_elem = readout(cfg, params, h_last, tally)
    return GoldenResult(logits, nr.argmax_first(logits), per_elem, traces,
                        _stats(cfg, x_layers, traces, tally, h_last))

"""Integer golden model of the Datta spiking LSTM, bit-exact with the RTL.

The cell (DESIGN §2.1), for element n and spike step k, gates a in (f, i, o, g)::

    z_a(n,k) = sat_acc(W_ax . x(n,k) + W_ah . h(n-1,k) + b_a)     exact sum, one saturation
    U_a(n,k) = sat_u(leak_a(U_a(n,k-1)) + z_a(n,k)),  U_a(n,-1) = U0_a
    f, o, i  = binary spike of U (u > theta), soft reset       (i: or hard sigmoid of z)
    g        = ternary spike of U (+1 above theta+, -1 below -theta-), soft reset
                                                               (or hard tanh of z)
    c(n,k)   = sat_c((f ? c(n-1,k) : 0) + i*g)
    U_c(n,k) = sat_u(leak_c(U_c(n,k-1)) + c(n,k)),  s_c = ternary spike of U_c
    h(n,k)   = o ? s_c : 0                                     in {-1, 0, +1}

Readout: ``logits = sat_logit(b_out + sum_k W_out . h_last(N-1, k))`` and the same per
element. Every rule is taken from :mod:`model.numerics`.

Two evaluation orders share :func:`cell_step`: :func:`run_element_major` goes element
by element and :func:`run_wavefront` fires every cell with ``n + k + layer == s`` at
global step ``s``. They must agree exactly; :func:`run` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import numerics as nr
from .config import NetworkConfig
from .encoding import encode
from .params import NetworkParams

__all__ = ["LayerTrace", "GoldenResult", "cell_step", "gate_inputs", "readout", "run",
           "run_wavefront", "run_element_major"]


@dataclass
class LayerTrace:
    """Everything one layer produced, indexed ``[B, N, T, H]``.

    ``gates[..., a, :]`` holds gate a's output: a spike, or the multi-bit value of the
    non-spiking gate. ``s_c`` is the ternary spike of the LIF on c.
    """
    gates: np.ndarray  # [B, N, T, 4, H] int16
    c: np.ndarray      # [B, N, T, H] int32
    s_c: np.ndarray    # [B, N, T, H] int8
    h: np.ndarray      # [B, N, T, H] int8
    u: np.ndarray | None = None  # [B, N, T, 5, H] membranes after step k (if recorded)


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
    """Saturated gate inputs ``z [..., 4, H]``.

    ``x_part`` is ``W_x . x`` (already summed), ``h_prev`` the ternary h of the
    previous element at the same step. The sums run in float BLAS, in a type
    that :func:`_exact_dtype` has checked holds them exactly.
    """
    z = x_part + _spike_matmul(h_prev, w_h_t) + bias
    z = z.astype(_state_dtype(cfg)).reshape(*z.shape[:-1], 4, cfg.hidden[layer])
    return nr.saturate(z, cfg.acc_bits, tally, "acc")


def cell_step(cfg: NetworkConfig, theta_pos, theta_neg, z, u, c_prev, tally):
    """One cell (n, k) for any leading batch shape.

    ``z [..., 4, H]`` gate inputs, ``u [..., 5, H]`` membranes after step k-1,
    ``c_prev [..., H]`` c of element n-1 at step k. Returns
    ``(u_next, gates [..., 4, H], c, s_c, h)``.
    """
    u_next = u.copy()
    outs = []
    for a, gate in enumerate(nr.GATES):
        za = z[..., a, :]
        if gate == cfg.nonspiking:
            if gate == "i":
                outs.append(nr.hard_sigmoid_q(za, cfg.ns_shift, cfg.ns_bits))
            else:
                outs.append(nr.hard_tanh_q(za, cfg.ns_shift, cfg.ns_bits))
            continue
        v = nr.membrane_update(u[..., a, :], za, cfg.leak_shift[a], cfg.u_bits, tally)
        if gate == "g":
            spike, v = nr.fire_ternary(v, int(theta_pos[a]), int(theta_neg[a]))
        else:
            spike, v = nr.fire_binary(v, int(theta_pos[a]))
        u_next[..., a, :] = v
        outs.append(spike)
    f, i, o, g = outs
    ig = nr.gate_product(i, g, cfg.i_spiking)
    c = nr.c_update(f, c_prev, ig, cfg.c_bits, tally)
    ci = nr.MEMBRANES.index("c")
    vc = nr.membrane_update(u[..., ci, :], c, cfg.leak_shift[ci], cfg.u_bits, tally)
    s_c, vc = nr.fire_ternary(vc, int(theta_pos[ci]), int(theta_neg[ci]))
    u_next[..., ci, :] = vc
    h = nr.h_output(o, s_c)
    gates = np.stack([np.asarray(v, dtype=np.int16) for v in outs], axis=-2)
    return u_next, gates, c, s_c, h


def _state_dtype(cfg: NetworkConfig):
    """Integer type for membranes and sums: int32 unless a sum of two of the widest
    values could leave it."""
    return np.int32 if max(cfg.acc_bits, cfg.u_bits, cfg.c_bits) < 31 else np.int64


def _exact_dtype(cfg: NetworkConfig, layer: int):
    """The float type whose BLAS sums of this layer's gate inputs are exact integers:
    float32 when the largest possible magnitude is below 2**24, else float64."""
    w = 1 << (cfg.w_bits - 1)
    x_max = (1 << (cfg.x_bits - 1)) if (layer == 0 and cfg.encoding == "direct") else 1
    bound = (x_max * cfg.layer_inputs(layer) + cfg.hidden[layer]) * w + (1 << (cfg.acc_bits - 1))
    if bound >= 1 << 53:  # pragma: no cover - widths are capped at 32 bits
        raise ValueError("gate input sums exceed exact float64 range")
    return np.float32 if bound < (1 << 24) else np.float64


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

    Returns ``(logits of the last element [B, C], per-element logits [B, N, C])``.
    """
    summed = h_last.astype(np.float64).sum(axis=2)  # sum over the T steps
    raw = (summed @ params.w_out.T.astype(np.float64)).astype(np.int64) + params.b_out
    logits = nr.saturate(raw[:, -1], cfg.logit_bits, tally, "logit")  # the counted readout
    return logits, nr.saturate(raw, cfg.logit_bits)


def _new_tally():
    return {"acc": 0, "membrane": 0, "c": 0, "logit": 0}


def _stats(cfg: NetworkConfig, x_layers, traces, tally, h_last):
    """Activity figures the hardware reports need (all totals over the batch)."""
    stats = {"batch": int(traces[0].h.shape[0]), "saturations": dict(tally), "layers": []}
    total_ac = total_mac = 0
    for l, (x, tr) in enumerate(zip(x_layers, traces)):
        h_size = cfg.hidden[l]
        gate_spikes = {g: int(np.count_nonzero(tr.gates[..., a, :]))
                       for a, g in enumerate(nr.GATES) if g != cfg.nonspiking}
        # One accumulate per active input spike per weight row it touches (4 gates x H).
        h_prev_events = int(np.count_nonzero(tr.h[:, :-1]))
        if x.ndim == 3:  # direct: multiply-accumulates at every step
            x_events = int(np.count_nonzero(x)) * cfg.steps
            macs = x_events * 4 * h_size
            acs = h_prev_events * 4 * h_size
        else:
            x_events = int(np.count_nonzero(x))
            macs = 0
            acs = (x_events + h_prev_events) * 4 * h_size
        spiking = len(cfg.spiking_membranes)
        ternary = 1 + int(cfg.g_spiking)  # g (when spiking) and c compare twice
        cells = x.shape[0] * cfg.length * cfg.steps
        stats["layers"].append({
            "gate_spikes": gate_spikes,
            "c_spikes": int(np.count_nonzero(tr.s_c)),
            "h_spikes": int(np.count_nonzero(tr.h)),
            "input_events": x_events,
            "recurrent_events": h_prev_events,
            "acs": acs,
            "macs": macs,
            "comparisons": cells * h_size * (spiking + ternary),
        })
        total_ac += acs
        total_mac += macs
    readout_events = int(np.count_nonzero(h_last[:, -1]))
    stats["readout_acs"] = readout_events * cfg.classes
    stats["acs"] = total_ac + stats["readout_acs"]
    stats["macs"] = total_mac
    return stats


def run(cfg: NetworkConfig, params: NetworkParams, x, order: str = "element",
        record_membranes: bool = False) -> GoldenResult:
    """Evaluate a batch of raw inputs (see :func:`model.encoding.check_input`).

    ``order`` picks the evaluation order, ``"element"`` (the default, slightly faster
    on a large batch) or ``"wavefront"``; both give identical results.
    ``record_membranes`` keeps every membrane after every step in the traces.
    """
    if order == "wavefront":
        return run_wavefront(cfg, params, x, record_membranes)
    if order == "element":
        return run_element_major(cfg, params, x, record_membranes)
    raise ValueError(f"unknown evaluation order {order!r}; choose 'wavefront' or 'element'")


def run_element_major(cfg: NetworkConfig, params: NetworkParams, x,
                      record_membranes: bool = False) -> GoldenResult:
    """Evaluate in element-major order: all T steps of element n, then element n+1."""
    x = encode(cfg, x)
    tally = _new_tally()
    b = x.shape[0]
    layer_in = x
    x_layers, traces = [], []
    for l, lp in enumerate(params.layers):
        h_size = cfg.hidden[l]
        x_part = _layer_x_part(cfg, l, lp, layer_in)
        w_h_t, bias = _w_h_t(cfg, l, lp), _bias(cfg, l, lp)
        gates = np.zeros((b, cfg.length, cfg.steps, 4, h_size), np.int16)
        c_all = np.zeros((b, cfg.length, cfg.steps, h_size), np.int32)
        sc_all = np.zeros((b, cfg.length, cfg.steps, h_size), np.int8)
        h_all = np.zeros((b, cfg.length, cfg.steps, h_size), np.int8)
        u_all = (np.zeros((b, cfg.length, cfg.steps, 5, h_size), np.int64)
                 if record_membranes else None)
        h_prev = np.zeros((b, cfg.steps, h_size), np.int8)
        c_prev = np.zeros((b, cfg.steps, h_size), _state_dtype(cfg))
        for n in range(cfg.length):
            z = gate_inputs(cfg, l, w_h_t, bias, x_part[:, n], h_prev, tally)
            u = np.broadcast_to(lp.u0, (b, 5, h_size)).astype(_state_dtype(cfg))
            for k in range(cfg.steps):
                u, g_out, c, s_c, h = cell_step(cfg, lp.theta_pos, lp.theta_neg,
                                                z[:, k], u, c_prev[:, k], tally)
                gates[:, n, k], c_all[:, n, k], sc_all[:, n, k], h_all[:, n, k] = g_out, c, s_c, h
                if u_all is not None:
                    u_all[:, n, k] = u
            h_prev = h_all[:, n]
            c_prev = c_all[:, n].astype(_state_dtype(cfg))
        x_layers.append(layer_in)
        traces.append(LayerTrace(gates, c_all, sc_all, h_all, u_all))
        layer_in = h_all
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
    b = x.shape[0]
    n_layers, big_n, big_t = cfg.layers, cfg.length, cfg.steps
    state = []
    for l, lp in enumerate(params.layers):
        h_size = cfg.hidden[l]
        state.append({
            "w_x_t": _w_x_t(cfg, l, lp), "w_h_t": _w_h_t(cfg, l, lp),
            "bias": _bias(cfg, l, lp),
            "u": np.broadcast_to(lp.u0, (b, big_n, 5, h_size)).astype(_state_dtype(cfg)).copy(),
            "gates": np.zeros((b, big_n, big_t, 4, h_size), np.int16),
            "c": np.zeros((b, big_n, big_t, h_size), np.int32),
            "s_c": np.zeros((b, big_n, big_t, h_size), np.int8),
            "h": np.zeros((b, big_n, big_t, h_size), np.int8),
            "u_all": (np.zeros((b, big_n, big_t, 5, h_size), np.int64)
                      if record_membranes else None),
        })
    for s in range(big_t + big_n - 1 + n_layers - 1):
        for l, lp in enumerate(params.layers):
            st = state[l]
            ns = np.array([n for n in range(big_n) if 0 <= s - l - n < big_t], dtype=np.int64)
            if ns.size == 0:
                continue
            ks = s - l - ns
            if l == 0:
                xin = x[:, ns] if x.ndim == 3 else x[:, ns, ks]
            else:
                xin = state[l - 1]["h"][:, ns, ks]
            w_x_t = st["w_x_t"]
            x_part = xin.astype(w_x_t.dtype) @ w_x_t
            h_size = cfg.hidden[l]
            h_prev = np.zeros((b, ns.size, h_size), np.int8)
            c_prev = np.zeros((b, ns.size, h_size), _state_dtype(cfg))
            has_prev = ns > 0
            h_prev[:, has_prev] = st["h"][:, ns[has_prev] - 1, ks[has_prev]]
            c_prev[:, has_prev] = st["c"][:, ns[has_prev] - 1, ks[has_prev]]
            z = gate_inputs(cfg, l, st["w_h_t"], st["bias"], x_part, h_prev, tally)
            u, g_out, c, s_c, h = cell_step(cfg, lp.theta_pos, lp.theta_neg, z,
                                            st["u"][:, ns], c_prev, tally)
            st["u"][:, ns] = u
            st["gates"][:, ns, ks], st["c"][:, ns, ks] = g_out, c
            st["s_c"][:, ns, ks], st["h"][:, ns, ks] = s_c, h
            if st["u_all"] is not None:
                st["u_all"][:, ns, ks] = u
    traces = [LayerTrace(st["gates"], st["c"], st["s_c"], st["h"], st["u_all"]) for st in state]
    x_layers = [x] + [t.h for t in traces[:-1]]
    h_last = traces[-1].h
    logits, per_elem = readout(cfg, params, h_last, tally)
    return GoldenResult(logits, nr.argmax_first(logits), per_elem, traces,
                        _stats(cfg, x_layers, traces, tally, h_last))

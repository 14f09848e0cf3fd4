"""NIR interchange: spikegate networks to and from the Neuromorphic Intermediate
Representation (the ``nir`` package, 1.0.x), the graph format snnTorch, Norse, Lava,
Rockpool, Sinabs and others read and write.

What maps, and how exactly
--------------------------
A NIR graph has one time axis; its neurons keep their membrane from one time step to
the next and reset it to ``v_reset`` when they fire. spikegate has two axes (element n,
spike step k). The one exact correspondence is **one NIR time step = one element n**,
at ``steps = 1``, with the membrane carried from element n-1 to n: the ``lif`` cell
(:mod:`model.cells.lif`). Its layers map node for node::

    Input -> Affine(w_x, bias) -> LIF | IF -> ... -> Affine(w_out, b_out) -> Output
                                   ^    |
                                   +----+  Linear(w_h)   (recurrent: h of step n-1)

Conventions of the graphs this module writes, and expects when it reads:

* ``dt = 1``: one time step per element; an edge into a neuron from its own output
  (the recurrent ``Linear``) carries the spikes of the previous time step, as in
  snnTorch's ``RLeaky`` and every NIR simulator of recurrent graphs;
* every value is an exact integer stored as a float64 array (exact up to 2**53; the
  widths spikegate accepts stay below 2**32);
* ``LIF``: ``tau = 2**s`` (``s`` the cell's ``leak_shift``, so ``dt / tau = 2**-s``),
  ``r = tau / dt`` so that a unit input adds 1 to the membrane, ``v_leak = 0``,
  ``v_reset = 0``, ``v_threshold = theta``: Euler's ``v + dt/tau (v_leak - v + r I)`` is
  then ``v - v / 2**s + I``. ``leak_shift = 0`` (no leak) is an ``IF`` node with
  ``r = 1``. Spikes are ``v > v_threshold`` (strict), then ``v = v_reset``;
* the readout ``Affine`` gives spikegate's per-element logits at every time step; the
  network's logits (and its class, the largest logit) are the ``Output`` at the last
  time step;
* NIR does not carry spikegate's integer rules, which stay the hardware's: the leak is
  a floor (``v - (v >> s)``, an arithmetic shift), and the gate sum, the membrane and
  the logits saturate at ``acc_bits``, ``u_bits`` and ``logit_bits``. A float
  simulator of the graph agrees with the golden model exactly when no membrane leaks
  a value that is not a multiple of ``2**s`` and nothing saturates (always, for IF
  graphs within the widths); the widths travel in the graph's metadata
  (``spikegate_config``) so that an import restores them;
* the lif cell has no start values: every membrane starts at 0 (NIR's initial state);
* input coding: the ``Input`` node receives what spikegate's first layer receives at
  each element, spikes in {-1, 0, +1} (``encoding = "spikes"``) or the signed
  ``x_bits`` features (``"direct"``). The rate (LFSR) and level-crossing encoders have
  no NIR node: with ``encoded_input=True`` (``--encoded-input``) the graph takes the
  encoder's spikes (``model.encoding.encode``: M channels, 2M for level) and the
  encoder stays outside it.

What is refused, with one error naming what NIR lacks: the LSTM cells (``datta``,
``lstm``, ``slstm``: no element-wise product, no sigmoid or tanh node), ``if_neuron``
(soft reset and a membrane restarted every element), ``idsnn`` (a gated current:
products of signals, multi-bit outputs), ``steps > 1`` and, without
``encoded_input``, the rate and level encoders. On import: node types other than
``Input``, ``Affine``, ``Linear``, ``IF``, ``LIF``, ``CubaLIF`` and ``Output``; a
``CubaLIF`` whose synapse filters (``tau_syn`` other than ``dt``, or ``w_in`` other
than 1); leaks that are not ``2**-s``; per-neuron thresholds that differ within a
layer; ``v_leak`` or ``v_reset`` other than 0; graphs other than input -> recurrent
spiking layers -> readout; values that are not integers or do not fit the widths
(``quantize=True`` scales a float graph's weights into them instead, see
:func:`quantize_layers`).

    python -m model.nir export models/digits-lif --out build/digits-lif.nir
    python -m model.nir import build/digits-lif.nir --out build/models/from-nir
    python -m hw.nir import other.nir --out build/models/other --set length=20   # with ROM images
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import numerics as nr
from .cli import OutputError, check_writable, config_changes
from .config import ConfigError, NetworkConfig
from .params import LayerParams, NetworkParams

__all__ = ["NIRError", "CELL", "check_exportable", "to_nir", "from_nir", "quantize_layers",
           "write_graph", "read_graph", "main"]

#: the one cell whose networks are NIR graphs
CELL = "lif"
#: the metadata keys of the graphs this module writes
META_CONFIG, META_CONVENTIONS = "spikegate_config", "spikegate_conventions"
CONVENTIONS = ("dt=1, one time step per element (spikegate steps=1); recurrent edges carry "
               "the previous time step; LIF tau=2**s, r=tau, v_leak=0, v_reset=0 (hard reset), "
               "spike when v > v_threshold; integers stored as float64; spikegate floors the "
               "leak (v - (v >> s)) and saturates z, v and logits at acc_bits, u_bits, "
               "logit_bits; logits = Output at the last time step")

#: why each cell has no NIR form (the cells not named here have none either)
_NO_NIR = {
    "datta": "NIR has no element-wise product or sigmoid/tanh node (the Datta spiking "
             "LSTM multiplies its gates: c = f*c + i*g, h = o*tanh-spike(c))",
    "lstm": "NIR has no element-wise product or sigmoid/tanh node (the quantized LSTM "
            "multiplies hard-sigmoid gates with its cell state)",
    "slstm": "NIR has no element-wise product or sigmoid/tanh node (the spiking LSTM unit "
             "gates its cell state: c = f*c + i*g, h = o*c)",
    "if_neuron": "NIR resets to v_reset; the if_neuron cell subtracts the threshold (soft "
                 "reset) and restarts its membrane at u0 for every element. The lif cell is "
                 "the form that NIR expresses (hard reset, membrane carried between elements)",
    "idsnn": "NIR has no node for the idsnn cell's gates: its current I = F*I(n-1) + "
             "(1-F)*C multiplies a hard-sigmoid gate with a carried value, and its output "
             "has multi-bit levels",
}
_NODE_TYPES = ("Input", "Affine", "Linear", "IF", "LIF", "CubaLIF", "Output")


class NIRError(ConfigError):
    """A network that NIR cannot express, or a NIR graph spikegate cannot import."""


def _nir():
    import nir
    return nir


# --- export -------------------------------------------------------------------------

def check_exportable(cfg: NetworkConfig, encoded_input: bool = False) -> None:
    """Raise :class:`NIRError` naming what NIR lacks for ``cfg``; nothing if it maps."""
    where = f"network {cfg.name!r} (cell {cfg.cell!r})"
    if cfg.cell != CELL:
        why = _NO_NIR.get(cfg.cell, f"the {cfg.cell} cell has no NIR mapping")
        raise NIRError(f"{where} cannot be written as NIR: {why}; only the {CELL} cell exports")
    if cfg.steps != 1:
        raise NIRError(
            f"{where} cannot be written as NIR with steps={cfg.steps}: NIR has one time axis, "
            f"spikegate has two (element n, spike step k), and the lif cell carries its "
            f"membrane along n separately at each of the T steps k, with the readout summing "
            f"over k. No NIR graph computes that; at steps=1 one NIR time step is one element. "
            f"Train or convert the network at steps=1")
    if cfg.encoding in ("rate", "level") and not encoded_input:
        what = ("the rate encoder (spikegate's LFSR Bernoulli spikes)" if cfg.encoding == "rate"
                else "the level-crossing encoder (up/down channels)")
        raise NIRError(f"{where} cannot be written as NIR with encoding {cfg.encoding!r}: NIR "
                       f"has no node for {what}. Export with encoded_input=True (--encoded-input) "
                       f"to write the graph that takes the encoder's spikes as its input")


def _source(source, params=None):
    """``(cfg, params)`` of a package (its folder, name or :class:`model.export.Package`),
    a ``(cfg, params)`` pair, or a config with ``params``."""
    if isinstance(source, NetworkConfig):
        if params is None:
            raise TypeError("to_nir(cfg, params): give the parameters with the configuration")
        return source, params
    if isinstance(source, tuple) and len(source) == 2:
        return source
    if hasattr(source, "cfg") and hasattr(source, "params"):
        return source.cfg, source.params
    from .export import load_package, resolve_package
    pkg = load_package(resolve_package(source))
    return pkg.cfg, pkg.params


def _floats(a) -> np.ndarray:
    return np.asarray(a, dtype=np.int64).astype(np.float64)


def to_nir(source, params: NetworkParams | None = None, *, encoded_input: bool = False):
    """The :class:`nir.NIRGraph` of a lif network at ``steps = 1`` (see the module
    docstring for its conventions). ``source``: a weights package (folder, name or
    loaded), a ``(cfg, params)`` pair, or a :class:`NetworkConfig` with ``params``.
    Raises :class:`NIRError` naming what NIR lacks for any other network."""
    nir = _nir()
    cfg, params = _source(source, params)
    check_exportable(cfg, encoded_input)
    params.validate(cfg)
    s = cfg.leak_shift[0]
    nodes = {"input": nir.Input(input_type={"input": np.array([cfg.layer_inputs(0)])})}
    edges, below = [], "input"
    for l, lp in enumerate(params.layers):
        h = cfg.hidden[l]
        theta = np.full(h, float(int(lp.theta)))
        if s == 0:
            neuron = nir.IF(r=np.ones(h), v_threshold=theta, v_reset=np.zeros(h))
        else:
            tau = np.full(h, float(1 << s))
            neuron = nir.LIF(tau=tau, r=tau.copy(), v_leak=np.zeros(h), v_threshold=theta,
                             v_reset=np.zeros(h))
        nodes[f"l{l}_x"] = nir.Affine(weight=_floats(lp.w_x[0]), bias=_floats(lp.bias[0]))
        nodes[f"l{l}"] = neuron
        nodes[f"l{l}_h"] = nir.Linear(weight=_floats(lp.w_h[0]))
        edges += [(below, f"l{l}_x"), (f"l{l}_x", f"l{l}"), (f"l{l}", f"l{l}_h"), (f"l{l}_h", f"l{l}")]
        below = f"l{l}"
    nodes["readout"] = nir.Affine(weight=_floats(params.w_out), bias=_floats(params.b_out))
    nodes["output"] = nir.Output(output_type={"output": np.array([cfg.classes])})
    edges += [(below, "readout"), ("readout", "output")]
    graph_cfg = cfg
    if encoded_input and cfg.encoding in ("rate", "level"):
        graph_cfg = cfg.replace(encoding="spikes", inputs=cfg.layer_inputs(0))
    meta = {META_CONFIG: json.dumps({**graph_cfg.to_dict(), "encoded_from": cfg.encoding}),
            META_CONVENTIONS: CONVENTIONS}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write_graph(graph, path: str | os.PathLike) -> Path:
    """``nir.write`` to a temporary file beside ``path``, renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        _nir().write(tmp, graph)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_graph(path: str | os.PathLike):
    """``nir.read``, with a missing or unreadable file as :class:`NIRError`."""
    path = Path(path)
    if not path.is_file():
        raise NIRError(f"no NIR file {path}")
    try:
        return _nir().read(path)
    except (OSError, ValueError, KeyError, AssertionError) as err:
        raise NIRError(f"{path} is not a NIR graph that nir {_nir().version} reads: {err}") from None


# --- import -------------------------------------------------------------------------

def _kind(node) -> str:
    return type(node).__name__


def _check_types(graph) -> None:
    for name, node in graph.nodes.items():
        if _kind(node) not in _NODE_TYPES:
            raise NIRError(f"NIR node {name!r} is a {_kind(node)}: spikegate imports only "
                           f"{', '.join(_NODE_TYPES)} nodes (input -> recurrent IF/LIF layers "
                           f"-> Affine readout -> output)")


def _layers(graph):
    """The chain ``Input -> layers -> readout -> Output``: a list of layers, each a dict
    ``neuron`` (name), ``ff`` and ``rec`` (weight node names into it), and the readout's
    weight node names. Every node must lie on it."""
    nodes = graph.nodes
    succ = {n: [] for n in nodes}
    pred = {n: [] for n in nodes}
    for a, b in graph.edges:
        for end in (a, b):
            if end not in nodes:
                raise NIRError(f"NIR edge {a!r} -> {b!r} names no node {end!r}")
        succ[a].append(b)
        pred[b].append(a)
    inputs = [n for n, v in nodes.items() if _kind(v) == "Input"]
    outputs = [n for n, v in nodes.items() if _kind(v) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRError(f"a spikegate network has one Input and one Output node; this graph has "
                       f"{len(inputs)} Input ({', '.join(inputs) or 'none'}) and {len(outputs)} "
                       f"Output ({', '.join(outputs) or 'none'})")
    weights = {n for n, v in nodes.items() if _kind(v) in ("Affine", "Linear")}
    neurons = {n for n, v in nodes.items() if _kind(v) in ("IF", "LIF", "CubaLIF")}
    for w in weights:
        if len(pred[w]) != 1 or len(succ[w]) != 1:
            raise NIRError(f"NIR node {w!r} ({_kind(nodes[w])}) has {len(pred[w])} inputs and "
                           f"{len(succ[w])} outputs; spikegate needs one of each on a weight node")
    for n in neurons | {outputs[0]}:
        for p in pred[n]:
            if p not in weights:
                raise NIRError(f"NIR edge {p!r} -> {n!r} carries no weights: spikegate needs an "
                               f"Affine or Linear node on every edge into a neuron or the output")
    visited = {inputs[0]}
    layers, source = [], inputs[0]
    while True:
        targets = {succ[w][0] for w in succ[source] if not (source in neurons and succ[w][0] == source)}
        for w in succ[source]:
            if w not in weights:
                raise NIRError(f"NIR edge {source!r} -> {w!r} carries no weights: spikegate needs "
                               f"an Affine or Linear node after the input and after every layer")
        if len(targets) != 1:
            raise NIRError(f"NIR node {source!r} feeds {len(targets)} layers "
                           f"({', '.join(sorted(targets)) or 'none'}); spikegate's layers form one "
                           f"chain input -> layers -> readout -> output")
        target = targets.pop()
        ff = [w for w in succ[source] if succ[w][0] == target]
        if target == outputs[0]:
            if source not in neurons:
                raise NIRError("the graph has no spiking layer between its Input and its Output")
            visited.update(ff + [target])
            readout = ff
            break
        if target not in neurons:
            raise NIRError(f"NIR node {target!r} is a {_kind(nodes[target])} where spikegate "
                           f"expects a spiking layer (IF, LIF or CubaLIF)")
        if target in visited:
            raise NIRError(f"NIR node {target!r} feeds an earlier layer; spikegate's only cycle "
                           f"is a layer's recurrent weights onto itself")
        rec = [w for w in pred[target] if pred[w][0] == target]
        other = [w for w in pred[target] if w not in ff and w not in rec]
        if other:
            raise NIRError(f"NIR node {other[0]!r} -> {target!r} comes from {pred[other[0]][0]!r}, "
                           f"not from the layer below ({source!r}) or {target!r} itself: spikegate "
                           f"has no skip connections")
        layers.append({"neuron": target, "ff": ff, "rec": rec})
        visited.update(ff + rec + [target])
        source = target
    missing = sorted(set(nodes) - visited)
    if missing:
        raise NIRError(f"NIR node {missing[0]!r} is not on the chain input -> layers -> readout "
                       f"-> output that spikegate builds")
    return inputs[0], layers, readout


def _array(node_name: str, field: str, value, shape) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    try:
        return np.broadcast_to(a, shape).astype(np.float64)
    except ValueError:
        raise NIRError(f"NIR node {node_name!r}: {field} has shape {list(a.shape)}, expected "
                       f"{list(shape)}") from None


def _weights(graph, names, rows: int, cols: int):
    """Sum of the weight nodes ``names`` (``[rows, cols]``) and of their biases."""
    w, b = np.zeros((rows, cols)), np.zeros(rows)
    for name in names:
        node = graph.nodes[name]
        weight = np.asarray(node.weight, dtype=np.float64)
        if weight.shape != (rows, cols):
            raise NIRError(f"NIR node {name!r} ({_kind(node)}) has a weight of shape "
                           f"{list(weight.shape)}, expected [{rows}, {cols}]")
        w = w + weight
        if _kind(node) == "Affine":
            b = b + _array(name, "bias", node.bias, (rows,))
    return w, b


def _neuron(graph, name: str, h: int) -> dict:
    """``{"shift", "theta", "kind"}`` of one neuron node, float theta [H]; refuses what the
    lif cell does not compute."""
    node, kind = graph.nodes[name], _kind(graph.nodes[name])
    get = lambda field: _array(name, field, getattr(node, field), (h,))

    def need(cond, msg):
        if not cond:
            raise NIRError(f"NIR node {name!r} ({kind}): {msg}")

    for field in ("v_reset",) + (("v_leak",) if kind != "IF" else ()):
        v = get(field)
        need(np.all(v == 0), f"{field} is {_first(v, v != 0)}; spikegate's lif cell has "
                             f"{field} = 0 (hard reset to zero, no leak potential)")
    if kind == "CubaLIF":
        tau_syn, w_in = get("tau_syn"), get("w_in")
        need(np.all(tau_syn == 1), f"tau_syn is {_first(tau_syn, tau_syn != 1)}: its synaptic "
                                   f"current filters the input over time steps, a second state "
                                   f"the lif cell does not have; only tau_syn = dt = 1 (the "
                                   f"current is the input of the same step) is a LIF")
        need(np.all(w_in == 1), f"w_in is {_first(w_in, w_in != 1)}; only w_in = 1 imports")
    if kind == "IF":
        shift, r = 0, get("r")
        need(np.all(r == 1), f"r is {_first(r, r != 1)}; spikegate's IF adds its input "
                             f"unscaled (r = 1)")
    else:
        tau, r = get("tau_mem" if kind == "CubaLIF" else "tau"), get("r")
        need(np.all(tau == tau[0]), f"tau differs between neurons ({tau.min()} .. {tau.max()}); "
                                    f"spikegate has one leak per network")
        t = float(tau[0])
        shift = int(round(np.log2(t))) if t > 0 else -1
        need(shift >= 1 and t == float(1 << shift),
             f"tau is {t}: spikegate's leak v - (v >> s) needs tau = 2**s with s >= 1 "
             f"(dt / tau = 1/2, 1/4, ...); an IF node has no leak")
        need(np.all(r == tau), f"r is {_first(r, r != tau)}, tau {t}: spikegate adds its input "
                               f"unscaled, so r = tau / dt")
    theta = get("v_threshold")
    need(np.all(theta == theta[0]), f"v_threshold differs between neurons ({theta.min()} .. "
                                    f"{theta.max()}); spikegate has one threshold per layer")
    return {"shift": shift, "theta": float(theta[0]), "kind": kind}


def _first(values: np.ndarray, bad: np.ndarray):
    v = np.ravel(values)[np.argmax(bad)]  # (argmax of an array: its flat index)
    return int(v) if float(v).is_integer() else float(v)


def quantize_layers(layers: list[dict], readout: dict, cfg: NetworkConfig) -> None:
    """Scale a float graph's values into integers, in place: per layer one factor on its
    input weights, recurrent weights, bias and threshold (a layer's spikes do not change
    when all four scale together: the membrane scales with them), chosen so that the
    largest weight magnitude is the largest ``w_bits`` value; one factor on the readout
    (its logits scale, the class does not). Then every value is rounded to the nearest
    integer. Direct (multi-bit) inputs are taken as they are. Exact only in the limit:
    the rounding, and the leak's floor, change the float graph's dynamics a little."""
    w_hi = nr.signed_range(cfg.w_bits)[1]
    for layer in layers:
        top = max(np.abs(layer["w_x"]).max(initial=0), np.abs(layer["w_h"]).max(initial=0))
        scale = w_hi / top if top > 0 else 1.0
        for key in ("w_x", "w_h", "bias"):
            layer[key] = np.round(layer[key] * scale)
        layer["theta"] = max(1.0, float(np.round(layer["theta"] * scale)))
    top = np.abs(readout["w_out"]).max(initial=0)
    scale = w_hi / top if top > 0 else 1.0
    for key in ("w_out", "b_out"):
        readout[key] = np.round(readout[key] * scale)


def _integers(node: str, field: str, values: np.ndarray, bits: int, bits_field: str,
              lo: int | None = None) -> np.ndarray:
    """``values`` as int64, refused unless exact integers within ``bits``."""
    bad = ~np.isfinite(values) | (values != np.round(values))
    if np.any(bad):
        raise NIRError(f"NIR node {node!r}: {field} holds {_first(values, bad)}, not an integer; "
                       f"spikegate imports integer graphs (or use quantize=True / --quantize to "
                       f"scale a float graph into w_bits)")
    s_lo, hi = nr.signed_range(bits)
    lo = s_lo if lo is None else lo
    out = (values < lo) | (values > hi)
    if np.any(out):
        v = int(np.ravel(values)[np.argmax(out)])
        need = max(abs(v).bit_length() + 1, 2)
        hint = (f"; give {bits_field}={need} or more" if v < 0 or v > hi else "")
        raise NIRError(f"NIR node {node!r}: {field} holds {v}, outside {bits_field}={bits}'s "
                       f"[{lo}, {hi}]{hint}")
    return values.astype(np.int64)


#: configuration fields an import takes from the graph; an override must agree with it
_FROM_GRAPH = ("inputs", "hidden", "classes", "steps", "cell", "leak_shift")


def from_nir(graph, *, quantize: bool = False, **overrides) -> tuple[NetworkConfig, NetworkParams]:
    """A lif network ``(cfg, params)`` from a NIR graph (or the path of a ``.nir`` file).

    The sizes, the leak shift and the cell come from the graph; the widths, the
    encoding, ``length`` and ``name`` from the graph's ``spikegate_config`` metadata when
    spikegate wrote it, else the defaults of :class:`NetworkConfig`, and in both cases
    ``overrides`` (``length`` is needed for a foreign graph: NIR has no sequence length;
    ``encoding`` ``"direct"`` or ``"rate"`` puts that coding in front of the graph's Input,
    ``"level"`` one with half as many features). Raises :class:`NIRError` naming the node
    and the value it cannot import (see the module docstring)."""
    if isinstance(graph, (str, os.PathLike)):
        graph = read_graph(graph)
    _check_types(graph)
    input_name, chain, readout_names = _layers(graph)
    width = int(np.prod(graph.nodes[input_name].input_type["input"]))
    hidden, layers = [], []
    below = width
    for layer in chain:
        neuron = graph.nodes[layer["neuron"]]
        h = int(np.prod(neuron.output_type["output"])) if hasattr(neuron, "output_type") else None
        h = h or np.asarray(graph.nodes[layer["ff"][0]].weight).shape[0]
        w_x, b_x = _weights(graph, layer["ff"], h, below)
        w_h, b_h = _weights(graph, layer["rec"], h, h)
        layers.append({**_neuron(graph, layer["neuron"], h), "w_x": w_x, "w_h": w_h,
                       "bias": b_x + b_h, "name": layer["neuron"], "ff": layer["ff"],
                       "rec": layer["rec"]})
        hidden.append(h)
        below = h
    classes = np.asarray(graph.nodes[readout_names[0]].weight).shape[0]
    w_out, b_out = _weights(graph, readout_names, classes, below)
    shifts = {l["shift"] for l in layers}
    if len(shifts) != 1:
        raise NIRError("the layers of this graph leak differently ("
                       + ", ".join(f"{l['name']}: {l['kind']} s={l['shift']}" for l in layers)
                       + "); spikegate has one leak shift per network")

    base = _graph_config(graph)
    structure = {"inputs": width, "hidden": tuple(hidden), "classes": int(classes), "steps": 1,
                 "cell": CELL, "leak_shift": (shifts.pop(),)}
    encoding = overrides.get("encoding", base.get("encoding", "spikes"))
    if encoding == "level":
        if width % 2:
            raise NIRError(f"encoding 'level' needs an even Input width (up and down channels), "
                           f"the graph's Input has {width}")
        structure["inputs"] = width // 2
    for key, value in overrides.items():
        if key in _FROM_GRAPH:
            have = structure[key]
            norm = tuple(value) if isinstance(value, (list, tuple)) else (value,) \
                if key in ("hidden", "leak_shift") else value
            if norm != have:
                raise NIRError(f"{key}={value!r} contradicts the graph, which gives {key}={have!r}")
    fields = {**{k: v for k, v in base.items() if k not in _FROM_GRAPH},
              **{k: v for k, v in overrides.items() if k not in _FROM_GRAPH}, **structure}
    if "length" not in fields:
        raise NIRError("a NIR graph has no sequence length; give length=N (--set length=N), "
                       "the number of elements (time steps) per sequence")
    fields.setdefault("name", "from-nir")
    known = {f.name for f in dataclasses.fields(NetworkConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise NIRError(f"unknown configuration fields: {', '.join(unknown)}")
    cfg = NetworkConfig(**fields)

    readout = {"w_out": w_out, "b_out": b_out}
    if quantize:
        quantize_layers(layers, readout, cfg)
    lps = []
    for layer in layers:
        ff, rec, neuron = ",".join(layer["ff"]), ",".join(layer["rec"]) or "-", layer["name"]
        lps.append(LayerParams(
            w_x=_integers(ff, "weight", layer["w_x"], cfg.w_bits, "w_bits")[None],
            w_h=_integers(rec, "weight", layer["w_h"], cfg.w_bits, "w_bits")[None],
            bias=_integers(ff, "bias", layer["bias"], cfg.acc_bits, "acc_bits")[None],
            theta=_integers(neuron, "v_threshold", np.float64(layer["theta"]), cfg.u_bits,
                            "u_bits", lo=1)[()]))
    name = ",".join(readout_names)
    params = NetworkParams(lps, _integers(name, "weight", readout["w_out"], cfg.w_bits, "w_bits"),
                           _integers(name, "bias", readout["b_out"], cfg.logit_bits, "logit_bits"))
    return cfg, params.validate(cfg)


def _graph_config(graph) -> dict:
    """The configuration fields spikegate recorded in the graph's metadata (empty for a
    foreign graph), minus the structure, which the nodes give."""
    text = (getattr(graph, "metadata", None) or {}).get(META_CONFIG)
    if text is None:
        return {}
    try:
        d = json.loads(text if isinstance(text, str) else bytes(text).decode())
    except (ValueError, TypeError) as err:
        raise NIRError(f"the graph's {META_CONFIG} metadata is not JSON ({err})") from None
    d.pop("encoded_from", None)
    return {k: v for k, v in d.items() if k not in _FROM_GRAPH}


# --- command line ---------------------------------------------------------------------

def main(argv=None, *, memories=None, prog: str = "python -m model.nir") -> int:
    """``export`` a lif package as a .nir file, or ``import`` one into a weights package.
    ``memories`` (:func:`hw.rom.memories`, passed by :mod:`hw.nir`) adds the ROM images."""
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog=prog, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write a lif weights package (steps=1) as a NIR graph")
    ex.add_argument("package", help="a weights package folder or bundled name")
    ex.add_argument("--out", required=True, help="the .nir file to write")
    ex.add_argument("--encoded-input", action="store_true",
                    help="rate/level networks: the graph takes the encoder's spikes")
    im = sub.add_parser("import", help="read a NIR graph into a weights package")
    im.add_argument("file", help="a .nir file")
    im.add_argument("--out", required=True, help="the package folder to write")
    im.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="a configuration field, e.g. --set length=20 --set w_bits=10")
    im.add_argument("--quantize", action="store_true",
                    help="scale a float graph's weights and thresholds per layer into w_bits")
    im.add_argument("--par", type=int, help="P of the ROM images recorded in the package (default: "
                    "the largest of 1 .. 4 that divides every layer)")
    a = ap.parse_args(argv)
    try:
        if a.command == "export":
            check_writable(Path(a.out).parent, f"--out {a.out}")
            graph = to_nir(a.package, encoded_input=a.encoded_input)
            write_graph(graph, a.out)
            layers = sum(1 for n in graph.nodes if n.startswith("l") and n[1:].isdigit())
            print(f"wrote {a.out}: {len(graph.nodes)} nodes ({layers} spiking layers), "
                  f"nir {_nir().version}")
            return 0
        check_writable(Path(a.out).parent, f"--out {a.out}")
        cfg, params = from_nir(a.file, quantize=a.quantize, **config_changes(ap, a.set))
        from .encoding import random_input
        check_x = random_input(cfg, 16, np.random.default_rng(0))
        from .export import write_package
        meta = {"source": {"nir": str(a.file), "nir_version": _nir().version,
                           "quantized": bool(a.quantize)},
                "export": {"command": shlex.join([*prog.split(), *argv])}}
        par = a.par or max(p for p in range(1, 5) if all(h % p == 0 for h in cfg.hidden))
        write_package(a.out, cfg, params, meta=meta, check_x=check_x, par=par, memories=memories)
        print(f"wrote {a.out}: cell {cfg.cell}, hidden {list(cfg.hidden)}, length {cfg.length}, "
              f"leak_shift {cfg.leak_shift[0]}, encoding {cfg.encoding}"
              + ("" if memories else " (arrays only; python -m hw.nir import adds the ROM images)"))
        return 0
    except (ConfigError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from .cli import run_command
    run_command(main)

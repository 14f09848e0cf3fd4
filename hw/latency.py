"""Analytic cycle model of the generated network.

For a hardware configuration and a given input, the exact number of cycles from the
first compute cycle to the result, derived from the controller's structure (see
:mod:`hw.layer` and :mod:`hw.network`) and the golden model's spikes:

* a layer: ``3 + sum over rounds of (E*C + C + 6 + NEURON_LATENCY + (WEIGHT_LATENCY - 1 + X)*[E > 0])``,
  with ``X`` = 1 for a layer of multi-bit events (the product stage, :func:`hw.config.multiplies`)
  and 0 for spikes,
  with ``NEURON_LATENCY`` = the cell step's ``LATENCY`` + 1 (:func:`neuron_latency`), where a round fires every lane
  whose next cell is ready and ``E`` counts the input positions (layer inputs and
  recurrent h) that are non-zero in at least one firing lane's cell;
* the readout: ``1 + sum over k of (4 + E_k + [E_k > 0]) + 2 + X + (classes - 1)``, ``E_k`` the non-zero
  h of the last element at step k (the tail: the last add, saturation, the argmax scan;
  ``X`` = 1 for a multi-bit h, whose products are registered before they are added);
  the integrator readout sums that over every element, with ``2 + X`` per element
  (DRAIN, INTEG) and ``2`` at the end (FINAL, then as above) (:func:`readout_cycles`).

``ideal`` is the bound of a machine that does nothing but its accumulate operations,
``P`` per lane per cycle with all lanes busy: total ACs / (P * L).

Back to back (:func:`stream_schedule`): the input buffer has two banks
(:class:`hw.network_control.InputBanks`), so the next sequence streams in while one
computes; with an input that is always valid and a result that is always taken, the
cycle of every result follows from the compute cycles above and the encoder's cycles
per sequence (:func:`input_cycles`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model import golden
from model.encoding import encode

from .banked_rom import LATENCY as WEIGHT_LATENCY
from .cells import latency as cell_latency
from .config import HardwareConfig, beats_per_sequence, multibit_h, multiplies

__all__ = ["schedule", "LayerCycles", "sequence_cycles", "readout_cycles", "element_readout_cycles", "cycles_for_batch", "neuron_latency", "startup_cycles",
           "round_overhead", "round_events", "worst_case_cycles", "result_budget", "cycle_bounds",
           "input_cycles", "stream_schedule"]

#: BEGIN, FETCH, LOAD, the empty ACC check, FINISH; DRAIN adds 1 + the neuron pipeline
ROUND_CONTROL = 5
LAYER_OVERHEAD = 3   # START, the final BEGIN, the WAIT that sees the layer idle
EVENT_LOOKAHEAD = 1  # the first event of a non-empty list is taken one cycle ahead
# ACC waits for the last event's add: the weight ROM's latency beyond the two cycles that
# the empty check and the move to NEURON cover
ACC_FLUSH = WEIGHT_LATENCY - 2
READOUT_BEGIN = 1
READOUT_PER_STEP = 4  # address, latch the row, its spike mask, the empty-mask check
READOUT_END = 2       # the last add lands, the logits saturate; then one cycle per class
                      # after the first for the first-maximum scan
READOUT_INTEGRATE = 2  # the integrator readout, per element: DRAIN and INTEG (its FINAL
                       # takes DRAIN's place in READOUT_END)


def neuron_latency(hw: HardwareConfig) -> int:
    """Cycles from a chunk's memory data to its write-back: the accumulator data
    register, then the cell step's pipeline."""
    return cell_latency(hw.net) + 1


def round_overhead(hw: HardwareConfig) -> int:
    """Cycles of a round besides its events and its C neuron cycles."""
    return ROUND_CONTROL + 1 + neuron_latency(hw)


def schedule(lanes: int, steps: int, length: int) -> list[list[tuple[int, int]]]:
    """The rounds of cells ``(n, k)`` the layer controller fires, in order."""
    n = list(range(lanes))
    k = [0] * lanes
    active = [l < length for l in range(lanes)]
    rounds = []
    while any(active):
        fire = []
        for l in range(lanes):
            p = (l - 1) % lanes
            ready = lanes == 1 or n[l] == 0 or n[p] != n[l] - 1 or k[p] > k[l]
            fire.append(active[l] and ready)
        rounds.append([(n[l], k[l]) for l in range(lanes) if fire[l]])
        for l in range(lanes):
            if not fire[l]:
                continue
            if k[l] == steps - 1:
                if n[l] + lanes < length:
                    n[l], k[l] = n[l] + lanes, 0
                else:
                    active[l], k[l] = False, steps
            else:
                k[l] += 1
    return rounds


@dataclass
class LayerCycles:
    rounds: int
    events: int          # sum of E over rounds
    cycles: int


def round_events(x_nz: np.ndarray, h_nz: np.ndarray, rounds) -> list[int]:
    """E of every round of one layer and sequence: the input positions (layer inputs,
    then recurrent h) that are non-zero in at least one firing cell, from the non-zero
    masks ``x_nz [N, T, M_in]`` and ``h_nz [N, T, H]``. Each event costs C cycles, and
    one weight word read (the words are broadcast to every lane)."""
    out = []
    zero_h = np.zeros(h_nz.shape[-1], dtype=bool)
    for cells in rounds:
        mask_x = np.zeros(x_nz.shape[-1], dtype=bool)
        mask_h = zero_h.copy()
        for n, k in cells:
            mask_x |= x_nz[n, k]
            mask_h |= h_nz[n - 1, k] if n > 0 else zero_h
        out.append(int(mask_x.sum() + mask_h.sum()))
    return out


def _layer_cycles(hw: HardwareConfig, layer: int, x_nz: np.ndarray, h_nz: np.ndarray,
                  rounds) -> LayerCycles:
    """``x_nz [N, T, M_in]`` and ``h_nz [N, T, H]`` non-zero masks of one sequence."""
    chunks = hw.chunks(layer)
    overhead = round_overhead(hw)
    events = round_events(x_nz, h_nz, rounds)
    flush = ACC_FLUSH + int(multiplies(hw, layer))  # the product stage of multi-bit events
    cycles = LAYER_OVERHEAD + sum(e * chunks + chunks + overhead + (e > 0) * (EVENT_LOOKAHEAD + flush)
                                  for e in events)
    return LayerCycles(len(rounds), sum(events), cycles)


def readout_cycles(net, h_top: np.ndarray) -> int:
    """The readout's cycles for the top layer's h ``[N, T, H]`` of one sequence: the last
    element's steps, or every element's for the integrator, which spends DRAIN and INTEG
    (and the product stage of a multi-bit h) per element and FINAL once; the per-element
    readout runs the last element's readout once per element (:func:`element_readout_cycles`)."""
    if net.readout == "element":
        return sum(element_readout_cycles(net, h_top))
    integrate = net.readout == "integrator"
    per_step = np.count_nonzero(h_top if integrate else h_top[-1:], axis=-1)  # E_k per element
    elements = per_step.shape[0]
    tail = int(multibit_h(net))  # the product register (hw.readout)
    per_element = (READOUT_INTEGRATE + tail) if integrate else 0
    return (READOUT_BEGIN + elements * net.steps * READOUT_PER_STEP + int(per_step.sum())
            + EVENT_LOOKAHEAD * int(np.count_nonzero(per_step)) + elements * per_element
            + READOUT_END + (0 if integrate else tail) + net.classes - 1)


def element_readout_cycles(net, h_top: np.ndarray) -> list[int]:
    """The per-element readout (``readout="element"``): each element's readout cycles, the
    last-element readout's count on that element's h (the cycles of the result beats
    themselves are not counted, as for every readout)."""
    last = net.replace(readout="last", readout_leak=0)
    return [readout_cycles(last, h_top[n:n + 1]) for n in range(h_top.shape[0])]


def sequence_cycles(hw: HardwareConfig, layer_inputs: list[np.ndarray], hs: list[np.ndarray]) -> dict:
    """Cycle figures of one sequence from its per-layer input and h arrays."""
    net = hw.net
    rounds = schedule(hw.lanes, net.steps, net.length)
    layers = []
    for l in range(net.layers):
        x = layer_inputs[l]
        if x.ndim == 2:  # direct features: the same at every step
            x = np.broadcast_to(x[:, None, :], (net.length, net.steps, x.shape[-1]))
        layers.append(_layer_cycles(hw, l, x != 0, hs[l] != 0, rounds))
    readout = readout_cycles(net, hs[-1])
    compute = sum(lc.cycles for lc in layers)
    out = {"total": compute + readout, "layers": layers, "readout": readout, "rounds": len(rounds)}
    if net.readout == "element":  # the cycle count each element's result beat carries
        out["elements"] = [int(c) for c in compute + np.cumsum(element_readout_cycles(net, hs[-1]))]
    return out


def cycles_for_batch(hw: HardwareConfig, params, x) -> tuple[list[dict], golden.GoldenResult]:
    """Golden-model run plus the cycle figures of every sequence in the batch."""
    res = golden.run(hw.net, params, x)
    enc = encode(hw.net, x)
    out = []
    for b in range(enc.shape[0]):
        inputs = [enc[b]] + [res.layers[l].h[b] for l in range(hw.net.layers - 1)]
        out.append(sequence_cycles(hw, inputs, [tr.h[b] for tr in res.layers]))
    return out, res


def worst_case_cycles(hw: HardwareConfig) -> int:
    """Compute cycles of a sequence whose every input and every h is non-zero: the most
    any sequence takes (each round's events at their maximum)."""
    net = hw.net
    hs = [np.ones((net.length, net.steps, h), dtype=np.int8) for h in net.hidden]
    x = np.ones((net.length, net.steps, net.layer_inputs(0)), dtype=np.int8)
    return sequence_cycles(hw, [x] + hs[:-1], hs)["total"]


def input_cycles(net) -> int:
    """Cycles the encoder (:mod:`hw.encoder`) takes for one sequence when a beat is
    always waiting, from the cycle that takes its first beat to the one that writes
    its last row, inclusive: a beat a cycle for ``spikes`` (N x T beats) and ``direct``
    (N); ``level`` takes a beat and writes its T rows (1 + T cycles a beat), ``rate``
    also waits for its draw ROM (1 + T + 2)."""
    from .encoder import RATE_EXTRA_CYCLES
    per_beat = {"spikes": 1, "direct": 1, "level": 1 + net.steps,
                "rate": 1 + net.steps + RATE_EXTRA_CYCLES}[net.encoding]
    return per_beat * beats_per_sequence(net)


def stream_schedule(hw: HardwareConfig, compute: list[int], first_beat: int) -> dict:
    """When each sequence of a back-to-back stream is taken in and when its result
    leaves, for an input that is always valid and a result that is always taken.

    ``compute``: each sequence's compute cycles (:func:`sequence_cycles` ``total``);
    ``first_beat``: the cycle the first sequence's first beat is taken. With ``E`` =
    :func:`input_cycles`, sequence s is loaded at ``loaded[s] = begin[s] + E - 1``; the
    controller takes it at ``max(loaded[s], result[s-1] + 1)`` and its result leaves
    ``1 + compute[s]`` cycles later; the encoder, waiting for a free bank, begins the
    next sequence at ``max(loaded[s], result[s-1]) + 2`` (a bank frees when a result
    has left). Returns lists ``begin``, ``result`` and ``period`` (cycles between
    results, from the second on)."""
    e = input_cycles(hw.net)
    # the per-element readout's beats before the last take a cycle each, not counted in
    # the compute cycles
    beats = hw.net.length - 1 if hw.net.readout == "element" else 0
    begin, result = [first_beat], []
    for s, c in enumerate(compute):
        loaded = begin[s] + e - 1
        before = result[s - 1] if s else None
        taken = loaded if before is None else max(loaded, before + 1)
        result.append(taken + 1 + c + beats)
        begin.append((loaded if before is None else max(loaded, before)) + 2)
    return {"begin": begin[:len(compute)], "result": result,
            "period": [b - a for a, b in zip(result, result[1:])]}


def startup_cycles(hw: HardwareConfig) -> int:
    """Cycles from reset to the first cycle in which the network can take an input beat:
    the parameter load (:func:`hw.param_rom.load_cycles`), the layers' INIT pass (one
    cycle per chunk, all layers at once) and two registers (the INIT pulse's, the
    ready flag). Paid once after reset, never per sequence."""
    from .param_rom import load_cycles
    return load_cycles(hw) + max(hw.chunks(l) for l in range(hw.net.layers)) + 2


def result_budget(hw: HardwareConfig) -> int:
    """Cycles a test bench waits for one result before it calls the hardware stuck:
    four times :func:`worst_case_cycles`, plus 8 x T cycles per input beat (the
    rate/level encoder takes at most T + 3 cycles a beat; room for input gaps and output
    stalls), plus the :func:`startup_cycles` before the first beat."""
    return (4 * worst_case_cycles(hw) + 8 * hw.net.steps * beats_per_sequence(hw.net) + 1000
            + startup_cycles(hw))


def cycle_bounds(hw: HardwareConfig, stats: dict, weights_per_cycle: float) -> dict:
    """The two lower bounds on the cycles of a sequence that performance is measured
    against (``shared/DESIGN.md`` section 7), per sequence of a batch's golden ``stats``:

    * ``bandwidth``: every accumulate and every multiply-accumulate reads one weight
      (the readout's included), and the device delivers at most ``weights_per_cycle``
      (its block RAMs' read bits per cycle over ``w_bits``, with every weight
      replicated wherever it is needed: :meth:`flows.boards.Board.weights_per_cycle`);
    * ``dependency``: the longest chain of dependent cells, (0, 0) of layer 0 to
      (N-1, T-1) of the last layer, is ``T + N - 1 + layers - 1`` cells long, and no
      cell finishes sooner than the cell step's pipeline (``LATENCY`` register stages).

    ``bound`` is the larger; ``limited_by`` says which."""
    net = hw.net
    batch = int(stats["batch"])
    # the layers' and the readout's parts (the totals "acs" + "macs" add up the same;
    # records written before the totals existed have only the parts)
    reads = (sum(int(ls["acs"]) + int(ls.get("macs", 0)) for ls in stats["layers"])
             + int(stats["readout_acs"]) + int(stats.get("readout_macs", 0))) / batch
    bandwidth = reads / weights_per_cycle
    chain = net.steps + net.length - 1 + net.layers - 1
    dependency = chain * cell_latency(net)
    return {"weight_reads": reads, "weights_per_cycle": weights_per_cycle,
            "bandwidth": bandwidth, "dependency": dependency, "chain_cells": chain,
            "bound": max(bandwidth, dependency),
            "limited_by": "weight bandwidth" if bandwidth >= dependency else "dependency"}

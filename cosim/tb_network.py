"""cocotb test bench of the generated network (run through cosim.runner).

The case folder (``SPIKEGATE_CASE_DIR``) holds ``case.npz``: the input beats of every
sequence and the golden model's logits, classes and analytic cycle counts, plus
``case.json`` with the stream field widths and the back-pressure settings. The bench
streams every sequence through ``i_stream``, waits on ``o_stream`` handshakes (the
simulator runs natively in between), checks each result in order against the golden
values, and writes ``results.json``.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, ReadOnly, SimTimeoutError, with_timeout

from cosim.hdl import RESET_CYCLES


CLOCK_NS = 10


def pack(values, bits: int) -> int:
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << bits) - 1)) << (i * bits)
    return word


def high(signal) -> bool:
    """The value of a 1-bit handshake signal; X or Z there is a design error, not a 0."""
    value = str(signal.value)
    if value not in ("0", "1"):
        raise AssertionError(f"{signal._name} is {value} at {get_sim_time('ns')} ns after reset "
                             "(a combinational output that the simulator never evaluated?)")
    return value == "1"


def signed_field(word: int, lo: int, bits: int) -> int:
    v = (word >> lo) & ((1 << bits) - 1)
    return v - (1 << bits) if v >> (bits - 1) else v


class NetworkTB:
    """Owns the clock, reset, the input driver and the output monitor."""

    def __init__(self, dut, meta: dict, beats: list[list[list[int]]]):
        self.dut, self.meta, self.beats = dut, meta, beats
        self.rng = random.Random(meta["seed"])
        self.results: list[dict] = []

    async def reset(self):
        """Start the clock and wait out the reset, which the harness module drives
        (see :func:`cosim.hdl.harness`): return after its last reset edge, so the next
        edge is the design's first (the parameter load starts there, hw.param_rom, and
        the cycles counted from here include it, as the Amaranth simulator's do)."""
        cocotb.start_soon(Clock(self.dut.clk, CLOCK_NS, unit="ns").start())
        self.dut.i_stream__valid.value = 0
        self.dut.o_stream__ready.value = 0
        await ClockCycles(self.dut.clk, RESET_CYCLES)

    async def drive(self):
        """Stream every sequence; optional idle gaps between beats.

        Signals change on falling edges; a beat is taken on the rising edge that sees
        ``valid`` and ``ready`` both high. ``ready`` depends only on registered state, so
        its value in the read-only phase after a falling edge holds until that rising
        edge. While the design computes (``ready`` low) the bench waits on the
        ``ready`` edge, so the simulator runs natively instead of waking Python every
        cycle.
        """
        dut, gaps = self.dut, self.meta["input_gaps"]
        in_bits = self.meta["in_bits"]
        await FallingEdge(dut.clk)
        for seq in self.beats:
            for beat in seq:
                if gaps and self.rng.random() < gaps:
                    dut.i_stream__valid.value = 0
                    await ClockCycles(dut.clk, self.rng.randint(1, 4), rising=False)
                dut.i_stream__payload.value = pack(beat, in_bits)
                dut.i_stream__valid.value = 1
                await ReadOnly()
                while not high(dut.i_stream__ready):
                    await RisingEdge(dut.i_stream__ready)
                    await FallingEdge(dut.clk)
                    await ReadOnly()
                await FallingEdge(dut.clk)  # the beat went on the rising edge before
            dut.i_stream__valid.value = 0

    async def monitor(self):
        """Collect the results, one per sequence (one per element with the per-element
        readout); optional stalls on ``ready``."""
        dut, stalls = self.dut, self.meta["output_stalls"]
        lb, classes = self.meta["logit_bits"], self.meta["classes"]
        cls_bits, cycle_bits = self.meta["cls_bits"], self.meta["cycle_bits"]
        budget = int(self.meta["result_budget_cycles"])
        per = int(self.meta.get("results_per_sequence", 1))
        for b in range(len(self.beats) * per):
            while not high(dut.o_stream__valid):
                try:  # the simulator runs natively meanwhile, up to the budget
                    await with_timeout(RisingEdge(dut.o_stream__valid), budget * CLOCK_NS, "ns")
                except SimTimeoutError:
                    raise StuckError(f"{result_name(b, per)}: no result within {budget} cycles "
                                     "(the hardware is stuck)") from None
            if stalls and self.rng.random() < stalls:
                await ClockCycles(dut.clk, self.rng.randint(1, 8), rising=False)
            await FallingEdge(dut.clk)
            dut.o_stream__ready.value = 1
            await ReadOnly()
            # a stream source keeps valid (and its payload) until the transfer
            assert high(dut.o_stream__valid), "o_stream.valid fell before the transfer"
            word = int(dut.o_stream__payload.value)
            logits = [signed_field(word, c * lb, lb) for c in range(classes)]
            cls = (word >> (classes * lb)) & ((1 << cls_bits) - 1)
            cycles = (word >> (classes * lb + cls_bits)) & ((1 << cycle_bits) - 1)
            self.results.append({"logits": logits, "cls": cls, "cycles": cycles})
            await FallingEdge(dut.clk)  # taken on the rising edge before
            dut.o_stream__ready.value = 0


class StuckError(Exception):
    """No result within the case's cycle budget."""


def result_name(index: int, per: int = 1) -> str:
    """``sequence s``, or ``sequence s element n`` for ``per`` results per sequence."""
    return f"sequence {index}" if per == 1 else f"sequence {index // per} element {index % per}"


def first_mismatch(results, golden, per: int = 1) -> tuple[int, str] | None:
    """The first differing output, in order: ``(sequence, what differs)``; ``per``
    results per sequence (the per-element readout: one per element)."""
    for b, got in enumerate(results):
        name = result_name(b, per)
        want_logits = [int(v) for v in golden["logits"][b]]
        if got["logits"] != want_logits:
            c = next(i for i, (g, w) in enumerate(zip(got["logits"], want_logits)) if g != w)
            return b // per, f"{name}: logit {c} is {got['logits'][c]}, golden {want_logits[c]}"
        if got["cls"] != int(golden["cls"][b]):
            return b // per, f"{name}: class {got['cls']}, golden {int(golden['cls'][b])}"
        if got["cycles"] != int(golden["cycles"][b]):
            return b // per, f"{name}: {got['cycles']} cycles, analytic model {int(golden['cycles'][b])}"
    if len(results) < len(golden["logits"]):
        return len(results) // per, f"{result_name(len(results), per)}: no result"
    return None


@cocotb.test()
async def network_matches_golden(dut):
    case_dir = Path(os.environ["SPIKEGATE_CASE_DIR"])
    meta = json.loads((case_dir / "case.json").read_text())
    golden = np.load(case_dir / "case.npz")
    beats = [golden[f"beats{b}"].tolist() for b in range(meta["sequences"])]
    tb = NetworkTB(dut, meta, beats)
    await tb.reset()
    wall, cpu = time.perf_counter(), time.process_time()
    start_ns = get_sim_time("ns")
    protocol_error = None
    try:
        driver = cocotb.start_soon(tb.drive())
        await tb.monitor()
        await driver
    except AssertionError as err:  # a handshake broke the stream rules
        protocol_error = f"{result_name(len(tb.results), int(meta.get('results_per_sequence', 1)))}: {err}"
    except StuckError as err:
        protocol_error = str(err)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    total_cycles = int((get_sim_time("ns") - start_ns) // CLOCK_NS)
    per = int(meta.get("results_per_sequence", 1))
    found = first_mismatch(tb.results, golden, per)
    if protocol_error and (found is None or found[0] >= len(tb.results) // per):
        found = (len(tb.results) // per, protocol_error)
    sequence, mismatch = found if found else (None, None)
    # written beside and renamed: an interrupted bench leaves no half-written results
    partial = case_dir / "results.json.partial"
    partial.write_text(json.dumps({
        "results": tb.results, "wall_s": wall, "cpu_s": cpu, "sim_cycles": total_cycles,
        "mismatch": mismatch, "mismatch_sequence": sequence}))
    os.replace(partial, case_dir / "results.json")
    assert mismatch is None, mismatch

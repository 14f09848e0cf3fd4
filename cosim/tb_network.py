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
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, ReadOnly


CLOCK_NS = 10


def pack(values, bits: int) -> int:
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << bits) - 1)) << (i * bits)
    return word


def high(signal) -> bool:
    """True when a 1-bit signal is 1 (X and Z, as Icarus shows before reset, are not)."""
    return str(signal.value) == "1"


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
        cocotb.start_soon(Clock(self.dut.clk, CLOCK_NS, unit="ns").start())
        self.dut.rst.value = 1
        self.dut.i_stream__valid.value = 0
        self.dut.o_stream__ready.value = 0
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 0

    async def drive(self):
        """Stream every sequence; optional idle gaps between beats.

        Signals change on falling edges; a beat is taken on the rising edge that sees
        ``valid`` and ``ready`` both high, so ``ready`` is sampled just before it.
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
                    await FallingEdge(dut.clk)
                    await ReadOnly()
                await FallingEdge(dut.clk)  # the beat went on the rising edge before
            dut.i_stream__valid.value = 0

    async def monitor(self):
        """Collect one result per sequence; optional stalls on ``ready``."""
        dut, stalls = self.dut, self.meta["output_stalls"]
        lb, classes = self.meta["logit_bits"], self.meta["classes"]
        cls_bits, cycle_bits = self.meta["cls_bits"], self.meta["cycle_bits"]
        for _ in self.beats:
            while not high(dut.o_stream__valid):
                await RisingEdge(dut.o_stream__valid)  # the simulator runs natively meanwhile
            if stalls and self.rng.random() < stalls:
                await ClockCycles(dut.clk, self.rng.randint(1, 8), rising=False)
            await FallingEdge(dut.clk)
            dut.o_stream__ready.value = 1
            await ReadOnly()
            word = int(dut.o_stream__payload.value)
            logits = [signed_field(word, c * lb, lb) for c in range(classes)]
            cls = (word >> (classes * lb)) & ((1 << cls_bits) - 1)
            cycles = (word >> (classes * lb + cls_bits)) & ((1 << cycle_bits) - 1)
            self.results.append({"logits": logits, "cls": cls, "cycles": cycles})
            await FallingEdge(dut.clk)  # taken on the rising edge before
            dut.o_stream__ready.value = 0


def first_mismatch(results, golden) -> str | None:
    """The first differing output, in order: sequence, field, value."""
    for b, got in enumerate(results):
        want_logits = [int(v) for v in golden["logits"][b]]
        if got["logits"] != want_logits:
            c = next(i for i, (g, w) in enumerate(zip(got["logits"], want_logits)) if g != w)
            return f"sequence {b}: logit {c} is {got['logits'][c]}, golden {want_logits[c]}"
        if got["cls"] != int(golden["cls"][b]):
            return f"sequence {b}: class {got['cls']}, golden {int(golden['cls'][b])}"
        if got["cycles"] != int(golden["cycles"][b]):
            return f"sequence {b}: {got['cycles']} cycles, analytic model {int(golden['cycles'][b])}"
    return None


@cocotb.test()
async def network_matches_golden(dut):
    case_dir = Path(os.environ["SPIKEGATE_CASE_DIR"])
    meta = json.loads((case_dir / "case.json").read_text())
    golden = np.load(case_dir / "case.npz")
    beats = [golden[f"beats{b}"].tolist() for b in range(meta["sequences"])]
    tb = NetworkTB(dut, meta, beats)
    await tb.reset()
    wall = time.perf_counter()
    start_ns = get_sim_time("ns")
    driver = cocotb.start_soon(tb.drive())
    await tb.monitor()
    await driver
    wall = time.perf_counter() - wall
    total_cycles = int((get_sim_time("ns") - start_ns) // CLOCK_NS)
    mismatch = first_mismatch(tb.results, golden)
    (case_dir / "results.json").write_text(json.dumps({
        "results": tb.results, "wall_s": wall, "sim_cycles": total_cycles,
        "mismatch": mismatch}))
    assert mismatch is None, mismatch


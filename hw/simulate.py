"""Run the generated network in the Amaranth simulator (the ``hwsim`` tier).

:func:`simulate_network` streams a batch of sequences through
:class:`hw.network.SpikingLSTMNetwork`, with optional idle gaps on the input and
back-pressure on the output, and returns for every sequence what the hardware
produced: logits, class, cycle count, activity counters and the h spike of every
cell of every layer, read back from the lanes' h banks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from model.encoding import check_input

from .config import HardwareConfig
from .network import SpikingLSTMNetwork, input_beats

__all__ = ["HardwareResult", "simulate_network"]


@dataclass
class HardwareResult:
    logits: list[int]
    cls: int
    cycles: int
    acs: int
    h_spikes: list[int]
    h: list[np.ndarray]  # per layer, [N, T, H]
    input_cycle: int = -1   # the clock edge that took the sequence's first input beat
    result_cycle: int = -1  # the clock edge that took its (last) result beat
    #: the per-element readout (``readout="element"``): every element's beat, in order
    #: (logits, class, cycles); the fields above are the last element's
    elements: list = field(default_factory=list)


async def _until(ctx, condition, budget: int, what: str):
    """``await ctx.tick().until(condition)``, but raise :class:`TimeoutError` naming
    ``what`` after ``budget`` cycles: hardware that never answers fails, it does not hang."""
    waited = 0
    async for _clk, _rst, done in ctx.tick().sample(condition):
        if done:
            return waited + 1  # the clock edges this took
        waited += 1
        if waited >= budget:
            raise TimeoutError(f"{what}: nothing after {budget} cycles (the hardware is stuck)")


def simulate_network(hw: HardwareConfig, params, x, *, input_gaps: float = 0.0,
                     output_stalls: float = 0.0, seed: int = 0,
                     vcd_path: str | None = None, budget: int | None = None) -> list[HardwareResult]:
    """Simulate a batch ``x`` (raw inputs, as for :func:`model.golden.run`).

    ``budget``: cycles to wait for each input beat to be taken and each result to come
    (default :func:`hw.latency.result_budget`); past it a :class:`TimeoutError` names
    the sequence."""
    from .latency import result_budget, startup_cycles
    net = hw.net
    budget = result_budget(hw) if budget is None else budget
    x = check_input(net, x)
    dut = SpikingLSTMNetwork(hw, params)
    rng = np.random.default_rng(seed)
    results: list[HardwareResult] = []

    input_edges = []  # per sequence, the clock edge (counted from 1) that took its first beat

    async def drive(ctx):
        # after reset the network loads its parameters first (hw.param_rom)
        now = await _until(ctx, dut.i_stream.ready, budget + startup_cycles(hw),
                           f"{net.name}: the parameter load")
        for seq in x:
            for i, beat in enumerate(input_beats(hw.net, seq).astype(int).tolist()):
                while rng.random() < input_gaps:
                    ctx.set(dut.i_stream.valid, 0)
                    await ctx.tick()
                    now += 1
                ctx.set(dut.i_stream.payload, beat)
                ctx.set(dut.i_stream.valid, 1)
                now += await _until(ctx, dut.i_stream.ready, budget, f"{net.name}: an input beat")
                if i == 0:
                    input_edges.append(now)
            ctx.set(dut.i_stream.valid, 0)

    async def collect(ctx):
        now = 0
        for b in range(x.shape[0]):
            while rng.random() < output_stalls:
                ctx.set(dut.o_stream.ready, 0)
                await ctx.tick()
                now += 1
            ctx.set(dut.o_stream.ready, 1)
            elements = []
            for n in range(net.length - 1 if net.readout == "element" else 0):
                now += await _until(ctx, dut.o_stream.valid, budget,
                                    f"{net.name}: the result of element {n} of sequence {b}")
                payload = ctx.get(dut.o_stream.payload)
                elements.append(([int(v) for v in payload.logits], int(payload.cls), int(payload.cycles)))
                while rng.random() < output_stalls:
                    ctx.set(dut.o_stream.ready, 0)
                    await ctx.tick()
                    now += 1
                ctx.set(dut.o_stream.ready, 1)
            now += await _until(ctx, dut.o_stream.valid, budget, f"{net.name}: the result of sequence {b}")
            # the transfer happened on that edge; the banks still hold this sequence
            payload = ctx.get(dut.o_stream.payload)
            if net.readout == "element":
                elements.append(([int(v) for v in payload.logits], int(payload.cls), int(payload.cycles)))
            hs = []
            for l, layer in enumerate(dut.layers):
                h = np.zeros((net.length, net.steps, net.hidden[l]), dtype=np.int32)
                for n in range(net.length):
                    bank = layer.banks[n % hw.lanes]
                    for k in range(net.steps):
                        row = ctx.get(bank.data[((n // hw.lanes) << layer.kbits) | k])
                        h[n, k] = [int(v) for v in row]
                hs.append(h)
            results.append(HardwareResult(
                logits=[int(v) for v in payload.logits], cls=int(payload.cls),
                cycles=int(payload.cycles), acs=int(ctx.get(dut.acs)),
                h_spikes=[int(v) for v in ctx.get(dut.h_spikes)], h=hs,
                input_cycle=input_edges[b], result_cycle=now, elements=elements))
        ctx.set(dut.o_stream.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(collect)
    if vcd_path:
        with sim.write_vcd(vcd_path):
            sim.run()
    else:
        sim.run()
    return results

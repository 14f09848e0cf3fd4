"""The network's parts alone in the Amaranth simulator (the hwsim tier)."""

import random

import numpy as np
import pytest
from amaranth.hdl import Module, signed
from amaranth.lib import data, memory, wiring
from amaranth.sim import Simulator

from hw.config import HardwareConfig
from hw.latency import EVENT_LOOKAHEAD, READOUT_BEGIN, READOUT_END, READOUT_PER_STEP
from hw.readout import ArgmaxScan, Readout
from model import numerics as nr
from model.config import preset

pytestmark = pytest.mark.hwsim


def _scan(count: int, cases: list[list[int]], bits: int = 8, first=None) -> list[tuple[int, list[int], int]]:
    """Each case through an ArgmaxScan: ``(index, held values, cycles to last)``.
    ``first(values)``, when given, drives the ``first_beats`` input (``first_input=True``)."""
    dut = ArgmaxScan(count, signed(bits), first_input=first is not None)
    out = []

    async def bench(ctx):
        for values in cases:
            for c, v in enumerate(values):
                ctx.set(dut.values[c], v)
            if first is not None:
                ctx.set(dut.first_beats, int(first(values)))
            ctx.set(dut.task.start, 1)
            await ctx.tick()
            ctx.set(dut.task.start, 0)
            for c in range(count):
                ctx.set(dut.values[c], 0)  # sampled at the start only
            cycles = 0
            if count > 1:
                while True:
                    cycles += 1
                    assert cycles <= count, "the scan never ended"
                    last = ctx.get(dut.task.last)
                    await ctx.tick()
                    if last:
                        break
            assert not ctx.get(dut.task.last)
            held = [ctx.get(dut.held[c]) for c in range(count)]
            out.append((ctx.get(dut.index), held, cycles))
            await ctx.tick()  # an idle cycle: the result stays
            assert ctx.get(dut.index) == out[-1][0]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


def test_argmax_takes_the_first_maximum_on_ties():
    # with ">=" instead of ">" the later of the equal values would win in each case
    cases = [[3, 5, 5, 1], [7, 7, 7, 7], [-2, -1, -1, -3], [0, 4, 2, 4]]
    got = _scan(4, cases)
    assert [index for index, _, _ in got] == [1, 0, 1, 1]
    assert [held for _, held, _ in got] == cases
    assert {cycles for _, _, cycles in got} == {3}  # count - 1 comparisons, one a cycle


def test_argmax_against_numpy_with_many_ties():
    rng = random.Random(5)
    for count in (2, 3, 5, 10):
        cases = [[rng.randint(-3, 3) for _ in range(count)] for _ in range(12)]
        cases.append([-128] * count)  # the extremes of the shape
        cases.append([127] * (count - 1) + [-128])
        got = _scan(count, cases)
        assert [index for index, _, _ in got] == [int(np.argmax(v)) for v in cases], count
        assert all(cycles == count - 1 for _, _, cycles in got)


def test_argmax_with_the_first_comparison_given():
    """first_input=True: the first step's decision is the input's, not the scan's own
    comparison (a wrong input changes the answer, so the input is what is used)."""
    rng = random.Random(6)
    cases = [[rng.randint(-3, 3) for _ in range(4)] for _ in range(12)] + [[1, 5, 0, 0]]
    right = _scan(4, cases, first=lambda v: v[1] > v[0])
    assert [index for index, _, _ in right] == [int(np.argmax(v)) for v in cases]
    wrong = _scan(4, [[1, 5, 0, 0]], first=lambda v: False)
    assert wrong[0][0] == 0


@pytest.mark.parametrize("bits", [1, 2, 3])
def test_saturated_greater_for_every_pair(bits):
    """hw.readout.saturated_greater(a, b, bits) == (saturate(a) > saturate(b)) for every
    pair of 5-bit signed sums (values beyond both bounds of the narrower width)."""
    from amaranth.hdl import Signal
    from hw.readout import saturated_greater
    m = Module()
    a, b, out = Signal(signed(5)), Signal(signed(5)), Signal()
    m.d.comb += out.eq(saturated_greater(a, b, bits))
    pairs = [(x, y) for x in range(-16, 16) for y in range(-16, 16)]
    seen = []

    async def bench(ctx):
        for x, y in pairs:
            ctx.set(a, x)
            ctx.set(b, y)
            seen.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [int(nr.saturate(x, bits) > nr.saturate(y, bits)) for x, y in pairs]


def test_argmax_of_one_value():
    assert _scan(1, [[-5], [9]]) == [(0, [-5], 0), (0, [9], 0)]


def test_readout_alone_against_the_rule_and_its_cycles():
    """The readout with a simulated h bank and W_out ROM: saturated logits equal to the
    biases plus the signed W_out columns of the non-zero spikes; ``last`` exactly when
    hw.latency says (its READOUT_* constants, the argmax scan left out)."""
    net = preset("tiny", logit_bits=8)  # narrow: some logits saturate
    T, H, K = net.steps, net.hidden[-1], net.classes
    rng = np.random.default_rng(8)
    w = rng.integers(-(1 << (net.w_bits - 1)), 1 << (net.w_bits - 1), size=(K, H))
    b = rng.integers(-20, 20, size=K)
    element, ebits = 1, 2
    sum_bits = HardwareConfig(net).logit_sum_bits()
    rows = [rng.choice([-1, 0, 0, 1], size=(T, H)) for _ in range(3)]
    rows[1][:] = 0                                  # a sequence without spikes
    rows[2][:] = 1                                  # every spike positive
    rows[2][0, :] = 0                               # a step without spikes
    kbits = max(1, (T - 1).bit_length())

    m = Module()
    m.submodules.dut = dut = Readout(net, element=element, ebits=ebits, sum_bits=sum_bits)
    h_row = data.ArrayLayout(signed(2), H)
    m.submodules.bank = bank = memory.Memory(shape=h_row, depth=1 << (ebits + kbits), init=[])
    bank_wr, bank_rd = bank.write_port(), bank.read_port()
    m.submodules.w_out = w_out = memory.Memory(shape=dut.w_word, depth=H, init=w.T.tolist())
    wiring.connect(m, dut.w_rd, w_out.read_port())
    m.d.comb += [bank_rd.addr.eq(dut.h_addr), dut.h_data.eq(bank_rd.data)]

    async def bench(ctx):
        ctx.set(dut.b_out, [int(v) for v in b])  # the network's register (hw.param_rom)
        for h in rows:
            for k in range(T):
                ctx.set(bank_wr.addr, (element << kbits) | k)
                ctx.set(bank_wr.data, [int(v) for v in h[k]])
                ctx.set(bank_wr.en, 1)
                await ctx.tick()
            ctx.set(bank_wr.en, 0)
            ctx.set(dut.task.start, 1)
            await ctx.tick()
            ctx.set(dut.task.start, 0)
            cycles = 2  # the start cycle and this one
            while not ctx.get(dut.task.last):
                cycles += 1
                assert cycles < 10_000, "the readout never ended"
                await ctx.tick()
            await ctx.tick()
            per_step = np.count_nonzero(h, axis=1)
            # hw.latency's readout figure, less the saturation cycle and the scan
            assert cycles == (READOUT_BEGIN + T * READOUT_PER_STEP + int(per_step.sum())
                              + EVENT_LOOKAHEAD * int(np.count_nonzero(per_step)) + READOUT_END - 1)
            want = [nr.saturate(int(b[c]) + int((h * w[c]).sum()), net.logit_bits) for c in range(K)]
            assert [ctx.get(dut.logits[c]) for c in range(K)] == want
            assert ctx.get(dut.first_beats) == int(want[1] > want[0])
            saturated.append(any(abs(int(b[c]) + int((h * w[c]).sum())) > 127 for c in range(K)))
            assert ctx.get(dut.acs) == K * int(np.count_nonzero(h))

    saturated = []
    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(saturated) == len(rows) and any(saturated), "no logit saturated: the test lost a point"


def test_input_banks_alternate_and_free_a_bank_when_its_result_leaves():
    """InputBanks cycle by cycle: a sequence loaded while the controller is idle is
    taken at once; one loaded while another computes waits (queued), and the encoder may
    not begin a third until the first result has left; the banks alternate."""
    from hw.network_control import InputBanks
    dut = InputBanks()
    #        inputs (loaded, taken, done)   expected (available, restart, wbank, rbank)
    script = [((1, 1, 0), (1, 1, 0, 1)),    # loaded into bank 0 and taken at once
              ((0, 0, 0), (0, 1, 1, 0)),    # computing from bank 0; the encoder may fill bank 1
              ((1, 0, 0), (1, 1, 1, 0)),    # bank 1 loaded while bank 0 computes
              ((0, 0, 0), (1, 0, 0, 0)),    # queued and busy: no bank is free
              ((0, 0, 1), (1, 0, 0, 0)),    # the first result leaves
              ((0, 1, 0), (1, 1, 0, 0)),    # bank 0 is free; the queued sequence is taken
              ((0, 0, 0), (0, 1, 0, 1))]    # computing from bank 1; the encoder fills bank 0
    seen = []

    async def bench(ctx):
        for (loaded, taken, done), _ in script:
            ctx.set(dut.loaded, loaded)
            ctx.set(dut.taken, taken)
            ctx.set(dut.done, done)
            seen.append((ctx.get(dut.available), ctx.get(dut.restart), ctx.get(dut.wbank),
                         ctx.get(dut.rbank)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [want for _, want in script]

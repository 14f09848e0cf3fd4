"""The layer's parts alone in the Amaranth simulator (the hwsim tier)."""

import random

import pytest
from amaranth.sim import Simulator

from hw.events import EventList

pytestmark = pytest.mark.hwsim


def _take_all(width: int, vectors: list[int]) -> list[list[int]]:
    """Load each vector into an EventList, take until ``valid`` drops; the positions seen."""
    dut = EventList(width)
    seen = []

    async def bench(ctx):
        for vec in vectors:
            ctx.set(dut.events, vec)
            ctx.set(dut.load, 1)
            await ctx.tick()
            ctx.set(dut.load, 0)
            assert ctx.get(dut.valid) == 0          # a load drops the current event
            assert ctx.get(dut.pending) == int(vec != 0)
            got = []
            ctx.set(dut.take, 1)
            await ctx.tick()
            for _ in range(width + 1):
                if not ctx.get(dut.valid):
                    break
                cur, index = ctx.get(dut.cur), ctx.get(dut.index)
                assert cur == 1 << index              # one-hot, and its index
                got.append(index)
                # pending: positions above the current one are still in the list
                assert ctx.get(dut.pending) == int(vec >> (index + 1) != 0), (vec, index)
                await ctx.tick()
            ctx.set(dut.take, 0)
            assert ctx.get(dut.pending) == 0
            seen.append(got)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


def _bits(vec: int) -> list[int]:
    return [i for i in range(vec.bit_length()) if vec >> i & 1]


def test_event_list_emits_each_set_bit_once_lowest_first():
    vectors = [0b1011_0010, 0, 1, 0b1000_0000, 0xFF, 0b0101_0101]
    assert _take_all(8, vectors) == [_bits(v) for v in vectors]


def test_event_list_across_carry_segments():
    """Wider than one lowest-set segment (hw.onehot cuts the chain at 64 bits)."""
    rng = random.Random(12)
    width = 150
    vectors = [rng.getrandbits(width) & rng.getrandbits(width) for _ in range(4)]
    vectors += [1 << 63 | 1 << 64 | 1 << 149, (1 << width) - 1]
    assert _take_all(width, vectors) == [_bits(v) for v in vectors]


def test_event_list_holds_the_event_without_take():
    """Without ``take`` the current event stays; the next take moves on by one."""
    dut = EventList(6)
    order = []

    async def bench(ctx):
        ctx.set(dut.events, 0b101100)
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        ctx.set(dut.take, 1)
        await ctx.tick()
        ctx.set(dut.take, 0)
        for _ in range(3):                # held: no skip while take is low
            order.append(ctx.get(dut.index))
            await ctx.tick()
        for _ in range(2):
            ctx.set(dut.take, 1)
            await ctx.tick()
            order.append(ctx.get(dut.index))
        ctx.set(dut.take, 0)
        assert ctx.get(dut.valid) == 1
        ctx.set(dut.take, 1)
        await ctx.tick()
        assert ctx.get(dut.valid) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert order == [2, 2, 2, 3, 5]


def test_event_list_refuses_a_bad_width():
    with pytest.raises(ValueError, match="width"):
        EventList(0)

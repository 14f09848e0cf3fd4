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


# ---- the h banks: ports and memory style ----------------------------------------------------

def _banks(cfg, lanes: int, par: int = 4):
    """The h banks of layer 0 of ``cfg`` with L = ``lanes``, after elaboration."""
    from amaranth.hdl import Fragment

    from hw.config import HardwareConfig
    from hw.layer import SpikingLSTMLayer
    from model.params import random_params

    hw = HardwareConfig(cfg, lanes=lanes, par=par)
    layer = SpikingLSTMLayer(hw, 0, random_params(cfg, 1).layers[0])
    Fragment.get(layer, None)
    return hw, layer.banks


@pytest.mark.parametrize("steps,lanes,layers,held,ports", [(1, 1, 1, True, 0), (1, 1, 2, True, 1),
                                                            (2, 1, 1, False, 2), (2, 2, 1, False, 2)])
def test_recurrent_row_held_only_with_one_lane_and_one_step(steps, lanes, layers, held, ports):
    """With L = 1 and T = 1 the recurrent row is the lane's own h row register: the bank
    loses its recurrent read port, and in the last layer the readout's too (it reads the
    register), so nothing reads it; otherwise the bank has both."""
    from hw.config import recurrent_held
    from model.config import preset

    hw, banks = _banks(preset("tiny", steps=steps, hidden=(8,) * layers), lanes)
    assert recurrent_held(hw) is held
    assert [len(b.read_ports) for b in banks] == [ports] * lanes


def test_shallow_banks_go_to_lut_ram_deep_ones_do_not():
    from hw.rom import LUT_RAM, LUT_RAM_MAX_DEPTH
    from model.cells.lstm import baseline_config
    from model.config import preset

    _, shallow = _banks(baseline_config("tmnist"), 1, par=16)     # 32 elements, T = 1: 64 words
    assert shallow[0].depth <= LUT_RAM_MAX_DEPTH and dict(shallow[0].attrs) == LUT_RAM
    _, deep = _banks(preset("tiny", length=40, steps=4), 1)       # 40 x 4 steps: 256 words
    assert deep[0].depth > LUT_RAM_MAX_DEPTH and dict(deep[0].attrs) == {}

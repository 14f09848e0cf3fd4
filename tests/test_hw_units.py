"""Each hardware unit against its golden twin, in the Amaranth simulator."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from conftest import simulate_pipelined as simulate

from hw.cell import FireBinary, FireTernary, HardSigmoidQ, HardTanhQ
from hw.cells.datta import CELL_LATENCY, CellStep
from model import golden, numerics as nr
from model.params import LayerParams
from model.config import ConfigError, NetworkConfig

pytestmark = pytest.mark.hwsim


def corner_values(bits, rng, n):
    lo, hi = nr.signed_range(bits)
    fixed = [lo, lo + 1, -1, 0, 1, hi - 1, hi]
    return np.concatenate([fixed, rng.integers(lo, hi + 1, n)]).astype(np.int64)


@pytest.mark.parametrize("leak", [0, 1, 3])
def test_fire_binary_and_ternary_units(leak):
    rng = np.random.default_rng(leak)
    z = corner_values(10, rng, 200)
    u = corner_values(8, rng, z.size)[: z.size]
    rng.shuffle(u)
    binary = FireBinary(z_bits=10, u_bits=8, theta=37, leak_shift=leak)
    got = simulate(binary, list(zip(z, u)),
                   lambda ctx, c: (ctx.set(binary.z, int(c[0])), ctx.set(binary.u_prev, int(c[1]))),
                   lambda ctx: (ctx.get(binary.spike), ctx.get(binary.u)))
    v = nr.membrane_update(u, z, leak, 8)
    spike, after = nr.fire_binary(v, 37)
    assert got == list(zip(spike.astype(int).tolist(), after.tolist()))
    ternary = FireTernary(z_bits=10, u_bits=8, theta_pos=20, theta_neg=45, leak_shift=leak)
    got = simulate(ternary, list(zip(z, u)),
                   lambda ctx, c: (ctx.set(ternary.z, int(c[0])), ctx.set(ternary.u_prev, int(c[1]))),
                   lambda ctx: (ctx.get(ternary.spike), ctx.get(ternary.u)))
    spike, after = nr.fire_ternary(v, 20, 45)
    assert got == list(zip(spike.tolist(), after.tolist()))
    assert {s for s, _ in got} == {-1, 0, 1}


@pytest.mark.parametrize("ternary", [True, False], ids=["ternary", "binary"])
@pytest.mark.parametrize("loaded", [False, True], ids=["constant", "loaded"])
def test_fire_ahead_is_firing_of_the_saturated_sum(loaded, ternary):
    """FireAhead against ``fire_ternary`` / ``fire_binary`` of ``saturate(a + b)`` for
    every ``a`` of a 5-bit membrane and every 4-bit ``b`` (sums saturating both ways),
    with thresholds at 1, between, and at the top of the range (where a saturated
    membrane does not fire)."""
    from amaranth.hdl import Module, Signal, signed
    from hw.cell import FireAhead, stager
    u_bits, b_bits = 5, 4
    lo, hi = nr.signed_range(u_bits)
    pairs = [(tp, tn) for tp in (1, 6, hi) for tn in ((1, 9, hi) if ternary else (None,))]
    a_all, b_all = np.meshgrid(np.arange(lo, hi + 1), np.arange(-(1 << b_bits - 1), 1 << b_bits - 1))
    a_all, b_all = a_all.ravel(), b_all.ravel()
    for tp, tn in (pairs if loaded or not ternary else pairs[::4]):
        m = Module()
        a, b = Signal(signed(u_bits)), Signal(signed(b_bits))
        theta = ((Signal(signed(u_bits)), Signal(signed(u_bits)) if ternary else None) if loaded
                 else (tp, tn))
        fire = FireAhead(m, stager(m, False), *theta, u_bits, "t")
        fire.offsets(a)
        fire.sums(b)
        spike_v, after_v = fire.fire()
        spike, after, tick = Signal(signed(2)), Signal(signed(u_bits)), Signal()
        m.d.comb += [spike.eq(spike_v), after.eq(after_v)]
        m.d.sync += tick.eq(~tick)
        seen = []

        async def bench(ctx):
            if loaded:
                ctx.set(theta[0], tp)
                if ternary:
                    ctx.set(theta[1], tn)
            await ctx.tick()  # the loaded threshold's derived register
            for va, vb in zip(a_all, b_all):
                ctx.set(a, int(va))
                ctx.set(b, int(vb))
                seen.append((ctx.get(spike), ctx.get(after)))

        sim = Simulator(m)
        sim.add_clock(1e-6)
        sim.add_testbench(bench)
        sim.run()
        s = nr.saturate(a_all + b_all, u_bits)
        ref_spike, ref_after = nr.fire_ternary(s, tp, tn) if ternary else nr.fire_binary(s, tp)
        assert seen == list(zip(ref_spike.astype(int).tolist(), ref_after.tolist())), (tp, tn)
    assert (a_all + b_all > hi).any() and (a_all + b_all < lo).any()


def test_nonspiking_units():
    rng = np.random.default_rng(3)
    z = corner_values(12, rng, 200)
    sig = HardSigmoidQ(z_bits=12, shift=3, bits=4)
    got = simulate(sig, z.tolist(), lambda ctx, v: ctx.set(sig.z, v), lambda ctx: ctx.get(sig.q))
    assert got == nr.hard_sigmoid_q(z, 3, 4).tolist()
    tanh = HardTanhQ(z_bits=12, shift=3, bits=4)
    got = simulate(tanh, z.tolist(), lambda ctx, v: ctx.set(tanh.z, v), lambda ctx: ctx.get(tanh.q))
    assert got == nr.hard_tanh_q(z, 3, 4).tolist()


def test_bad_threshold_is_refused():
    with pytest.raises(ConfigError, match="binary LIF threshold must be an integer from 1 to 127"):
        FireBinary(z_bits=8, u_bits=8, theta=0)


@pytest.mark.parametrize("pipelined", [False, True], ids=["comb", "pipelined"])
@pytest.mark.parametrize("nonspiking, leak", [("none", (0, 0, 0, 0, 0)), ("i", (1, 0, 2, 1, 1)),
                                              ("g", (2, 1, 0, 0, 3))])
def test_cell_step_matches_golden_cell_step(nonspiking, leak, pipelined):
    cfg = NetworkConfig(inputs=2, hidden=(3,), steps=1, length=1, nonspiking=nonspiking,
                        leak_shift=leak, acc_bits=9, u_bits=8, c_bits=5, ns_bits=3, ns_shift=2)
    rng = np.random.default_rng(len(nonspiking) + sum(leak))
    neurons, z_bits = 3, 11
    theta_pos = np.array([30, 25, 20, 40, 3])
    theta_neg = np.array([1, 1, 1, 35, 2])
    dut = CellStep(cfg, neurons=neurons, z_bits=z_bits, theta_pos=theta_pos, theta_neg=theta_neg,
                   pipelined=pipelined)
    assert dut.latency == (CELL_LATENCY if pipelined else 0) and CELL_LATENCY > 0
    cases = []
    for _ in range(150):
        cases.append((rng.integers(*nr.signed_range(z_bits), size=(neurons, 4), endpoint=True),
                      rng.integers(*nr.signed_range(cfg.u_bits), size=(neurons, 5), endpoint=True),
                      rng.integers(*nr.signed_range(cfg.c_bits), size=neurons, endpoint=True)))

    def drive(ctx, case):
        z, u, c = case
        ctx.set(dut.z, [[int(v) for v in row] for row in z])
        ctx.set(dut.u_prev, [[int(v) for v in row] for row in u])
        ctx.set(dut.carry_prev, [{"c": int(v)} for v in c])

    def sample(ctx):
        gates = ctx.get(dut.gates)
        return ([[int(gates[q][g]) for g in nr.GATES] for q in range(neurons)],
                [[int(v) for v in ctx.get(dut.u)[q]] for q in range(neurons)],
                [int(v.c) for v in ctx.get(dut.carry)], [int(v) for v in ctx.get(dut.h)])

    got = simulate(dut, cases, drive, sample, latency=dut.latency)
    assert len(got) == len(cases)
    tally = {}
    for (z, u, c), (g_hw, u_hw, c_hw, h_hw) in zip(cases, got):
        zs = nr.saturate(z, cfg.acc_bits, tally, "acc")
        u_next, (c_ref,), h, record = golden.cell_step(
            cfg, LayerParams(theta_pos=theta_pos, theta_neg=theta_neg), zs.swapaxes(0, 1)[None],
            u.swapaxes(0, 1)[None], (c[None],), tally)
        gates = record["gates"]
        assert g_hw == gates[0].T.tolist()
        # the non-spiking gate has no membrane: its slot is passed through unchanged
        assert u_hw == u_next[0].T.tolist()
        assert c_hw == c_ref[0].tolist()
        assert h_hw == h[0].tolist()
    assert tally["acc"] > 0 and tally["membrane"] > 0 and tally["c"] > 0


@pytest.mark.parametrize("depth", [300, 1300])
def test_banked_rom_reads_every_address(depth):
    """Each address's word ``LATENCY`` cycles later, with the bank changing from one
    cycle to the next (1300 words: banks of 512, 512 and 276)."""
    from amaranth.hdl import signed
    from amaranth.lib import data
    from hw.banked_rom import LATENCY, BankedROM
    rng = np.random.default_rng(depth)
    words = rng.integers(-16, 16, size=(depth, 3)).tolist()
    rom = BankedROM(data.ArrayLayout(signed(5), 3), words)
    assert len(rom.banks) == -(-depth // 512)
    addrs = rng.integers(0, depth, 400).tolist() + list(range(depth))
    seen = simulate(rom, addrs, lambda ctx, a: ctx.set(rom.addr, a),
                    lambda ctx: [int(v) for v in ctx.get(rom.data)], latency=LATENCY)
    for a, got in zip(addrs, seen):
        assert got == words[a], f"address {a}"


@pytest.mark.parametrize("segment", [64, 2, 4])
def test_event_picking_units_for_every_6_bit_vector(segment):
    """Segments of 2 and 4 bits: the lowest set bit is found across segment borders."""
    from amaranth.hdl import Module, Signal, signed
    from hw.onehot import lowest_set, onehot_index, onehot_select
    m = Module()
    bits = Signal(6)
    lowest, rest = lowest_set(m, bits, segment=segment)
    index = Signal(3)
    chosen = Signal(signed(4))
    values = [Signal(signed(2), name=f"v{i}") for i in range(3)] + \
             [Signal(signed(4), name=f"w{i}") for i in range(3)]
    m.d.comb += [index.eq(onehot_index(lowest)), chosen.eq(onehot_select(lowest, values, 4))]
    vals = [1, -1, 0, -8, 7, -3]
    seen = []

    async def bench(ctx):
        for i, v in enumerate(vals):
            ctx.set(values[i], v)
        for b in range(64):
            ctx.set(bits, b)
            seen.append((ctx.get(lowest), ctx.get(rest), ctx.get(index), ctx.get(chosen)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    for b, (low, rst, idx, ch) in enumerate(seen):
        first = next((i for i in range(6) if b >> i & 1), None)
        assert low == (0 if first is None else 1 << first)
        assert rst == (b & ~low)
        assert idx == (0 if first is None else first)
        assert ch == (0 if first is None else vals[first])


@pytest.mark.parametrize("width", [1, 2, 3, 7, 8])
def test_at_least_two_for_every_vector(width):
    """hw.onehot.at_least_two is 1 exactly when two or more bits are set (every vector
    of up to 8 bits; odd widths leave an unpaired node at some level)."""
    from amaranth.hdl import Module, Signal
    from hw.onehot import at_least_two
    m = Module()
    bits, out = Signal(width), Signal()
    m.d.comb += out.eq(at_least_two(bits))
    seen = []

    async def bench(ctx):
        for b in range(1 << width):
            ctx.set(bits, b)
            seen.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [int(bin(b).count("1") >= 2) for b in range(1 << width)]


@pytest.mark.parametrize("value_shape", [(2, True), (3, True), (2, False), (3, False), (4, True), (5, True)])
def test_engine_product_for_every_narrow_value(value_shape):
    """hw.accumulate.product: shift-adds for values of up to 4 bits, a multiplier above;
    both the exact product, for every value and weights across the 8-bit range."""
    from amaranth.hdl import Module, Signal, signed, unsigned
    from hw.accumulate import SHIFT_ADD_BITS, product
    width, is_signed = value_shape
    m = Module()
    w = Signal(signed(8))
    v = Signal(signed(width) if is_signed else unsigned(width))
    out = Signal(signed(8 + width + 1))
    expr = product(w, v)
    m.d.comb += out.eq(expr)
    values = range(-(1 << (width - 1)), 1 << (width - 1)) if is_signed else range(1 << width)
    weights = [-128, -127, -5, -1, 0, 1, 3, 77, 127]
    seen = []

    async def bench(ctx):
        for a in weights:
            for b in values:
                ctx.set(w, a)
                ctx.set(v, b)
                seen.append((a, b, ctx.get(out)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) == len(weights) * len(values)
    assert all(got == a * b for a, b, got in seen), [s for s in seen if s[2] != s[0] * s[1]][:5]
    # the narrow ones build no multiply at all
    assert ("*" in repr(expr)) == (width > SHIFT_ADD_BITS)

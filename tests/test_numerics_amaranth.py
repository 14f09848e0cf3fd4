"""The numeric rules, evaluated as Amaranth hardware, equal their NumPy evaluation.

The hardware generator builds its datapath by calling the functions of
``model.numerics`` on Amaranth values; this checks that the same function bodies
give the same integers in the Amaranth simulator, corners included.
"""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from model import numerics as nr

pytestmark = pytest.mark.hwsim

U_BITS, Z_BITS, C_BITS, NS_BITS = 8, 8, 6, 4


def build():
    m = Module()
    u = Signal(signed(U_BITS))
    z = Signal(signed(Z_BITS))
    c_prev = Signal(signed(C_BITS))
    f = Signal()
    g_spike = Signal(signed(2))
    ports = {"u": u, "z": z, "c_prev": c_prev, "f": f, "g": g_spike}
    outs = {
        "bin_spike": Signal(), "bin_u": Signal(signed(U_BITS)),
        "ter_spike": Signal(signed(2)), "ter_u": Signal(signed(U_BITS)),
        "hsig": Signal(unsigned(NS_BITS)), "htanh": Signal(signed(NS_BITS)),
        "c": Signal(signed(C_BITS)),
    }
    v = nr.membrane_update(u, z, 2, U_BITS)
    spike, after = nr.fire_binary(v, 20)
    m.d.comb += [outs["bin_spike"].eq(spike), outs["bin_u"].eq(after)]
    spike, after = nr.fire_ternary(v, 30, 17)
    m.d.comb += [outs["ter_spike"].eq(spike), outs["ter_u"].eq(after)]
    m.d.comb += [outs["hsig"].eq(nr.hard_sigmoid_q(z, 3, NS_BITS)),
                 outs["htanh"].eq(nr.hard_tanh_q(z, 3, NS_BITS))]
    ig = nr.gate_product(outs["hsig"], g_spike, i_spiking=False)
    m.d.comb += outs["c"].eq(nr.c_update(f, c_prev, ig, C_BITS))
    return m, ports, outs


def reference(u, z, c_prev, f, g):
    u, z, c_prev, f, g = (np.array(v, dtype=np.int64) for v in (u, z, c_prev, f, g))
    v = nr.membrane_update(u, z, 2, U_BITS)
    bs, bu = nr.fire_binary(v, 20)
    ts, tu = nr.fire_ternary(v, 30, 17)
    hs = nr.hard_sigmoid_q(z, 3, NS_BITS)
    ht = nr.hard_tanh_q(z, 3, NS_BITS)
    c = nr.c_update(f, c_prev, nr.gate_product(hs, g, False), C_BITS)
    return {"bin_spike": int(bs), "bin_u": int(bu), "ter_spike": int(ts), "ter_u": int(tu),
            "hsig": int(hs), "htanh": int(ht), "c": int(c)}


def test_rules_in_amaranth_match_numpy():
    m, ports, outs = build()
    rng = np.random.default_rng(7)
    lo_u, hi_u = nr.signed_range(U_BITS)
    lo_c, hi_c = nr.signed_range(C_BITS)
    cases = [(hi_u, hi_u, hi_c, 1, 1), (lo_u, lo_u, lo_c, 1, -1), (20, 0, 0, 0, 0),
             (21, 0, 0, 1, 1), (-17, 0, 3, 1, -1), (-18, -1, 3, 0, 1)]
    for _ in range(300):
        cases.append((int(rng.integers(lo_u, hi_u + 1)), int(rng.integers(lo_u, hi_u + 1)),
                      int(rng.integers(lo_c, hi_c + 1)), int(rng.integers(0, 2)),
                      int(rng.integers(-1, 2))))
    seen = []

    async def bench(ctx):
        for case in cases:
            for name, value in zip(("u", "z", "c_prev", "f", "g"), case):
                ctx.set(ports[name], value)
            seen.append({k: ctx.get(s) for k, s in outs.items()})

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    for case, got in zip(cases, seen):
        assert got == reference(*case), f"inputs {case}"
    # the corners do saturate and fire, so the comparison covered those paths
    assert any(g["bin_u"] == hi_u - 20 for g in seen) and any(g["ter_spike"] == -1 for g in seen)


@pytest.mark.parametrize("shape", [signed(7), unsigned(6), signed(4), signed(5)])
def test_saturate_in_gates_equals_the_clamp_for_every_value(shape):
    bits = 4
    m = Module()
    x = Signal(shape)
    out = Signal(signed(bits + 1))
    m.d.comb += out.eq(nr.saturate(x, bits))
    lo_x, hi_x = (nr.signed_range(shape.width) if shape.signed else (0, (1 << shape.width) - 1))
    values = list(range(lo_x, hi_x + 1))
    seen = []

    async def bench(ctx):
        for v in values:
            ctx.set(x, v)
            seen.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    lo, hi = nr.signed_range(bits)
    assert seen == [min(max(v, lo), hi) for v in values]
    assert hi in seen and (lo in seen or not shape.signed)  # the clamps were exercised

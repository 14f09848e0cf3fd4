"""The baseline LSTM's hardware (hw/cells/lstm.py and the multi-bit engine paths)
against its golden model: the step alone, whole networks in the Amaranth simulator
(every h, the logits and the cycle count of hw.latency), and generated Verilog under
Verilator. Tiers are marked per test."""

import numpy as np
import pytest

from conftest import random_input, simulate_pipelined
from cosim.runner import CosimCase, run_case
from hw.cells import get as hw_step
from hw.config import HardwareConfig
from hw.latency import cycles_for_batch
from hw.simulate import simulate_network
from model import golden, numerics as nr
from model.config import preset
from model.params import LayerParams, random_params



def config(**changes):
    base = dict(cell="lstm", encoding="direct", steps=1, c_bits=14)
    return preset("digits", **{**base, **changes})


@pytest.mark.hwsim
@pytest.mark.parametrize("frac, shift, c_bits", [(6, 2, 14), (2, 0, 5), (4, 3, 7)])
def test_hardware_step_equals_the_golden_step(frac, shift, c_bits):
    cfg = config(frac_bits=frac, ns_shift=shift, c_bits=c_bits, acc_bits=12)
    neurons, z_bits = 2, 15
    dut = hw_step(cfg)(cfg, neurons=neurons, z_bits=z_bits, pipelined=True)
    rng = np.random.default_rng(frac + shift)
    cases = [(rng.integers(*nr.signed_range(z_bits), size=(neurons, 4), endpoint=True),
              rng.integers(*nr.signed_range(c_bits), size=neurons, endpoint=True))
             for _ in range(80)]

    def drive(ctx, case):
        z, c = case
        ctx.set(dut.z, [[int(v) for v in row] for row in z])
        ctx.set(dut.carry_prev, [{"c": int(v)} for v in c])

    def sample(ctx):
        return [int(v) for v in ctx.get(dut.h)], [int(v.c) for v in ctx.get(dut.carry)]

    got = simulate_pipelined(dut, cases, drive, sample, latency=dut.LATENCY)
    tally = {}
    for (z, c), (h_hw, c_hw) in zip(cases, got):
        zs = nr.saturate(z, cfg.acc_bits, tally, "acc")
        _, (c_ref,), h, _ = golden.cell_step(cfg, LayerParams(), zs.T[None], np.zeros((1, 0, neurons)),
                                             (c[None],), tally)
        assert h_hw == h[0].tolist()
        assert c_hw == c_ref[0].tolist()
    assert len(got) == len(cases) and tally["acc"] > 0
    if c_bits < 8:  # the narrow cases reach the saturation of c
        assert tally["c"] > 0


@pytest.mark.hwsim
@pytest.mark.parametrize("hidden, par", [((8,), 4), ((6, 4), 8), ((4,), 16)])
def test_network_in_the_amaranth_simulator(hidden, par):
    cfg = config(hidden=hidden, length=5, inputs=3, classes=3, x_bits=6)
    hw = HardwareConfig(cfg, lanes=1, par=par)
    params = random_params(cfg, 11)
    x = random_input(cfg, 2, np.random.default_rng(11))
    expected, ref = cycles_for_batch(hw, params, x)
    assert any(np.count_nonzero(t.h) for t in ref.layers)
    for b, res in enumerate(simulate_network(hw, params, x)):
        for l in range(cfg.layers):
            assert np.array_equal(res.h[l], ref.layers[l].h[b]), (b, l)
        assert res.logits == ref.logits[b].tolist(), b
        assert res.cycles == expected[b]["total"], b


@pytest.mark.cosim
def test_verilog_under_verilator(tmp_path):
    net = config(hidden=(8, 4), length=6, inputs=3, classes=4, x_bits=6)
    case = CosimCase(name="lstm_ci", hw=HardwareConfig(net, lanes=1, par=8), sequences=4,
                     input_gaps=0.3, output_stalls=0.3, input_seed=4)
    r = run_case(case, build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    assert len(r["results"]) == 4

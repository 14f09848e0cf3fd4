"""The spiking LSTM unit of Lotfi Rezaabad & Vishwanath (model/cells/slstm.py,
hw/cells/slstm.py) through every tier, each against the golden model: its own equations
by hand, both evaluation orders, the float twin and its Gaussian surrogate, the refused
configurations, the hardware step alone, whole networks in the Amaranth simulator, and
generated Verilog under Verilator (with a planted fault that must be caught).
"""

import numpy as np
import pytest
import torch

from conftest import (check_network_in_simulator, check_orders_and_float_twin, check_package_under_verilator,
                      random_input, simulate_pipelined)
from cosim.runner import CosimCase, run_case
from hw.cells import get as hw_step
from hw.config import HardwareConfig
from model import golden, numerics as nr
from model.config import ConfigError, preset
from model.float_twin import GaussianSpikeStep
from model.params import LayerParams, NetworkParams, random_params

CELL = "slstm"


def config(**changes):
    return preset("tiny", cell=CELL, **changes)


@pytest.mark.golden
def test_golden_follows_the_unit_equations():
    # one neuron, one input seen at every element, T = 1; every gate sees z = 10 x + b
    # plus its w_h times h(n-1); f's w_h = -2 and i's w_h = +3 make f close and i open
    cfg = config(inputs=1, hidden=(1,), steps=1, length=4, classes=1, encoding="spikes")
    w_x = np.array([10, 10, 10, 10]).reshape(4, 1, 1)
    w_h = np.array([-2, 3, 0, 0]).reshape(4, 1, 1)
    lp = LayerParams(w_x=w_x, w_h=w_h, bias=np.zeros((4, 1), np.int64), theta=np.array([4, 4, 4, 4]))
    params = NetworkParams([lp], w_out=np.array([[1]]), b_out=np.array([0]))
    x = np.array([1, 1, 1, 0]).reshape(1, 4, 1, 1)
    res = golden.run(cfg, params, x)
    tr = res.layers[0]
    # n=0: z = 10 everywhere: all fire, c = 0 + 1 = 1, h = 1
    # n=1: z_f = 10 - 2 = 8 > 4, z_i = 13: c = 1 + 1 = 2, h = 2
    # n=2: z_f = 10 - 4 = 6 > 4: c = min(2 + 1, 2) = 2 (clamped), h = 2
    # n=3: x = 0: z_f = -4, z_i = 6, z_o = z_g = 0: f = o = g = 0, c = 0, h = 0
    assert tr.gates[0, :, 0, :, 0].tolist() == [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [0, 1, 0, 0]]
    assert tr.c[0, :, 0, 0].tolist() == [1, 2, 2, 0]
    assert tr.h[0, :, 0, 0].tolist() == [1, 2, 2, 0]
    assert res.stats["saturations"]["c"] == 1
    # h is a 3-value input: the recurrent events are multiply-accumulates
    layer = res.stats["layers"][0]
    assert layer["recurrent_events"] == 3 and layer["macs"] == 3 * 4 and layer["acs"] == 3 * 4


@pytest.mark.golden
@pytest.mark.parametrize("encoding", ["spikes", "rate", "level", "direct"])
def test_orders_and_float_twin_agree(encoding):
    cfg = config(encoding=encoding, hidden=(6, 5))
    params = random_params(cfg, 4, threshold_scale=0.5)
    x = random_input(cfg, 5, np.random.default_rng(4))
    ref = check_orders_and_float_twin(cfg, params, x, ("c",))
    assert all(np.count_nonzero(t.h) for t in ref.layers)  # no layer is silent
    assert any(np.count_nonzero(t.h == 2) for t in ref.layers)


@pytest.mark.golden
def test_the_gaussian_surrogate():
    # dS/dU = gamma / theta * exp(-2 ((|U| - theta) / theta)^2), U = excess + theta
    theta, gamma = 4.0, 0.5
    excess = torch.tensor([-8.0, -4.0, -2.0, 0.0, 2.0], requires_grad=True)
    GaussianSpikeStep.apply(excess, torch.tensor(theta), gamma).sum().backward()
    u = np.array([-4.0, 0.0, 2.0, 4.0, 6.0])
    want = gamma / theta * np.exp(-2 * ((np.abs(u) - theta) / theta) ** 2)
    assert np.allclose(excess.grad.numpy(), want)
    assert excess.grad[0] == excess.grad[3] == gamma / theta  # |U| = theta on both sides


@pytest.mark.golden
def test_the_cell_refuses_what_it_cannot_compute():
    with pytest.raises(ConfigError, match="every gate spiking"):
        config(nonspiking="g")
    with pytest.raises(ConfigError, match="c_bits must be 3"):
        config(c_bits=2)
    with pytest.raises(ConfigError, match=r"leak_shift needs 0 entries"):
        config(leak_shift=(1,))
    cfg = config()
    params = random_params(cfg, 1)
    params.layers[0].theta = np.array([3, 0, 3, 3])
    with pytest.raises(ConfigError, match="layer 0 theta"):
        params.validate(cfg)


@pytest.mark.hwsim
def test_hardware_step_equals_the_golden_step():
    cfg = config(acc_bits=9)
    step_cls, neurons, z_bits = hw_step(cfg), 3, 11
    theta = [20, 1, 7, 250]
    dut = step_cls(cfg, neurons=neurons, z_bits=z_bits, theta=theta, pipelined=True)
    rng = np.random.default_rng(7)
    corners = [np.array([t - 1, t, t + 1]) for t in theta]
    cases = [(rng.integers(*nr.signed_range(z_bits), size=(neurons, 4), endpoint=True),
              rng.integers(0, 3, size=neurons)) for _ in range(60)]
    cases += [(np.stack([corners[a][np.roll(np.arange(3), j)] for a in range(4)], -1),
               rng.integers(0, 3, size=neurons)) for j in range(3)]

    def drive(ctx, case):
        z, c = case
        ctx.set(dut.z, [[int(v) for v in row] for row in z])
        ctx.set(dut.carry_prev, [{"c": int(v)} for v in c])

    def sample(ctx):
        return [int(v) for v in ctx.get(dut.h)], [int(r.c) for r in ctx.get(dut.carry)]

    got = simulate_pipelined(dut, cases, drive, sample, latency=dut.LATENCY)
    lp, tally = LayerParams(theta=np.array(theta)), {}
    seen = set()
    for (z, c), (h_hw, c_hw) in zip(cases, got):
        zs = nr.saturate(z.T, cfg.acc_bits, tally, "acc")
        _, (c_next,), h, _ = golden.cell_step(cfg, lp, zs[None], np.zeros((1, 0, neurons), np.int64),
                                              (c[None],), tally)
        assert h_hw == np.asarray(h[0], dtype=int).tolist()
        assert c_hw == np.asarray(c_next[0], dtype=int).tolist()
        seen.update(h_hw)
    assert len(got) == len(cases) and tally["acc"] > 0 and tally.get("c", 0) > 0 and seen == {0, 1, 2}


@pytest.mark.hwsim
@pytest.mark.parametrize("encoding, lanes, par", [("rate", 2, 4), ("direct", 1, 12), ("level", 2, 4)])
def test_network_in_the_amaranth_simulator(encoding, lanes, par):
    cfg = config(encoding=encoding, hidden=(6, 3))
    hw = HardwareConfig(cfg, lanes=lanes, par=par)
    params = random_params(cfg, 9, threshold_scale=0.4)
    x = random_input(cfg, 2, np.random.default_rng(9))
    ref = check_network_in_simulator(hw, params, x)
    assert any(np.count_nonzero(t.h) for t in ref.layers)  # not silent
    if encoding != "level":  # (these random networks have no h = 2 with level inputs)
        assert any(np.count_nonzero(t.h == 2) for t in ref.layers)


@pytest.mark.cosim
def test_verilog_under_verilator(tmp_path):
    net = config(encoding="rate", length=4, hidden=(4, 2))
    case = CosimCase(name="slstm_ci", hw=HardwareConfig(net, lanes=2, par=4), sequences=4,
                     threshold_scale=0.4, input_gaps=0.3, output_stalls=0.3, input_seed=2)
    r = run_case(case, build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    assert len(r["results"]) == 4
    # the planted fault (g's threshold + 1) shows only where a gate sum equals the new
    # threshold exactly: 64 sequences give it that chance
    r = run_case(CosimCase(**{**case.__dict__, "name": "slstm_fault", "fault": "threshold", "sequences": 64}),
                 build_root=tmp_path, localize_mismatch=False)
    assert r["mismatch"] is not None


@pytest.mark.cosim
def test_the_bundled_digits_model_under_verilator(tmp_path):
    """models/digits-slstm (trained by model.train_cell) in the generated Verilog: the
    golden model's logits, classes and cycles on its first test sequences."""
    from model import data
    case, ref = check_package_under_verilator("digits-slstm", 6, tmp_path)
    assert case.hw.net.cell == CELL and case.hw.net.encoding == "level"
    assert np.mean(ref.predicted == data.load("digits").y_test[:6]) >= 5 / 6


@pytest.mark.golden
def test_the_random_regression_can_take_this_cell_alone():
    # cosim.runner --regression N --cell slstm: every case on the cell, valid for it
    from cosim.runner import random_case
    rng = np.random.default_rng(1)
    cases = [random_case(rng, i, 2, CELL) for i in range(30)]
    assert all(c.hw.net.cell == CELL for c in cases)
    assert len({(c.hw.net.encoding, c.hw.lanes, c.hw.par, c.hw.net.hidden) for c in cases}) > 15
    assert all(c.hw.par % 4 == 0 for c in cases)

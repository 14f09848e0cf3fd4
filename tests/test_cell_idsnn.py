"""The improved-dynamics spiking neuron of Ponghiran & Roy (model/cells/idsnn.py,
hw/cells/idsnn.py) through every tier, each against the golden model: its own equations
by hand, both evaluation orders, the float twin, the refused configurations, the
hardware step alone, whole networks in the Amaranth simulator, and generated Verilog
under Verilator (with a planted fault that must be caught).
"""

import numpy as np
import pytest

from conftest import (check_network_in_simulator, check_orders_and_float_twin, check_package_under_verilator,
                      random_input, simulate_pipelined)
from cosim.runner import CosimCase, run_case
from hw.cells import get as hw_step
from hw.config import HardwareConfig
from model import golden, numerics as nr
from model.config import ConfigError, preset
from model.params import LayerParams, NetworkParams, random_params

CELL = "idsnn"


def config(**changes):
    return preset("tiny", cell=CELL, **changes)


@pytest.mark.golden
def test_golden_follows_the_equations():
    # one neuron, unit 2**F = 4, ns_shift 0, Y up to 3, IF (no leak), theta 2
    cfg = config(inputs=1, hidden=(1,), steps=1, length=4, classes=1, encoding="spikes",
                 frac_bits=2, ns_shift=0, ns_bits=3, c_bits=6, u_bits=8, leak_shift=(0,))
    lp = LayerParams(w_x=np.array([0, 8]).reshape(2, 1, 1), w_h=np.array([0, -8]).reshape(2, 1, 1),
                     bias=np.zeros((2, 1), np.int64), theta=np.int64(2))
    params = NetworkParams([lp], w_out=np.array([[1]]), b_out=np.array([0]))
    x = np.array([1, 1, 1, 0]).reshape(1, 4, 1, 1)
    res = golden.run(cfg, params, x)
    tr = res.layers[0]
    # F = clamp(0 + 2, 0, 4) = 2 (a half) throughout; C = clamp(z_c, 0, 4)
    # n=0: C = 4: I = (2*0 + 2*4) >> 2 = 2; V = 2, not > 2: Y = 0
    # n=1: C = 4: I = (2*2 + 2*4) >> 2 = 3; V = 5 > 2: Y = clamp(5 >> 2, 1, 3) = 1, V = 1
    # n=2: z_c = 8 - 8*Y(1) = 0, C = 0: I = (2*3) >> 2 = 1; V = 2: Y = 0
    # n=3: x = 0: I = (2*1) >> 2 = 0; V = 2: Y = 0
    assert tr.gates[0, :, 0, :, 0].tolist() == [[2, 4], [2, 4], [2, 0], [2, 0]]
    assert tr.i[0, :, 0, 0].tolist() == [2, 3, 1, 0]
    assert tr.h[0, :, 0, 0].tolist() == [0, 1, 0, 0]
    assert res.logits[0].tolist() == [0]  # h(N-1) = 0
    layer = res.stats["layers"][0]
    assert layer["recurrent_events"] == 1 and layer["macs"] == 2 and layer["products"] == 8


@pytest.mark.golden
def test_levels_and_leak():
    # a large current: V passes several units and Y reports the level, held to Ymax;
    # with leak_shift 1 the V left after the reset halves
    cfg = config(inputs=1, hidden=(1,), steps=1, length=3, classes=1, encoding="spikes",
                 frac_bits=2, ns_shift=0, ns_bits=3, c_bits=6, u_bits=8, leak_shift=(1,))
    lp = LayerParams(w_x=np.array([100, 100]).reshape(2, 1, 1), w_h=np.zeros((2, 1, 1), np.int64),
                     bias=np.zeros((2, 1), np.int64), theta=np.int64(1))
    params = NetworkParams([lp], w_out=np.array([[1]]), b_out=np.array([0]))
    tr = golden.run(cfg, params, np.ones((1, 3, 1, 1), np.int64)).layers[0]
    # F = 4 (1.0): I keeps I(n-1) = 0 forever; V = leak(V) + 0
    assert tr.i[0, :, 0, 0].tolist() == [0, 0, 0] and tr.h[0, :, 0, 0].tolist() == [0, 0, 0]
    lp.w_x = np.array([-100, 100]).reshape(2, 1, 1)  # F = 0: I = C = 4 every element
    tr = golden.run(cfg, params, np.ones((1, 3, 1, 1), np.int64)).layers[0]
    # n=0: V = 4 > 1: Y = 1, V = 0; n=1: V = 0 + 4: Y = 1, V = 0; the same at n=2
    assert tr.i[0, :, 0, 0].tolist() == [4, 4, 4] and tr.h[0, :, 0, 0].tolist() == [1, 1, 1]
    lp.w_h = np.array([0, 0]).reshape(2, 1, 1)
    lp.theta = np.int64(20)  # V climbs: 4, leak(4) + 4 = 6, leak(6) + 4 = 7; never > 20
    tr = golden.run(cfg, params, np.ones((1, 3, 1, 1), np.int64)).layers[0]
    assert tr.h[0, :, 0, 0].tolist() == [0, 0, 0]
    lp.theta = np.int64(5)  # 4; 6 > 5: Y = 6 >> 2 = 1, V = 2; leak(2) + 4 = 5: Y = 0
    tr = golden.run(cfg, params, np.ones((1, 3, 1, 1), np.int64)).layers[0]
    assert tr.h[0, :, 0, 0].tolist() == [0, 1, 0]
    cfg8 = cfg.replace(u_bits=10, leak_shift=(0,))
    lp.w_x, lp.theta = np.array([-100, 100]).reshape(2, 1, 1), np.int64(13)
    x = np.ones((1, 3, 1, 1), np.int64)
    tr = golden.run(cfg8, params, x).layers[0]  # V = 4, 8, 12 never > 13
    assert tr.h[0, :, 0, 0].tolist() == [0, 0, 0]
    tr = golden.run(cfg8.replace(length=5), params, np.ones((1, 5, 1, 1), np.int64)).layers[0]
    assert tr.h[0, :, 0, 0].tolist() == [0, 0, 0, 3, 0]  # V = 16 > 13: Y = min(16 >> 2, 3) = 3, V = 4


@pytest.mark.golden
@pytest.mark.parametrize("encoding", ["spikes", "rate", "level", "direct"])
def test_orders_and_float_twin_agree(encoding):
    cfg = config(encoding=encoding, hidden=(6, 5), leak_shift=(2,))
    params = random_params(cfg, 4, threshold_scale=0.5)
    x = random_input(cfg, 5, np.random.default_rng(4))
    ref = check_orders_and_float_twin(cfg, params, x, ("i",))
    assert any(np.count_nonzero(t.h) for t in ref.layers)


@pytest.mark.golden
def test_the_cell_refuses_what_it_cannot_compute():
    with pytest.raises(ConfigError, match="no gate to keep non-spiking"):
        config(nonspiking="g")
    with pytest.raises(ConfigError, match=r"leak_shift needs 1 entries \(v\)"):
        config(leak_shift=(0, 0))
    with pytest.raises(ConfigError, match="c_bits=7 cannot hold the current I"):
        config(c_bits=7)  # frac_bits 6
    cfg = config()
    params = random_params(cfg, 1)
    params.layers[0].theta = np.int64(0)
    with pytest.raises(ConfigError, match="layer 0 theta"):
        params.validate(cfg)


@pytest.mark.hwsim
def test_hardware_step_equals_the_golden_step():
    cfg = config(acc_bits=12, u_bits=9, c_bits=8, frac_bits=3, ns_shift=2, ns_bits=3, leak_shift=(1,))
    step_cls, neurons, z_bits = hw_step(cfg), 3, 14
    theta = [5]
    dut = step_cls(cfg, neurons=neurons, z_bits=z_bits, theta=theta, pipelined=True)
    rng = np.random.default_rng(7)
    i_lo, i_hi = nr.signed_range(cfg.c_bits)
    cases = [(rng.integers(*nr.signed_range(z_bits), size=(neurons, 2), endpoint=True),
              rng.integers(0, nr.unit(cfg.frac_bits) + 1, size=neurons),
              rng.integers(*nr.signed_range(cfg.u_bits), size=neurons, endpoint=True))
             for _ in range(80)]
    # the threshold corners: V lands on theta - 1, theta, theta + 1 (z_c = 0, I stays 0)
    cases += [(np.zeros((neurons, 2), np.int64) - 4096, np.zeros(neurons, np.int64),
               np.array([theta[0] - 1 + j, theta[0] + j, theta[0] + 1 + j]) * 2) for j in range(2)]


    def drive(ctx, case):
        z, i, v = case
        ctx.set(dut.z, [[int(a) for a in row] for row in z])
        ctx.set(dut.carry_prev, [{"i": int(a), "v": int(b)} for a, b in zip(i, v)])

    def sample(ctx):
        return ([int(a) for a in ctx.get(dut.h)],
                [(int(r.i), int(r.v)) for r in ctx.get(dut.carry)])

    got = simulate_pipelined(dut, cases, drive, sample, latency=dut.LATENCY)
    lp, tally = LayerParams(theta=np.int64(theta[0])), {}
    levels = set()
    for (z, i, v), (h_hw, carry_hw) in zip(cases, got):
        zs = nr.saturate(z.T, cfg.acc_bits, tally, "acc")
        _, (i_n, v_n), h, _ = golden.cell_step(cfg, lp, zs[None], np.zeros((1, 0, neurons), np.int64),
                                               (i[None], v[None]), tally)
        assert h_hw == np.asarray(h[0], dtype=int).tolist()
        assert carry_hw == list(zip(i_n[0].tolist(), v_n[0].tolist()))
        levels.update(h_hw)
    assert len(got) == len(cases) and tally["acc"] > 0
    assert levels == {0, 1, 2, 3}


@pytest.mark.hwsim
@pytest.mark.parametrize("encoding, lanes, par, seed", [("rate", 2, 2, 4), ("direct", 1, 6, 4), ("level", 2, 6, 0)])
def test_network_in_the_amaranth_simulator(encoding, lanes, par, seed):
    # IF potentials over 8 elements: these seeds reach output levels of 2 and more in
    # every layer, so the multi-bit products of the engine and the readout are exercised
    cfg = config(encoding=encoding, hidden=(6, 3), leak_shift=(0,), length=8)
    hw = HardwareConfig(cfg, lanes=lanes, par=par)
    params = random_params(cfg, seed, threshold_scale=0.4)
    x = random_input(cfg, 2, np.random.default_rng(seed))
    ref = check_network_in_simulator(hw, params, x)
    assert all(np.count_nonzero(t.h >= 2) for t in ref.layers)


@pytest.mark.cosim
def test_verilog_under_verilator(tmp_path):
    from cosim.runner import case_inputs, case_params
    net = config(encoding="rate", length=8, hidden=(6, 3), leak_shift=(0,))
    case = CosimCase(name="idsnn_ci", hw=HardwareConfig(net, lanes=2, par=6), sequences=8,
                     params_seed=4, threshold_scale=0.4, input_gaps=0.3, output_stalls=0.3, input_seed=4)
    ref = golden.run(net, case_params(case)[0], case_inputs(case))
    assert all(np.count_nonzero(t.h >= 2) for t in ref.layers)  # several output levels
    r = run_case(case, build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    assert len(r["results"]) == 8
    r = run_case(CosimCase(**{**case.__dict__, "name": "idsnn_fault", "fault": "threshold", "sequences": 64}),
                 build_root=tmp_path, localize_mismatch=False)
    assert r["mismatch"] is not None


@pytest.mark.cosim
def test_the_bundled_digits_model_under_verilator(tmp_path):
    """models/digits-idsnn (trained by model.train_cell) in the generated Verilog: the
    golden model's logits, classes and cycles on its first test sequences."""
    from model import data
    case, ref = check_package_under_verilator("digits-idsnn", 6, tmp_path)
    assert case.hw.net.cell == CELL and case.hw.net.leak_shift == (1,)
    assert np.mean(ref.predicted == data.load("digits").y_test[:6]) >= 5 / 6

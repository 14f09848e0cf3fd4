"""The carried leaky integrate-and-fire cell (model/cells/lif.py, hw/cells/lif.py) through
every tier, against its own hand-computed equations and the golden model: the hard-reset
rule, the golden model in both orders, the float twin, the hardware step alone, whole
networks in the Amaranth simulator and generated Verilog under Verilator.

The tiers are marked per test (this file spans them, as a new cell's test does).
"""

import numpy as np
import pytest
import torch

from conftest import (check_network_in_simulator, check_orders_and_float_twin, fault_seed_that_shows,
                      random_input, simulate_pipelined)
from cosim.runner import CosimCase, run_case
from hw.cells import get as hw_step
from hw.config import HardwareConfig
from model import golden, numerics as nr
from model.config import ConfigError, preset
from model.params import LayerParams, NetworkParams, random_params

CELL = "lif"


def config(**changes):
    return preset("tiny", cell=CELL, **changes)


@pytest.mark.golden
def test_hard_reset_rule_in_numpy_and_torch():
    u = np.array([4, 5, 12, -3, 0])
    spike, after = nr.fire_binary_hard(u, 4)
    assert spike.tolist() == [False, True, True, False, False]   # strict
    assert after.tolist() == [4, 0, 0, -3, 0]                       # to zero, not u - theta
    t = torch.tensor([4.0, 5.0, 12.0, -3.0, 0.0], requires_grad=True)
    s, a = nr.fire_binary_hard(t, 4, lambda e, th: (e > 0).to(e.dtype))
    assert s.tolist() == [0, 1, 1, 0, 0] and a.tolist() == after.tolist()


@pytest.mark.golden
def test_golden_follows_the_lif_equations():
    # one neuron, leak shift 1 (v - floor(v / 2)), w_x = 6, w_h = -2, b = 1, theta = 8,
    # T = 1: the membrane is carried from element to element and reset to zero on a spike
    cfg = config(inputs=1, hidden=(1,), steps=1, length=8, classes=1, encoding="spikes",
                 leak_shift=(1,))
    lp = LayerParams(w_x=np.array([[[6]]]), w_h=np.array([[[-2]]]), bias=np.array([[1]]),
                     theta=np.array(8))
    params = NetworkParams([lp], w_out=np.array([[3]]), b_out=np.array([-1]))
    x = np.array([1, 1, 1, 1, 1, -1, -1, 0]).reshape(1, 8, 1, 1)
    tr = golden.run(cfg, params, x).layers[0]
    # n=0: z = 7, v = 7 | n=1: v = 7 - 3 + 7 = 11 > 8 fires -> 0 | n=2: z = 7 - 2, v = 5
    # n=3: v = 5 - 2 + 7 = 10 fires -> 0 | n=4: v = 5 | n=5: z = -6 + 1, v = 5 - 2 - 5 = -2
    # n=6: v = -2 - (-1) - 5 = -6 (floor) | n=7: z = 1, v = -6 - (-3) + 1 = -2
    assert tr.h[0, :, 0, 0].tolist() == [0, 1, 0, 1, 0, 0, 0, 0]
    assert tr.v[0, :, 0, 0].tolist() == [7, 0, 5, 0, 5, -2, -6, -2]
    # the readout takes h of the last element: 3 * 0 - 1
    assert golden.run(cfg, params, x).logits.tolist() == [[-1]]


@pytest.mark.golden
def test_if_without_leak_and_the_saturated_membrane():
    # leak shift 0 is IF; the membrane saturates at u_bits and a spike still resets it
    cfg = config(inputs=1, hidden=(1,), steps=2, length=4, classes=1, encoding="spikes",
                 u_bits=5, leak_shift=(0,))
    lp = LayerParams(w_x=np.array([[[9]]]), w_h=np.array([[[0]]]), bias=np.array([[0]]),
                     theta=np.array(15))
    params = NetworkParams([lp], w_out=np.array([[1]]), b_out=np.array([0]))
    # step k = 0 gets +1 spikes, step k = 1 none: each step is a chain of its own
    x = np.zeros((1, 4, 2, 1), dtype=np.int64)
    x[0, :, 0, 0] = 1
    res = golden.run(cfg, params, x)
    tr = res.layers[0]
    # k = 0: v = 9, 18 -> 15 (sat at 2**4 - 1, not > 15), 24 -> 15, ... never fires
    assert tr.v[0, :, 0, 0].tolist() == [9, 15, 15, 15]
    assert tr.h[0, :, 0, 0].tolist() == [0, 0, 0, 0]
    assert tr.v[0, :, 1, 0].tolist() == [0, 0, 0, 0]
    assert res.stats["saturations"]["membrane"] == 3        # n = 1, 2, 3
    lp.theta = np.array(14)
    tr = golden.run(cfg, params, x).layers[0]
    assert tr.h[0, :, 0, 0].tolist() == [0, 1, 0, 1]          # 9, 15 fires -> 0, 9, 15
    assert tr.v[0, :, 0, 0].tolist() == [9, 0, 9, 0]


@pytest.mark.golden
@pytest.mark.parametrize("encoding", ["spikes", "rate", "level", "direct"])
def test_orders_and_float_twin_agree(encoding):
    cfg = config(encoding=encoding, hidden=(6, 5), leak_shift=(1,))
    params = random_params(cfg, 4, threshold_scale=0.5)
    x = random_input(cfg, 5, np.random.default_rng(4))
    ref = check_orders_and_float_twin(cfg, params, x, ("v",))
    assert all(0 < np.mean(t.h) < 1 for t in ref.layers)  # neither silent nor saturated


@pytest.mark.golden
def test_the_cell_refuses_what_it_cannot_compute():
    with pytest.raises(ConfigError, match="no gate to keep non-spiking"):
        config(nonspiking="g")
    with pytest.raises(ConfigError, match=r"leak_shift needs 1 entries \(v\)"):
        config(leak_shift=(0, 0))
    cfg = config()
    params = random_params(cfg, 1)
    params.layers[0].theta = np.array(0)
    with pytest.raises(ConfigError, match="layer 0 theta"):
        params.validate(cfg)
    with pytest.raises(ConfigError, match="LIF neuron threshold"):
        hw_step(cfg)(cfg, neurons=1, z_bits=8, theta=[1 << 15])


@pytest.mark.hwsim
def test_hardware_step_equals_the_golden_step():
    cfg = config(acc_bits=9, u_bits=8, leak_shift=(2,))
    step_cls, neurons, z_bits, theta = hw_step(cfg), 3, 11, 20
    dut = step_cls(cfg, neurons=neurons, z_bits=z_bits, theta=[theta], pipelined=True)
    rng = np.random.default_rng(7)
    lo, hi = nr.signed_range(cfg.u_bits)
    # corners: exactly at the threshold, one above, both saturations, zero
    cases = [(np.array([0, 1, -1]), np.array([theta, theta, theta + 1])),
             (np.array([1023, -1024, 0]), np.array([hi, lo, 0])),
             (np.array([21, 20, 5]), np.array([0, 0, 20]))]
    cases += [(rng.integers(*nr.signed_range(z_bits), size=neurons, endpoint=True),
               rng.integers(lo, hi, size=neurons, endpoint=True)) for _ in range(60)]

    def drive(ctx, case):
        z, v = case
        ctx.set(dut.z, [[int(a)] for a in z])
        ctx.set(dut.carry_prev, [{"v": int(a)} for a in v])

    def sample(ctx):
        return [int(a) for a in ctx.get(dut.h)], [int(c.v) for c in ctx.get(dut.carry)]

    got = simulate_pipelined(dut, cases, drive, sample, latency=dut.LATENCY)
    tally, fired = {}, 0
    lp = LayerParams(theta=np.array(theta))
    for (z, v), (h_hw, v_hw) in zip(cases, got):
        zs = nr.saturate(z, cfg.acc_bits, tally, "acc")
        _, (v_next,), h, _ = golden.cell_step(cfg, lp, zs[None, None], np.zeros((1, 1, 0, 3)),
                                              (v[None, None],), tally)
        assert h_hw == np.asarray(h[0, 0], dtype=int).tolist()
        assert v_hw == v_next[0, 0].tolist()
        fired += sum(h_hw)
    assert len(got) == len(cases) and tally["acc"] > 0 and tally["membrane"] > 0 and fired > 0


@pytest.mark.hwsim
@pytest.mark.parametrize("encoding, steps, lanes, par", [("rate", 2, 2, 1), ("spikes", 1, 1, 3),
                                                        ("direct", 1, 1, 1)])
def test_network_in_the_amaranth_simulator(encoding, steps, lanes, par):
    cfg = config(encoding=encoding, steps=steps, hidden=(6, 3), leak_shift=(1,))
    hw = HardwareConfig(cfg, lanes=lanes, par=par)
    params = random_params(cfg, 9, threshold_scale=0.4)
    x = random_input(cfg, 2, np.random.default_rng(9))
    ref = check_network_in_simulator(hw, params, x)
    assert any(np.count_nonzero(t.h) for t in ref.layers)


@pytest.mark.cosim
def test_verilog_under_verilator(tmp_path):
    net = config(encoding="spikes", steps=1, length=6, hidden=(4, 2), leak_shift=(2,))
    case = CosimCase(name="lif_ci", hw=HardwareConfig(net, lanes=1, par=2), sequences=4,
                     threshold_scale=0.3, input_gaps=0.3, output_stalls=0.3, input_seed=2)
    case = CosimCase(**{**case.__dict__, "params_seed": fault_seed_that_shows(case)})
    r = run_case(case, build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    assert len(r["results"]) == 4
    # and the checker catches a wrong threshold in this cell too
    r = run_case(CosimCase(**{**case.__dict__, "name": "lif_fault", "fault": "threshold"}),
                 build_root=tmp_path, localize_mismatch=False)
    assert r["mismatch"] is not None


@pytest.mark.synth
@pytest.mark.slow
def test_the_lif_datapath_has_no_multiplier(tmp_path):
    # spike inputs, a shift leak and a select for the reset: yosys maps no DSP block
    from flows.yosys import FAMILIES, synth_stat
    from hw.network import SpikingLSTMNetwork
    cfg = config(encoding="spikes", steps=1, hidden=(4,), length=3, leak_shift=(2,))
    design = SpikingLSTMNetwork(HardwareConfig(cfg, lanes=1, par=4), random_params(cfg, 0))
    stat = synth_stat(design, "ecp5", tmp_path / "lif", until="map_luts")
    assert stat["cells"] and sum(stat["cells"].get(t, 0) for t in FAMILIES["ecp5"]["dsp"]) == 0

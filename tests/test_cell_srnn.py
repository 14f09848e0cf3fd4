"""The adaptive spiking neuron of Yin et al. (model/cells/srnn.py, hw/cells/srnn.py)
through every tier, against hand-computed equations and the golden model, with the
integrator readout its paper uses: the golden model in both orders, the float twin,
the hardware step alone, whole networks in the Amaranth simulator and generated Verilog
under Verilator (with a planted fault that must be caught).
"""

import numpy as np
import pytest
import torch

from conftest import (check_network_in_simulator, check_orders_and_float_twin, check_package_under_verilator,
                      fault_seed_that_shows, random_input, simulate_pipelined)
from cosim.runner import CosimCase, run_case
from hw.cells import get as hw_step
from hw.config import HardwareConfig
from model import golden, numerics as nr
from model.config import ConfigError, preset
from model.float_twin import FloatSpikingLSTM
from model.encoding import encode
from model.params import LayerParams, NetworkParams, random_params

CELL = "srnn"


def config(**changes):
    return preset("tiny", cell=CELL, **changes)


def one_neuron(adapt):
    lp = LayerParams(w_x=np.array([[[8]]]), w_h=np.array([[[0]]]), bias=np.array([[0]]),
                     theta=np.array(6), adapt=np.array(adapt))
    return NetworkParams([lp], w_out=np.array([[2]]), b_out=np.array([0]))


@pytest.mark.golden
def test_golden_follows_the_adaptive_neuron_equations():
    # one neuron, x = +1 spikes, w_x = 8, theta = 6, adapt = 4, both leaks shift 1:
    #   a = a - (a >> 1) + (S(n-1) ? 4 : 0);  threshold = 6 + a
    #   u = u - (u >> 1) + 8 - (S(n-1) ? threshold : 0);  S = u > threshold
    # n=0: a 0, th 6,  u 8 > 6 fires        | n=1: a 4, th 10, u 8-4+8-10 = 2
    # n=2: a 2, th 8,  u 2-1+8 = 9 fires    | n=3: a 2-1+4 = 5, th 11, u 9-4+8-11 = 2
    # n=4: a 3, th 9,  u 2-1+8 = 9, not > 9 | n=5: a 2, th 8, u 9-4+8 = 13 fires
    cfg = config(inputs=1, hidden=(1,), steps=1, length=6, classes=1, encoding="spikes",
                 leak_shift=(1, 1), readout="integrator", readout_leak=1)
    x = np.ones((1, 6, 1, 1), dtype=np.int64)
    for order in ("element", "wavefront"):
        res = golden.run(cfg, one_neuron(4), x, order=order)
        tr = res.layers[0]
        assert tr.h[0, :, 0, 0].tolist() == [1, 0, 1, 0, 0, 1]
        assert tr.v[0, :, 0, 0].tolist() == [8, 2, 9, 2, 9, 13]
        assert tr.threshold[0, :, 0, 0].tolist() == [6, 10, 8, 11, 9, 8]
        # the integrator readout of r = 2 h = 2, 0, 2, 0, 0, 2 with leak 1:
        # o = 2, 1, 3, 2, 1, 3, summed: 12
        assert res.logits.tolist() == [[12]]
    # adapt = 0 is the plain LIF neuron with a soft reset by theta: it fires more
    # n=0: u 8 fires | n=1: 4+8-6 = 6 | n=2: 6-3+8 = 11 fires | n=3: 11-5+8-6 = 8 fires
    # n=4: 8-4+8-6 = 6 | n=5: 6-3+8 = 11 fires
    tr = golden.run(cfg, one_neuron(0), x).layers[0]
    assert tr.h[0, :, 0, 0].tolist() == [1, 0, 1, 1, 0, 1]
    assert tr.threshold[0, :, 0, 0].tolist() == [6] * 6


@pytest.mark.golden
def test_the_papers_energy_count():
    # the hand-computed neuron above: m = n = 1, 6 time steps, 3 spikes, so Fr = 1/2:
    # (1 + 1 + 2) x 1/2 x 6 = 12 accumulates at 0.9 pJ, 2 x 6 = 12 multiplies at 4.6 pJ
    from flows.energy import paper_count
    cfg = config(inputs=1, hidden=(1,), steps=1, length=6, classes=1, encoding="spikes",
                 leak_shift=(1, 1), readout="integrator", readout_leak=1)
    res = golden.run(cfg, one_neuron(4), np.ones((1, 6, 1, 1), dtype=np.int64))
    count = paper_count(cfg, res.stats)
    assert count["ac"] == 12 and count["mac"] == 12
    assert count["total_nj"] == pytest.approx((12 * 0.9 + 12 * 4.6) / 1000)
    assert paper_count(cfg.replace(cell="lif", leak_shift=None), res.stats) is None


@pytest.mark.golden
@pytest.mark.parametrize("encoding, readout", [("spikes", "last"), ("rate", "integrator"),
                                               ("level", "integrator"), ("direct", "last")])
def test_orders_and_float_twin_agree(encoding, readout):
    cfg = config(encoding=encoding, hidden=(6, 5), leak_shift=(1, 2), readout=readout)
    params = random_params(cfg, 4, threshold_scale=0.5)
    x = random_input(cfg, 5, np.random.default_rng(4))
    ref = check_orders_and_float_twin(cfg, params, x, ("v", "threshold"))
    assert all(0 < np.mean(t.h) < 1 for t in ref.layers)  # neither silent nor saturated
    assert any(np.ptp(t.threshold) > 0 for t in ref.layers)  # the thresholds adapt


@pytest.mark.golden
def test_the_surrogate_reaches_every_parameter():
    cfg = config(encoding="rate", leak_shift=(1, 1), readout="integrator", readout_leak=2)
    params = random_params(cfg, 2, threshold_scale=0.5)
    twin = FloatSpikingLSTM.from_params(cfg, params, gamma=0.5)
    x = torch.as_tensor(encode(cfg, random_input(cfg, 6, np.random.default_rng(2))), dtype=torch.float32)
    twin(x)["logits"].pow(2).mean().backward()
    for name, p in twin.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name


@pytest.mark.golden
def test_the_cell_refuses_what_it_cannot_compute():
    with pytest.raises(ConfigError, match="no gate to keep non-spiking"):
        config(nonspiking="g")
    with pytest.raises(ConfigError, match=r"leak_shift needs 2 entries \(u, a\)"):
        config(leak_shift=(1,))
    cfg = config()
    params = random_params(cfg, 1)
    params.layers[0].theta = np.array(0)
    with pytest.raises(ConfigError, match="layer 0 theta"):
        params.validate(cfg)
    params = random_params(cfg, 1)
    params.layers[0].adapt = np.array(-1)
    with pytest.raises(ConfigError, match="layer 0 adapt"):
        params.validate(cfg)
    with pytest.raises(ConfigError, match="adaptive neuron threshold"):
        hw_step(cfg)(cfg, neurons=1, z_bits=8, theta=[0], adapt=[0])
    with pytest.raises(ConfigError, match="adaptive neuron adapt"):
        hw_step(cfg)(cfg, neurons=1, z_bits=8, theta=[1], adapt=[-2])


@pytest.mark.hwsim
def test_hardware_step_equals_the_golden_step():
    cfg = config(acc_bits=9, u_bits=8, leak_shift=(2, 1))
    step_cls, neurons, z_bits, theta, adapt = hw_step(cfg), 3, 11, 20, 30
    dut = step_cls(cfg, neurons=neurons, z_bits=z_bits, theta=[theta], adapt=[adapt], pipelined=True)
    rng = np.random.default_rng(7)
    lo, hi = nr.signed_range(cfg.u_bits)
    # (z, u, a, s): at the threshold and one above, both saturations (u, a and the
    # threshold theta + a past the top), spikes of element n-1 with and without adaptation
    cases = [(np.array([20, 21, 0]), np.array([0, 0, 20]), np.array([0, 0, 0]), np.array([0, 0, 0])),
             (np.array([1023, -1024, 0]), np.array([hi, lo, 0]), np.array([hi, 100, 120]), np.array([1, 1, 1])),
             (np.array([60, 55, 5]), np.array([0, 0, 20]), np.array([10, 0, 3]), np.array([1, 0, 1]))]
    cases += [(rng.integers(*nr.signed_range(z_bits), size=neurons, endpoint=True),
               rng.integers(lo, hi, size=neurons, endpoint=True),
               rng.integers(0, hi, size=neurons, endpoint=True),
               rng.integers(0, 2, size=neurons)) for _ in range(80)]

    def drive(ctx, case):
        z, u, a, s = case
        ctx.set(dut.z, [[int(v)] for v in z])
        ctx.set(dut.carry_prev, [{"u": int(uu), "a": int(aa), "s": int(ss)} for uu, aa, ss in zip(u, a, s)])

    def sample(ctx):
        return ([int(v) for v in ctx.get(dut.h)],
                [(int(c.u), int(c.a), int(c.s)) for c in ctx.get(dut.carry)])

    got = simulate_pipelined(dut, cases, drive, sample, latency=dut.LATENCY)
    tally, fired = {}, 0
    lp = LayerParams(theta=np.array(theta), adapt=np.array(adapt))
    for (z, u, a, s), (h_hw, carry_hw) in zip(cases, got):
        zs = nr.saturate(z, cfg.acc_bits, tally, "acc")
        _, (u2, a2, s2), h, _ = golden.cell_step(cfg, lp, zs[None, None], np.zeros((1, 1, 0, 3)),
                                                 (u[None, None], a[None, None], s[None, None]), tally)
        assert h_hw == np.asarray(h[0, 0], dtype=int).tolist()
        assert carry_hw == list(zip(u2[0, 0].tolist(), a2[0, 0].tolist(), np.asarray(s2[0, 0], dtype=int).tolist()))
        fired += sum(h_hw)
    assert len(got) == len(cases) and tally["acc"] > 0 and tally["membrane"] > 0 and fired > 0


@pytest.mark.hwsim
@pytest.mark.parametrize("encoding, steps, lanes, par, readout", [
    ("rate", 2, 2, 1, "integrator"), ("spikes", 1, 1, 3, "last"), ("direct", 2, 1, 3, "integrator")])
def test_network_in_the_amaranth_simulator(encoding, steps, lanes, par, readout):
    cfg = config(encoding=encoding, steps=steps, hidden=(6, 3), leak_shift=(1, 1), readout=readout,
                 readout_leak=1 if readout == "integrator" else 0)
    hw = HardwareConfig(cfg, lanes=lanes, par=par)
    params = random_params(cfg, 10, threshold_scale=0.4)
    x = random_input(cfg, 2, np.random.default_rng(10))
    ref = check_network_in_simulator(hw, params, x)
    assert all(np.count_nonzero(t.h) for t in ref.layers)


@pytest.mark.cosim
def test_verilog_under_verilator(tmp_path):
    net = config(encoding="rate", steps=2, length=6, hidden=(4, 2), leak_shift=(1, 2),
                 readout="integrator", readout_leak=2)
    case = CosimCase(name="srnn_ci", hw=HardwareConfig(net, lanes=2, par=2), sequences=4,
                     threshold_scale=0.4, input_gaps=0.3, output_stalls=0.3, input_seed=2)
    case = CosimCase(**{**case.__dict__, "params_seed": fault_seed_that_shows(case)})
    r = run_case(case, build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    assert len(r["results"]) == 4
    # and the checker catches a wrong threshold in this cell too
    r = run_case(CosimCase(**{**case.__dict__, "name": "srnn_fault", "fault": "threshold"}),
                 build_root=tmp_path, localize_mismatch=False)
    assert r["mismatch"] is not None


@pytest.mark.synth
@pytest.mark.slow
def test_the_srnn_datapath_has_no_multiplier(tmp_path):
    # spike inputs, shift leaks, selects for the adaptation and the reset: no DSP block
    from flows.yosys import FAMILIES, synth_stat
    from hw.network import SpikingLSTMNetwork
    cfg = config(encoding="spikes", steps=1, hidden=(4,), length=3, leak_shift=(2, 1),
                 readout="integrator", readout_leak=2)
    design = SpikingLSTMNetwork(HardwareConfig(cfg, lanes=1, par=4), random_params(cfg, 0))
    stat = synth_stat(design, "ecp5", tmp_path / "srnn", until=FAMILIES["ecp5"]["dsp_mapped"])
    assert stat["cells"] and sum(stat["cells"].get(t, 0) for t in FAMILIES["ecp5"]["dsp"]) == 0


@pytest.mark.cosim
def test_the_bundled_digits_model_under_verilator(tmp_path):
    """models/digits-srnn (trained by model.train_cell, integrator readout) in the
    generated Verilog: the golden model's logits, classes and cycles on its first test
    sequences."""
    from model import data
    case, ref = check_package_under_verilator("digits-srnn", 6, tmp_path)
    net = case.hw.net
    assert net.cell == CELL and net.leak_shift == (1, 3)
    assert net.readout == "integrator" and net.readout_leak == 2
    assert np.mean(ref.predicted == data.load("digits").y_test[:6]) >= 5 / 6

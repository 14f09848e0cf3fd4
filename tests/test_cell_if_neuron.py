"""The integrate-and-fire cell (model/cells/if_neuron.py, hw/cells/if_neuron.py) through
every tier, with nothing else in the project written for it: the proof that a cell is a
plug-in. Golden model (both orders and its own equations), float twin, the hardware
step alone, the whole network in the Amaranth simulator, and generated Verilog under
Verilator, each against the golden model.

The tiers are marked per test (this file spans them, as a new cell's test would).
"""

import numpy as np
import pytest
import torch

from conftest import check_network_in_simulator, random_input, simulate_pipelined
from cosim.runner import CosimCase, run_case
from hw.cells import get as hw_step
from hw.config import HardwareConfig
from model import golden, numerics as nr
from model.cells import constants, get as get_cell
from model.config import ConfigError, preset
from model.encoding import encode
from model.float_twin import FloatSpikingLSTM
from model.params import LayerParams, NetworkParams, random_params

CELL = "if_neuron"


def config(**changes):
    return preset("tiny", cell=CELL, **changes)


@pytest.mark.golden
def test_golden_follows_the_if_equations():
    # one neuron, one input, IF: u = u0 + sum of w*x + b over the steps, fire above theta
    cfg = config(inputs=1, hidden=(1,), steps=4, length=2, classes=1, encoding="spikes")
    lp = LayerParams(w_x=np.array([[[5]]]), w_h=np.array([[[2]]]), bias=np.array([[1]]),
                     u0=np.array([[3]]), theta=np.array([10]))
    params = NetworkParams([lp], w_out=np.array([[1]]), b_out=np.array([0]))
    x = np.ones((1, 2, 4, 1), dtype=np.int64)
    tr = golden.run(cfg, params, x, record_membranes=True).layers[0]
    # element 0, z = 5 + 1 = 6 each step: u = 9, 15 fires -> 5, 11 fires -> 1, 7
    assert tr.h[0, 0, :, 0].tolist() == [0, 1, 1, 0]
    assert tr.u[0, 0, :, 0, 0].tolist() == [9, 5, 1, 7]
    # element 1 restarts at u0 = 3 and adds w_h * h(0, k): z = 6, 8, 8, 6
    assert tr.h[0, 1, :, 0].tolist() == [0, 1, 1, 1]
    assert tr.u[0, 1, :, 0, 0].tolist() == [9, 7, 5, 1]


@pytest.mark.golden
@pytest.mark.parametrize("encoding", ["spikes", "rate", "level", "direct"])
def test_orders_and_float_twin_agree(encoding):
    cfg = config(encoding=encoding, hidden=(6, 5), leak_shift=(1,))
    params = random_params(cfg, 4, threshold_scale=0.5)
    x = random_input(cfg, 5, np.random.default_rng(4))
    ref = golden.run(cfg, params, x)
    wave = golden.run(cfg, params, x, order="wavefront")
    assert np.array_equal(ref.logits, wave.logits)
    assert all(np.array_equal(a.h, b.h) for a, b in zip(ref.layers, wave.layers))
    assert any(np.count_nonzero(t.h) for t in ref.layers)  # the case is not silent
    twin = FloatSpikingLSTM.from_params(cfg, params, dtype=torch.float64)
    out = twin(torch.as_tensor(encode(cfg, x), dtype=torch.float64))
    assert np.array_equal(out["logits"].detach().numpy(), ref.logits)
    for got, tr in zip(out["layers"], ref.layers):
        assert np.array_equal(got["h"].detach().numpy(), tr.h)


@pytest.mark.golden
def test_the_cell_refuses_what_it_cannot_compute():
    with pytest.raises(ConfigError, match="no gate to keep non-spiking"):
        config(nonspiking="i")
    with pytest.raises(ConfigError, match=r"leak_shift needs 1 entries \(u\)"):
        config(leak_shift=(0, 0))
    cfg = config()
    params = random_params(cfg, 1)
    params.layers[0].theta = np.array([0])
    with pytest.raises(ConfigError, match="layer 0 theta"):
        params.validate(cfg)


@pytest.mark.hwsim
def test_hardware_step_equals_the_golden_step():
    cfg = config(acc_bits=9, u_bits=8, leak_shift=(1,))
    step_cls, neurons, z_bits = hw_step(cfg), 3, 11
    theta = [20]
    dut = step_cls(cfg, neurons=neurons, z_bits=z_bits, theta=theta, pipelined=True)
    rng = np.random.default_rng(7)
    cases = [(rng.integers(*nr.signed_range(z_bits), size=neurons, endpoint=True),
              rng.integers(*nr.signed_range(cfg.u_bits), size=neurons, endpoint=True))
             for _ in range(60)]

    def drive(ctx, case):
        z, u = case
        ctx.set(dut.z, [[int(v)] for v in z])
        ctx.set(dut.u_prev, [[int(v)] for v in u])

    def sample(ctx):
        return [int(v) for v in ctx.get(dut.h)], [int(r[0]) for r in ctx.get(dut.u)]

    got = simulate_pipelined(dut, cases, drive, sample, latency=dut.LATENCY)
    cell, tally = get_cell(CELL), {}
    p = constants(cell, LayerParams(theta=np.array(theta)))
    for (z, u), (h_hw, u_hw) in zip(cases, got):
        zs = nr.saturate(z, cfg.acc_bits, tally, "acc")
        u_next, _, h, _ = golden.cell_step(cfg, LayerParams(theta=np.array(theta)),
                                           zs[None, None], u[None, None], (), tally)
        assert h_hw == np.asarray(h[0], dtype=int).tolist()
        assert u_hw == u_next[0, 0].tolist()
    assert len(got) == len(cases) and tally["acc"] > 0 and p.theta == theta


@pytest.mark.hwsim
@pytest.mark.parametrize("encoding, lanes, par", [("rate", 2, 1), ("direct", 1, 3), ("level", 2, 3)])
def test_network_in_the_amaranth_simulator(encoding, lanes, par):
    cfg = config(encoding=encoding, hidden=(6, 3), leak_shift=(1,))
    hw = HardwareConfig(cfg, lanes=lanes, par=par)
    params = random_params(cfg, 9, threshold_scale=0.4)
    x = random_input(cfg, 2, np.random.default_rng(9))
    check_network_in_simulator(hw, params, x)


@pytest.mark.cosim
def test_verilog_under_verilator(tmp_path):
    net = config(encoding="rate", length=4, hidden=(4, 2))
    case = CosimCase(name="if_neuron_ci", hw=HardwareConfig(net, lanes=2, par=2), sequences=4,
                     threshold_scale=0.4, input_gaps=0.3, output_stalls=0.3, input_seed=2)
    r = run_case(case, build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    assert len(r["results"]) == 4
    # and the checker catches a wrong threshold in this cell too
    r = run_case(CosimCase(**{**case.__dict__, "name": "if_neuron_fault", "fault": "threshold"}),
                 build_root=tmp_path, localize_mismatch=False)
    assert r["mismatch"] is not None

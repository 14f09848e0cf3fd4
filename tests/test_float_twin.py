"""The float twin gives the golden model's integers when its parameters are integers."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st

from conftest import random_input
from model import golden
from model.config import NetworkConfig, preset, random_widths
from model.encoding import encode
from model.float_twin import FloatSpikingLSTM, SpikeStep
from model.params import random_params

pytestmark = pytest.mark.golden


def twin_output(cfg, params, x):
    model = FloatSpikingLSTM.from_params(cfg, params, dtype=torch.float64)
    with torch.no_grad():
        return model(torch.as_tensor(encode(cfg, x), dtype=torch.float64))


def assert_twin_equals_golden(cfg, params, x):
    ref = golden.run(cfg, params, x)
    out = twin_output(cfg, params, x)
    for l, tr in enumerate(ref.layers):
        for name in ("gates", "c", "h"):
            assert np.array_equal(out["layers"][l][name].numpy(), getattr(tr, name)), (l, name)
    assert np.array_equal(out["logits"].numpy(), ref.logits)
    assert np.array_equal(out["element_logits"].numpy(), ref.element_logits)


@given(st.sampled_from(["spikes", "rate", "level", "direct"]),
       st.sampled_from(["none", "i", "g"]), st.integers(0, 1000),
       st.lists(st.integers(0, 3), min_size=5, max_size=5))
def test_twin_equals_golden(encoding, nonspiking, seed, leak):
    cfg = preset("tiny", encoding=encoding, nonspiking=nonspiking, hidden=(6, 5),
                 leak_shift=tuple(leak), u_bits=10, c_bits=6)
    rng = np.random.default_rng(seed)
    params = random_params(cfg, seed, threshold_scale=0.5)
    x = random_input(cfg, 4, rng)
    assert_twin_equals_golden(cfg, params, x)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(["rate", "direct"]), st.integers(0, 3), st.integers(0, 1000))
def test_twin_equals_golden_with_the_integrator_readout(encoding, leak, seed):
    cfg = preset("tiny", encoding=encoding, readout="integrator", readout_leak=leak,
                 logit_bits=12)  # narrow: some logits saturate
    params = random_params(cfg, seed, threshold_scale=0.5)
    x = random_input(cfg, 4, np.random.default_rng(seed))
    assert_twin_equals_golden(cfg, params, x)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["spikes", "rate", "level", "direct"]),
       st.sampled_from(["none", "i", "g"]), st.integers(0, 2**16))
def test_twin_equals_golden_at_any_width_below_float64s_exact_range(encoding, nonspiking, seed):
    """Every width validation accepts, drawn by model.config.random_widths: the float64
    twin is exact while every sum stays below 2**53 (docs/arithmetic.md); past that only
    the golden model (int64 sums) and the hardware are exact."""
    rng = np.random.default_rng(seed)
    cfg = random_widths(preset("tiny", encoding=encoding, nonspiking=nonspiking, hidden=(5, 4)), rng)
    assume(max(cfg.gate_sum_bound(l) for l in range(cfg.layers)) < 1 << 53)
    assume(cfg.readout_sum_bound() < 1 << 53)
    params = random_params(cfg, seed, threshold_scale=0.5)
    x = random_input(cfg, 3, rng)
    assert_twin_equals_golden(cfg, params, x)


def test_twin_if_neurons_on_digits_preset(rng):
    cfg = preset("digits", encoding="rate")
    params = random_params(cfg, 11, threshold_scale=0.4)
    x = random_input(cfg, 16, rng)
    ref = golden.run(cfg, params, x)
    assert ref.stats["layers"][0]["h_spikes"] > 0  # a silent network would prove nothing
    out = twin_output(cfg, params, x)
    assert np.array_equal(out["layers"][0]["h"].numpy(), ref.layers[0].h)
    assert np.array_equal(out["logits"].numpy(), ref.logits)


def test_surrogate_gradient_formula():
    # dS/dU = gamma / V_th * max(0, 1 - |U / V_th - 1|), with excess = U - V_th
    theta = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
    u = torch.tensor([0.0, 2.0, 4.0, 5.0, 8.0, 9.0], dtype=torch.float64, requires_grad=True)
    spike = SpikeStep.apply(u - theta, theta, 0.5)
    assert spike.tolist() == [0, 0, 0, 1, 1, 1]
    spike.sum().backward()
    expected = [0.5 / 4 * max(0.0, 1 - abs(v / 4 - 1)) for v in [0.0, 2.0, 4.0, 5.0, 8.0, 9.0]]
    assert u.grad.tolist() == pytest.approx(expected)


def test_twin_trains_gradients_reach_every_parameter(rng):
    cfg = NetworkConfig(inputs=3, hidden=(5,), steps=2, length=3, classes=2,
                        nonspiking="i", leak_shift=(1, 0, 1, 0, 1))
    params = random_params(cfg, 4, threshold_scale=0.3)
    model = FloatSpikingLSTM.from_params(cfg, params)
    x = torch.as_tensor(encode(cfg, random_input(cfg, 8, rng)), dtype=torch.float32)
    loss = torch.nn.functional.cross_entropy(model(x)["logits"] / 64, torch.tensor([0, 1] * 4))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.layers[0].w_x.grad.abs().sum() > 0

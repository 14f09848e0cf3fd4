"""The quantized non-spiking LSTM (model/cells/lstm.py), the baseline of the comparison:
its integer equations worked by hand, both evaluation orders, the float twin, and the
configurations it refuses."""

import numpy as np
import pytest
import torch

from conftest import random_input
from model import golden
from model.config import ConfigError, preset
from model.encoding import encode
from model.float_twin import FloatSpikingLSTM
from model.params import LayerParams, NetworkParams, random_params

pytestmark = pytest.mark.golden


def config(**changes):
    base = dict(cell="lstm", encoding="direct", steps=1, c_bits=14)
    return preset("digits", **{**base, **changes})


def test_golden_follows_the_quantized_lstm_equations():
    # F = 2 (1.0 is 4), no input shift; one neuron, one input, three elements
    cfg = config(inputs=1, hidden=(1,), length=3, classes=1, x_bits=4, level_shift=0, frac_bits=2, ns_shift=0,
                 c_bits=8, acc_bits=12, w_bits=4)
    lp = LayerParams(w_x=np.array([1, 2, 1, 3]).reshape(4, 1, 1),
                     w_h=np.array([0, 1, 0, -1]).reshape(4, 1, 1),
                     bias=np.array([0, 0, 2, 0]).reshape(4, 1))
    params = NetworkParams([lp], w_out=np.array([[2]]), b_out=np.array([1]))
    res = golden.run(cfg, params, np.array([[[1], [2], [-1]]]))
    tr = res.layers[0]
    # n = 0: z = (1, 2, 3, 3) -> f = 1 + 2 = 3, i = 4, o = min(5, 4) = 4, g = 3;
    #        c = (3*0 + 4*3) >> 2 = 3; h = (4 * 3) >> 2 = 3
    # n = 1: z = (2, 4 + 3, 2 + 2, 6 - 3) -> f = 4, i = 4, o = 4, g = 3;
    #        c = (4*3 + 4*3) >> 2 = 6; h = (4 * clamp(6, -4, 4)) >> 2 = 4
    # n = 2: z = (-1, -2 + 4, -1 + 2, -3 - 4) -> f = 1, i = 4, o = 3, g = -4;
    #        c = (1*6 - 16) >> 2 = floor(-2.5) = -3; h = (3 * -3) >> 2 = floor(-2.25) = -3
    assert tr.gates[0, :, 0, :, 0].tolist() == [[3, 4, 4, 3], [4, 4, 4, 3], [1, 4, 3, -4]]
    assert tr.c[0, :, 0, 0].tolist() == [3, 6, -3]
    assert tr.h[0, :, 0, 0].tolist() == [3, 4, -3]
    assert res.logits.tolist() == [[1 + 2 * -3]]
    # every input and h is multi-bit: each weight touched is a multiply-accumulate
    assert res.stats["acs"] == 0
    assert res.stats["macs"] == 3 * 4 + 2 * 4 + 1  # x of every element, h of n = 0, 1, readout


def test_c_saturates_once_after_the_shift():
    cfg = config(inputs=1, hidden=(1,), length=2, classes=1, x_bits=8, frac_bits=2, ns_shift=0,
                 c_bits=5, acc_bits=12, w_bits=8)  # c in [-16, 15]
    lp = LayerParams(w_x=np.array([100, 100, 100, 100]).reshape(4, 1, 1),
                     w_h=np.zeros((4, 1, 1), np.int64), bias=np.zeros((4, 1), np.int64))
    params = NetworkParams([lp], w_out=np.array([[1]]), b_out=np.array([0]))
    res = golden.run(cfg, params, np.array([[[100], [100]]]))
    # every gate is 4 (1.0): c = (4*c + 16) >> 2 = c + 4, ..., never above 15
    assert res.layers[0].c[0, :, 0, 0].tolist() == [4, 8]
    res = golden.run(cfg.replace(length=6), params, np.full((1, 6, 1), 100))
    assert res.layers[0].c[0, :, 0, 0].tolist() == [4, 8, 12, 15, 15, 15]
    assert res.stats["saturations"]["c"] == 3  # 16, 19, 19 clamped to 15


@pytest.mark.parametrize("frac, shift, hidden", [(6, 2, (16, 8)), (3, 0, (5,)), (7, 4, (8, 6))])
def test_orders_and_float_twin_agree(frac, shift, hidden):
    cfg = config(frac_bits=frac, ns_shift=shift, hidden=hidden)
    params = random_params(cfg, 5)
    x = random_input(cfg, 6, np.random.default_rng(5))
    ref = golden.run(cfg, params, x)
    wave = golden.run(cfg, params, x, order="wavefront")
    assert np.array_equal(ref.logits, wave.logits)
    assert all(np.array_equal(a.h, b.h) and np.array_equal(a.c, b.c) for a, b in zip(ref.layers, wave.layers))
    # the random weights use the gates' range, not only their ends
    assert len(np.unique(ref.layers[0].gates[..., 3, :])) > 3
    twin = FloatSpikingLSTM.from_params(cfg, params, dtype=torch.float64)
    out = twin(torch.as_tensor(encode(cfg, x), dtype=torch.float64))
    assert np.array_equal(out["logits"].detach().numpy(), ref.logits)
    for got, tr in zip(out["layers"], ref.layers):
        assert np.array_equal(got["h"].detach().numpy(), tr.h)
        assert np.array_equal(got["c"].detach().numpy(), tr.c)


@pytest.mark.parametrize("changes, message", [
    (dict(steps=4), "takes steps=1"),
    (dict(encoding="rate"), "encoding='direct'"),
    (dict(nonspiking="i"), "no spiking gate to keep"),
    (dict(c_bits=6, frac_bits=6), "cannot hold"),
    (dict(frac_bits=0), "frac_bits must be"),
])
def test_the_cell_refuses_what_it_cannot_compute(changes, message):
    with pytest.raises(ConfigError, match=message):
        config(**changes)


def test_its_parameters_are_the_engine_weights_alone():
    cfg = config()
    params = random_params(cfg, 1)
    assert params.layers[0].names == ("w_x", "w_h", "bias")
    params.layers[0].bias = params.layers[0].bias[:3]
    with pytest.raises(ConfigError, match="layer 0 bias has shape"):
        params.validate(cfg)

"""Configuration and parameter validation: each mistake gets its own clear message."""

import numpy as np
import pytest

from model.config import PRESETS, ConfigError, NetworkConfig, preset
from model.params import random_params

pytestmark = pytest.mark.golden

GOOD = dict(inputs=4, hidden=(8,), steps=2, length=5)


@pytest.mark.parametrize("change, message", [
    (dict(steps=0), "steps (T) must be >= 1"),
    (dict(length=0), "length (N) must be >= 1"),
    (dict(inputs=0), "inputs (M) must be >= 1"),
    (dict(classes=0), "classes must be >= 1"),
    (dict(hidden=()), "hidden must name at least one layer"),
    (dict(hidden=(8, 0)), "every hidden size must be an integer >= 1"),
    (dict(steps=2.5), "steps must be an integer"),
    (dict(encoding="poisson"), "unknown encoding 'poisson'"),
    (dict(nonspiking="o"), "unknown nonspiking gate 'o'"),
    (dict(w_bits=1), "w_bits must be an integer from 2 to 32"),
    (dict(w_bits=12, acc_bits=10), "acc_bits=10 cannot hold a 12-bit weight"),
    (dict(w_bits=12, logit_bits=10), "logit_bits=10 cannot hold a 12-bit readout weight"),
    (dict(leak_shift=(1, 2, 3)), "leak_shift needs 5 entries"),
    (dict(leak_shift=(0, 0, 0, 0, 16)), "every leak shift must be an integer from 0 (IF)"),
    (dict(encoding="rate", x_bits=17), "wider than the 16-bit rate-coding LFSR"),
    (dict(lfsr_seed=0), "lfsr_seed must be a non-zero 16-bit value"),
    (dict(level_shift=8), "level_shift must be from 0 to x_bits-1"),
    (dict(nonspiking="i", ns_bits=8, c_bits=6), "ns_bits=8 gives values up to 255"),
])
def test_bad_config_names_the_problem(change, message):
    with pytest.raises(ConfigError) as err:
        NetworkConfig(**{**GOOD, **change})
    assert message in str(err.value)


def test_presets_have_the_documented_sizes():
    sizes = {name: (c.inputs, c.hidden, c.steps, c.length) for name, c in PRESETS.items()}
    assert sizes == {
        "tiny": (4, (8,), 2, 5), "digits": (8, (32,), 4, 8), "mnist1d": (1, (64,), 4, 40), "tmnist": (32, (128,), 8, 32),
        "gsc": (20, (128,), 4, 81), "uci": (9, (128,), 4, 128),
    }


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        preset("huge")


def test_config_round_trips_through_dict():
    cfg = preset("digits", encoding="rate", leak_shift=(1, 2, 3, 4, 5), hidden=(32, 16))
    again = NetworkConfig.from_dict(cfg.to_dict())
    assert again == cfg
    with pytest.raises(ConfigError, match="unknown configuration keys: lanes"):
        NetworkConfig.from_dict({**cfg.to_dict(), "lanes": 4})


def test_level_encoding_doubles_the_first_layer_inputs():
    cfg = preset("tiny", encoding="level", hidden=(8, 6))
    assert [cfg.layer_inputs(l) for l in range(2)] == [8, 8]


def test_params_out_of_range_or_wrong_shape_are_refused():
    cfg = preset("tiny")
    params = random_params(cfg, 0)
    params.layers[0].w_x[0, 0, 0] = 128
    with pytest.raises(ConfigError, match=r"layer 0 w_x has values in \[.*, 128\], outside the allowed \[-128, 127\]"):
        params.validate(cfg)
    params = random_params(cfg, 0)
    params.w_out = np.zeros((3, 8), dtype=np.int64)
    with pytest.raises(ConfigError, match=r"readout w_out has shape \(3, 8\), config 'tiny' needs \(4, 8\)"):
        params.validate(cfg)
    params = random_params(cfg, 0)
    params.layers[0].theta_pos[1] = 0
    with pytest.raises(ConfigError, match="layer 0 theta_pos"):
        params.validate(cfg)
    params = random_params(cfg, 0)
    params.layers[0].bias = params.layers[0].bias.astype(float)
    with pytest.raises(ConfigError, match="layer 0 bias must hold integers"):
        params.validate(cfg)


def test_bad_inputs_are_refused():
    from model.encoding import check_input
    cfg = preset("tiny", encoding="rate")
    with pytest.raises(ConfigError, match=r"'rate' input needs shape \[B, N=5, M=4\]"):
        check_input(cfg, np.zeros((2, 5, 3), dtype=int))
    with pytest.raises(ConfigError, match=r"must lie in \[0, 255\]"):
        check_input(cfg, np.full((2, 5, 4), 256))
    with pytest.raises(ConfigError, match="inputs must be integers"):
        check_input(cfg, np.zeros((2, 5, 4)))
    spikes = preset("tiny")
    with pytest.raises(ConfigError, match=r"must lie in \[-1, 1\]"):
        check_input(spikes, np.full((1, 5, 2, 4), 2))

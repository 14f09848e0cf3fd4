"""The bundled trained model (models/digits) runs bit-exact in the generated hardware."""

import numpy as np
import pytest

from hw.config import HardwareConfig
from hw.latency import cycles_for_batch
from hw.simulate import simulate_network
from model.export import load_package

pytestmark = pytest.mark.hwsim


def test_bundled_digits_model_matches_golden_in_hardware():
    pkg = load_package("models/digits")
    hw = HardwareConfig(pkg.cfg, lanes=pkg.cfg.steps, par=16)
    x = pkg.check_x[:3]
    expected, ref = cycles_for_batch(hw, pkg.params, x)
    got = simulate_network(hw, pkg.params, x)
    for b, g in enumerate(got):
        assert g.logits == ref.logits[b].tolist()
        assert g.cls == int(ref.predicted[b])
        assert g.cycles == expected[b]["total"]
        assert np.array_equal(g.h[0], ref.layers[0].h[b])
    # the stored check logits were written at export time by the golden model
    assert np.array_equal(ref.logits, pkg.check_logits[:3])

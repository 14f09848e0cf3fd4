"""Spiking configurations synthesize with no hard multiplier; direct input needs them."""

import pytest

from flows.yosys import FAMILIES, synth_stat
from hw.config import HardwareConfig
from hw.network import SpikingLSTMNetwork
from model.config import preset
from model.params import random_params

pytestmark = pytest.mark.synth


def dsp_count(encoding, family, tmp_path):
    cfg = preset("tiny", encoding=encoding, hidden=(4,), steps=2, length=3)
    hw = HardwareConfig(cfg, lanes=2, par=8)
    design = SpikingLSTMNetwork(hw, random_params(cfg, 0))
    # the run stops once hard multipliers are mapped (test_direct_input_does_use_multipliers
    # shows they are counted by then)
    stat = synth_stat(design, family, tmp_path / f"{encoding}-{family}",
                      until=FAMILIES[family]["dsp_mapped"])
    return sum(stat["cells"].get(t, 0) for t in FAMILIES[family]["dsp"]), stat["cells"]


@pytest.mark.parametrize("family", ["ecp5", "xilinx"])
@pytest.mark.parametrize("encoding", ["spikes", "rate", "level"])
def test_spiking_configs_use_no_multiplier(encoding, family, tmp_path):
    dsps, cells = dsp_count(encoding, family, tmp_path)
    assert dsps == 0, cells
    assert cells  # the design did synthesize to something


@pytest.mark.parametrize("family", ["ecp5", "xilinx"])
def test_direct_input_does_use_multipliers(family, tmp_path):
    # the control case: the check above can see a multiplier when there is one
    dsps, cells = dsp_count("direct", family, tmp_path)
    assert dsps > 0, cells

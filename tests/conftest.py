import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "spikegate", deadline=None, max_examples=40, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("spikegate")


def random_input(cfg, batch, rng):
    """Raw inputs of the right kind and range for ``cfg.encoding``."""
    if cfg.encoding == "spikes":
        return rng.integers(-1, 2, (batch, cfg.length, cfg.steps, cfg.inputs))
    if cfg.encoding == "direct":
        half = 1 << (cfg.x_bits - 1)
        return rng.integers(-half, half, (batch, cfg.length, cfg.inputs))
    return rng.integers(0, 1 << cfg.x_bits, (batch, cfg.length, cfg.inputs))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

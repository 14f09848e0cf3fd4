import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "spikegate", deadline=None, max_examples=40, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("spikegate")


from model.encoding import random_input  # noqa: F401  (re-exported for the tests)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

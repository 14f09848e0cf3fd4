import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "spikegate", deadline=None, max_examples=40, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("spikegate")


from model.encoding import random_input  # noqa: F401  (re-exported for the tests)


def simulate_pipelined(dut, cases, drive, sample, latency=0):
    """Present one case per cycle to ``dut`` (``drive(ctx, case)``); sample each result
    ``latency`` cycles later (``sample(ctx)``), in the order of the cases. With latency 0
    the design is combinational and no clock runs."""
    from amaranth.sim import Simulator
    seen = []

    async def bench(ctx):
        for i in range(len(cases) + latency):
            if i < len(cases):
                drive(ctx, cases[i])
            if i >= latency:
                seen.append(sample(ctx))
            if latency:
                await ctx.tick()

    sim = Simulator(dut)
    if latency:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


#: the verification tiers (pyproject.toml's markers besides ``slow``); every test has one
TIERS = ("golden", "hwsim", "cosim", "flows", "synth")


def pytest_collection_modifyitems(config, items):
    untiered = [item.nodeid for item in items
                if not any(item.get_closest_marker(t) for t in TIERS)]
    if untiered:
        raise pytest.UsageError("tests without a tier marker (" + ", ".join(TIERS) + "): "
                                + ", ".join(untiered[:10]))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

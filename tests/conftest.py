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


def check_network_in_simulator(hw, params, x):
    """The whole network in the Amaranth simulator against the golden model: every h,
    the logits and the cycle count of every sequence (hw.latency). Returns the golden
    result."""
    from hw.latency import cycles_for_batch
    from hw.simulate import simulate_network
    expected, ref = cycles_for_batch(hw, params, x)
    results = simulate_network(hw, params, x)
    assert len(results) == len(x)
    for b, res in enumerate(results):
        for l in range(hw.net.layers):
            assert np.array_equal(res.h[l], ref.layers[l].h[b]), (b, l)
        assert res.logits == ref.logits[b].tolist()
        assert res.cycles == expected[b]["total"]
    return ref


def check_package_under_verilator(name, sequences, tmp_path):
    """A bundled weights package in the generated Verilog on its first test sequences:
    no mismatch, and the classes of the golden model. Returns the case and the golden
    result."""
    from cosim.runner import case_inputs, case_params, package_case, run_case
    from model import golden
    case = package_case(name, sequences)
    r = run_case(case, build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    params, _ = case_params(case)
    ref = golden.run(case.hw.net, params, case_inputs(case))
    assert [res["cls"] for res in r["results"]] == ref.predicted.tolist()
    return case, ref


def pytest_collection_modifyitems(config, items):
    untiered = [item.nodeid for item in items
                if not any(item.get_closest_marker(t) for t in TIERS)]
    if untiered:
        raise pytest.UsageError("tests without a tier marker (" + ", ".join(TIERS) + "): "
                                + ", ".join(untiered[:10]))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

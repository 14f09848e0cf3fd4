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


def check_orders_and_float_twin(cfg, params, x, traces=()):
    """The golden model element by element and as a wavefront, and the float twin in
    float64, all equal: the logits, every layer's h and the cell's recorded ``traces``
    (names of its golden trace, e.g. ``("c",)``). Returns the element-order result."""
    import torch
    from model import golden
    from model.encoding import encode
    from model.float_twin import FloatSpikingLSTM
    ref = golden.run(cfg, params, x)
    wave = golden.run(cfg, params, x, order="wavefront")
    assert np.array_equal(ref.logits, wave.logits)
    for a, b in zip(ref.layers, wave.layers):
        assert np.array_equal(a.h, b.h)
        assert all(np.array_equal(getattr(a, n), getattr(b, n)) for n in traces)
    twin = FloatSpikingLSTM.from_params(cfg, params, dtype=torch.float64)
    out = twin(torch.as_tensor(encode(cfg, x), dtype=torch.float64))
    assert np.array_equal(out["logits"].detach().numpy(), ref.logits)
    for got, tr in zip(out["layers"], ref.layers):
        assert np.array_equal(got["h"].detach().numpy(), tr.h)
        for n in traces:
            assert np.array_equal(got[n].detach().numpy(), getattr(tr, n)), n
    return ref


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


def fault_seed_that_shows(case):
    """The first parameter seed whose planted threshold fault changes the golden logits
    (a threshold one higher matters only where a membrane lands on it: with a hard reset,
    or with few spikes, many seeds hide the fault)."""
    from cosim.runner import CosimCase, case_inputs, case_params
    from model import golden
    for seed in range(100):
        trial = CosimCase(**{**case.__dict__, "params_seed": seed, "fault": "threshold"})
        good, bad = case_params(trial)
        x = case_inputs(trial)
        if not np.array_equal(golden.run(trial.hw.net, good, x).logits,
                              golden.run(trial.hw.net, bad, x).logits):
            return seed
    raise AssertionError("no seed shows the fault")


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


def param_load_writes(hw) -> dict:
    """Memory writes of the parameter load after reset (hw.param_rom), once per
    simulation, by memory kind: every bias and start-value word, and the INIT pass's
    restart of every lane's accumulators. Written from the design, not from its code."""
    load = {}
    for l in range(hw.net.layers):
        C = hw.chunks(l)
        load[f"layer{l}.bias"] = load[f"layer{l}.u0"] = C
        load[f"layer{l}.acc"] = hw.lanes * C
    return load


def pytest_collection_modifyitems(config, items):
    untiered = [item.nodeid for item in items
                if not any(item.get_closest_marker(t) for t in TIERS)]
    if untiered:
        raise pytest.UsageError("tests without a tier marker (" + ", ".join(TIERS) + "): "
                                + ", ".join(untiered[:10]))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

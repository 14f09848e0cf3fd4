"""cocotb co-simulation of the generated Verilog against the golden model (CI-sized).

The long constrained-random sweep is ``make cosim``; this runs a few cases: a normal
one with idle gaps and back-pressure, a design with a deliberate fault that the
regression must catch and locate, and (when Icarus is installed) both simulators on one
case. The text-level tests of ``cosim.hdl`` need no simulator.
"""

import dataclasses
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from cosim.hdl import harness, simulation_verilog, verilator_control
from cosim.localize import first_difference
from cosim.runner import CosimCase, case_inputs, case_params, main, preset_case, run_case
from hw.config import HardwareConfig
from hw.network import SpikingLSTMNetwork
from model import golden
from model.config import preset

pytestmark = pytest.mark.cosim

needs_icarus = pytest.mark.skipif(
    shutil.which("iverilog") is None,
    reason="Icarus Verilog is not installed (Debian package iverilog); it is the optional "
           "second simulator")


def small_case(name, **changes):
    net = preset("tiny", encoding="rate", length=4)
    return CosimCase(name=name, hw=HardwareConfig(net, lanes=2, par=8), sequences=6,
                     threshold_scale=0.4, **changes)


def tiny_verilog(name="dut"):
    from amaranth.back import verilog
    case = small_case("text")
    _, params = case_params(case)
    return verilog.convert(SpikingLSTMNetwork(case.hw, params), name=name)


def test_verilator_matches_golden_with_backpressure(tmp_path):
    r = run_case(small_case("ci_verilator", input_gaps=0.3, output_stalls=0.5, input_seed=3),
                 build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    assert len(r["results"]) == 6
    assert r["cycles"] > sum(res["cycles"] for res in r["results"])  # input and gaps add cycles
    print(f"verilator: {r['cycles_per_s']:.0f} cycles/s")


def test_the_per_element_readout_under_verilator(tmp_path):
    # one result beat per element (readout="element"): every element's logits, class and
    # cycle count against the golden model, with backpressure between the beats
    net = preset("tiny", encoding="rate", length=4, readout="element")
    case = CosimCase(name="ci_element", hw=HardwareConfig(net, lanes=2, par=8), sequences=3,
                     threshold_scale=0.4, input_gaps=0.3, output_stalls=0.5, input_seed=3)
    r = run_case(case, build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    assert len(r["results"]) == 3 * 4
    params, _ = case_params(case)
    ref = golden.run(net, params, case_inputs(case))
    assert [res["logits"] for res in r["results"]] == ref.element_logits.reshape(-1, net.classes).tolist()
    # a planted fault is found and named by sequence and element
    r = run_case(CosimCase(**{**case.__dict__, "name": "ci_element_fault", "fault": "threshold",
                              "input_seed": 5}), build_root=tmp_path, localize_mismatch=False)
    assert r["mismatch"] is not None
    assert r["mismatch"].startswith(f"sequence {r['mismatch_sequence']} element ")


def test_the_bundled_mnist1d_model_matches_golden_on_its_test_sequences(tmp_path):
    """The trained MNIST-1D package (signed features, scaled and coded from its manifest)
    in the generated Verilog: logits, class and cycles of the golden model, and the
    classes the training measured."""
    from cosim.runner import package_case
    from model import data
    case = package_case("mnist1d", 3)
    assert case.hw.net.x_bits == 6 and case.hw.lanes == 4
    x = case_inputs(case)
    ds = data.load("mnist1d")
    assert x.shape == (3, 40, 1) and x.min() < -10 and x.max() > 10  # signed, scaled
    r = run_case(case, build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    params, _ = case_params(case)
    ref = golden.run(case.hw.net, params, x)
    assert [res["cls"] for res in r["results"]] == ref.predicted.tolist()
    # the first test sequences are classified as the trained model classifies them
    assert np.mean(ref.predicted == ds.y_test[:3]) >= 2 / 3


def test_the_baseline_preset_matches_golden_under_verilator(tmp_path):
    case = preset_case("tiny-lstm", 12)
    assert (case.hw.net.cell, case.hw.net.steps, case.hw.net.encoding) == ("lstm", 1, "direct")
    r = run_case(dataclasses.replace(case, input_gaps=0.3, output_stalls=0.5), build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    assert len(r["results"]) == 12


def test_32_bit_widths_match_golden_under_verilator(tmp_path):
    """Direct 12-bit inputs times 32-bit weights: gate sums far past 2**31 (the golden
    model's old int32 wrap, #18), 32-bit accumulators, membranes, cell state and logits."""
    net = preset("tiny", encoding="direct", x_bits=12, w_bits=32, acc_bits=32, u_bits=32,
                 c_bits=32, logit_bits=32, hidden=(6, 4), length=4, steps=3, classes=3)
    assert net.gate_sum_bound(0) > 1 << 40
    case = CosimCase(name="wide32", hw=HardwareConfig(net, lanes=2, par=4), params_seed=3,
                     threshold_scale=0.3, sequences=12, input_seed=5, output_stalls=0.3)
    r = run_case(case, build_root=tmp_path)
    assert r["mismatch"] is None, r["mismatch"]
    assert len({tuple(res["logits"]) for res in r["results"]}) >= 4  # not all saturated alike
    assert max(abs(v) for res in r["results"] for v in res["logits"]) > 1 << 24


def test_the_random_cases_reach_the_whole_width_range():
    from cosim.runner import random_case
    from model.config import WIDTH_FIELDS
    rng = np.random.default_rng(1)
    cases = [random_case(rng, i, 1) for i in range(100)]
    for name in WIDTH_FIELDS:
        values = [getattr(c.hw.net, name) for c in cases]
        assert min(values) <= 5 and max(values) >= 24, (name, sorted(set(values)))


def test_a_faulty_design_is_reported_and_located(tmp_path):
    # the hardware gets the c LIF's threshold off by one; the golden model does not
    case = small_case("ci_fault", fault="threshold", input_seed=5)
    r = run_case(case, build_root=tmp_path)
    assert r["mismatch"] is not None
    assert r["mismatch"].startswith(f"sequence {r['mismatch_sequence']}:")
    cell = r["location"]["cell"]
    assert cell is not None, r["location"]["summary"]
    # where the faulty parameters first change an h spike, from the golden model alone
    params, faulty = case_params(case)
    x = case_inputs(case)[r["mismatch_sequence"]][None]
    expected = first_difference([t.h[0] for t in golden.run(case.hw.net, faulty, x).layers],
                                [t.h[0] for t in golden.run(case.hw.net, params, x).layers])
    assert expected is not None
    assert (cell["layer"], cell["element"], cell["step"], cell["neuron"]) == \
        (expected.layer, expected.element, expected.step, expected.neuron)
    assert cell["hardware"] != cell["golden"]


def test_the_runner_reports_a_failing_case(tmp_path, capsys):
    # the command-line path: first differing output, h spike, waveform, replay command
    sim = "icarus" if shutil.which("iverilog") else "verilator"
    status = main(["--preset", "tiny", "--sequences", "2", "--fault", "threshold",
                   "--sim", sim, "--build", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 1
    assert re.search(r"MISMATCH in preset_tiny_threshold \(\w+\): sequence \d+: ", out), out
    assert re.search(r"first differing h spike at layer 0, element \d+, step \d+, neuron \d+: "
                     r"h is [-+0-9]+, golden [-+0-9]+", out), out
    wave = re.search(r"waveform: (\S+)", out).group(1)
    assert (tmp_path / "preset_tiny_threshold").exists() and wave.startswith(str(tmp_path))
    assert (tmp_path.joinpath(wave).stat().st_size > 0)
    replay = re.search(r"--replay (\S+)", out).group(1)
    assert CosimCase.from_dict(json.loads(open(replay).read())).fault == "threshold"
    assert "1 configurations (0 random, 1 presets), 2 sequences, 1 mismatches, 0 failed" in out


def test_a_case_that_cannot_run_is_failed_not_a_mismatch(tmp_path, capsys, monkeypatch):
    """A build that breaks gives no verdict on the design: FAILED, and it does not count
    as catching the planted fault."""
    from cosim import runner

    def broken(*args, **kwargs):
        raise RuntimeError("the simulator could not build")
    monkeypatch.setattr(runner, "run_case", broken)
    status = main(["--preset", "tiny", "--sequences", "2", "--prove-fault", "--build", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAILED in preset_tiny (verilator): run failed: the simulator could not build" in out
    assert "MISMATCH" not in out
    assert "0 mismatches, 1 failed to build or run" in out
    assert "planted fault (preset tiny, c threshold + 1): NOT caught" in out


def test_an_interrupted_run_leaves_no_summary(tmp_path, monkeypatch):
    """Ctrl-C during the cases: neither a half summary nor the previous run's one."""
    from cosim import runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    summary = tmp_path / "out" / "summary.md"
    summary.parent.mkdir()
    summary.write_text("# cosim run, seed 1 (an older run)\n")
    monkeypatch.setattr(runner, "run_case", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["--preset", "tiny", "--sequences", "1", "--build", str(tmp_path / "b"),
              "--summary", str(summary)])
    assert list(summary.parent.iterdir()) == []


def _row(sim, results=((1, 2), (0, 3)), cycles=100, mismatch=None, **more):
    return {"case": "c", "sim": sim, "sequences": len(results), "cycles": cycles,
            "results": [list(r) for r in results], "mismatch": mismatch, **more}


@pytest.mark.parametrize("b, expected", [
    (_row("icarus"), None),
    (_row("icarus", cycles=101), "100 cycles under verilator, 101 under icarus"),
    (_row("icarus", results=((1, 2), (0, 4))), "sequence 1: verilator gives [0, 3], icarus gives [0, 4]"),
    (_row("icarus", results=((1, 2),)), "2 results under verilator, 1 under icarus"),
    (_row("icarus", mismatch="sequence 0: logits differ"), "verilator says ok, icarus says MISMATCH"),
    (_row("icarus", mismatch="run failed: no vvp", failed=True), "did not run: verilator: ok, icarus: FAILED"),
])
def test_two_simulators_disagree_by_the_first_difference(b, expected):
    from cosim.runner import disagreement
    assert disagreement(_row("verilator"), b) == expected


def test_the_agreement_stage_fails_the_run_when_the_simulators_differ(tmp_path, capsys, monkeypatch):
    """The whole --agree path with fabricated simulator runs: Icarus off by one cycle."""
    from cosim import runner, simulators

    def fake(case, sim="verilator", **kwargs):
        return _row(sim, cycles=100 + (sim == "icarus"), wall_s=1.0, build_s=0.0, cpu_s=0.0,
                    cycles_per_s=100.0, mismatch_sequence=None, folder=str(tmp_path), waves=None,
                    location=None)
    monkeypatch.setattr(runner, "run_case", fake)
    monkeypatch.setattr(simulators.shutil, "which", lambda name: "/usr/bin/" + name)
    summary = tmp_path / "s.md"
    assert main(["--preset", "tiny", "--sequences", "3", "--agree", "icarus", "--build",
                 str(tmp_path / "b"), "--summary", str(summary)]) == 1
    out = capsys.readouterr().out
    assert "agreement preset_tiny_agree: 100 cycles under verilator, 101 under icarus" in out
    assert "verilator/icarus agreement: 0 of 1 cases give the same results and cycles (2 sequences)" \
        in summary.read_text()


def test_the_agreement_stage_says_when_icarus_is_absent(tmp_path, capsys, monkeypatch):
    from cosim import simulators
    real_which = shutil.which
    monkeypatch.setattr(simulators.shutil, "which",
                        lambda name: None if name == "iverilog" else real_which(name))
    assert main(["--preset", "tiny", "--sequences", "1", "--agree", "icarus",
                 "--build", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert ("icarus agreement: skipped, iverilog is not on PATH (Debian package iverilog); "
            "1 cases were to run under both simulators") in out


def test_a_build_folder_with_a_space_is_refused_before_any_work(tmp_path, capsys):
    folder = tmp_path / "with space"
    assert main(["--preset", "tiny", "--sequences", "1", "--build", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "cannot build in a folder whose path has a space" in err and "with space" in err
    assert not folder.exists()


def test_first_difference_order():
    a = [np.zeros((3, 2, 4), np.int8), np.zeros((3, 2, 4), np.int8)]
    b = [v.copy() for v in a]
    assert first_difference(a, b) is None
    b[1][0, 0, 0] = 1    # a later layer loses to an earlier one
    b[0][2, 0, 3] = -1
    b[0][1, 1, 2] = 1    # element before step before neuron
    b[0][1, 1, 1] = -1
    where = first_difference(a, b)
    assert (where.layer, where.element, where.step, where.neuron) == (0, 1, 1, 1)
    assert (where.hardware, where.golden) == (0, -1)


def test_simulation_verilog_triggers_every_combinational_block():
    text = simulation_verilog(tiny_verilog())
    # no declaration initialiser on the trigger (IEEE 1800 gives it no event) ...
    assert not re.search(r"reg \\\$auto\$verilog_backend\S+ += 0;", text)
    # one trigger in each module that has combinational blocks (a module of registers
    # alone, such as hw.fanout's copies, needs none)
    modules = text.split("\nmodule ")[1:]
    with_comb = [mod for mod in modules if "always @*" in mod]
    assert with_comb and len(with_comb) < len(modules)
    assert all(mod.count("initial #0 \\$auto$verilog_backend") == 1 for mod in with_comb)
    # ... and every always @* block reads a trigger
    blocks = re.findall(r"always @\*( begin\n\s*if \(\\\$auto\$verilog_backend)?", text)
    assert blocks and all(blocks)


def test_harness_drives_reset_and_keeps_the_other_ports():
    text = tiny_verilog()
    top = harness(text)
    ports = re.search(r"module top\((.*?)\);", top).group(1).split(", ")
    dut_ports = re.search(r"module dut\((.*?)\);", text).group(1).split(", ")
    assert sorted(ports) == sorted(p for p in dut_ports if p != "rst")
    assert ".rst(rst)" in top
    control = verilator_control(top)
    assert "public_flat_rw -module \"top\" -var \"clk\"" in control
    assert "public_flat_rd -module \"top\" -var \"o_stream__valid\"" in control
    assert len(control.splitlines()) == len(ports) + 1


@needs_icarus
def test_icarus_sees_defined_handshakes_at_time_zero(tmp_path):
    # the cause of the old Icarus disagreement: under -g2012 the Yosys trigger never
    # fires, so i_stream.ready stayed X until the state register first changed
    text = simulation_verilog(tiny_verilog())
    probe = ("module probe; reg clk = 0; reg valid = 0; reg ready_in = 0; wire rdy; wire vld;\n"
             "  dut d(.clk(clk), .rst(1'b0), .i_stream__valid(valid), .o_stream__ready(ready_in),\n"
             "        .i_stream__ready(rdy), .o_stream__valid(vld));\n"
             "  initial begin #1 $display(\"ready=%b valid=%b\", rdy, vld); $finish; end\n"
             "endmodule\n")
    (tmp_path / "dut.v").write_text(text)
    (tmp_path / "probe.v").write_text(probe)
    subprocess.run(["iverilog", "-g2012", "-s", "probe", "-o", str(tmp_path / "probe.vvp"),
                    str(tmp_path / "dut.v"), str(tmp_path / "probe.v")], check=True,
                   capture_output=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "probe.vvp")], check=True,
                         capture_output=True, text=True).stdout
    assert "ready=1 valid=0" in out, out


@needs_icarus
def test_icarus_and_verilator_agree(tmp_path):
    case = small_case("ci_both", input_seed=7, output_stalls=0.5)
    a = run_case(case, sim="verilator", build_root=tmp_path)
    b = run_case(case, sim="icarus", build_root=tmp_path)
    assert a["mismatch"] is None and b["mismatch"] is None, (a["mismatch"], b["mismatch"])
    assert a["results"] == b["results"]
    assert a["cycles"] == b["cycles"]


def test_wide_event_search_under_verilator(tmp_path):
    """``lowest_set`` over 160 bits (three carry-chain segments) compiled by Verilator:
    a 64-bit segment's borrow is bit 64 of its subtraction, which Verilator 5.048 lost
    when both operands were 64 bits wide (the tmnist preset mismatched in make cosim)."""
    import os
    from amaranth.back import verilog
    from amaranth.hdl import Module
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out
    from cosim.simulators import simulator_env
    from hw.onehot import lowest_set

    class Search(wiring.Component):
        bits: In(160)
        lowest: Out(160)
        rest: Out(160)

        def elaborate(self, platform):
            m = Module()
            lo, re = lowest_set(m, self.bits)
            m.d.comb += [self.lowest.eq(lo), self.rest.eq(re)]
            return m

    rng = np.random.default_rng(7)
    vals = [1, 1 << 63, 1 << 64, 1 << 127, 1 << 128, 1 << 159, (1 << 160) - 1, 3 << 63, 3 << 127]
    # the lower segments going from non-zero to zero between two vectors: where the
    # lost borrow showed
    vals += [1 << 59, 1 << 135, (1 << 64) - 1, 1 << 150, 1 << 100, 1 << 140, 1 << 5, 1 << 100]
    vals += [sum(1 << int(b) for b in rng.choice(160, rng.integers(1, 6), replace=False))
             for _ in range(60)]
    bench = ["module tb; reg [159:0] b; wire [159:0] lo, re;",
             "search dut(.bits(b), .lowest(lo), .rest(re)); integer bad = 0; initial begin"]
    for v in vals:
        low = v & -v
        bench.append(f"  b = 160'h{v:040x}; #1; if (lo !== 160'h{low:040x} || "
                     f"re !== 160'h{v & ~low:040x}) bad = bad + 1;")
    bench.append('  $display("BAD %0d", bad); $finish; end endmodule')
    (tmp_path / "search.v").write_text(verilog.convert(Search(), name="search"))
    (tmp_path / "tb.v").write_text("\n".join(bench))
    env = {**os.environ, **simulator_env()}
    subprocess.run(["verilator", "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style",
                    "--top-module", "tb", "search.v", "tb.v", "-o", "vtb"],
                   cwd=tmp_path, env=env, check=True, capture_output=True)
    out = subprocess.run([str(tmp_path / "obj_dir" / "vtb")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "BAD 0" in out, out


def test_a_stuck_design_is_a_mismatch_not_a_hang(tmp_path):
    # the bench waits for each result at most the case's cycle budget (by default
    # hw.latency.result_budget); past it the case fails, naming the sequence
    r = run_case(small_case("ci_stuck", cycle_budget=30), build_root=tmp_path, localize_mismatch=False)
    assert r["mismatch"] is not None
    assert "sequence 0: no result within 30 cycles" in r["mismatch"]


def test_an_unknown_package_is_one_error(tmp_path, capsys):
    assert main(["--package", "no-such-model", "--build", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no weights package 'no-such-model'") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cases_run_on_a_dask_cluster_and_their_results_come_back(tmp_path, capsys):
    """#17 part 4: --scheduler runs the cases on a Dask cluster's workers (a LocalCluster
    here); each case's result comes back to the run's table and status."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        status = main(["--preset", "tiny", "--sequences", "2", "--build", str(tmp_path),
                       "--scheduler", cluster.scheduler_address])
    out = capsys.readouterr().out
    assert status == 0
    assert re.search(r"\[1/1\] preset_tiny: [1-9]\d* cycles, \d+ cycles/s, ok", out), out
    assert "1 configurations (0 random, 1 presets), 2 sequences, 0 mismatches, 0 failed" in out
    assert (tmp_path / "preset_tiny").exists()


def test_an_unreachable_scheduler_stops_the_run_in_one_line(tmp_path, capsys, monkeypatch):
    from cosim import runner
    from model.cli import SchedulerError

    def unreachable(jobs, scheduler):
        raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler!r} within 1 s")
    monkeypatch.setattr(runner, "work_pool", unreachable)
    assert main(["--preset", "tiny", "--build", str(tmp_path), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in capsys.readouterr().err

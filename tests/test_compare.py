"""make compare (flows.compare): ratios, verdicts against the paper, reasons, the compare
files, the reuse rule and the errors; load_model's variants. No synthesis runs: flows
and reports are written by hand here, and the expected figures are worked out by hand
from them."""

import json

import pytest

from flows import compare as cp
from flows import synth
from flows.boards import board as get_board
from flows.compare import Design

pytestmark = pytest.mark.flows


# ---- hand-made reports ---------------------------------------------------------------------

def _report(model, *, cell="datta", encoding="direct", steps=2, cycles, fmax, lut, ff, dsp,
            ops, act=None, bram=4.0):
    """The fields of a flows.report report that flows.compare reads."""
    return {
        "model": model, "board": "ulx3s-85f", "device": "LFE5U-85F", "family": "ecp5",
        "package": "CABGA381", "speed": 6,
        "configuration": {"net": {"cell": cell, "encoding": encoding, "steps": steps},
                          "hw": {"lanes": 1, "par": 16}},
        "tools": {"yosys": "0.64", "nextpnr-ecp5": "0.10"},
        "timing": {"fmax_mhz": fmax, "measured": True, "board_clock_mhz": 25.0, "target_mhz": 100.0,
                   "pnr": {"router": "router2", "seed": 1}},
        "cycles": {"sequences": 8},
        "latency": {"cycles_mean": cycles, "cycles_basis": "simulated",
                    "us_per_sequence_at_fmax": cycles / fmax, "sequences_per_s_at_fmax": fmax * 1e6 / cycles,
                    "us_per_sequence_at_board_clock": cycles / 25.0,
                    "sequences_per_s_at_board_clock": 25e6 / cycles},
        "resources": {"summary": {"LUT": lut, "FF": ff, "BRAM": bram, "DSP": dsp}},
        "energy": {"operations": {"total_nj": sum(ops.values()), "breakdown_nj": ops, "method": "ops"},
                   "activity": ({"total_nj": sum(act.values()), "breakdown_nj": act, "method": "act"}
                                if act else None),
                   "activity_missing_reason": None if act else "no activity was measured"},
    }


BASE = Design("baseline", "non-spiking LSTM", "baseline", "m-lstm", "direct")
DIRECT = Design("spiking-direct", "spiking, direct", "spiking", "m-direct", "direct")
RATE = Design("spiking-rate", "spiking, rate", "spiking", "m-rate", "rate")
LEVEL = Design("spiking-level", "spiking, level", "spiking", "m", "level")


def _rows():
    # baseline: 2000 cycles at 50 MHz = 40 us; 80 nJ by operations, 8000 nJ by activity
    base = _report("m-lstm", cell="lstm", steps=1, cycles=2000.0, fmax=50.0, lut=5000.0, ff=6000.0,
                   dsp=40.0, ops={"ac": 0.0, "mac": 10.0, "memory": 70.0},
                   act={"registers": 2000.0, "static": 6000.0})
    # direct: 400 cycles at 50 MHz = 8 us (5x); 20 nJ (4x); 4000 nJ (2x)
    direct = _report("m-direct", cycles=400.0, fmax=50.0, lut=20000.0, ff=12000.0, dsp=0.0,
                     ops={"ac": 2.0, "memory": 18.0}, act={"registers": 1000.0, "static": 3000.0})
    # rate: 2500 cycles at 62.5 MHz = 40 us (1x = 0.8x cycles x 1.25x Fmax); 100 nJ (0.8x)
    rate = _report("m-rate", encoding="rate", steps=4, cycles=2500.0, fmax=62.5, lut=10000.0, ff=3000.0,
                   dsp=0.0, ops={"ac": 5.0, "memory": 95.0}, act=None)
    level = _report("m", encoding="level", steps=4, cycles=1000.0, fmax=50.0, lut=10000.0, ff=6000.0,
                    dsp=0.0, ops={"ac": 4.0, "memory": 36.0}, act={"registers": 1000.0, "static": 1000.0})
    designs = (DIRECT, RATE, LEVEL, BASE)
    reports = [direct, rate, level, base]
    rows = [cp.row_from_report(d, r, accuracy=0.9) for d, r in zip(designs, reports)]
    return designs, reports, rows


def test_the_back_to_back_throughput_is_a_column_when_the_build_has_it():
    _, reports, rows = _rows()
    assert rows[0]["sequences_per_s_back_to_back"] is None   # a build from before the two banks
    reports[0]["latency"]["back_to_back"] = {"cycles_per_result_mean": 402.0, "input_cycles": 16,
                                             "sequences_per_s_at_fmax": 124_378.1,
                                             "sequences_per_s_at_board_clock": 62_189.0}
    rows[0] = cp.row_from_report(DIRECT, reports[0], accuracy=0.9)
    assert rows[0]["sequences_per_s_back_to_back"] == 124_378.1   # at Fmax, as the other times
    doc = cp.validate_compare(cp.comparison("m", (DIRECT, RATE, LEVEL, BASE), reports, rows))
    md = cp._markdown(doc)
    assert "| 8 | 125,000 | 124,378 | 20,000 |" in md      # direct: one at a time, back to back, LUT
    assert "| 40 | 25,000 | n/a | 5,000 |" in md           # the baseline's build has no such figure


def test_a_cells_own_paper_count_is_printed_beside_energy_a():
    _, reports, rows = _rows()
    assert all(r["energy_paper"] is None for r in rows)
    reports[2]["energy"]["operations"]["paper_count"] = {
        "total_nj": 12.5, "formula": "(mn + nn + 2n) E_AC Fr + 2n E_MAC per time step",
        "note": "the recurrent layers alone", "source": "Yin et al.", "ac": 1.0, "mac": 2.0}
    rows[2] = cp.row_from_report(LEVEL, reports[2], accuracy=0.9)
    doc = cp.validate_compare(cp.comparison("m", (DIRECT, RATE, LEVEL, BASE), reports, rows))
    md = cp._markdown(doc)
    assert ("* spiking-level: its cell's paper counts 12.5 nJ for the same inference "
            "((mn + nn + 2n) E_AC Fr + 2n E_MAC per time step; the recurrent layers alone; "
            "Yin et al.), against 40 nJ in energy (a).") in md
    assert md.count("paper counts") == 1


def test_rows_ratios_and_verdicts_from_hand_made_reports():
    designs, reports, rows = _rows()
    doc = cp.validate_compare(cp.comparison("m", designs, reports, rows))
    direct, rate, level = doc["ratios"]
    assert direct["latency"] == pytest.approx(5.0)           # 40 us / 8 us
    assert direct["cycles"] == pytest.approx(5.0)            # 2000 / 400
    assert direct["fmax"] == pytest.approx(1.0)              # 50 / 50
    assert direct["energy_operations"] == pytest.approx(4.0)  # 80 / 20
    assert direct["energy_activity"] == pytest.approx(2.0)   # 8000 / 4000
    assert direct["lut"] == pytest.approx(0.25) and direct["ff"] == pytest.approx(0.5)
    assert direct["dsp"] is None                             # the spiking design uses no DSP
    assert any("uses none (baseline 40)" in n for n in direct["notes"])
    assert rate["latency"] == pytest.approx(1.0) and rate["cycles"] == pytest.approx(0.8)
    assert rate["fmax"] == pytest.approx(1.25)
    assert rate["energy_operations"] == pytest.approx(0.8)   # 80 / 100
    assert rate["energy_activity"] is None and rate["ff"] == pytest.approx(2.0)
    assert level["latency"] == pytest.approx(2.0)            # 40 / 20 us

    v = {x["design"]: x for x in doc["verdicts"]}
    assert v["spiking-direct"]["verdict"] == "reproduced"
    assert [c["verdict"] for c in v["spiking-direct"]["claims"]] == ["reproduced", "reproduced"]
    assert [c["quantity"] for c in v["spiking-direct"]["claims"]] == ["latency", "energy_operations"]
    rate_claim, = v["spiking-rate"]["claims"]
    assert rate_claim["verdict"] == "not reproduced (measured 0.80x)"
    assert v["spiking-rate"]["verdict"] == "not reproduced"
    # the reason names the dominant category of each design and where the spiking one spends more
    assert "spiking 100 nJ, mostly memory (95 nJ, 95%)" in rate_claim["reason"]
    assert "baseline 80 nJ, mostly memory (70 nJ, 88%)" in rate_claim["reason"]
    assert "beyond the baseline on memory (95 vs 70 nJ)" in rate_claim["reason"]
    assert v["spiking-level"]["claims"] == [] and "no paper figure" in v["spiking-level"]["verdict"]
    assert rows[1]["energy_activity_missing"] == "no activity was measured"
    assert rows[0]["time_basis"] == "Fmax" and rows[0]["us_per_sequence"] == pytest.approx(8.0)


@pytest.mark.parametrize("cycles, fmax, expect", [
    # 3000 cycles at 60 MHz = 50 us: 0.8x = cycles 0.667x (1.5x the cycles) x Fmax 1.2x
    (3000.0, 60.0, ["latency ratio 0.80x = cycles ratio 0.67x", "x Fmax ratio 1.20x",
                    "the cycles lose: the spiking design needs 1.50x the baseline's cycles",
                    "the Fmax gains 1.20x, not enough to reach 4x"]),
    # 1000 cycles at 20 MHz = 50 us: 0.8x = cycles 2x x Fmax 0.4x (2.5x slower)
    (1000.0, 20.0, ["cycles ratio 2.00x", "Fmax ratio 0.40x",
                    "the Fmax loses: the spiking design clocks 2.50x slower",
                    "the cycles gains 2.00x"]),
    # 1000 cycles at 75 MHz = 13.3 us: 3x = cycles 2x x Fmax 1.5x, short of 4x
    (1000.0, 75.0, ["latency ratio 3.00x", "both factors favour the spiking design",
                    "short of 4x; the smaller is the Fmax (1.50x)"]),
])
def test_latency_reason_names_the_losing_factor(cycles, fmax, expect):
    base = _report("b", cell="lstm", steps=1, cycles=2000.0, fmax=50.0, lut=1.0, ff=1.0, dsp=1.0,
                   ops={"mac": 1.0})
    spk = _report("s", cycles=cycles, fmax=fmax, lut=1.0, ff=1.0, dsp=0.0, ops={"ac": 0.1})
    rows = [cp.row_from_report(DIRECT, spk), cp.row_from_report(BASE, base)]
    doc = cp.comparison("m", (DIRECT, BASE), [spk, base], rows)
    latency = doc["verdicts"][0]["claims"][0]
    assert latency["quantity"] == "latency" and latency["verdict"].startswith("not reproduced (measured ")
    for text in expect:
        assert text in latency["reason"]
    assert doc["verdicts"][0]["claims"][1]["verdict"] == "reproduced"  # energy 1 / 0.1 = 10x
    assert doc["verdicts"][0]["claims"][1]["reason"] is None


def test_compare_files_are_written_beside_the_report_and_validate(tmp_path):
    designs, reports, rows = _rows()
    doc = cp.comparison("m", designs, reports, rows, source_sha256="ab" * 32,
                        git={"commit": "1234abcd", "uncommitted_source_changes": False})
    out = tmp_path / "ulx3s-85f" / "m"
    out.mkdir(parents=True)
    (out / "report.md").write_text("the model's own report")
    cp.write_compare(doc, out)
    assert sorted(p.name for p in out.iterdir()) == ["compare.json", "compare.md", "compare.png", "report.md"]
    assert (out / "report.md").read_text() == "the model's own report"
    saved = cp.validate_compare(json.loads((out / "compare.json").read_text()))
    assert saved["schema"] == "spikegate.compare/1" and len(saved["rows"]) == 4
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "compare.md").read_text()
    assert "not reproduced (measured 0.80x)" in md and "git commit 1234abcd" in md
    assert "| spiking-direct | 5.00x | 5.00x | 1.00x | 4.00x | 2.00x | 0.25x | 0.50x | n/a |" in md
    assert "nextpnr seed 1, router router2" in md


def test_validate_compare_names_the_bad_field():
    designs, reports, rows = _rows()
    doc = cp.comparison("m", designs, reports, rows)
    with pytest.raises(ValueError, match="'schema'"):
        cp.validate_compare({**doc, "schema": "spikegate.compare/0"})
    with pytest.raises(ValueError, match="exactly one baseline"):
        cp.validate_compare({**doc, "rows": doc["rows"][:3]})
    bad = json.loads(json.dumps(doc))
    bad["rows"][0]["us_per_sequence"] = None
    with pytest.raises(ValueError, match=r"rows\[0\]\.us_per_sequence"):
        cp.validate_compare(bad)
    bad = json.loads(json.dumps(doc))
    bad["verdicts"][1]["claims"][0]["verdict"] = "reproduced"
    with pytest.raises(ValueError, match="disagrees"):
        cp.validate_compare(bad)


def test_a_failed_write_keeps_the_old_files_and_leaves_nothing_new(tmp_path, monkeypatch):
    designs, reports, rows = _rows()
    doc = cp.comparison("m", designs, reports, rows)
    out = tmp_path / "r"
    out.mkdir()
    (out / "compare.md").write_text("old comparison")
    (out / "report.md").write_text("report")

    def broken(doc, path):
        raise RuntimeError("no plot")

    monkeypatch.setattr(cp, "_plot", broken)
    with pytest.raises(RuntimeError, match="no plot"):
        cp.write_compare(doc, out)
    assert sorted(p.name for p in out.iterdir()) == ["compare.md", "report.md"]
    assert (out / "compare.md").read_text() == "old comparison"
    with pytest.raises(RuntimeError):
        cp.write_compare(doc, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()

    # a move into place that fails halfway: the new files go, the old one comes back
    monkeypatch.undo()
    real_replace = cp.os.replace

    def replace(src, dst):
        if str(dst).endswith("compare.json") and ".compare.tmp-" in str(src):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(cp.os, "replace", replace)
    with pytest.raises(OSError, match="disk full"):
        cp.write_compare(doc, out)
    assert sorted(p.name for p in out.iterdir()) == ["compare.md", "report.md"]
    assert (out / "compare.md").read_text() == "old comparison"


# ---- errors ----------------------------------------------------------------------------------

def test_unknown_set_gives_one_clear_error(tmp_path, capsys):
    assert cp.main(["--model", "nope", "--build", str(tmp_path / "b"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no comparison set 'nope'" in err and "digits" in err and "tmnist" in err
    assert cp.main(["--designs", "spiking-rate", "--build", str(tmp_path / "b"),
                    "--out", str(tmp_path / "r")]) == 2
    assert "needs the baseline" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_missing_package_names_it_and_how_to_make_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(cp.SETS, "m", (
        Design("spiking-rate", "spiking, rate", "spiking", "no-such-package-rate", "rate"),
        Design("baseline", "baseline", "baseline", "tiny-lstm", "direct")))
    monkeypatch.setattr(synth, "run_flow", lambda *a, **k: pytest.fail("nothing may be built"))
    assert cp.main(["--model", "m", "--build", str(tmp_path / "b"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'no-such-package-rate'" in err and "missing" in err
    assert "make train" in err and "hw.package" in err
    assert not (tmp_path / "r").exists()


def test_trained_and_random_weights_are_not_mixed(monkeypatch):
    # the baseline preset name with no package of that name would mean random weights
    monkeypatch.setitem(cp.SETS, "m", (
        Design("spiking-level", "spiking, level", "spiking", "digits", "level", par=16),
        Design("baseline", "baseline", "baseline", "tiny-lstm", "direct")))
    with pytest.raises(cp.CompareError, match="baseline would use random weights"):
        cp.run_compare("ulx3s-85f", "m")


# ---- reuse -------------------------------------------------------------------------------------

def _flow(name, pkg, hw, pnr_seed, router, seed, build, design_sha256=None):
    """A flow record of a tiny design (direct Datta cell or the LSTM baseline) as
    flows.synth writes it; cycles and LUTs by hand (see the reuse test)."""
    net = pkg.cfg
    lstm = net.cell == "lstm"
    batch, cells = 2, 2 * net.length * net.steps
    if lstm:
        layer = {"acs": 0, "macs": 120, "comparisons": 0, "products": 96, "h_spikes": 30,
                 "input_events": 20, "recurrent_events": 30}
    else:
        layer = {"acs": 400, "macs": 80, "comparisons": 960, "gate_spikes": {"f": 16, "i": 32, "o": 48, "g": 64},
                 "c_spikes": 8, "h_spikes": 4, "input_events": 20, "recurrent_events": 3}
    assert layer["h_spikes"] <= cells * net.hidden[0]
    cycles = [400, 400] if lstm else [180, 220]
    lut4 = 910 if lstm else 1800
    ccu = 0 if lstm else 10
    (build / "top.bit").write_bytes(b"bit")
    return {
        "board": "ulx3s-85f", "family": "ecp5", "device": "LFE5U-85F", "package": "CABGA381", "speed": 6,
        "model": name, "model_source": "made up", "net": net.to_dict(),
        "hw": {"lanes": hw.lanes, "par": hw.par},
        "weights_sha256": None, "random_seed": seed, "source_sha256": synth.source_fingerprint(),
        "design_sha256": design_sha256,
        "tools": {"yosys": "0.64", "nextpnr-ecp5": "0.10", "amaranth": "0.5.10"},
        "resources": {"used": {"LUT4": lut4, "CCU2C": ccu, "TRELLIS_FF": 500, "DP16KD": 2,
                               "MULT18X18D": 4 if lstm else 0},
                      "available": {"TRELLIS_FF": 83640, "DP16KD": 208}, "source": "nextpnr"},
        "timing": {"fmax_mhz": 40.0 if lstm else 50.0, "target_mhz": 100.0, "board_clock_mhz": 25.0,
                   "measured": True, "note": "made up", "pnr": {"router": router, "seed": pnr_seed,
                                                                  "timing_ripup": synth.NEXTPNR_TIMING_RIPUP}},
        "sim": {"sequences": batch, "cycles_simulated": cycles, "cycles_analytic": cycles,
                "golden_stats": {"batch": batch, "layers": [layer], "readout_acs": 0 if lstm else 12,
                                 "readout_macs": 80 if lstm else 0},
                "memory_reads": {"sequences": batch, "memories": {
                    "layer0.weights": {"word_bits": 64, "capacity_bits": 3072, "reads": 10, "writes": 0}}}},
        "activity": {"sequences": batch, "cycles": sum(cycles), "register_bits": 100, "simulator": "verilator",
                     "toggles": {"registers": 500, "combinational": 300, "memory_read_data": 200,
                                 "ports": 0, "wires": 10},
                     "memories": {"layer0.weights": {"class": "block", "word_bits": 64,
                                                     "read_port_cycles": 1000, "write_cycles": 0}}},
        "bitstream": str(build / "top.bit"),
        "schedules": [{"lanes": hw.lanes, "par": hw.par, "cycles_mean": sum(cycles) / 2,
                       "resources": {"used": {"LUT4": lut4}, "source": "nextpnr"}}],
    }


@pytest.fixture
def tiny_set(monkeypatch, tmp_path):
    """A two-design set on the tiny preset (random weights) and a run_flow that records
    its calls and writes a made-up build instead of running the tools."""
    monkeypatch.setitem(cp.SETS, "tinyset", (
        Design("spiking-direct", "spiking, direct", "spiking", "tiny", "direct", lanes=1, par=8,
               changes={"encoding": "direct"}),
        Design("baseline", "baseline", "baseline", "tiny-lstm", "direct", par=8)))
    calls = []

    def fake_run_flow(board_name, model, *, lanes, par, pnr_seed, router, compare, simulate, changes,
                      seed, build_root, reports_root):
        calls.append(model)
        assert compare is False and reports_root == build_root / "compare-reports"
        pkg = synth.load_model(model, seed=seed, changes=changes)
        hw = synth.default_hardware(pkg.cfg, lanes, par)
        name = pkg.manifest["name"]
        build = build_root / get_board(board_name).name / name
        build.mkdir(parents=True, exist_ok=True)
        digest = synth.design_fingerprint(board_name, model, lanes=lanes, par=par, seed=seed,
                                          changes=changes)
        flow = _flow(name, pkg, hw, pnr_seed, router, seed, build, digest)
        (build / "flow.json").write_text(json.dumps(flow))
        return flow

    monkeypatch.setattr(synth, "run_flow", fake_run_flow)
    return calls, tmp_path / "build", tmp_path / "reports"


def test_matching_builds_are_reused_and_stale_ones_rebuilt(tiny_set, capsys):
    calls, build, reports = tiny_set
    def run(**kw):
        return cp.run_compare("ulx3s-85f", "tinyset", build_root=build, out_root=reports, **kw)
    out = run()
    assert calls == ["tiny", "tiny-lstm"]
    assert (build / "ulx3s-85f" / "tiny-direct-random" / "flow.json").exists()
    assert (build / "ulx3s-85f" / "tiny-lstm-random" / "flow.json").exists()
    doc = cp.validate_compare(json.loads((out / "compare.json").read_text()))
    r, = doc["ratios"]
    # spiking: 200 cycles at 50 MHz = 4 us; baseline: 400 cycles at 40 MHz = 10 us
    assert r["latency"] == pytest.approx(2.5) and r["cycles"] == pytest.approx(2.0)
    assert r["fmax"] == pytest.approx(1.25)
    assert r["lut"] == pytest.approx(0.5)        # 910 / (1800 + 2 x 10)
    assert doc["rows"][0]["accuracy"] is None and doc["rows"][0]["accuracy_note"] == "random weights"
    latency = doc["verdicts"][0]["claims"][0]
    assert latency["verdict"] == "not reproduced (measured 2.50x)"
    assert "the smaller is the Fmax (1.25x)" in latency["reason"]
    assert sorted(p.name for p in out.iterdir()) == ["compare.json", "compare.md", "compare.png"]

    calls.clear()
    capsys.readouterr()
    run()
    assert calls == []
    text = capsys.readouterr().out
    assert "[1/2] spiking-direct: reusing" in text and "[2/2] baseline: reusing" in text

    # a build of another design is stale; the other one is still reused
    path = build / "ulx3s-85f" / "tiny-direct-random" / "flow.json"
    flow = json.loads(path.read_text())
    path.write_text(json.dumps({**flow, "design_sha256": "0" * 64}))
    run()
    assert calls == ["tiny"]
    assert "the generated design changed since" in capsys.readouterr().out

    calls.clear()
    run(pnr_seed=2)                               # another nextpnr seed: both stale
    assert calls == ["tiny", "tiny-lstm"]
    calls.clear()
    run(pnr_seed=2)
    assert calls == []
    run(pnr_seed=2, rebuild=True)
    assert calls == ["tiny", "tiny-lstm"]


def test_jobs_build_the_designs_in_their_own_processes(tiny_set):
    import multiprocessing
    if multiprocessing.get_start_method() != "fork":
        pytest.skip("the made-up run_flow reaches the workers only through fork")
    calls, build, reports = tiny_set
    out = cp.run_compare("ulx3s-85f", "tinyset", build_root=build, out_root=reports, jobs=2)
    assert calls == []  # the calls happened in the workers
    assert (build / "ulx3s-85f" / "tiny-direct-random" / "flow.json").exists()
    assert (build / "ulx3s-85f" / "tiny-lstm-random" / "flow.json").exists()
    cp.validate_compare(json.loads((out / "compare.json").read_text()))


def test_stale_reason_reads_each_condition(tiny_set, tmp_path):
    calls, build, reports = tiny_set
    cp.run_compare("ulx3s-85f", "tinyset", build_root=build, out_root=reports)
    path = build / "ulx3s-85f" / "tiny-lstm-random" / "flow.json"
    flow = json.loads(path.read_text())
    pkg = synth.load_model("tiny-lstm")
    design = cp.SETS["tinyset"][1]
    expect = cp._expected(design, pkg, 1, 1, synth.NEXTPNR_ROUTER)
    expect["design_sha256"] = flow["design_sha256"]
    src = None
    assert cp.stale_reason(path, expect) is None
    assert "design changed" in cp.stale_reason(path, {**expect, "design_sha256": "ab"})
    assert "another random-weights seed" in cp.stale_reason(path, cp._expected(design, pkg, 2, 1, "router2"))
    assert "nextpnr seed, router" in cp.stale_reason(path, cp._expected(design, pkg, 1, 1, "router1"))
    # a build placed before the router's timing-driven rip-up was the default is stale
    old = {**flow, "timing": {**flow["timing"], "pnr": {"router": "router2", "seed": 1}}}
    path.write_text(json.dumps(old))
    assert "rip-up" in cp.stale_reason(path, expect)
    # ... but one whose rip-up the flow stopped (and routed again) is the same setting
    stopped = {**flow, "timing": {**flow["timing"], "pnr": {**flow["timing"]["pnr"], "ripup_stopped": {"1": 57}}}}
    path.write_text(json.dumps(stopped))
    assert cp.stale_reason(path, expect) is None
    path.write_text(json.dumps(flow))
    assert "L / P" in cp.stale_reason(path, {**expect, "hw": {"lanes": 1, "par": 4}})
    assert "other weights" in cp.stale_reason(path, {**expect, "weights_sha256": "ab"})
    path.write_text(json.dumps({**flow, "sim": {**flow["sim"], "cycles_simulated": None}}))
    assert cp.stale_reason(path, expect) == "it was not simulated"
    assert cp.stale_reason(path, {**expect, "simulate": False}) is None
    (build / "ulx3s-85f" / "tiny-lstm-random" / "top.bit").unlink()
    assert cp.stale_reason(path, expect) == "its bitstream is not on disk"
    assert cp.stale_reason(tmp_path / "none.json", expect) == "no build yet"


def test_an_error_midway_leaves_no_compare_files(tiny_set, monkeypatch):
    calls, build, reports = tiny_set
    out = reports / "ulx3s-85f" / "tinyset"
    out.mkdir(parents=True)
    (out / "report.md").write_text("kept")
    real = synth.run_flow

    def failing(board_name, model, **kw):
        if model == "tiny-lstm":
            raise RuntimeError("nextpnr crashed")
        return real(board_name, model, **kw)

    monkeypatch.setattr(synth, "run_flow", failing)
    with pytest.raises(RuntimeError, match="nextpnr crashed"):
        cp.run_compare("ulx3s-85f", "tinyset", build_root=build, out_root=reports)
    assert calls == ["tiny"]
    assert [p.name for p in out.iterdir()] == ["report.md"]


# ---- flows.synth: load_model, the load step's record, the source fingerprint -----------------

def test_load_model_changes_apply_to_random_presets_and_name_the_build():
    direct = synth.load_model("tiny", changes={"encoding": "direct"})
    assert direct.path is None and direct.cfg.encoding == "direct"
    assert direct.manifest["name"] == "tiny-direct-random"
    rate3 = synth.load_model("tiny", changes={"encoding": "rate", "steps": 3})
    assert rate3.manifest["name"] == "tiny-rate-3-random" and rate3.cfg.steps == 3
    assert synth.load_model("tiny").manifest["name"] == "tiny-random"
    # a trained package is never changed: the changes are fields it must have
    from model.config import ConfigError
    assert synth.load_model("digits", changes={"encoding": "level"}).cfg.encoding == "level"
    with pytest.raises(ConfigError, match="encoding is 'level' in the package, 'rate' requested"):
        synth.load_model("digits", changes={"encoding": "rate"})


def test_preset_lstm_is_the_baseline_with_random_weights():
    pkg = synth.load_model("tmnist-lstm")
    assert pkg.path is None and pkg.manifest["name"] == "tmnist-lstm-random"
    assert (pkg.cfg.cell, pkg.cfg.steps, pkg.cfg.encoding) == ("lstm", 1, "direct")
    assert (pkg.cfg.inputs, pkg.cfg.hidden, pkg.cfg.length) == (32, (128,), 32)  # the tmnist size
    assert pkg.params.layers[0].w_x.shape[-1] == 32
    from model.config import ConfigError
    with pytest.raises(ConfigError, match="no weights package 'nopreset-lstm'"):
        synth.load_model("nopreset-lstm")


def test_load_step_records_what_compare_checks(tmp_path):
    brd = get_board("ulx3s-85f")
    ctx = synth.FlowContext(synth.FlowOptions("ulx3s-85f", "tiny", build_root=tmp_path, seed=3,
                                              changes={"encoding": "direct"}), brd, 0.0)
    synth.LoadPackage().run(ctx)
    assert ctx.flow["model"] == "tiny-direct-random" and ctx.build == tmp_path / "ulx3s-85f" / "tiny-direct-random"
    assert ctx.flow["net"]["encoding"] == "direct"
    assert (ctx.flow["weights_sha256"], ctx.flow["random_seed"]) == (None, 3)
    assert ctx.flow["source_sha256"] == synth.source_fingerprint()
    ctx = synth.FlowContext(synth.FlowOptions("ulx3s-85f", "digits", build_root=tmp_path), brd, 0.0)
    synth.LoadPackage().run(ctx)
    manifest = json.loads((synth.ROOT / "models" / "digits" / "manifest.json").read_text())
    assert ctx.flow["weights_sha256"] == manifest["weights_sha256"] and ctx.flow["random_seed"] is None


def test_source_fingerprint_follows_the_code_and_skips_caches(tmp_path):
    for pkg in synth.SOURCE_PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "a.py").write_text(f"# {pkg}\n")
    first = synth.source_fingerprint(tmp_path)
    assert len(first) == 64 and first == synth.source_fingerprint(tmp_path)
    (tmp_path / "hw" / "__pycache__").mkdir()
    (tmp_path / "hw" / "__pycache__" / "x.py").write_text("cache")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.py").write_text("not a source package")
    assert synth.source_fingerprint(tmp_path) == first
    (tmp_path / "hw" / "a.py").write_text("# hw, changed\n")
    second = synth.source_fingerprint(tmp_path)
    assert second != first
    (tmp_path / "hw" / "a.py").rename(tmp_path / "hw" / "b.py")   # the same text in another file
    assert synth.source_fingerprint(tmp_path) not in (first, second)

"""Reports from flow.json (flows.report): contents, schema checks, atomic writing, CLI.

The flows here are written by hand (no synthesis, no simulation), and the expected
figures are worked out by hand from them.
"""

import copy
import json

import pytest

from flows import report as rp
from model.config import preset

pytestmark = pytest.mark.flows


def _ecp5_flow():
    net = preset("tiny").to_dict()  # M=4, H=8, T=2, N=5, 4 classes
    layer = {"acs": 400, "macs": 0, "comparisons": 960,
             "gate_spikes": {"f": 16, "i": 32, "o": 48, "g": 64}, "c_spikes": 8, "h_spikes": 4,
             "input_events": 20, "recurrent_events": 3}
    return {
        "board": "ulx3s-85f", "family": "ecp5", "device": "LFE5U-85F", "package": "CABGA381",
        "speed": 6, "model": "tiny", "model_source": "made up",
        "net": net, "hw": {"lanes": 2, "par": 8},
        "tools": {"yosys": "0.64", "nextpnr-ecp5": "0.8", "amaranth": "0.5.10"},
        "resources": {"used": {"TRELLIS_COMB": 2091, "TRELLIS_FF": 8364, "DP16KD": 13, "LUT4": 1800,
                               "CCU2C": 10},
                      "available": {"TRELLIS_COMB": 83640, "TRELLIS_FF": 83640, "DP16KD": 208},
                      "source": "nextpnr"},
        "timing": {"fmax_mhz": 50.0, "target_mhz": 100.0, "board_clock_mhz": 25.0,
                   "measured": True, "note": "below the target"},
        "sim": {"sequences": 2, "cycles_simulated": [180, 220], "cycles_analytic": [180, 220],
                "stream": {"input_cycles": 30, "result_periods": [222]},
                "golden_stats": {"batch": 2, "saturations": {"acc": 0}, "layers": [layer],
                                 "readout_acs": 12, "acs": 412, "macs": 0},
                "memory_reads": {"sequences": 2, "memories": {
                    "layer0.weights": {"word_bits": 64, "capacity_bits": 3072, "reads": 10, "writes": 0}}}},
        "activity": {"sequences": 2, "cycles": 1000, "register_bits": 100,
                     "toggles": {"registers": 500, "combinational": 300, "memory_read_data": 200,
                                 "ports": 0, "wires": 10},
                     "memories": {"layer0.weights": {"class": "block", "word_bits": 64,
                                                     "read_port_cycles": 1000, "write_cycles": 0}}},
        "schedules": [
            {"lanes": 2, "par": 8, "cycles_mean": 200.0,
             "resources": {"used": {"LUT4": 1800, "CCU2C": 10, "TRELLIS_FF": 8364, "DP16KD": 13},
                           "source": "nextpnr"}},
            {"lanes": 1, "par": 8, "cycles_mean": 300.0,
             "resources": {"used": {"LUT4": 1000, "TRELLIS_FF": 4000, "DP16KD": 13},
                           "source": "yosys"}}],
        "wall_s": {"elaborate": 1.0, "synth": 2.0, "pnr": 3.0, "pack": 0.5, "total": 6.5},
    }


def _xilinx_flow():
    flow = _ecp5_flow()
    flow.update(board="kc705", family="xilinx", device="xc7k325t-ffg900-2", package=None, speed=None)
    flow["tools"] = {"yosys": "0.64", "amaranth": "0.5.10"}
    flow["resources"] = {
        "used": {"LUT": 3000, "FF": 4000, "BRAM36": 2, "DSP48E1": 0,
                 "LUT2": 2000, "LUT6": 1000, "FDRE": 4000, "RAMB36E1": 2},
        "available": {"LUT": 203800, "FF": 407600, "BRAM36": 445, "DSP48E1": 840},
        "source": "yosys"}
    flow["timing"] = {"fmax_mhz": None, "target_mhz": None, "board_clock_mhz": 200.0,
                      "measured": False, "note": "no open place and route"}
    for row in flow["schedules"]:
        row["resources"] = {"used": {"LUT6": 1000, "FDRE": 2000}, "source": "yosys"}
    return flow


# ---- contents ------------------------------------------------------------------------------

def test_report_from_a_synthetic_flow():
    r = rp.validate_report(rp.report_from_flow(_ecp5_flow()))
    assert r["schema"] == "spikegate.report/1"
    assert r["tools"]["nextpnr-ecp5"] == "0.8"
    assert r["configuration"]["hw"] == {"lanes": 2, "par": 8}
    assert r["configuration"]["schedule"].startswith("wavefront")   # L = T = 2
    pct = {row["resource"]: row["percent"] for row in r["resources"]["rows"]}
    assert pct["TRELLIS_COMB"] == pytest.approx(2.5)     # 2091 / 83640
    assert pct["TRELLIS_FF"] == pytest.approx(10.0)      # 8364 / 83640
    assert pct["DP16KD"] == pytest.approx(6.25)          # 13 / 208
    assert pct["LUT4"] is None                           # no capacity given
    assert r["timing"]["fmax_mhz"] == 50.0 and r["timing"]["measured"]
    assert r["cycles"]["simulated"]["mean"] == 200 and r["cycles"]["analytic"]["max"] == 220
    assert r["cycles"]["agree"] is True
    lat = r["latency"]
    assert lat["us_per_sequence_at_fmax"] == pytest.approx(4.0)          # 200 / 50 MHz
    assert lat["sequences_per_s_at_fmax"] == pytest.approx(250_000)
    assert lat["us_per_sequence_at_board_clock"] == pytest.approx(8.0)   # 200 / 25 MHz
    assert lat["sequences_per_s_at_board_clock"] == pytest.approx(125_000)
    # back to back: a result every 222 cycles at 50 MHz
    assert lat["back_to_back"]["sequences_per_s_at_fmax"] == pytest.approx(50e6 / 222)
    assert lat["back_to_back"]["input_cycles"] == 30
    # rates: spikes / (2 sequences x N=5 x T=2 x H=8 = 160 neuron steps)
    layer = r["sparsity"]["layers"][0]
    assert layer["gates"] == pytest.approx({"f": 0.1, "i": 0.2, "o": 0.3, "g": 0.4})
    assert layer["c"] == pytest.approx(0.05) and layer["h"] == pytest.approx(0.025)
    assert layer["input_events"] == pytest.approx(0.25)   # 20 / (2 x 5 x 2 x 4 inputs)
    ops, act = r["energy"]["operations"], r["energy"]["activity"]
    assert ops["memory_included"] and ops["total_nj"] > 0
    # static over 1000 / 2 = 500 cycles at Fmax 50 MHz = 10 us of 0.212 A x 1.1 V
    assert act["static_nj"] == pytest.approx(0.212 * 1.1 * 10e-6 * 1e9)
    assert act["clock_mhz"] == 50.0
    sched = {row["lanes"]: row for row in r["schedules"]}
    assert sched[1]["cycles_mean"] == 300.0
    # ECP5 LUTs: LUT4 + 2 per CCU2C = 1800 + 20
    assert sched[2]["resources"]["LUT"] == 1820 and sched[1]["resources"]["FF"] == 4000
    assert sched[1]["name"].startswith("element by element")


def test_back_to_back_throughput_is_reported_when_the_build_has_it(tmp_path):
    flow = _ecp5_flow()
    md = rp._markdown(rp.validate_report(rp.report_from_flow(flow)))
    assert "a result every 222 cycles on average (streaming one sequence in takes 30 cycles)" in md
    del flow["sim"]["stream"]   # a build from before the two input banks
    r = rp.report_from_flow(flow)
    assert r["latency"]["back_to_back"] is None
    assert "Back to back" not in rp._markdown(rp.validate_report(r))
    flow["sim"]["stream"] = {"input_cycles": 30, "result_periods": [0]}
    with pytest.raises(ValueError, match="sim.stream"):
        rp.report_from_flow(flow)


def test_timing_statement_names_the_placement_and_a_given_up_ripup():
    flow = _ecp5_flow()
    flow["timing"]["pnr"] = {"router": "router2", "seed": 2, "timing_ripup": True}
    statement = rp.report_from_flow(flow)["timing"]["statement"]
    assert "router2, seed 2, timing-driven rip-up" in statement and "given up" not in statement
    flow["timing"]["pnr"]["ripup_stopped"] = {"2": 300}
    statement = rp.report_from_flow(flow)["timing"]["statement"]
    assert "seed 2, timing-driven rip-up given up after 300 router iterations" in statement
    flow["timing"]["pnr"]["ripup_stopped"] = {"3": 300}   # another seed's, not the kept one
    assert "given up" not in rp.report_from_flow(flow)["timing"]["statement"]


def test_xilinx_report_says_fmax_not_measured(tmp_path):
    r = rp.validate_report(rp.report_from_flow(_xilinx_flow()))
    assert not r["timing"]["measured"] and r["timing"]["fmax_mhz"] is None
    assert "NOT measured" in r["timing"]["statement"]
    assert r["latency"]["us_per_sequence_at_fmax"] is None
    assert r["latency"]["us_per_sequence_at_board_clock"] == pytest.approx(1.0)   # 200 / 200 MHz
    pct = {row["resource"]: row["percent"] for row in r["resources"]["rows"]}
    assert pct["LUT"] == pytest.approx(100 * 3000 / 203800)
    # static energy at the board clock: 500 cycles / 200 MHz = 2.5 us at the XC7A200T
    # reference (0.163 W) scaled to 203800 LUTs
    assert r["energy"]["activity"]["static_nj"] == pytest.approx(0.163 * 203800 / 133800 * 2.5e-6 * 1e9)
    assert r["schedules"][0]["resources"]["LUT"] == 1000
    out = rp.write_report(r, tmp_path / "kc705")
    md = (out / "report.md").read_text()
    assert "Fmax was NOT measured" in md
    assert "n/a us" in md  # the time at Fmax is not made up


def test_an_unmeasured_fmax_is_never_reported():
    flow = _xilinx_flow()
    flow["timing"]["fmax_mhz"] = 123.0  # a number without a measurement
    with pytest.raises(ValueError, match="timing.fmax_mhz"):
        rp.report_from_flow(flow)
    r = rp.report_from_flow(_ecp5_flow())
    r["timing"]["measured"] = False  # a report that claims no measurement but has an Fmax
    with pytest.raises(ValueError, match="timing.fmax_mhz"):
        rp.validate_report(r)


def test_activity_may_be_missing():
    flow = _ecp5_flow()
    flow["activity"] = None
    del flow["sim"]["memory_reads"]
    r = rp.validate_report(rp.report_from_flow(flow))
    assert r["energy"]["activity"] is None
    assert "no activity" in r["energy"]["activity_missing_reason"]
    assert not r["energy"]["operations"]["memory_included"]
    assert any("memory" in n for n in r["notes"])


# ---- schema checks -------------------------------------------------------------------------

@pytest.mark.parametrize("path, value, field", [
    (("sim", "golden_stats"), None, "sim.golden_stats"),
    (("hw", "lanes"), "2", "hw.lanes"),
    (("timing", "board_clock_mhz"), "25", "timing.board_clock_mhz"),
    (("timing", "measured"), "yes", "timing.measured"),
    (("sim", "cycles_analytic"), [], "sim.cycles_analytic"),
    (("resources", "used"), [1, 2], "resources.used"),
    (("family",), "ice40", "family"),
])
def test_bad_flow_fields_are_named(path, value, field):
    flow = _ecp5_flow()
    target = flow
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        rp.report_from_flow(flow)


def test_measured_timing_needs_an_fmax():
    flow = _ecp5_flow()
    flow["timing"]["fmax_mhz"] = None
    with pytest.raises(ValueError, match="timing.fmax_mhz"):
        rp.report_from_flow(flow)


def _set(d, path, value):
    keys = path.split(".")
    for key in keys[:-1]:
        d = d[int(key)] if isinstance(d, list) else d[key]
    if value is KeyError:
        del d[keys[-1]]
    elif isinstance(d, list):
        d[int(keys[-1])] = value
    else:
        d[keys[-1]] = value


@pytest.mark.parametrize("path, value, field", [
    ("timing.fmax_mhz", KeyError, "timing.fmax_mhz"),
    ("cycles.analytic.mean", "200", "cycles.analytic.mean"),
    ("latency.us_per_sequence_at_board_clock", True, "latency.us_per_sequence_at_board_clock"),
    ("schema", "spikegate.report/0", "schema"),
    ("configuration.hw.lanes", 2.0, "configuration.hw.lanes"),
    ("energy.operations.total_nj", 1e9, "energy.operations.breakdown_nj"),
    ("energy.activity.total_nj", -1.0, "energy.activity.total_nj"),
    ("resources.rows.0.used", "1", r"resources.rows\[0\].used"),
    ("sparsity.layers.0.h", 1.5, r"sparsity.layers\[0\].h"),
    ("timing.statement", KeyError, "timing.statement"),
])
def test_validate_report_names_the_first_bad_field(path, value, field):
    good = rp.report_from_flow(_ecp5_flow())
    rp.validate_report(good)
    bad = copy.deepcopy(good)
    _set(bad, path, value)
    with pytest.raises(ValueError, match=field.replace("report field ", "")):
        rp.validate_report(bad)


# ---- writing -------------------------------------------------------------------------------

PLOTS = ("resources.png", "cycles.png", "energy.png", "schedules.png")


def test_write_report_writes_every_file(tmp_path):
    r = rp.report_from_flow(_ecp5_flow())
    out = rp.write_report(r, tmp_path / "ulx3s" / "tiny")
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(("report.json", "report.md") + PLOTS)
    for plot in PLOTS:
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = json.loads((out / "report.json").read_text())
    assert back == json.loads(json.dumps(r))
    rp.validate_report(back)
    md = (out / "report.md").read_text()
    for heading in ("## Resources", "## Timing", "## Spike sparsity", "## Energy per inference",
                    "## Schedules", "### Constants"):
        assert heading in md
    assert "Fmax 50.0 MHz" in md
    assert [p.name for p in out.parent.iterdir()] == ["tiny"]  # no temporary folders left


def test_rewriting_a_report_keeps_the_comparison_files(tmp_path):
    out = tmp_path / "ulx3s" / "digits"
    out.mkdir(parents=True)
    (out / "compare.md").write_text("the comparison\n")
    (out / "report.md").write_text("an old report\n")
    (out / "stale.png").write_bytes(b"old")
    rp.write_report(rp.report_from_flow(_ecp5_flow()), out)
    assert (out / "compare.md").read_text() == "the comparison\n"
    assert (out / "report.md").read_text() != "an old report\n"
    assert not (out / "stale.png").exists()  # only compare.* is carried over


def test_no_partial_output_when_the_input_is_bad(tmp_path):
    r = rp.report_from_flow(_ecp5_flow())
    bad = copy.deepcopy(r)
    del bad["latency"]
    target = tmp_path / "new"
    with pytest.raises(ValueError, match="latency"):
        rp.write_report(bad, target)
    assert list(tmp_path.iterdir()) == []

    old = tmp_path / "old"
    old.mkdir()
    (old / "report.md").write_text("previous report")
    with pytest.raises(ValueError):
        rp.write_report(bad, old)
    assert [p.name for p in old.iterdir()] == ["report.md"]
    assert (old / "report.md").read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


def test_no_partial_output_when_writing_fails_midway(tmp_path, monkeypatch):
    r = rp.report_from_flow(_ecp5_flow())
    old = tmp_path / "old"
    old.mkdir()
    (old / "report.md").write_text("previous report")

    def broken(report, folder):
        (folder / "resources.png").write_bytes(b"half")
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(rp, "_plots", broken)
    with pytest.raises(RuntimeError, match="plotting failed"):
        rp.write_report(r, old)
    assert (old / "report.md").read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


# ---- command line --------------------------------------------------------------------------

def test_cli_without_builds_says_so_in_one_line(tmp_path, capsys):
    assert rp.main(["--build", str(tmp_path / "build"), "--out", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no builds found" in err and "\n" not in err
    assert not (tmp_path / "reports").exists()


def test_cli_regenerates_every_build(tmp_path, capsys):
    build = tmp_path / "build"
    for board, flow in (("ulx3s-85f", _ecp5_flow()), ("kc705", _xilinx_flow())):
        folder = build / board / "tiny"
        folder.mkdir(parents=True)
        (folder / "flow.json").write_text(json.dumps(flow))
    broken = build / "broken" / "tiny"
    broken.mkdir(parents=True)
    (broken / "flow.json").write_text("{}")
    code = rp.main(["--build", str(build), "--out", str(tmp_path / "reports")])
    captured = capsys.readouterr()
    assert code == 1  # one of three failed
    assert "[3/3]" in captured.out
    assert "broken" in captured.err and "'board' is missing" in captured.err
    for board in ("ulx3s-85f", "kc705"):
        assert (tmp_path / "reports" / board / "tiny" / "report.json").is_file()
    assert not (tmp_path / "reports" / "broken").exists()
    one = tmp_path / "one"
    assert rp.main(["--flow", str(build / "kc705" / "tiny" / "flow.json"), "--out", str(one)]) == 0
    assert json.loads((one / "report.json").read_text())["board"] == "kc705"


def test_activity_of_another_configuration_is_flagged():
    flow = _ecp5_flow()
    flow["activity"]["config"] = {"net": flow["net"], "lanes": 1, "par": 8}
    r = rp.report_from_flow(flow)
    assert any("different configuration" in n for n in r["notes"])
    flow["activity"]["config"] = {"net": flow["net"], "lanes": 2, "par": 8}
    assert not rp.report_from_flow(flow)["notes"]


def test_a_report_of_a_non_spiking_cell():
    # the baseline LSTM: multi-bit gates, no c spike, T = 1; its stats carry no
    # gate_spikes / c_spikes and the report must not ask for them
    flow = _ecp5_flow()
    flow["net"] = preset("tiny", cell="lstm", encoding="direct", steps=1, c_bits=10).to_dict()
    flow["hw"] = {"lanes": 1, "par": 8}
    flow["sim"]["golden_stats"]["layers"] = [{"acs": 0, "macs": 400, "products": 120, "comparisons": 0,
                                              "h_spikes": 30, "input_events": 20, "recurrent_events": 3}]
    flow["sim"]["golden_stats"].update(readout_acs=0, readout_macs=12, acs=0, macs=412)
    r = rp.validate_report(rp.report_from_flow(flow))
    layer = r["sparsity"]["layers"][0]
    assert layer["gates"] == {} and layer["c"] is None
    assert layer["h"] == pytest.approx(30 / (2 * 5 * 1 * 8))
    assert r["configuration"]["schedule"].startswith("sequential")
    md = rp._markdown(r)
    assert "cell `lstm`" in md
    assert "| layer | f | i | o | g | h | input events |" in md  # no c column
    assert "| 0 | multi-bit | multi-bit | multi-bit | multi-bit |" in md


def test_the_report_sets_the_cycles_against_the_design_bound():
    """#14: DESIGN section 7. Worked by hand for the made-up tiny flow: 412 weight reads
    for 2 sequences = 206 a sequence; the 85F gives 208 block RAMs x 36 bits / 8 = 936
    weights a cycle, so 0.22 cycles of bandwidth. The dependency chain of tiny (T=2,
    N=5, one layer) is 2 + 5 - 1 = 6 cells of the Datta step's 8 stages: 48 cycles,
    the larger. The simulated mean is 200 cycles: 4.17x."""
    rep = rp.report_from_flow(_ecp5_flow())
    b = rep["latency"]["bound"]
    assert b["weights_per_cycle"] == 936 and b["weight_reads"] == 206
    assert b["bandwidth"] == pytest.approx(206 / 936)
    assert (b["chain_cells"], b["dependency"], b["bound"]) == (6, 48, 48)
    assert b["limited_by"] == "dependency"
    assert b["cycles_over_bound"] == pytest.approx(200 / 48)
    assert "200 cycles are 4.2x the 48 cycles that the dependency allows" in rp._markdown(rep)

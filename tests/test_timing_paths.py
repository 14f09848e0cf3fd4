"""flows.timing_paths: failing endpoints from a nextpnr detailed timing report."""

import json

import pytest

from flows import timing_paths

pytestmark = pytest.mark.flows


def _net(name, driver, port, sinks):
    return {"net": name, "driver": driver, "port": port, "event": "posedge clk",
            "endpoints": [{"cell": c, "port": p, "delay": d, "event": "posedge clk"} for c, p, d in sinks]}


REPORT = {"detailed_net_timings": [
    # a LUT's output to two lanes' flip-flops, one late, one in time
    _net("ctl.x", "ctl.x_LUT4_Z", "F", [("l0.lane1.r_TRELLIS_FF_Q_3", "DI", [4.0, 11.5]),
                                        ("l0.lane2.r_TRELLIS_FF_Q_1", "DI", [4.0, 9.9])]),
    _net("ctl.y", "ctl.y_LUT4_Z", "F", [("l0.lane3.r_TRELLIS_FF_Q_0", "DI", [4.0, 10.4]),
                                        # a LUT input is not an endpoint, however late
                                        ("l0.lane3.s_LUT4_Z", "A", [4.0, 12.0])]),
    # a LUT RAM write enable and a block RAM address, late
    _net("we", "we_TRELLIS_FF_Q", "Q", [("acc0.part1.0.2$DPRAM_COMB3", "WRE", [9.0, 10.2])]),
    _net("a", "a_TRELLIS_FF_Q", "Q", [("w.bank0.0.1", "ADA5", 10.7)]),
]}


def test_failing_endpoints_are_the_late_path_ends():
    ends = timing_paths.failing_endpoints(REPORT, 10.0)
    assert [(e["cell"], e["port"], e["arrival_ns"]) for e in ends] == [
        ("l0.lane1.r_TRELLIS_FF_Q_3", "DI", 11.5), ("w.bank0.0.1", "ADA5", 10.7),
        ("l0.lane3.r_TRELLIS_FF_Q_0", "DI", 10.4), ("acc0.part1.0.2$DPRAM_COMB3", "WRE", 10.2)]
    assert ends[0]["net"] == "ctl.x" and ends[0]["driver"] == "ctl.x_LUT4_Z.F"
    # at a longer period nothing fails
    assert timing_paths.failing_endpoints(REPORT, 12.0) == []


def test_endpoints_group_by_name_without_numbers():
    groups = timing_paths.group_endpoints(timing_paths.failing_endpoints(REPORT, 10.0))
    assert [(g["endpoint"], g["count"], g["worst_ns"]) for g in groups] == [
        ("l#.lane#.r.DI", 2, 11.5), ("w.bank#.#.#.ADA5", 1, 10.7), ("acc#.part#.#.#.WRE", 1, 10.2)]
    text = timing_paths.markdown(groups, 10.0, 4)
    assert "4 endpoints arrive later than 10 ns, in 3 groups" in text
    assert "| 11.50 | 2 | `l#.lane#.r.DI` | `ctl.x` | `ctl.x_LUT4_Z.F` |" in text


def test_a_report_without_net_timings_is_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="--detailed-timing-report"):
        timing_paths.failing_endpoints({"fmax": {}}, 10.0)
    path = tmp_path / "pnr.json"
    path.write_text(json.dumps({"fmax": {}}))
    assert timing_paths.main([str(path)]) == 2
    assert "--detailed-timing-report" in capsys.readouterr().err
    path.write_text(json.dumps(REPORT))
    assert timing_paths.main([str(path), "--period", "11"]) == 0
    assert "1 endpoints arrive later than 11 ns" in capsys.readouterr().out

"""make sweep (#17 part 4): the grid, failed points, reruns that skip done points, the
Pareto fronts and the report, on a local process pool and on a Dask LocalCluster."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flows import sweep
from model.cli import SchedulerError, work_pool

pytestmark = pytest.mark.flows


# ---- a stand-in for run_point: module level, so worker processes can import it ----------------

def fake_point(point: sweep.SweepPoint, build_root: str) -> dict:
    """Figures made up from the point; L2 P8 fails like a design that does not fit. Each
    call leaves a file, so a test can count the calls made in other processes."""
    calls = Path(build_root) / "calls"
    calls.mkdir(parents=True, exist_ok=True)
    (calls / f"{point.key}.{os.getpid()}.{len(list(calls.iterdir()))}").touch()
    if (point.lanes, point.par) == (2, 8):
        raise RuntimeError("the design does not fit LFE5U-85F: TRELLIS_COMB over capacity")
    lut = 1000 * point.lanes + 10 * point.par
    fmax = 100.0 - point.pnr_seed
    cycles = 4000.0 / point.lanes / (point.par / 4)
    return {"lanes": point.lanes, "par": point.par, "pnr_seed": point.pnr_seed, "fmax_mhz": fmax,
            "ripup_stopped": 300 if (point.lanes, point.par) == (1, 8) else None,
            "cycles_mean": cycles, "cycles_basis": "analytic", "us_per_sequence": cycles / fmax,
            "sequences_per_s": fmax * 1e6 / cycles, "energy_nj": 50.0 + point.lanes,
            "energy_breakdown_nj": {}, "resources": {"LUT": lut, "FF": lut, "BRAM": 3, "DSP": 0},
            "utilization": {}, "wall_s": {"total": 0.1}, "tools": {}}


def _calls(folder: Path) -> list[str]:
    return sorted(p.name.split(".")[0] for p in (folder / "builds" / "calls").iterdir())


def _grid():
    return sweep.grid("ulx3s-85f", "tiny", (1, 2), (4, 8), (1,))


def _check_sweep_and_rerun(folder: Path, **pool):
    points = _grid()
    records = sweep.run_sweep(points, folder=folder, work=fake_point, **pool)
    assert [r["status"] for r in records] == ["ok", "ok", "ok", "failed"]
    assert "does not fit" in records[3]["reason"]
    assert _calls(folder) == ["L1-P4-s1", "L1-P8-s1", "L2-P4-s1", "L2-P8-s1"]
    saved = json.loads((folder / "points" / "L2-P4-s1.json").read_text())
    assert saved["status"] == "ok" and saved["fmax_mhz"] == 99.0
    # a rerun runs only the failed point; the done ones are kept as they were
    again = sweep.run_sweep(points, folder=folder, work=fake_point, **pool)
    assert [r["status"] for r in again] == ["skipped", "skipped", "skipped", "failed"]
    assert _calls(folder) == ["L1-P4-s1", "L1-P8-s1", "L2-P4-s1", "L2-P8-s1", "L2-P8-s1"]
    assert again[2]["fmax_mhz"] == 99.0
    # --rerun runs everything again
    sweep.run_sweep(points, folder=folder, work=fake_point, rerun=True, **pool)
    assert len(_calls(folder)) == 9
    return records


def test_failed_points_do_not_stop_the_sweep_and_reruns_skip_done_points(tmp_path):
    _check_sweep_and_rerun(tmp_path / "local", jobs=2)


def test_a_point_of_other_code_or_weights_is_run_again(tmp_path, monkeypatch):
    points = _grid()[:1]
    sweep.run_sweep(points, folder=tmp_path, work=fake_point, jobs=1)
    monkeypatch.setattr(sweep, "source_fingerprint", lambda: "other code")
    assert [r["status"] for r in sweep.run_sweep(points, folder=tmp_path, work=fake_point, jobs=1)] == ["ok"]
    assert _calls(tmp_path) == ["L1-P4-s1", "L1-P4-s1"]


def test_the_same_sweep_runs_on_a_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        _check_sweep_and_rerun(tmp_path / "dask", scheduler=cluster.scheduler_address)
        # the points ran in the workers' processes, not in this one
        pids = {p.name.split(".")[1] for p in (tmp_path / "dask" / "builds" / "calls").iterdir()}
        assert str(os.getpid()) not in pids


def test_an_unreachable_scheduler_is_one_clear_error():
    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        work_pool(1, "tcp://127.0.0.1:9", timeout_s=1)


# ---- Pareto fronts and the report -------------------------------------------------------------

def _row(time, lut, energy=1.0):
    return {"us_per_sequence": time, "energy_nj": energy, "resources": {"LUT": lut}}


def test_pareto_keeps_exactly_the_points_nothing_beats():
    rows = [_row(10, 100), _row(5, 200), _row(6, 300), _row(5, 200), _row(1, 1000), _row(None, 50),
            _row(12, 100)]
    # (6, 300) is beaten by (5, 200); (12, 100) by (10, 100); equal points both stay;
    # a row without a time takes no part
    assert sweep.pareto(rows, "us_per_sequence") == [0, 1, 3, 4]


def test_the_report_marks_the_fronts_and_lists_failures(tmp_path):
    points = _grid()
    records = sweep.run_sweep(points, folder=tmp_path / "b", work=fake_point, jobs=1)
    doc = sweep.sweep_document("ulx3s-85f", "tiny-random", points, records, wall_s=12.0,
                               scheduler=None, jobs=1)
    assert doc["schema"] == sweep.SCHEMA and len(doc["points"]) == 3
    front = {(r["lanes"], r["par"]) for r in doc["points"] if r["pareto_time"]}
    # times 40.4 (L1 P4, 1040 LUT), 20.2 (L1 P8, 1080), 20.2 (L2 P4, 2040): L2 P4 is beaten
    assert front == {(1, 4), (1, 8)}
    energy_front = {(r["lanes"], r["par"]) for r in doc["points"] if r["pareto_energy"]}
    assert energy_front == {(1, 4)}
    assert doc["failed"] == [{"lanes": 2, "par": 8, "pnr_seed": 1, "reason": records[3]["reason"]}]
    out = sweep.write_sweep(doc, tmp_path / "r" / "sweep")
    assert sorted(p.name for p in out.iterdir()) == sorted(sweep.SWEEP_FILES)
    md = (out / "sweep.md").read_text()
    assert "| 1 | 8 | 1 | 99.0 | 2,000 | n/a | 20.20 |" in md
    assert "L 2 P 8 seed 1: RuntimeError: the design does not fit" in md
    # how the placements were routed, and where the rip-up was given up
    assert doc["timing_ripup"] is True
    assert ("(router router2, timing-driven rip-up (given up and routed again without it: "
            "L1 P8 seed 1), timed against") in md
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "sweep.json").read_text())["points"][0]["lanes"] == 1
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_bad_grids_are_refused_before_any_work(capsys, tmp_path):
    common = ["--model", "tiny", "--build", str(tmp_path / "b"), "--reports", str(tmp_path / "r")]
    assert sweep.main(common + ["--lanes", "1,3"]) == 2
    assert "takes lanes 1 to 2 and P in 4, 8, 16, 32; got lanes [3]" in capsys.readouterr().err
    assert sweep.main(common + ["--par", "6"]) == 2
    assert "got P [6]" in capsys.readouterr().err
    assert sweep.main(common + ["--board", "kc705"]) == 2
    assert "a sweep needs nextpnr: choose an ECP5 board" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sweep.main(common + ["--seeds", "1,1"])
    assert not (tmp_path / "b").exists() and not (tmp_path / "r").exists()


# ---- one real point: yosys and nextpnr on a Dask worker ------------------------------------------

@pytest.mark.synth
def test_a_real_point_places_and_routes_on_a_dask_worker(tmp_path):
    distributed = pytest.importorskip("distributed")
    points = sweep.grid("ulx3s-85f", "tiny", (1,), (4,), (1,), sequences=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        [rec] = sweep.run_sweep(points, folder=tmp_path, scheduler=cluster.scheduler_address)
    assert rec["status"] == "ok", rec.get("reason")
    assert rec["fmax_mhz"] > 25 and rec["resources"]["LUT"] > 500 and rec["resources"]["BRAM"] >= 2
    from hw.config import HardwareConfig
    from hw.latency import cycles_for_batch
    from model.export import sample_inputs
    from flows.synth import load_model
    pkg = load_model("tiny")
    x, _ = sample_inputs(pkg, 2)
    figures, _ = cycles_for_batch(HardwareConfig(pkg.cfg, lanes=1, par=4), pkg.params, x)
    assert rec["cycles_mean"] == sum(f["total"] for f in figures) / 2
    assert rec["us_per_sequence"] == pytest.approx(rec["cycles_mean"] / rec["fmax_mhz"])
    assert "Max frequency" in (tmp_path / "builds" / "L1-P4-s1" / "nextpnr.log").read_text()

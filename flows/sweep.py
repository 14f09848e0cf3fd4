"""``make sweep``: a grid of lanes x P x nextpnr seeds, each point placed and routed.

    python -m flows.sweep --board ulx3s-85f --model digits --lanes 1,2,4 --par 8,16,32 --seeds 1,2,3
    python -m flows.sweep ... --jobs 2                           # two points at a time (default)
    python -m flows.sweep ... --scheduler tcp://farm:8786        # on a Dask cluster's workers

A *point* is one (L, P, nextpnr seed) of one model on one board. Its work
(:func:`run_point`) is the front of ``make synth``: the board top with placeholder ROM
words (:class:`flows.synth.GenerateTop`), yosys (:class:`flows.synth.SynthEcp5`, which
refuses a design that does not fit), nextpnr-ecp5 timed against ``--target-mhz``, then
the analytic cycles of ``--sequences`` test sequences (:func:`hw.latency.cycles_for_batch`)
and the operation-count energy (:func:`flows.energy.operation_energy`). No bitstream is
packed and nothing is simulated: a sweep compares configurations, and the point kept
goes through ``make synth`` for its bitstream, its simulated cycles and its activity
energy.

Points are independent and self-contained: each builds in its own folder and returns
its figures as data, so they run side by side on a local process pool (``--jobs``) or
on the workers of an existing Dask distributed cluster (``--scheduler ADDRESS``, the
same executor interface: :func:`model.cli.work_pool`), where place and route can spread
over a build farm. The client writes every finished point to
``build/sweep/<board>/<model>/points/<key>.json`` as it arrives:

* a failed point (a design that does not fit, a tool error, a configuration the
  generator refuses) is recorded with its reason and does not stop the others;
* a rerun skips every point already done with the same weights and the same code
  (``source_sha256``) and runs the failed and missing ones again; ``--rerun`` runs all.

The results go to ``<reports>/<board>/<model>/sweep/`` (``build/reports`` unless
``--reports``): ``sweep.md`` (every point, the Pareto points marked, every seed's Fmax
per design), ``sweep.json`` (schema ``spikegate.sweep/1``) and ``pareto.png`` (time per
sequence and energy per inference against LUTs, the Pareto fronts drawn), written into
a temporary folder and moved into place.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from model.cli import OutputError, SchedulerError, check_writable, int_list, positive_float, positive_int, \
    work_pool, write_text_atomic
from model.config import ConfigError
from model.export import jsonable, swap_into_place

from .boards import DEFAULT_BOARD, BoardError, board as get_board
from .synth import (DEFAULT_TARGET_MHZ, NEXTPNR_ROUTER, NEXTPNR_ROUTERS, NEXTPNR_TIMING_RIPUP, REPORTS_ROOT, ROOT,
                    FitError, source_fingerprint)
from .tools import ToolError

__all__ = ["SweepPoint", "run_point", "run_sweep", "pareto", "weights_identity", "SCHEMA", "SweepError",
           "main"]

SCHEMA = "spikegate.sweep/1"
SWEEP_FILES = ("sweep.md", "sweep.json", "pareto.png")


class SweepError(RuntimeError):
    """A sweep that cannot start (bad grid, no place and route for the board)."""


@dataclass(frozen=True)
class SweepPoint:
    """One point of the grid; everything :func:`run_point` needs, so that it runs in
    another process or on another machine."""
    board: str
    model: str
    lanes: int
    par: int
    pnr_seed: int
    router: str = NEXTPNR_ROUTER
    target_mhz: float = DEFAULT_TARGET_MHZ
    sequences: int = 8
    seed: int = 1   # placeholder ROM words, and the weights of a preset

    @property
    def key(self) -> str:
        return f"L{self.lanes}-P{self.par}-s{self.pnr_seed}"


def run_point(point: SweepPoint, build_root: str) -> dict:
    """Generate, synthesize, place and route one point; its figures as a JSON-able dict.

    Builds in ``<build_root>/<key>`` (on the machine that runs it). Raises on any
    failure; the caller records the reason."""
    from hw.config import HardwareConfig
    from hw.latency import cycle_bounds, cycles_for_batch
    from hw.network import check_fits
    from model.export import sample_inputs

    from . import synth
    from .energy import memory_reads, operation_energy
    from .report import summary_cells

    t_start = time.monotonic()
    brd = get_board(point.board)
    opt = synth.FlowOptions(point.board, point.model, lanes=point.lanes, par=point.par,
                            target_mhz=point.target_mhz, seed=point.seed, router=point.router,
                            pnr_seed=point.pnr_seed)
    ctx = synth.FlowContext(opt, brd, t_start)
    pkg = ctx.pkg = synth.load_model(point.model, seed=point.seed)
    hw = ctx.hw = HardwareConfig(pkg.cfg, lanes=point.lanes, par=point.par)
    check_fits(hw, pkg.params)
    synth.LoadPackage.check_block_rams(hw, brd)
    build = ctx.build = Path(build_root) / point.key
    shutil.rmtree(build, ignore_errors=True)  # a point always starts from nothing
    build.mkdir(parents=True)
    wall = {}
    for step in synth.flow_steps(brd):  # the generate and yosys steps of make synth
        if step.name in ("generate_top", "synth"):
            t0 = time.monotonic()
            step.run(ctx)
            wall[step.name] = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    ripup_stopped = synth.run_nextpnr(brd, build, point.pnr_seed, "", point.router,
                                      synth.NEXTPNR_TIMING_RIPUP, label=f"nextpnr-ecp5 {point.key}",
                                      bitstream=False)
    wall["nextpnr"] = round(time.monotonic() - t0, 1)
    pnr = json.loads((build / "pnr.json").read_text())
    fmax = synth.achieved_fmax(pnr)
    used, available = synth.placed_resources(ctx.yosys_cells, pnr)  # as make synth reads them
    cells = {k: int(v) for k, v in summary_cells(brd.family, used).items()}

    x, _ = sample_inputs(pkg, point.sequences)
    figures, ref = cycles_for_batch(hw, pkg.params, x)
    cycles = float(np.mean([f["total"] for f in figures]))
    ops = operation_energy(hw, ref.stats, memory_reads(hw, pkg.params, x))
    bound = cycle_bounds(hw, ref.stats, brd.weights_per_cycle(pkg.cfg.w_bits))
    wall["total"] = round(time.monotonic() - t_start, 1)
    return {
        "lanes": point.lanes, "par": point.par, "pnr_seed": point.pnr_seed,
        "fmax_mhz": fmax, "ripup_stopped": ripup_stopped, "cycles_mean": cycles, "cycles_basis": "analytic",
        "bound_cycles": bound["bound"], "bound_limited_by": bound["limited_by"],
        "cycles_over_bound": cycles / bound["bound"],
        "us_per_sequence": cycles / fmax if fmax else None,
        "sequences_per_s": fmax * 1e6 / cycles if fmax else None,
        "energy_nj": ops["total_nj"], "energy_breakdown_nj": ops["breakdown_nj"],
        "resources": cells,
        "utilization": {k: [used[k], n] for k, n in available.items()},
        "wall_s": wall, "tools": dict(ctx.flow.get("tools", {})),
    }


# ---- the grid and its runs -----------------------------------------------------------------

def grid(board: str, model: str, lanes, pars, seeds, **options) -> list[SweepPoint]:
    """Every (L, P, seed) of the lists, in order."""
    return [SweepPoint(board, model, l, p, s, **options) for l in lanes for p in pars for s in seeds]


def _identity(point: SweepPoint, weights: str, source: str) -> dict:
    """What a recorded point must match to be skipped on a rerun."""
    return {"point": asdict(point), "weights": weights, "source_sha256": source,
            "timing_ripup": NEXTPNR_TIMING_RIPUP}


def weights_identity(pkg, seed: int) -> str:
    """The weights a point is built with: the package's digest, or the preset and seed."""
    if pkg.path is not None:
        return str(pkg.manifest.get("weights_sha256"))
    return f"random weights of {pkg.cfg.name}, seed {seed}"


def run_sweep(points: list[SweepPoint], *, folder: Path, jobs: int = 2, scheduler: str | None = None,
              rerun: bool = False, work=run_point, weights: str | None = None) -> list[dict]:
    """Run the points not done yet (see the module docstring); returns one record per
    point, in grid order: ``status`` is ``ok``, ``failed`` (with ``reason``) or
    ``skipped`` (done by an earlier run: its figures are kept). ``weights``: the
    :func:`weights_identity` of the points' model (loaded here when not given)."""
    if not points:
        raise SweepError("the grid is empty")
    folder = Path(folder)
    (folder / "points").mkdir(parents=True, exist_ok=True)
    source = source_fingerprint()
    if weights is None:
        from .synth import load_model
        weights = weights_identity(load_model(points[0].model, seed=points[0].seed), points[0].seed)
    records, todo = {}, []
    for p in points:
        path = folder / "points" / f"{p.key}.json"
        ident = _identity(p, weights, source)
        old = _read_record(path)
        if not rerun and old and old.get("status") == "ok" and old.get("identity") == ident:
            records[p.key] = dict(old, status="skipped")
        else:
            todo.append(p)
    if records:
        print(f"  {len(records)} of {len(points)} points done by an earlier run (same weights and "
              "code): skipped; --rerun runs them again", flush=True)
    where = f"the Dask cluster at {scheduler}" if scheduler else f"{jobs} local worker process(es)"
    print(f"  {len(todo)} point(s) to run on {where}", flush=True)
    t0 = time.monotonic()
    with work_pool(jobs, scheduler) as pool:
        futures = {pool.submit(work, p, str(folder / "builds")): p for p in todo}
        try:
            for n, fut in enumerate(as_completed(futures), 1):
                p = futures[fut]
                try:
                    figures = fut.result()
                    rec = {"status": "ok", **figures}
                    line = _point_line(rec)
                except Exception as err:  # a failed point is reported; the sweep goes on
                    rec = {"status": "failed", "lanes": p.lanes, "par": p.par, "pnr_seed": p.pnr_seed,
                           "reason": f"{type(err).__name__}: {err}"}
                    line = f"FAILED: {rec['reason']}"
                rec["identity"] = _identity(p, weights, source)
                write_text_atomic(folder / "points" / f"{p.key}.json",
                                  json.dumps(rec, indent=1, default=jsonable) + "\n")
                records[p.key] = rec
                print(f"  [{n}/{len(todo)}] {p.key}: {line} ({time.monotonic() - t0:.0f} s)", flush=True)
        except BaseException:
            for fut in futures:  # Ctrl-C: the finished points stay recorded, the rest go
                fut.cancel()
            raise
    return [records[p.key] for p in points]


def _read_record(path: Path) -> dict | None:
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def _point_line(r: dict) -> str:
    res = r["resources"]
    fmax = f"{r['fmax_mhz']:.1f} MHz" if r.get("fmax_mhz") else "no Fmax"
    time_us = f"{r['us_per_sequence']:.2f} us/seq" if r.get("us_per_sequence") else "no time"
    return (f"{fmax}, {r['cycles_mean']:,.0f} cycles, {time_us}, {r['energy_nj']:.1f} nJ, "
            f"LUT {res.get('LUT', 0):,} FF {res.get('FF', 0):,} BRAM {res.get('BRAM', 0)} DSP {res.get('DSP', 0)}")


# ---- Pareto fronts and the report ------------------------------------------------------------

def pareto(rows: list[dict], cost: str, area: str = "LUT") -> list[int]:
    """Indices of the rows no other row beats: none has both less (or equal) ``cost`` and
    fewer (or equal) ``area`` with one of them strictly less. Rows without the figure
    (a failed point, no Fmax) take no part."""
    pts = [(i, r[cost], r["resources"][area]) for i, r in enumerate(rows)
           if r.get(cost) is not None and r.get("resources")]
    front = []
    for i, c, a in pts:
        if not any((c2 <= c and a2 <= a) and (c2 < c or a2 < a) for j, c2, a2 in pts if j != i):
            front.append(i)
    return front


def sweep_document(board: str, model: str, points: list[SweepPoint], records: list[dict], *,
                   wall_s: float, scheduler: str | None, jobs: int) -> dict:
    brd = get_board(board)
    ok = [r for r in records if r["status"] in ("ok", "skipped")]
    time_front = pareto(ok, "us_per_sequence")
    energy_front = pareto(ok, "energy_nj")
    rows = []
    for i, r in enumerate(ok):
        rows.append({k: v for k, v in r.items() if k not in ("identity",)}
                    | {"pareto_time": i in time_front, "pareto_energy": i in energy_front})
    designs = {}
    for r in ok:
        designs.setdefault((r["lanes"], r["par"]), {})[r["pnr_seed"]] = r.get("fmax_mhz")
    return {
        "schema": SCHEMA, "board": board, "device": brd.device, "model": model,
        "grid": {"lanes": sorted({p.lanes for p in points}), "par": sorted({p.par for p in points}),
                 "pnr_seeds": sorted({p.pnr_seed for p in points})},
        "router": points[0].router, "timing_ripup": NEXTPNR_TIMING_RIPUP,
        "target_mhz": points[0].target_mhz,
        "sequences": points[0].sequences,
        "points": rows,
        "failed": [{k: r[k] for k in ("lanes", "par", "pnr_seed", "reason")}
                   for r in records if r["status"] == "failed"],
        "seeds_per_design": [{"lanes": l, "par": p, "fmax_mhz": {str(s): f for s, f in sorted(seeds.items())}}
                             for (l, p), seeds in sorted(designs.items())],
        "run": {"wall_s": round(wall_s, 1), "executor": f"dask {scheduler}" if scheduler else f"{jobs} local processes",
                "points_run": sum(r["status"] != "skipped" for r in records),
                "points_skipped": sum(r["status"] == "skipped" for r in records)},
        "source_sha256": source_fingerprint(),
    }


def _fmt(v, spec=",.1f"):
    return "n/a" if v is None else format(v, spec)


def _bound_note(doc: dict) -> str:
    bounded = [r for r in doc["points"] if r.get("bound_cycles")]
    if not bounded:
        return ""
    r = bounded[0]
    return f": {r['bound_cycles']:,.0f} cycles here, set by the {r['bound_limited_by']}"


def _ripup_note(doc: dict) -> str:
    """How the sweep's placements were routed: with or without the timing-driven rip-up,
    and the points where it was given up (``flows.synth.run_nextpnr``)."""
    if not doc.get("timing_ripup"):
        return ""
    stopped = [f"L{r['lanes']} P{r['par']} seed {r['pnr_seed']}" for r in doc["points"]
               if r.get("ripup_stopped")]
    return ", timing-driven rip-up" + (f" (given up and routed again without it: {', '.join(stopped)})"
                                       if stopped else "")


def _markdown(doc: dict) -> str:
    g = doc["grid"]
    lines = [f"# spikegate sweep: `{doc['model']}` on {doc['board']} ({doc['device']})", "",
             f"Grid: L {g['lanes']}, P {g['par']}, nextpnr seeds {g['pnr_seeds']} (router "
             f"{doc['router']}{_ripup_note(doc)}, timed against {doc['target_mhz']:g} MHz). "
             "Cycles: the analytic model "
             f"(hw.latency), mean of {doc['sequences']} test sequences; \"x bound\": those cycles over the "
             f"larger of DESIGN section 7's weight-bandwidth and dependency bounds "
             f"(hw.latency.cycle_bounds){_bound_note(doc)}. Energy: operation counts x "
             "Horowitz (45 nm) energies per inference (flows.energy, method (a)); nothing is simulated. "
             "One placement is one noisy sample: every seed is a row.", "",
             "| L | P | seed | Fmax MHz | cycles | x bound | us/seq | seq/s | energy nJ | LUT | FF | BRAM | DSP | Pareto | wall s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in sorted(doc["points"], key=lambda r: (r["lanes"], r["par"], r["pnr_seed"])):
        res = r["resources"]
        mark = ", ".join(n for n, k in (("time", "pareto_time"), ("energy", "pareto_energy")) if r[k])
        lines.append(f"| {r['lanes']} | {r['par']} | {r['pnr_seed']} | {_fmt(r['fmax_mhz'])} | "
                     f"{_fmt(r['cycles_mean'], ',.0f')} | {_fmt(r.get('cycles_over_bound'), ',.1f')} | "
                     f"{_fmt(r['us_per_sequence'], ',.2f')} | "
                     f"{_fmt(r['sequences_per_s'], ',.0f')} | {_fmt(r['energy_nj'])} | "
                     f"{res.get('LUT', 0):,} | {res.get('FF', 0):,} | {res.get('BRAM', 0)} | {res.get('DSP', 0)} | "
                     f"{mark} | {_fmt(r['wall_s'].get('total'), '.0f')} |")
    lines += ["", "## Fmax per design and seed", "", "| L | P | " + " | ".join(
        f"seed {s}" for s in g["pnr_seeds"]) + " |", "|---:|---:|" + "---:|" * len(g["pnr_seeds"])]
    for d in doc["seeds_per_design"]:
        lines.append(f"| {d['lanes']} | {d['par']} | " + " | ".join(
            _fmt(d["fmax_mhz"].get(str(s))) for s in g["pnr_seeds"]) + " |")
    if doc["failed"]:
        lines += ["", "## Failed points", ""]
        lines += [f"* L {f['lanes']} P {f['par']} seed {f['pnr_seed']}: {f['reason']}" for f in doc["failed"]]
    run = doc["run"]
    lines += ["", f"Run: {run['points_run']} point(s) run, {run['points_skipped']} reused from an "
              f"earlier run, on {run['executor']}, {run['wall_s']:.0f} s wall. Source fingerprint "
              f"{doc['source_sha256'][:16]}.", "", "![Pareto fronts](pareto.png)", ""]
    return "\n".join(lines)


def _plot(doc: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, cost, flag, label in ((axes[0], "us_per_sequence", "pareto_time", "time per sequence (us) at Fmax"),
                                  (axes[1], "energy_nj", "pareto_energy", "energy per inference (nJ, operations)")):
        rows = [r for r in doc["points"] if r.get(cost) is not None]
        lanes = sorted({r["lanes"] for r in rows})
        colours = plt.cm.viridis(np.linspace(0, 0.85, max(len(lanes), 1)))
        for lane, colour in zip(lanes, colours):
            sel = [r for r in rows if r["lanes"] == lane]
            ax.scatter([r["resources"]["LUT"] for r in sel], [r[cost] for r in sel], color=colour,
                       label=f"L = {lane}", s=28, alpha=0.8)
        front = sorted((r for r in rows if r[flag]), key=lambda r: r["resources"]["LUT"])
        if front:
            ax.step([r["resources"]["LUT"] for r in front], [r[cost] for r in front], where="post",
                    color="crimson", lw=1.2, label="Pareto front")
            labels = {}  # one label per design on the front, naming its seeds there
            for r in front:
                labels.setdefault((r["lanes"], r["par"]), []).append(r)
            for (lane, par), rs in labels.items():
                seeds = ",".join(str(r["pnr_seed"]) for r in rs)
                ax.annotate(f"L{lane} P{par} s{seeds}", (rs[0]["resources"]["LUT"], min(r[cost] for r in rs)),
                            fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("LUTs (LUT4 + 2 per carry or LUT-RAM cell, as make synth counts)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{doc['model']} on {doc['board']}: sweep of lanes x P x nextpnr seed")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_sweep(doc: dict, out_dir: Path) -> Path:
    """The three files into ``out_dir`` (the ``sweep`` folder), all at once: written into
    a sibling temporary folder, then swapped into place."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        (tmp / "sweep.json").write_text(json.dumps(doc, indent=1, default=jsonable) + "\n")
        (tmp / "sweep.md").write_text(_markdown(doc))
        _plot(doc, tmp / "pareto.png")
        tmp.chmod(0o755)
        swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


# ---- command line ------------------------------------------------------------------------------

def check_grid(brd, net, lanes, pars) -> None:
    """Refuse, before any work, a board without place and route and lanes or P values
    the network can never take (each names the values it takes)."""
    from hw.config import valid_pars
    if brd.family != "ecp5":
        raise SweepError(f"board {brd.name!r} ({brd.family}) has no open place and route here; "
                         "a sweep needs nextpnr: choose an ECP5 board")
    bad_l = [l for l in lanes if not 1 <= l <= net.steps]
    bad_p = [p for p in pars if p not in valid_pars(net)]
    if bad_l or bad_p:
        raise SweepError(f"{net.name} takes lanes 1 to {net.steps} and P in "
                         f"{', '.join(map(str, valid_pars(net)))}; got "
                         + "; ".join(filter(None, [bad_l and f"lanes {bad_l}", bad_p and f"P {bad_p}"])))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m flows.sweep", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default=DEFAULT_BOARD)
    ap.add_argument("--model", default="digits", help="weights package or preset")
    ap.add_argument("--lanes", type=int_list, default=None, metavar="1,2,4", help="lanes L (default: 1 and T)")
    ap.add_argument("--par", type=int_list, default=(16,), metavar="8,16,32", help="P values (default 16)")
    ap.add_argument("--seeds", type=int_list, default=(1,), metavar="1,2,3", help="nextpnr seeds (default 1)")
    ap.add_argument("--jobs", type=positive_int, default=2, help="local worker processes (default 2)")
    ap.add_argument("--scheduler", metavar="ADDRESS",
                    help="run the points on an existing Dask distributed cluster (tcp://host:8786)")
    ap.add_argument("--router", choices=NEXTPNR_ROUTERS, default=NEXTPNR_ROUTER)
    ap.add_argument("--target-mhz", type=positive_float, default=DEFAULT_TARGET_MHZ)
    ap.add_argument("--sequences", type=positive_int, default=8, help="test sequences for the analytic cycles")
    ap.add_argument("--rerun", action="store_true", help="run every point again, also those done")
    ap.add_argument("--build", type=Path, help="build root (default build/sweep)")
    ap.add_argument("--reports", type=Path, help="reports root (default build/reports)")
    args = ap.parse_args(argv)
    try:
        brd = get_board(args.board)
        from .synth import load_model
        pkg = load_model(args.model)
        name = pkg.manifest.get("name") or Path(pkg.path).name
        lanes = args.lanes or tuple(sorted({1, pkg.cfg.steps}))
        check_grid(brd, pkg.cfg, lanes, args.par)
        folder = (args.build or ROOT / "build" / "sweep") / brd.name / name
        out = (args.reports or REPORTS_ROOT) / brd.name / name / "sweep"
        check_writable(folder, f"--build {args.build or ROOT / 'build' / 'sweep'}")
        check_writable(out, f"--reports {args.reports or REPORTS_ROOT}")
        points = grid(brd.name, args.model, lanes, args.par, args.seeds, router=args.router,
                      target_mhz=args.target_mhz, sequences=args.sequences)
        print(f"sweep: {name} on {brd.name}, {len(points)} points (L {list(lanes)} x P {list(args.par)} "
              f"x seeds {list(args.seeds)}); point builds in {folder / 'builds'}", flush=True)
        t0 = time.monotonic()
        records = run_sweep(points, folder=folder, jobs=args.jobs, scheduler=args.scheduler,
                            rerun=args.rerun, weights=weights_identity(pkg, 1))
        doc = sweep_document(brd.name, name, points, records, wall_s=time.monotonic() - t0,
                             scheduler=args.scheduler, jobs=args.jobs)
        write_sweep(doc, out)
    except (BoardError, ConfigError, FitError, OutputError, ToolError, SweepError, SchedulerError) as err:
        print(f"spikegate: {err}", file=sys.stderr)
        return 2
    failed = len(doc["failed"])
    print(f"sweep: {len(doc['points'])} point(s) done, {failed} failed, {time.monotonic() - t0:.0f} s; "
          f"report {out / 'sweep.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)

"""``make synth``: a weights package on a board, from Amaranth to a bitstream and a report.

    python -m flows.synth --board ulx3s-85f --model digits
    python -m flows.synth --board kc705 --model models/digits --lanes 1 --par 32

Steps (each prints its progress):

1. load the board and the weights package; choose lanes and P;
2. generate the board top (:class:`flows.top.BoardTop`: the network behind the UART),
   with placeholder contents in the weight ROMs (see :mod:`flows.bram`);
3. ECP5: yosys ``synth_ecp5``; a design that cannot fit stops here with the figures;
   nextpnr-ecp5 timed against ``--target-mhz`` (the board still runs from its own
   oscillator; a design slower than that is reported as failing timing);
   ``ecpbram`` writes the real weights into the block RAMs; ``ecppack`` packs
   ``top.bit``. Kintex-7: yosys ``synth_xilinx`` figures and the Vivado project
   Amaranth writes (no open place and route, so no Fmax);
4. measure: cycles of real inputs in simulation (Amaranth simulator) against the
   analytic model, activity, golden statistics; the other schedule (L = 1 or L = T)
   through yosys for the comparison;
5. write ``build/synth/<board>/<model>/flow.json`` and the report under
   ``reports/<board>/<model>/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from model.config import ConfigError
from hw.fanout import FANOUT_PREFIX
from model.export import jsonable

from .boards import BOARDS, DEFAULT_BOARD, BoardError, board as get_board
from .tools import ToolError, find_tool, run_tool, tool_version

__all__ = ["main", "run_flow", "default_hardware", "FitError"]

ROOT = Path(__file__).resolve().parent.parent
#: synth_ecp5 options: no wide-LUT muxes, ABC instead of ABC9 (with yosys 0.64 the ABC9
#: result of a large design fails to re-import: kernel/rtlil.cc:3102 assertion)
ECP5_SYNTH_OPTS = "-nowidelut -noabc9"
#: the register copies of hw.fanout stay apart (yosys merges identical flip-flops of one
#: module); nextpnr flattens the hierarchy when it reads the netlist
KEEP_FANOUT = f"setattr -mod -set keep_hierarchy 1 *.{FANOUT_PREFIX}*"
DEFAULT_TARGET_MHZ = 100.0
#: nextpnr's router2 finishes the digits design far sooner than router1; on the tmnist
#: design it did not converge here (overuse rising after 130 passes) while router1 finished
#: in a few minutes, hence ``--router``
NEXTPNR_ROUTER = "router2"
NEXTPNR_ROUTERS = ("router1", "router2")


class FitError(RuntimeError):
    """The design needs more of a resource than the device has."""


def default_hardware(net, lanes=None, par=None):
    """Lanes = T (the wavefront) and P = 16 unless given (P: the largest multiple of 4
    that divides 4H of every layer and is at most 16)."""
    from hw.config import HardwareConfig
    if par is None:
        par = max(p for p in range(4, 17, 4) if all((4 * h) % p == 0 for h in net.hidden))
    return HardwareConfig(net, lanes=net.steps if lanes is None else lanes, par=par)


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        json.dump(data, tmp, indent=1, default=jsonable)
    os.replace(tmp.name, path)


def _step(n, total, text):
    print(f"[{n}/{total}] {text}", flush=True)


# ---- yosys figures -----------------------------------------------------------------------

def ecp5_cells(stat_json: Path) -> dict:
    """Cells of the whole design by type, from yosys ``stat -json``. The kept
    ``fanout_*`` modules count through their contents, not as cells of their own."""
    stat = json.loads(stat_json.read_text())
    design = stat.get("design") or next(iter(stat["modules"].values()))
    modules = {name.lstrip("\\") for name in stat.get("modules", {})}
    return {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()
            if k.lstrip("\\") not in modules}


def ecp5_fit(cells: dict, capacity: dict) -> dict:
    """Device use estimated from yosys cells (a LUT4 or half a CCU2C or DPR16X4 per LUT)."""
    lut = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0) + 2 * cells.get("TRELLIS_DPR16X4", 0)
    return {"LUT": (lut, capacity["LUT"]), "FF": (cells.get("TRELLIS_FF", 0), capacity["FF"]),
            "BRAM": (cells.get("DP16KD", 0), capacity["BRAM"]),
            "DSP": (cells.get("MULT18X18D", 0), capacity["DSP"])}


def check_fit(usage: dict, device: str) -> None:
    over = {k: v for k, v in usage.items() if v[0] > v[1]}
    if over:
        table = ", ".join(f"{k} {u}/{c} ({100 * u / c:.0f}%)" for k, (u, c) in usage.items())
        raise FitError(f"the design does not fit {device}: {', '.join(over)} over capacity. "
                       f"Utilisation: {table}. Use fewer lanes or a smaller P (--lanes/--par, "
                       "LANES=/PAR= in make), or a larger device.")


# ---- the flow ------------------------------------------------------------------------------

def run_flow(board_name: str, model: str, *, lanes=None, par=None, target_mhz=DEFAULT_TARGET_MHZ,
             sequences: int = 8, build_root: Path | None = None, reports_root: Path | None = None,
             compare: bool = True, seed: int = 1, simulate: bool = True,
             router: str = NEXTPNR_ROUTER, pnr_seed: int = 1) -> dict:
    from hw.network import SpikingLSTMNetwork, check_fits
    from model.export import load_package, resolve_package
    from . import bram
    from .top import BoardTop

    t_start = time.monotonic()
    wall = {}
    total = 6
    _step(1, total, f"board {board_name}, model {model}")
    brd = get_board(board_name)
    pkg = load_model(model, seed=seed)
    net, params = pkg.cfg, pkg.params
    hw = default_hardware(net, lanes, par)
    check_fits(hw, params)
    model_name = pkg.manifest.get("name") or Path(pkg.path).name
    build = (build_root or ROOT / "build" / "synth") / brd.name / model_name
    build.mkdir(parents=True, exist_ok=True)
    print(f"  {brd.device} ({brd.family}), clock {brd.clock_hz / 1e6:.0f} MHz; network {net.name}: "
          f"M={net.inputs} H={list(net.hidden)} T={net.steps} N={net.length}, "
          f"L={hw.lanes} P={hw.par}; build folder {build}")

    _step(2, total, "generate the board top" + (" (placeholder weights in the ROMs)"
                                                 if brd.family == "ecp5" else ""))
    t0 = time.monotonic()
    # ECP5: placeholder ROM words, replaced in the bitstream later; Kintex-7: the real
    # weights go straight into the Vivado project
    placeholder = bram.placeholder_params(hw, params, seed=seed) if brd.family == "ecp5" else params
    top = BoardTop(SpikingLSTMNetwork(hw, placeholder), clk_hz=brd.clock_hz)
    flow = {
        "board": brd.name, "family": brd.family, "device": brd.device, "package": brd.package,
        "speed": brd.speed, "model": model_name,
        "model_source": str(pkg.path) if pkg.path else f"preset {net.name}, random weights (seed {seed})",
        "net": net.to_dict(), "hw": {"lanes": hw.lanes, "par": hw.par},
        "tools": {"amaranth": _version("amaranth"), "yosys": tool_version("yosys")},
    }
    if brd.family == "ecp5":
        plat = brd.platform(constrain_mhz=target_mhz)
        plan = plat.build(top, name="top", do_build=False, synth_opts=ECP5_SYNTH_OPTS,
                          script_after_read=KEEP_FANOUT,
                          script_after_synth="tee -q -o stat.json stat -json")
    else:
        plat = brd.platform()
        plan = plat.build(top, name="top", do_build=False,
                          script_after_synth="tee -q -o stat.json stat -json")
    plan.extract(str(build))
    wall["elaborate"] = time.monotonic() - t0
    design = "top.il" if brd.family == "ecp5" else "top.v"
    print(f"  wrote {build / design} and the {'nextpnr' if brd.family == 'ecp5' else 'Vivado'} "
          f"project files ({wall['elaborate']:.1f} s)")

    if brd.family == "ecp5":
        flow.update(_ecp5(brd, build, hw, params, placeholder, target_mhz, wall, seed, router, pnr_seed))
        flow["tools"].update(flow.pop("tools_extra"))
    else:
        flow.update(_xilinx(brd, build, wall, BoardTop(SpikingLSTMNetwork(hw, params),
                                                       clk_hz=brd.clock_hz)))

    _step(5, total, f"measure {sequences} sequences in simulation; the other schedule")
    flow["sim"], flow["activity"] = _measure(hw, pkg, sequences, build, wall, simulate)
    flow["schedules"] = _schedules(brd, hw, pkg, flow, build, compare, wall)
    wall["total"] = time.monotonic() - t_start
    flow["wall_s"] = {k: round(v, 2) for k, v in wall.items()}
    _write_json(build / "flow.json", flow)

    _step(6, total, "report")
    out = _report(flow, (reports_root or ROOT / "reports") / brd.name / model_name)
    print(f"  flow.json: {build / 'flow.json'}" + (f"\n  report: {out}" if out else ""))
    if brd.family == "ecp5":
        print(f"  bitstream: {build / 'top.bit'}")
    return flow


def load_model(model: str, seed: int = 1):
    """A weights package (bundled name or folder), or a preset name with random weights
    (``tiny``, ``tmnist``, ...: for trying a size before a model is trained)."""
    from model.config import PRESETS, preset
    from model.export import Package, load_package, resolve_package
    from model.params import random_params
    try:
        return load_package(resolve_package(model))
    except ConfigError:
        if model not in PRESETS:
            raise
    net = preset(model)
    print(f"  no weights package {model!r}: preset {model} with random weights (seed {seed})")
    return Package(path=None, cfg=net, params=random_params(net, seed),
                   manifest={"name": f"{model}-random"})


def _version(dist):
    from importlib.metadata import version
    return version(dist)


def _ecp5(brd, build, hw, params, placeholder, target_mhz, wall, seed, router, pnr_seed) -> dict:
    from . import bram
    total = 6
    _step(3, total, "yosys synth_ecp5")
    wall["synth"] = run_tool("yosys", ["-q", "-l", "top.rpt", "top.ys"], cwd=build,
                             log=build / "yosys.log", label="yosys")
    cells = ecp5_cells(build / "stat.json")
    check_fit(ecp5_fit(cells, brd.capacity), brd.device)

    _step(4, total, f"nextpnr-ecp5 (timed against {target_mhz:g} MHz), ecpbram, ecppack")
    plat = brd.platform()
    dev_opt = plat._nextpnr_device_options[plat.device]
    pkg_opt = plat._nextpnr_package_options[plat.package].upper()
    echo = lambda line: any(s in line for s in ("Max frequency", "Device utilisation", "ERROR",
                                                "Program finished", "TRELLIS_COMB:", "DP16KD:"))
    wall["pnr"] = run_tool("nextpnr-ecp5", [dev_opt, "--package", pkg_opt, "--speed", str(plat.speed),
                                            "--json", "top.json", "--lpf", "top.lpf",
                                            "--textcfg", "placeholder.config", "--report", "pnr.json",
                                            "--timing-allow-fail", "--seed", str(pnr_seed),
                                            "--router", router],
                           cwd=build, log=build / "nextpnr.log", label="nextpnr-ecp5", echo=echo)
    pnr = json.loads((build / "pnr.json").read_text())
    t0 = time.monotonic()
    counts = bram.patch_config(build / "placeholder.config", build / "top.config",
                               bram.patchable_roms(hw, placeholder), bram.patchable_roms(hw, params))
    wall["bram"] = time.monotonic() - t0
    print(f"  ecpbram: real weights written ({', '.join(f'{k}: {v} bit slices' for k, v in counts.items())})")
    wall["pack"] = run_tool("ecppack", ["--compress", "--input", "top.config", "--bit", "top.bit"],
                            cwd=build, log=build / "ecppack.log", label="ecppack")
    # keep what `make weights` needs to patch this build again
    _write_json(build / "roms.json", {"placeholder_seed": seed, "lanes": hw.lanes, "par": hw.par})

    util = pnr.get("utilization", {})
    fmax = [v for v in pnr.get("fmax", {}).values()]
    achieved = min((v["achieved"] for v in fmax), default=None)
    board_mhz = brd.clock_hz / 1e6
    timing = {"fmax_mhz": achieved, "target_mhz": target_mhz, "board_clock_mhz": board_mhz,
              "measured": achieved is not None, "pnr": {"router": router, "seed": pnr_seed}}
    if achieved is None:
        timing["note"] = "nextpnr reported no clock"
    elif achieved < board_mhz:
        timing["note"] = (f"TIMING FAILS: Fmax {achieved:.1f} MHz is below the board clock "
                          f"{board_mhz:g} MHz; the bitstream will not run reliably")
    elif achieved < target_mhz:
        timing["note"] = (f"below the {target_mhz:g} MHz target; meets the {board_mhz:g} MHz board clock")
    else:
        timing["note"] = f"meets the {target_mhz:g} MHz target"
    print(f"  Fmax {achieved:.1f} MHz: {timing['note']}" if achieved else f"  {timing['note']}")
    used = {k: v for k, v in cells.items() if not k.startswith("$")}  # not $scopeinfo
    available = {}
    for key, v in util.items():
        if v.get("used"):
            used[key] = int(v["used"])
            available[key] = int(v["available"])
    return {"resources": {"used": used, "available": available, "source": "nextpnr",
                          "yosys_cells": cells},
            "timing": timing,
            "tools_extra": {"nextpnr-ecp5": tool_version("nextpnr-ecp5")},
            "bitstream": str(build / "top.bit")}


def _xilinx(brd, build, wall, top) -> dict:
    """yosys figures of the board top's logic (without the platform's clock and I/O
    primitives, which yosys's Xilinx cell library does not fully describe)."""
    from .yosys import synth_stat
    total = 6
    _step(3, total, "yosys synth_xilinx (resource figures only)")
    t0 = time.monotonic()
    print("  yosys ...", flush=True)
    stat = synth_stat(top, "xilinx", build / "yosys_xilinx")
    wall["synth"] = time.monotonic() - t0
    print(f"  yosys: done in {wall['synth']:.1f} s")
    cells = {k: v for k, v in stat["cells"].items() if not k.startswith("$")}
    cap = brd.capacity
    luts = sum(v for k, v in cells.items() if k.startswith("LUT"))
    ffs = sum(v for k, v in cells.items() if k.startswith("FD"))
    bram = cells.get("RAMB36E1", 0) + 0.5 * cells.get("RAMB18E1", 0)
    dsp = cells.get("DSP48E1", 0)
    check_fit({"LUT": (luts, cap["LUT"]), "FF": (ffs, cap["FF"]), "BRAM": (bram, cap["BRAM"]),
               "DSP": (dsp, cap["DSP"])}, brd.device)
    _step(4, total, "Vivado project written (no open place and route for Kintex-7)")
    print(f"  run it where Vivado is installed: cd {build} && sh build_top.sh")
    used = dict(cells) | {"LUT": luts, "FF": ffs, "BRAM36": bram, "DSP48E1": dsp}
    return {"resources": {"used": used, "available": {"LUT": cap["LUT"], "FF": cap["FF"],
                                                      "BRAM36": cap["BRAM"], "DSP48E1": cap["DSP"]},
                          "source": "yosys"},
            "timing": {"fmax_mhz": None, "target_mhz": None, "board_clock_mhz": brd.clock_hz / 1e6,
                       "measured": False,
                       "note": "Fmax not measured: no open-source place and route for Kintex-7; "
                               "run the Vivado project for timing"},
            "vivado_project": str(build)}


def _measure(hw, pkg, sequences, build, wall, simulate=True):
    """Simulate real inputs once (Amaranth simulator, counting toggles and memory
    accesses as it goes); the cycle counts and logits must equal the models'. Without
    ``simulate`` only the analytic cycles (no activity estimate)."""
    from hw.latency import cycles_for_batch
    from .activity import measure_activity
    from .energy import memory_reads
    from .host import sample_inputs
    t0 = time.monotonic()
    x, _ = sample_inputs(pkg, sequences)
    figures, ref = cycles_for_batch(hw, pkg.params, x)
    analytic = [int(f["total"]) for f in figures]
    if not simulate:
        print(f"  no simulation (--no-simulate): analytic cycles {analytic[:4]}...")
        return ({"sequences": len(x), "cycles_simulated": None, "cycles_analytic": analytic,
                 "golden_stats": ref.stats, "memory_reads": memory_reads(hw, pkg.params, x)}, None)
    print(f"  Amaranth simulation of {len(x)} sequences ({sum(analytic):,} cycles), "
          "counting toggles ...", flush=True)
    activity = measure_activity(hw, pkg.params, x)
    simulated = [int(c) for c in activity["cycles_reported"]]
    same = sum(list(got) == [int(v) for v in ref.logits[b]] for b, got in enumerate(activity["logits"]))
    wall["simulate"] = time.monotonic() - t0
    print(f"  cycles: simulated {simulated[:4]}..., analytic {analytic[:4]}...; "
          f"logits equal to the golden model in {same}/{len(x)} ({wall['simulate']:.0f} s)")
    if simulated != analytic or same != len(x):
        raise RuntimeError("the simulated hardware disagrees with the golden/analytic model; "
                           "run the co-simulation (make cosim) to find out where")
    return ({"sequences": len(x), "cycles_simulated": simulated, "cycles_analytic": analytic,
             "golden_stats": ref.stats, "memory_reads": memory_reads(hw, pkg.params, x)}, activity)


def _schedules(brd, hw, pkg, flow, build, compare, wall):
    """This build's schedule, and the other one (L = 1 if this is L = T, else L = T)."""
    from hw.config import HardwareConfig
    from hw.latency import cycles_for_batch
    from hw.network import SpikingLSTMNetwork
    from .yosys import synth_stat
    from .host import sample_inputs as test_samples
    params = pkg.params
    x, _ = test_samples(pkg, flow["sim"]["sequences"])
    other_lanes = 1 if hw.lanes != 1 else hw.net.steps
    rows = [{"lanes": hw.lanes, "par": hw.par,
             "cycles_mean": float(np.mean(flow["sim"]["cycles_simulated"] or flow["sim"]["cycles_analytic"])),
             "resources": {"used": flow["resources"]["used"], "source": flow["resources"]["source"] +
                           " (board top, with the UART)"}}]
    if not compare or other_lanes == hw.lanes:
        return rows
    other = HardwareConfig(hw.net, lanes=other_lanes, par=hw.par)
    t0 = time.monotonic()
    print(f"  yosys on the network alone with L={other_lanes} for the schedule comparison ...", flush=True)
    stat = synth_stat(SpikingLSTMNetwork(other, params), brd.family, build / f"lanes{other_lanes}")
    wall["schedule_synth"] = time.monotonic() - t0
    rows.append({"lanes": other_lanes, "par": hw.par,
                 "cycles_mean": float(np.mean([f["total"] for f in cycles_for_batch(other, params, x)[0]])),
                 "resources": {"used": stat["cells"], "source": "yosys (network only)"}})
    print(f"  L={other_lanes}: {rows[-1]['cycles_mean']:.0f} cycles/sequence ({wall['schedule_synth']:.0f} s)")
    return rows


def _report(flow, out_dir):
    try:
        from . import report
    except ImportError:
        print("  (flows.report not available: no report written)")
        return None
    rep = report.report_from_flow(flow)
    report.write_report(rep, out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make synth", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default=DEFAULT_BOARD, help=f"one of: {', '.join(BOARDS)}")
    ap.add_argument("--model", default="digits", help="weights package (bundled name or folder)")
    ap.add_argument("--lanes", type=int, help="lanes L (default T: the wavefront)")
    ap.add_argument("--par", type=int, help="weights added per lane per cycle, P (default 16)")
    ap.add_argument("--target-mhz", type=float, default=DEFAULT_TARGET_MHZ,
                    help="clock target for place and route (ECP5)")
    ap.add_argument("--sequences", type=int, default=8, help="sequences simulated for the cycle figures")
    ap.add_argument("--no-compare", action="store_true", help="skip the other schedule's synthesis")
    ap.add_argument("--no-simulate", action="store_true",
                    help="analytic cycles only, no simulation and no activity estimate (large models)")
    ap.add_argument("--router", choices=NEXTPNR_ROUTERS, default=NEXTPNR_ROUTER,
                    help=f"nextpnr router (default {NEXTPNR_ROUTER}; router1 for designs router2 "
                         "does not converge on)")
    ap.add_argument("--pnr-seed", type=int, default=1,
                    help="nextpnr placement seed (default 1); Fmax moves by several MHz between seeds")
    ap.add_argument("--build", type=Path, help="build root (default build/synth)")
    ap.add_argument("--reports", type=Path, help="reports root (default reports)")
    args = ap.parse_args(argv)
    try:
        run_flow(args.board, args.model, lanes=args.lanes, par=args.par, target_mhz=args.target_mhz,
                 sequences=args.sequences, build_root=args.build, reports_root=args.reports,
                 compare=not args.no_compare, simulate=not args.no_simulate, router=args.router,
                 pnr_seed=args.pnr_seed)
    except (BoardError, ConfigError, FitError, ToolError) as err:
        print(f"spikegate: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - one clear line for the user, the rest in logs
        from .bram import BramError
        if isinstance(err, BramError):
            print(f"spikegate: {err}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())

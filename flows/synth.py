"""``make synth``: a weights package on a board, from Amaranth to a bitstream and a report.

    python -m flows.synth --board ulx3s-85f --model digits
    python -m flows.synth --board kc705 --model models/digits --lanes 1 --par 32

A flow is an ordered list of named :class:`Step` objects, one list per device family
(:data:`FLOWS`, chosen once from the board's family); :func:`run_flow` runs the list,
printing ``[i/n] title`` before each step. Every step writes what it found into the
flow record (``flow.json``: resources, timing, tool versions, cycles, ...) and its own
entry in ``flow["steps"]`` (name, wall time, tools, outputs, figures); the report
(:mod:`flows.report`) reads that record.

ECP5 (:data:`ECP5_STEPS`):

1. ``load``: the board and the weights package; lanes and P;
2. ``generate_top``: the board top (:class:`hw.board.top.BoardTop`: the network behind
   the UART) with placeholder contents in the weight ROMs (see :mod:`flows.bram`);
3. ``synth``: yosys ``synth_ecp5``; a design that cannot fit stops here with the figures;
4. ``place_and_route``: nextpnr-ecp5 timed against ``--target-mhz`` (the board still
   runs from its own oscillator; a design slower than that is reported as failing
   timing); ``ecpbram`` writes the real weights into the block RAMs; ``ecppack`` packs
   ``top.bit``;
5. ``measure``: cycles of real inputs in simulation (Verilator, counting toggles from its SAIF
   trace; ``--simulator amaranth`` for the Python simulator) against the
   analytic model, activity, golden statistics; the other schedule (L = 1 or L = T)
   through yosys for the comparison;
6. ``report``: ``build/synth/<board>/<model>/flow.json`` and the report under
   ``reports/<board>/<model>/``.

Kintex-7 (:data:`XILINX_STEPS`): the same, with the real weights in the generated top,
yosys ``synth_xilinx`` figures at step 3 and, at step 4, the Vivado project Amaranth
writes (no open place and route, so no Fmax).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.cli import OutputError, check_writable, int_list, positive_float, positive_int, write_text_atomic
from model.config import ConfigError
from hw.config import default_par, valid_pars
from hw.fanout import FANOUT_PREFIX
from model.export import jsonable

from .boards import BOARDS, DEFAULT_BOARD, Board, BoardError, board as get_board
from .tools import ToolError, ToolStopped, find_tool, run_tool, tool_version

__all__ = ["main", "run_flow", "default_hardware", "default_par", "FitError", "Step", "FlowContext",
           "FlowOptions", "FLOWS", "ECP5_STEPS", "XILINX_STEPS", "flow_steps", "load_model",
           "source_fingerprint", "design_fingerprint", "SOURCE_PACKAGES", "placed_resources", "achieved_fmax"]

ROOT = Path(__file__).resolve().parent.parent
#: synth_ecp5 options: no wide-LUT muxes, ABC instead of ABC9 (with yosys 0.64 the ABC9
#: result of a large design fails to re-import: kernel/rtlil.cc:3102 assertion)
ECP5_SYNTH_OPTS = "-nowidelut -noabc9"
#: the register copies of hw.fanout stay apart (yosys merges identical flip-flops of one
#: module); nextpnr flattens the hierarchy when it reads the netlist
KEEP_FANOUT = f"setattr -mod -set keep_hierarchy 1 *.{FANOUT_PREFIX}*"
DEFAULT_TARGET_MHZ = 100.0
#: bits of one ECP5 block RAM (DP16KD, 18 kbit)
ECP5_BLOCK_RAM_BITS = 18 * 1024
#: where a run's reports go unless ``--reports`` says otherwise: under build/, so that a
#: run never overwrites the reports committed under reports/ without being asked to
REPORTS_ROOT = ROOT / "build" / "reports"
#: nextpnr's router2 finishes the digits design far sooner than router1; on the tmnist
#: design it did not converge here (overuse rising after 130 passes) while router1 finished
#: in a few minutes, hence ``--router``
NEXTPNR_ROUTER = "router2"
NEXTPNR_ROUTERS = ("router1", "router2")
#: nextpnr's timing-driven rip-up (``--tmg-ripup``): the router re-routes the nets of
#: failing paths. On the default digits build (commit 6affa90, seed 1) it raised the
#: routed Fmax from 90.2 to 99.0 MHz with the same route time (docs/synthesis.md)
NEXTPNR_TIMING_RIPUP = True
#: router2 iterations after which the flow gives up the rip-up and routes again without
#: it. Measured placements settled in 23-76 iterations; one (b916e01, seed 2) kept
#: iterating with no congestion left up to nextpnr's own limit of 1,500 (docs/synthesis.md)
NEXTPNR_RIPUP_ITERATIONS = 300
#: ... and once the congestion is nearly gone (overused wires below
#: NEXTPNR_RIPUP_CONGESTION of the first iteration's), it gives up earlier when the
#: failing timing endpoints have not reached a new low for this many iterations (and
#: are still above zero): digits-idsnn and digits-srnn (9470fd0, seed 1) sat at about
#: 3,500 and 17-30 failing endpoints for all 300 iterations (1,340 s and 1,259 s, two
#: runs side by side); this rule stops them near iteration 55, and stops none of the
#: ten placements on this machine's logs that settled
NEXTPNR_RIPUP_PATIENCE = 40
NEXTPNR_RIPUP_CONGESTION = 0.01


class FitError(RuntimeError):
    """The design needs more of a resource than the device has."""


def default_hardware(net, lanes=None, par=None):
    """Lanes = T (the wavefront) and P = :func:`hw.config.default_par` unless given."""
    from hw.config import HardwareConfig
    if par is None:
        par = default_par(net)
    return HardwareConfig(net, lanes=net.steps if lanes is None else lanes, par=par)


def _write_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=1, default=jsonable))


# ---- yosys figures -----------------------------------------------------------------------

def ecp5_cells(stat_json: Path) -> dict:
    """Cells of the whole design by type, from yosys ``stat -json``. The kept
    ``fanout_*`` modules count through their contents, not as cells of their own."""
    stat = json.loads(stat_json.read_text())
    design = stat.get("design") or next(iter(stat["modules"].values()))
    modules = {name.lstrip("\\") for name in stat.get("modules", {})}
    return {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()
            if k.lstrip("\\") not in modules}


def device_fit(family: str, cells: dict, capacity: dict) -> dict:
    """Device use ``{resource: (used, available)}`` from yosys cells, by the family's
    reading of them (:func:`flows.report.summary_cells`, the one rule the reports use)."""
    from .report import summary_cells
    used = summary_cells(family, cells)
    return {k: (int(v) if float(v).is_integer() else v, capacity[k]) for k, v in used.items()}


def ecp5_fit(cells: dict, capacity: dict) -> dict:
    """ECP5 device use (see :func:`device_fit`)."""
    return device_fit("ecp5", cells, capacity)


def xilinx_fit(cells: dict, capacity: dict) -> dict:
    """7-series device use (see :func:`device_fit`)."""
    return device_fit("xilinx", cells, capacity)


def check_fit(usage: dict, device: str) -> None:
    over = {k: v for k, v in usage.items() if v[0] > v[1]}
    if over:
        table = ", ".join(f"{k} {u}/{c} ({100 * u / c:.0f}%)" for k, (u, c) in usage.items())
        raise FitError(f"the design does not fit {device}: {', '.join(over)} over capacity. "
                       f"Utilisation: {table}. Use fewer lanes or a smaller P (--lanes/--par, "
                       "LANES=/PAR= in make), or a larger device.")


# ---- steps ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FlowOptions:
    """What ``make synth`` was asked for (the command line of :func:`main`)."""
    board: str
    model: str
    lanes: int | None = None
    par: int | None = None
    target_mhz: float = DEFAULT_TARGET_MHZ
    sequences: int = 8
    build_root: Path | None = None
    reports_root: Path | None = None
    compare: bool = True
    seed: int = 1
    simulate: bool = True
    #: what simulates the measured sequences: "verilator" (SAIF toggle counts, fast) or
    #: "amaranth" (the Python simulator, the cross-check)
    simulator: str = "verilator"
    router: str = NEXTPNR_ROUTER
    pnr_seed: int = 1
    changes: dict | None = None    # NetworkConfig fields for a preset with random weights
    #: several nextpnr seeds, placed side by side (one process each); the best Fmax is kept
    pnr_seeds: tuple[int, ...] = ()
    #: nextpnr's timing-driven rip-up (--no-tmg-ripup turns it off)
    timing_ripup: bool = NEXTPNR_TIMING_RIPUP


@dataclass
class FlowContext:
    """What the steps share: the options, the board, what earlier steps made (``pkg``,
    ``hw``, ``build``, ...), the flow record (``flow``, written as ``flow.json``), the
    wall times of the phases (``wall``, written as ``flow["wall_s"]``), the entries of
    the steps done (``steps``, written as ``flow["steps"]``) and the entry of the step
    that is running (``record``)."""
    options: FlowOptions
    board: Board
    t_start: float
    flow: dict = field(default_factory=dict)
    wall: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)
    record: dict = field(default_factory=dict)
    pkg: Any = None
    hw: Any = None
    build: Path | None = None
    placeholder: Any = None    # the parameters whose ROM words the generated top holds
    yosys_cells: dict | None = None
    #: step name -> the future of the work it started early (:attr:`Step.early_after`)
    background: dict = field(default_factory=dict)

    def tool(self, name: str, version: str | None = None) -> None:
        """Record the version of a tool this step ran (in ``flow["tools"]`` and the step's entry)."""
        version = tool_version(name) if version is None else version
        self.flow.setdefault("tools", {})[name] = version
        self.record.setdefault("tools", {})[name] = version

    def output(self, kind: str, path) -> None:
        """Record a file or folder this step wrote."""
        self.record.setdefault("outputs", {})[kind] = str(path)

    def figure(self, key: str, value) -> None:
        """Record a figure this step measured."""
        self.record.setdefault("figures", {})[key] = value


class Step:
    """One named step of a flow. :meth:`run` does the work and writes what it found
    into ``ctx.flow`` and ``ctx.record``; :meth:`title` is the progress line.

    A step whose work does not need the steps just before it names in ``early_after``
    the step after which that work may begin: :func:`run_flow` then calls
    :meth:`work` in a background thread as soon as that step is done (its tools run as
    subprocesses, beside nextpnr on another core), and :meth:`run` gets the result."""

    name = "step"
    early_after: str | None = None

    def title(self, ctx: FlowContext) -> str:
        return self.name

    def work(self, ctx: FlowContext):
        """The part of the step that may run early (``early_after``)."""
        return None

    def run(self, ctx: FlowContext) -> None:
        raise NotImplementedError


class LoadPackage(Step):
    """The weights package (or a preset with random weights), lanes, P and the build folder."""

    name = "load"

    def title(self, ctx):
        return f"board {ctx.options.board}, model {ctx.options.model}"

    def run(self, ctx):
        from hw.network import check_fits
        opt, brd = ctx.options, ctx.board
        pkg = ctx.pkg = load_model(opt.model, seed=opt.seed, changes=opt.changes)
        net, params = pkg.cfg, pkg.params
        try:
            hw = ctx.hw = default_hardware(net, opt.lanes, opt.par)
        except ConfigError as err:  # HardwareConfig names the rule; the choices it leaves:
            raise ConfigError(f"{err} ({net.name} takes --lanes 1 to {net.steps} and --par "
                              f"{', '.join(map(str, valid_pars(net)))})") from None
        check_fits(hw, params)
        self.check_block_rams(hw, brd)
        model_name = pkg.manifest.get("name") or Path(pkg.path).name
        build = ctx.build = (opt.build_root or ROOT / "build" / "synth") / brd.name / model_name
        reports = (opt.reports_root or REPORTS_ROOT) / brd.name / model_name
        check_writable(build, f"--build {opt.build_root or ROOT / 'build' / 'synth'}")
        check_writable(reports, f"--reports {opt.reports_root or REPORTS_ROOT}")
        build.mkdir(parents=True, exist_ok=True)
        # flow.json marks a finished build (it is written last, atomically): an earlier
        # one goes now, so that a rebuild cut short (Ctrl-C, a kill, a failed step)
        # leaves no record that make report or make compare would pair with its files
        (build / "flow.json").unlink(missing_ok=True)
        print(f"  {brd.device} ({brd.family}), clock {brd.clock_hz / 1e6:.0f} MHz; network {net.name}: "
              f"M={net.inputs} H={list(net.hidden)} T={net.steps} N={net.length}, "
              f"L={hw.lanes} P={hw.par}; build folder {build}")
        random = pkg.path is None
        changed = "".join(f", {k}={v}" for k, v in (opt.changes or {}).items())
        ctx.flow.update({
            "board": brd.name, "family": brd.family, "device": brd.device, "package": brd.package,
            "speed": brd.speed, "model": model_name,
            "model_source": (f"preset {net.name}{changed}, random weights (seed {opt.seed})" if random
                             else str(pkg.path)),
            "net": net.to_dict(), "hw": {"lanes": hw.lanes, "par": hw.par},
            # what make compare checks before it reuses this build
            "weights_sha256": None if random else pkg.manifest.get("weights_sha256"),
            "random_seed": opt.seed if random else None,
            "source_sha256": source_fingerprint(),
        })
        ctx.output("build", build)

    @staticmethod
    def check_block_rams(hw, brd: Board) -> None:
        """On ECP5 the weight ROMs must sit in block RAM (``ecpbram`` writes the real
        weights there, :mod:`flows.bram`), so their bits alone, 18 kbit per DP16KD, give
        a floor of block RAMs that yosys can only exceed: a device with fewer is refused
        here instead of after synthesis. The other memories may go to logic, so they are
        not counted; the full fit is still checked on yosys's cells (:func:`check_fit`)."""
        from hw.memory_map import memory_layout
        if brd.family != "ecp5":
            return
        roms = {k: m for k, m in memory_layout(hw).items() if k == "w_out" or k.endswith(".weights")}
        need = sum(-(-m["capacity_bits"] * m["instances"] // ECP5_BLOCK_RAM_BITS) for m in roms.values())
        have = brd.capacity["BRAM"]
        if need > have:
            raise FitError(
                f"the design does not fit {brd.device}: its weight ROMs ({', '.join(roms)}: "
                f"{sum(m['capacity_bits'] * m['instances'] for m in roms.values()):,} bits) need at "
                f"least {need} block RAMs of 18 kbit, the device has {have}. Lanes and P do not "
                f"change the weights: use a larger device or a smaller network.")


@dataclass(frozen=True)
class GenerateTop(Step):
    """The board top elaborated into the platform's project files.

    ``placeholders``: random ROM words that a later step replaces in the bitstream
    (ECP5), else the package's own weights (they go straight into the Vivado project).
    ``constrain_clock``: time the design against ``--target-mhz`` instead of the board clock.
    """

    design: str                     # the netlist file the platform writes
    project: str                    # whose project files come with it
    placeholders: bool = False
    constrain_clock: bool = False
    build_options: tuple = ()       # extra platform.build keyword arguments

    name = "generate_top"

    def title(self, ctx):
        return "generate the board top" + (" (placeholder weights in the ROMs)" if self.placeholders else "")

    def plan(self, ctx):
        """The platform's build plan of the board top (the netlist, constraints and
        scripts, in memory); sets ``ctx.placeholder``."""
        from hw.board.top import BoardTop
        from hw.network import SpikingLSTMNetwork
        from . import bram
        opt, brd, hw, params = ctx.options, ctx.board, ctx.hw, ctx.pkg.params
        ctx.placeholder = (bram.placeholder_params(hw, seed=opt.seed) if self.placeholders
                           else params)
        top = BoardTop(SpikingLSTMNetwork(hw, ctx.placeholder), clk_hz=brd.clock_hz)
        plat = brd.platform(constrain_mhz=opt.target_mhz) if self.constrain_clock else brd.platform()
        return plat.build(top, name="top", do_build=False, **dict(self.build_options),
                          script_after_synth="tee -q -o stat.json stat -json")

    def run(self, ctx):
        t0 = time.monotonic()
        ctx.tool("amaranth", _version("amaranth"))
        plan = self.plan(ctx)
        # what make compare checks before it reuses this build: the generated files
        ctx.flow["design_sha256"] = plan_digest(plan)
        plan.extract(str(ctx.build))
        ctx.wall["elaborate"] = time.monotonic() - t0
        print(f"  wrote {ctx.build / self.design} and the {self.project} "
              f"project files ({ctx.wall['elaborate']:.1f} s)")
        ctx.output("design", ctx.build / self.design)


class SynthEcp5(Step):
    """yosys on the script the platform wrote; stops with the figures when the cells do not fit."""

    name = "synth"

    def title(self, ctx):
        return "yosys synth_ecp5"

    def run(self, ctx):
        build = ctx.build
        ctx.tool("yosys")
        # the whole yosys log in yosys.log (it used to go to top.rpt, beside an empty yosys.log)
        ctx.wall["synth"] = run_tool("yosys", ["top.ys"], cwd=build,
                                     log=build / "yosys.log", label="yosys")
        cells = ctx.yosys_cells = ecp5_cells(build / "stat.json")
        usage = ecp5_fit(cells, ctx.board.capacity)
        ctx.figure("fit", {k: list(v) for k, v in usage.items()})
        ctx.output("log", build / "yosys.log")
        check_fit(usage, ctx.board.device)


def nextpnr_args(brd: Board, seed: int, timing_ripup: bool = NEXTPNR_TIMING_RIPUP) -> list[str]:
    """nextpnr-ecp5's arguments for a build folder's ``top.json`` and ``top.lpf`` on the
    board's device, placement seed ``seed``, failing timing allowed (the flow reports it),
    timing-driven rip-up in the router (:data:`NEXTPNR_TIMING_RIPUP`)."""
    plat = brd.platform()
    return [plat._nextpnr_device_options[plat.device], "--package",
            plat._nextpnr_package_options[plat.package].upper(), "--speed", str(plat.speed),
            "--json", "top.json", "--lpf", "top.lpf", "--timing-allow-fail", "--seed", str(seed)] + \
        (["--tmg-ripup"] if timing_ripup else [])


class RipupWatch:
    """``run_tool``'s ``watch`` for nextpnr with ``--tmg-ripup``: stops it once router2
    has run ``limit`` iterations (its ``iter=<n>`` lines), or, with ``patience``, once the
    congestion is nearly gone (overused wires at most ``congestion`` of the first
    iteration's) and the failing timing endpoints (``tmgfail``) have not reached a new
    low for ``patience`` iterations while still above zero, so that the flow can route
    again without the rip-up instead of waiting for nextpnr's limit."""

    def __init__(self, limit: int, patience: int | None = None, congestion: float = 0.01):
        self.limit, self.patience, self.congestion = limit, patience, congestion
        self.iterations, self.first_overused, self.best, self.stale = 0, None, None, 0

    def __call__(self, line: str) -> str | None:
        match = re.search(r"\biter=\s*(\d+)", line)
        if not match:
            return None
        self.iterations = int(match.group(1))
        if self.iterations >= self.limit:
            return f"the timing-driven rip-up did not settle in {self.limit} router iterations"
        overused = re.search(r"\boverused=(\d+)", line)
        failing = re.search(r"\btmgfail=(\d+)", line)
        if self.patience is None or not (overused and failing):
            return None
        overused, failing = int(overused.group(1)), int(failing.group(1))
        if self.first_overused is None:
            self.first_overused = overused
        if overused > self.congestion * self.first_overused:
            return None  # still resolving congestion
        if self.best is None or failing < self.best:
            self.best, self.stale = failing, 0
        else:
            self.stale += 1
        if self.best > 0 and self.stale >= self.patience:
            return (f"the timing-driven rip-up stopped improving: no fewer than {self.best} failing "
                    f"timing endpoints in {self.patience} router iterations (at iteration "
                    f"{self.iterations})")
        return None


def run_nextpnr(brd: Board, build: Path, seed: int, suffix: str, router: str,
                timing_ripup: bool, echo=None, label: str | None = None,
                bitstream: bool = True) -> int | None:
    """One placement of ``build/top.json``: ``placeholder<suffix>.config`` (unless not
    ``bitstream``; then no detailed timing report either), ``pnr<suffix>.json``,
    ``nextpnr<suffix>.log``. With ``timing_ripup``, a router that
    has not settled after :data:`NEXTPNR_RIPUP_ITERATIONS` iterations is stopped and the
    design placed and routed again without the rip-up (the stopped run's log is kept
    as ``nextpnr<suffix>.ripup.log``); returns the iterations it was stopped at, else
    None."""
    label = label or (f"nextpnr-ecp5 (seed {seed})" if suffix else "nextpnr-ecp5")
    (build / f"nextpnr{suffix}.ripup.log").unlink(missing_ok=True)  # an earlier build's
    outputs = (["--textcfg", f"placeholder{suffix}.config", "--detailed-timing-report"]
               if bitstream else [])

    def run(ripup: bool, watch=None):
        run_tool("nextpnr-ecp5", nextpnr_args(brd, seed, ripup) + outputs + [
            "--report", f"pnr{suffix}.json", "--router", router],
            cwd=build, log=build / f"nextpnr{suffix}.log", label=label, echo=echo, watch=watch)

    if not timing_ripup:
        run(False)
        return None
    watch = RipupWatch(NEXTPNR_RIPUP_ITERATIONS, NEXTPNR_RIPUP_PATIENCE, NEXTPNR_RIPUP_CONGESTION)
    try:
        run(True, watch)
        return None
    except ToolStopped as stop:
        print(f"  {label}: {stop}; placing and routing again without it "
              f"(the stopped run's log: nextpnr{suffix}.ripup.log)", flush=True)
        os.replace(build / f"nextpnr{suffix}.log", build / f"nextpnr{suffix}.ripup.log")
    run(False)
    return watch.iterations


def achieved_fmax(pnr: dict) -> float | None:
    """The slowest clock's achieved Fmax in a nextpnr report (None without a clock)."""
    return min((v["achieved"] for v in pnr.get("fmax", {}).values()), default=None)


def placed_resources(yosys_cells: dict, pnr: dict) -> tuple[dict, dict]:
    """``(used, available)`` of a placed design: yosys's cells (without its internal
    ``$`` cells), nextpnr's placed counts over them, and the device's capacity per
    nextpnr cell type."""
    used = {k: v for k, v in yosys_cells.items() if not k.startswith("$")}
    available = {}
    for key, v in pnr.get("utilization", {}).items():
        if v.get("used"):
            used[key] = int(v["used"])
            available[key] = int(v["available"])
    return used, available


class PlaceAndRouteEcp5(Step):
    """nextpnr-ecp5, the real weights into the block RAMs (ecpbram), ecppack."""

    name = "place_and_route"

    def title(self, ctx):
        return f"nextpnr-ecp5 (timed against {ctx.options.target_mhz:g} MHz), ecpbram, ecppack"

    def run(self, ctx):
        from . import bram
        opt, brd, build, hw = ctx.options, ctx.board, ctx.build, ctx.hw
        echo = lambda line: any(s in line for s in ("Max frequency", "Device utilisation", "ERROR",  # noqa: E731
                                                    "Program finished", "TRELLIS_COMB:", "DP16KD:"))
        seeds = tuple(opt.pnr_seeds) or (opt.pnr_seed,)

        ripup_stopped = {}  # seed -> router iterations when the rip-up was given up

        def place(seed: int, suffix: str) -> None:
            stopped = run_nextpnr(brd, build, seed, suffix, opt.router, opt.timing_ripup, echo)
            if stopped is not None:
                ripup_stopped[seed] = stopped

        t0 = time.monotonic()
        sweep = None
        if len(seeds) == 1:
            place(seeds[0], "")
            kept = seeds[0]
        else:
            # one placement is one noisy sample: several seeds side by side, the best kept
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(max_workers=len(seeds)) as pool:
                list(pool.map(lambda s: place(s, f".seed{s}"), seeds))
            sweep = {str(s): achieved_fmax(json.loads((build / f"pnr.seed{s}.json").read_text())) for s in seeds}
            kept = max(seeds, key=lambda s: sweep[str(s)] or 0.0)
            for name in ("placeholder{}.config", "pnr{}.json", "nextpnr{}.log"):
                os.replace(build / name.format(f".seed{kept}"), build / name.format(""))
            for s in seeds:  # the others' logs stay for reading; their configurations go
                (build / f"placeholder.seed{s}.config").unlink(missing_ok=True)
            print("  seeds: " + ", ".join(f"{s}: {sweep[str(s)]:.1f} MHz" if sweep[str(s)] else f"{s}: no Fmax"
                                          for s in seeds) + f"; kept seed {kept}")
        ctx.wall["pnr"] = time.monotonic() - t0
        pnr = json.loads((build / "pnr.json").read_text())
        self._failing_paths(ctx, pnr)
        t0 = time.monotonic()
        counts = bram.patch_config(build / "placeholder.config", build / "top.config",
                                   bram.patchable_roms(hw, ctx.placeholder),
                                   bram.patchable_roms(hw, ctx.pkg.params))
        ctx.wall["bram"] = time.monotonic() - t0
        print(f"  ecpbram: real weights written ({', '.join(f'{k}: {v} bit slices' for k, v in counts.items())})")
        # packed beside, then renamed: an interrupted ecppack leaves no top.bit
        ctx.wall["pack"] = run_tool("ecppack", ["--compress", "--input", "top.config", "--bit", "top.bit.tmp"],
                                    cwd=build, log=build / "ecppack.log", label="ecppack")
        os.replace(build / "top.bit.tmp", build / "top.bit")
        # keep what `make weights` needs to patch this build again
        _write_json(build / "roms.json", {"placeholder_seed": opt.seed, "lanes": hw.lanes, "par": hw.par})

        timing = self._timing(pnr, brd.clock_hz / 1e6, opt, kept, sweep)
        if ripup_stopped:  # seed -> iterations, for every seed where rip-up was given up
            timing["pnr"]["ripup_stopped"] = {str(k): v for k, v in sorted(ripup_stopped.items())}
        cells = ctx.yosys_cells
        used, available = placed_resources(cells, pnr)
        ctx.flow["resources"] = {"used": used, "available": available, "source": "nextpnr",
                                 "yosys_cells": cells}
        ctx.flow["timing"] = timing
        ctx.tool("nextpnr-ecp5")
        ctx.flow["bitstream"] = str(build / "top.bit")
        ctx.figure("fmax_mhz", timing["fmax_mhz"])
        ctx.figure("bram_slices", dict(counts))
        for kind, name in (("bitstream", "top.bit"), ("config", "top.config"),
                           ("placeholder_config", "placeholder.config"), ("roms", "roms.json"),
                           ("pnr_report", "pnr.json"), ("log", "nextpnr.log")):
            ctx.output(kind, build / name)

    @staticmethod
    def _failing_paths(ctx, pnr: dict) -> None:
        """``timing_paths.md``: the endpoints that miss the target, grouped
        (:mod:`flows.timing_paths`); the worst three groups are printed."""
        from . import timing_paths
        period = 1000.0 / ctx.options.target_mhz
        ends = timing_paths.failing_endpoints(pnr, period)
        groups = timing_paths.group_endpoints(ends)
        write_text_atomic(ctx.build / "timing_paths.md", timing_paths.markdown(groups, period, len(ends)))
        ctx.output("timing_paths", ctx.build / "timing_paths.md")
        print(f"  {len(ends)} endpoints miss {period:g} ns, in {len(groups)} groups (timing_paths.md)"
              + "".join(f"\n    {g['worst_ns']:.2f} ns x{g['count']}: {g['endpoint']}" for g in groups[:3]))

    @staticmethod
    def _timing(pnr: dict, board_mhz: float, opt: FlowOptions, seed: int, sweep: dict | None = None) -> dict:
        target_mhz = opt.target_mhz
        achieved = achieved_fmax(pnr)
        timing = {"fmax_mhz": achieved, "target_mhz": target_mhz, "board_clock_mhz": board_mhz,
                  "measured": achieved is not None, "pnr": {"router": opt.router, "seed": seed,
                                                      "timing_ripup": opt.timing_ripup}}
        if sweep:
            timing["pnr"]["sweep_mhz"] = sweep  # seed -> Fmax of every placement
        if achieved is None:
            timing["note"] = "nextpnr reported no clock"
        elif achieved < board_mhz:
            timing["note"] = (f"TIMING FAILS: Fmax {achieved:.1f} MHz is below the board clock "
                              f"{board_mhz:g} MHz; the bitstream will not run reliably")
        elif achieved < target_mhz:
            timing["note"] = f"below the {target_mhz:g} MHz target; meets the {board_mhz:g} MHz board clock"
        else:
            timing["note"] = f"meets the {target_mhz:g} MHz target"
        print(f"  Fmax {achieved:.1f} MHz: {timing['note']}" if achieved else f"  {timing['note']}")
        return timing


class SynthXilinx(Step):
    """yosys figures of the board top's logic (without the platform's clock and I/O
    primitives, which yosys's Xilinx cell library does not fully describe)."""

    name = "synth"

    def title(self, ctx):
        return "yosys synth_xilinx (resource figures only)"

    def run(self, ctx):
        from hw.board.top import BoardTop
        from hw.network import SpikingLSTMNetwork
        from .yosys import synth_stat
        brd, build = ctx.board, ctx.build
        top = BoardTop(SpikingLSTMNetwork(ctx.hw, ctx.pkg.params), clk_hz=brd.clock_hz)
        ctx.tool("yosys")
        t0 = time.monotonic()
        print("  yosys ...", flush=True)
        stat = synth_stat(top, "xilinx", build / "yosys_xilinx")
        ctx.wall["synth"] = time.monotonic() - t0
        print(f"  yosys: done in {ctx.wall['synth']:.1f} s")
        cells = {k: v for k, v in stat["cells"].items() if not k.startswith("$")}
        cap = brd.capacity
        usage = xilinx_fit(cells, cap)
        ctx.figure("fit", {k: list(v) for k, v in usage.items()})
        ctx.output("log", stat["log"])
        check_fit(usage, brd.device)
        (luts, _), (ffs, _), (bram, _), (dsp, _) = (usage[k] for k in ("LUT", "FF", "BRAM", "DSP"))
        used = dict(cells) | {"LUT": luts, "FF": ffs, "BRAM36": bram, "DSP48E1": dsp}
        ctx.flow["resources"] = {"used": used, "available": {"LUT": cap["LUT"], "FF": cap["FF"],
                                                             "BRAM36": cap["BRAM"], "DSP48E1": cap["DSP"]},
                                 "source": "yosys"}


class VivadoProject(Step):
    """No open place and route for Kintex-7: the Vivado project Amaranth wrote is the output."""

    name = "vivado_project"

    def title(self, ctx):
        return "Vivado project written (no open place and route for Kintex-7)"

    def run(self, ctx):
        build = ctx.build
        print(f"  run it where Vivado is installed: cd {build} && sh build_top.sh")
        ctx.flow["timing"] = {
            "fmax_mhz": None, "target_mhz": None, "board_clock_mhz": ctx.board.clock_hz / 1e6,
            "measured": False,
            "note": "Fmax not measured: no open-source place and route for Kintex-7; "
                    "run the Vivado project for timing"}
        ctx.flow["vivado_project"] = str(build)
        ctx.output("project", build)
        ctx.output("script", build / "build_top.sh")


class Measure(Step):
    """Cycles, activity and golden statistics in simulation; the other schedule through
    yosys. Neither needs the placement, so the work starts once yosys is done and runs
    beside place and route (``early_after``)."""

    name = "measure"
    early_after = "synth"

    def title(self, ctx):
        return f"measure {ctx.options.sequences} sequences in simulation; the other schedule"

    def work(self, ctx):
        opt = ctx.options
        sim, activity = _measure(ctx.hw, ctx.pkg, opt.sequences, ctx.build, ctx.wall,
                                 opt.simulate, opt.simulator)
        other = _other_schedule(ctx.board, ctx.hw, ctx.pkg, sim["sequences"], ctx.build,
                                opt.compare, ctx.wall)
        return sim, activity, other

    def run(self, ctx):
        future = ctx.background.pop(self.name, None)
        sim, activity, other = future.result() if future is not None else self.work(ctx)
        ctx.flow["sim"], ctx.flow["activity"] = sim, activity
        ctx.flow["schedules"] = _schedules(ctx.hw, ctx.flow, other)
        ctx.figure("sequences", ctx.flow["sim"]["sequences"])
        ctx.figure("simulated", ctx.flow["sim"]["cycles_simulated"] is not None)
        ctx.figure("schedule_lanes", [row["lanes"] for row in ctx.flow["schedules"]])


class WriteReport(Step):
    """``flow.json`` (the record of the steps before this one), then the report read from it."""

    name = "report"

    def title(self, ctx):
        return "report"

    def run(self, ctx):
        build, flow = ctx.build, ctx.flow
        ctx.wall["total"] = time.monotonic() - ctx.t_start
        flow["wall_s"] = {k: round(v, 2) for k, v in ctx.wall.items()}
        flow["steps"] = list(ctx.steps)
        _write_json(build / "flow.json", flow)
        out = _report(flow, (ctx.options.reports_root or REPORTS_ROOT) / ctx.board.name / flow["model"])
        print(f"  flow.json: {build / 'flow.json'}" + (f"\n  report: {out}" if out else ""))
        if "bitstream" in flow:
            print(f"  bitstream: {flow['bitstream']}")


#: the ordered steps of each device family; :func:`run_flow` takes the board's list
ECP5_STEPS: tuple[Step, ...] = (
    LoadPackage(),
    GenerateTop(design="top.il", project="nextpnr", placeholders=True, constrain_clock=True,
                build_options=(("synth_opts", ECP5_SYNTH_OPTS), ("script_after_read", KEEP_FANOUT))),
    SynthEcp5(),
    PlaceAndRouteEcp5(),
    Measure(),
    WriteReport(),
)
XILINX_STEPS: tuple[Step, ...] = (
    LoadPackage(),
    GenerateTop(design="top.v", project="Vivado"),
    SynthXilinx(),
    VivadoProject(),
    Measure(),
    WriteReport(),
)
FLOWS: dict[str, tuple[Step, ...]] = {"ecp5": ECP5_STEPS, "xilinx": XILINX_STEPS}


def flow_steps(brd: Board) -> tuple[Step, ...]:
    """The steps for a board, by its device family."""
    try:
        return FLOWS[brd.family]
    except KeyError:
        raise BoardError(f"board {brd.name!r}: no flow for family {brd.family!r}; "
                         f"flows exist for {', '.join(FLOWS)}") from None


# ---- the flow ------------------------------------------------------------------------------

def run_flow(board_name: str, model: str, *, lanes=None, par=None, target_mhz=DEFAULT_TARGET_MHZ,
             sequences: int = 8, build_root: Path | None = None, reports_root: Path | None = None,
             compare: bool = True, seed: int = 1, simulate: bool = True,
             router: str = NEXTPNR_ROUTER, pnr_seed: int = 1, changes: dict | None = None,
             pnr_seeds: tuple[int, ...] = (), simulator: str = "verilator",
             timing_ripup: bool = NEXTPNR_TIMING_RIPUP) -> dict:
    """Run the board's steps in order; returns the flow record (what ``flow.json`` holds).
    ``changes``: NetworkConfig fields for a preset with random weights (see :func:`load_model`)."""
    t_start = time.monotonic()
    opt = FlowOptions(board_name, model, lanes=lanes, par=par, target_mhz=target_mhz,
                      sequences=sequences, build_root=build_root, reports_root=reports_root,
                      compare=compare, seed=seed, simulate=simulate, router=router, pnr_seed=pnr_seed,
                      timing_ripup=timing_ripup,
                      changes=changes, pnr_seeds=tuple(pnr_seeds), simulator=simulator)
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    ctx = FlowContext(opt, get_board(board_name), t_start)
    steps = flow_steps(ctx.board)
    from concurrent.futures import ThreadPoolExecutor
    # work a later step may start early (Step.early_after) runs here, beside the steps
    # in between; the flow does not end, nor raise, before it has finished
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="flow-early") as early:
        for i, step in enumerate(steps, 1):
            title = step.title(ctx)
            print(f"[{i}/{len(steps)}] {title}"
                  + (" (started early, in the background)" if step.name in ctx.background else ""),
                  flush=True)
            ctx.record = {"name": step.name, "title": title}
            t0 = time.monotonic()
            step.run(ctx)
            ctx.record["wall_s"] = round(time.monotonic() - t0, 2)
            ctx.steps.append(ctx.record)
            for later in steps[i:]:
                if later.early_after == step.name:
                    print(f"  starting step {later.name!r} early, in the background", flush=True)
                    ctx.background[later.name] = early.submit(later.work, ctx)
    return ctx.flow


def load_model(model: str, seed: int = 1, changes: dict | None = None):
    """A weights package (bundled name or folder), or a preset name with random weights
    (``tiny``, ``tmnist``, ...: for trying a size before a model is trained) when no
    package of that name exists; ``<preset>-lstm`` is the non-spiking baseline of that
    preset (:func:`model.cells.lstm.baseline_config`) with random weights. A package that
    exists but fails its checks stops here with its error: it is never replaced by
    random weights.

    ``changes`` (NetworkConfig fields) change the preset of random weights; the package
    is then named ``<model>-<values>-random`` so that each variant has its own build
    folder. A real package is never changed: there they are the fields it must have."""
    from model.config import PRESETS, preset
    from model.export import Package, load_package, resolve_package
    from model.params import random_params
    changes = dict(changes or {})
    base = model.removesuffix("-lstm")
    baseline = model.endswith("-lstm") and base in PRESETS
    try:
        path = resolve_package(model)
    except ConfigError as err:
        if model not in PRESETS and not baseline:
            raise ConfigError(f"{err} Or name a preset (random weights): "
                              f"{', '.join(PRESETS)}, or <preset>-lstm for its baseline.") from None
        path = None
    if path is not None:
        return load_package(path, expect=changes or None)
    if baseline:
        from model.cells.lstm import baseline_config
        net = baseline_config(base, **changes)
        what = f"the {base} baseline (cell {net.cell}, T={net.steps})"
    else:
        net = preset(model, **changes)
        what = f"preset {model}"
    name = "-".join([model, *(str(v) for v in changes.values()), "random"])
    print(f"  no weights package {model!r}: {what}"
          + "".join(f", {k}={v}" for k, v in changes.items()) + f" with random weights (seed {seed})")
    return Package(path=None, cfg=net, params=random_params(net, seed), manifest={"name": name})


def design_fingerprint(board_name: str, model: str, *, lanes=None, par=None, seed: int = 1,
                       changes: dict | None = None, target_mhz: float = DEFAULT_TARGET_MHZ) -> str:
    """The digest of the files :class:`GenerateTop` would write for this design now (the
    elaborated netlist, its constraints and the tool scripts), as ``flow.json`` records it
    in ``design_sha256``: equal digests mean the same hardware, whatever else changed in
    the code."""
    brd = get_board(board_name)
    opt = FlowOptions(board_name, model, lanes=lanes, par=par, target_mhz=target_mhz, seed=seed,
                      changes=changes)
    ctx = FlowContext(opt, brd, time.monotonic())
    ctx.pkg = load_model(model, seed=seed, changes=changes)
    ctx.hw = default_hardware(ctx.pkg.cfg, lanes, par)
    step = next(s for s in flow_steps(brd) if isinstance(s, GenerateTop))
    return plan_digest(step.plan(ctx))


_SRC_ATTRIBUTE = re.compile(r'^\s*attribute \\src "[^"]*"\n|\(\* src = "[^"]*" \*\)\s?', re.M)


def plan_digest(plan) -> str:
    """SHA-256 over a build plan's files (sorted by name) without the netlists' source
    locations (``src`` attributes: Python file paths and line numbers, which move with
    the checkout and with edits that change no hardware)."""
    digest = hashlib.sha256()
    for name in sorted(plan.files):
        content = plan.files[name]
        if isinstance(content, str):
            content = _SRC_ATTRIBUTE.sub("", content).encode()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


#: the packages whose code makes a build: :func:`source_fingerprint` reads their files,
#: except those of :data:`SOURCE_EXCLUDED` (code that reads a finished build: the report
#: and the comparison are computed again from ``flow.json``)
SOURCE_PACKAGES = ("hw", "model", "flows")
SOURCE_EXCLUDED = ("flows/report.py", "flows/compare.py")


def source_fingerprint(root: Path = ROOT) -> str:
    """SHA-256 over the Python files of :data:`SOURCE_PACKAGES` as they are on disk
    (relative path and contents of each, sorted by path; ``__pycache__`` skipped):
    ``flow.json`` records it so that ``make compare`` can tell a build of the current
    code from an older one."""
    root = Path(root)
    files = sorted((p.relative_to(root).as_posix(), p) for pkg in SOURCE_PACKAGES
                   for p in (root / pkg).rglob("*.py") if "__pycache__" not in p.parts
                   and p.relative_to(root).as_posix() not in SOURCE_EXCLUDED)
    digest = hashlib.sha256()
    for rel, path in files:
        data = path.read_bytes()
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _version(dist):
    from importlib.metadata import version
    return version(dist)


#: what can simulate the measured sequences (``--simulator``)
SIMULATORS = ("verilator", "amaranth")


def _measure(hw, pkg, sequences, build, wall, simulate=True, simulator="verilator"):
    """Simulate real inputs once, counting toggles and memory accesses: in Verilator
    (the cosim bench, SAIF toggle counts: :mod:`flows.verilator_activity`) or in the
    Amaranth simulator (:mod:`flows.activity`). The cycle counts and logits must equal
    the models'. Without ``simulate`` only the analytic cycles (no activity estimate)."""
    from hw.latency import cycles_for_batch, input_cycles, stream_schedule
    from .energy import memory_reads
    from model.export import sample_inputs
    t0 = time.monotonic()
    x, _ = sample_inputs(pkg, sequences)
    figures, ref = cycles_for_batch(hw, pkg.params, x)
    analytic = [int(f["total"]) for f in figures]
    # these sequences back to back, as hw.latency.stream_schedule models the two input banks
    stream = {"input_cycles": input_cycles(hw.net),
              "result_periods": stream_schedule(hw, analytic, 0)["period"]}
    if not simulate:
        print(f"  no simulation (--no-simulate): analytic cycles {analytic[:4]}...")
        return ({"sequences": len(x), "cycles_simulated": None, "cycles_analytic": analytic,
                 "stream": stream, "golden_stats": ref.stats,
                 "memory_reads": memory_reads(hw, pkg.params, x)}, None)
    print(f"  {simulator.capitalize()} simulation of {len(x)} sequences ({sum(analytic):,} cycles), "
          "counting toggles ...", flush=True)
    if simulator == "verilator":
        from .verilator_activity import measure_activity
        activity = measure_activity(hw, pkg.params, x, folder=Path(build) / "verilator")
    else:
        from .activity import measure_activity
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
             "stream": stream, "golden_stats": ref.stats,
             "memory_reads": memory_reads(hw, pkg.params, x)}, activity)


def _other_schedule(brd, hw, pkg, sequences, build, compare, wall) -> dict | None:
    """The other schedule (L = 1 if this build is L = T, else L = T): its cycles and
    yosys's figures of the network alone; None without ``compare`` or when both are
    the same."""
    from hw.config import HardwareConfig
    from hw.latency import cycles_for_batch
    from hw.network import SpikingLSTMNetwork
    from .yosys import synth_stat
    from model.export import sample_inputs as test_samples
    params = pkg.params
    other_lanes = 1 if hw.lanes != 1 else hw.net.steps
    if not compare or other_lanes == hw.lanes:
        return None
    x, _ = test_samples(pkg, sequences)
    other = HardwareConfig(hw.net, lanes=other_lanes, par=hw.par)
    t0 = time.monotonic()
    print(f"  yosys on the network alone with L={other_lanes} for the schedule comparison ...", flush=True)
    stat = synth_stat(SpikingLSTMNetwork(other, params), brd.family, build / f"lanes{other_lanes}")
    wall["schedule_synth"] = time.monotonic() - t0
    row = {"lanes": other_lanes, "par": hw.par,
           "cycles_mean": float(np.mean([f["total"] for f in cycles_for_batch(other, params, x)[0]])),
           "resources": {"used": stat["cells"], "source": "yosys (network only)"}}
    print(f"  L={other_lanes}: {row['cycles_mean']:.0f} cycles/sequence ({wall['schedule_synth']:.0f} s)")
    return row


def _schedules(hw, flow, other: dict | None) -> list[dict]:
    """This build's schedule (its placed resources), and the other one if measured."""
    rows = [{"lanes": hw.lanes, "par": hw.par,
             "cycles_mean": float(np.mean(flow["sim"]["cycles_simulated"] or flow["sim"]["cycles_analytic"])),
             "resources": {"used": flow["resources"]["used"], "source": flow["resources"]["source"] +
                           " (board top, with the UART)"}}]
    return rows + ([other] if other is not None else [])


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
    ap = argparse.ArgumentParser(prog="python -m flows.synth", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default=DEFAULT_BOARD, help=f"one of: {', '.join(BOARDS)}")
    ap.add_argument("--model", default="digits", help="weights package (bundled name or folder)")
    ap.add_argument("--lanes", type=int, help="lanes L (default T: the wavefront)")
    ap.add_argument("--par", type=int, help="weights added per lane per cycle, P (default 16)")
    ap.add_argument("--target-mhz", type=positive_float, default=DEFAULT_TARGET_MHZ,
                    help="clock target for place and route (ECP5)")
    ap.add_argument("--sequences", type=positive_int, default=8, help="sequences simulated for the cycle figures")
    ap.add_argument("--no-compare", action="store_true", help="skip the other schedule's synthesis")
    ap.add_argument("--no-simulate", action="store_true",
                    help="analytic cycles only, no simulation and no activity estimate (large models)")
    ap.add_argument("--simulator", choices=SIMULATORS, default="verilator",
                    help="what simulates the measured sequences and counts toggles (default "
                         "verilator; amaranth: the Python simulator, slower by about 100x)")
    ap.add_argument("--router", choices=NEXTPNR_ROUTERS, default=NEXTPNR_ROUTER,
                    help=f"nextpnr router (default {NEXTPNR_ROUTER}; router1 for designs router2 "
                         "does not converge on)")
    ap.add_argument("--pnr-seed", type=int, default=1,
                    help="nextpnr placement seed (default 1); Fmax moves by several MHz between seeds")
    ap.add_argument("--pnr-seeds", type=int_list, default=(), metavar="1,2,3",
                    help="several placements side by side (one nextpnr each), the best Fmax kept and "
                         "every seed's Fmax reported; overrides --pnr-seed")
    ap.add_argument("--no-tmg-ripup", action="store_true",
                    help="route without nextpnr's timing-driven rip-up (on by default: several MHz "
                         "more Fmax; a router still iterating after %d iterations is stopped and the "
                         "seed routed again without it)" % NEXTPNR_RIPUP_ITERATIONS)
    ap.add_argument("--build", type=Path, help="build root (default build/synth)")
    ap.add_argument("--reports", type=Path,
                    help="reports root (default build/reports; --reports reports refreshes the committed ones)")
    args = ap.parse_args(argv)
    return one_line_errors(lambda: run_flow(
        args.board, args.model, lanes=args.lanes, par=args.par, target_mhz=args.target_mhz,
        sequences=args.sequences, build_root=args.build, reports_root=args.reports,
        compare=not args.no_compare, simulate=not args.no_simulate, router=args.router,
        pnr_seed=args.pnr_seed, pnr_seeds=args.pnr_seeds, simulator=args.simulator,
        timing_ripup=not args.no_tmg_ripup))


def one_line_errors(call, extra: tuple = ()) -> int:
    """Run a command's work: the errors of bad input or a failed tool (and ``extra``)
    become one ``spikegate: ...`` line and exit status 2; anything else is a bug and
    keeps its traceback."""
    from .bram import BramError
    try:
        call()
    except (BoardError, ConfigError, FitError, OutputError, ToolError, BramError, *extra) as err:
        print(f"spikegate: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)

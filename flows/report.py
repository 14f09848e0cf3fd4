"""Build reports: ``flow.json`` (the raw measurements of one synthesis build) in,
``report.json``, ``report.md`` and PNG plots out.

* :func:`report_from_flow` turns a flow dict into the report dict (schema
  ``spikegate.report/1``): configuration, tool versions, resources with device
  percentages, Fmax (or the plain statement that it was not measured), cycles
  simulated and analytic, time per sequence, spike sparsity, energy per inference
  two ways (:mod:`flows.energy`) and the schedule comparison.
* :func:`validate_report` checks a report against the schema and raises ValueError
  naming the first bad field.
* :func:`write_report` validates, then writes everything into a temporary folder next
  to the target and moves it into place: a failure leaves no partial output.

Command line (``make report``)::

    python -m flows.report --build build/synth --out reports   # every flow.json found
    python -m flows.report --flow build/synth/ulx3s-85f/digits/flow.json --out reports/x
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from hw.config import HardwareConfig
from model import cells
from model.config import DEFAULT_CELL, ConfigError, NetworkConfig
from model.export import jsonable, swap_into_place

from . import energy

__all__ = ["SCHEMA_ID", "report_from_flow", "validate_report", "write_report", "main"]

SCHEMA_ID = "spikegate.report/1"

_NUM = "number"
_INT = "integer"


# ---- reading the flow ----------------------------------------------------------------------

def _get(d: dict, path: str, default=KeyError):
    cur = d
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            if default is KeyError:
                raise KeyError(path)
            return default
        cur = cur[part]
    return cur


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _need(flow: dict, path: str, kind, *, nullable: bool = False):
    """A field of the flow dict, checked; ValueError names it when missing or mistyped."""
    try:
        value = _get(flow, path)
    except KeyError:
        raise ValueError(f"flow.json field {path!r} is missing") from None
    if value is None and nullable:
        return None
    ok = {_NUM: _is_num(value), _INT: isinstance(value, int) and not isinstance(value, bool),
          str: isinstance(value, str), dict: isinstance(value, dict),
          list: isinstance(value, list), bool: isinstance(value, bool)}[kind]
    if not ok:
        name = kind if isinstance(kind, str) else kind.__name__
        raise ValueError(f"flow.json field {path!r} must be {name}"
                         f"{' or null' if nullable else ''}, got {value!r:.60}")
    return value


def _stats(values) -> dict | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return None
    return {"mean": float(arr.mean()), "min": float(arr.min()), "max": float(arr.max()),
            "values": [int(v) for v in values]}


def _luts_available(available: dict):
    for key in ("LUT", "LUT4", "TRELLIS_COMB", "LUT6"):
        if _is_num(available.get(key)):
            return float(available[key])
    return None


def _ecp5_summary(used: dict) -> dict:
    """ECP5: LUT4 + 2 per CCU2C (a carry cell holds two LUT4s) + 2 per TRELLIS_DPR16X4
    (a 16x4 LUT RAM takes a slice pair's LUTs; an approximation)."""
    num = lambda k: float(used.get(k, 0) or 0)  # noqa: E731
    lut = num("LUT4") + 2 * num("CCU2C") + 2 * num("TRELLIS_DPR16X4")
    return {"LUT": lut, "FF": num("TRELLIS_FF"), "BRAM": num("DP16KD"),
            "DSP": num("MULT18X18D") + num("ALU54B")}


def _xilinx_summary(used: dict) -> dict:
    """7-series: LUT1..LUT6 (+4 per RAM32M / RAM64M), FD* flip-flops, RAMB36E1 + RAMB18E1 / 2."""
    num = lambda k: float(used.get(k, 0) or 0)  # noqa: E731
    lut = sum(float(v) for k, v in used.items() if k in {f"LUT{i}" for i in range(1, 7)})
    lut += 4 * (num("RAM32M") + num("RAM64M"))
    ff = sum(float(v) for k, v in used.items() if k.startswith("FD"))
    return {"LUT": lut, "FF": ff, "BRAM": num("RAMB36E1") + 0.5 * num("RAMB18E1"),
            "DSP": num("DSP48E1")}


#: per family: how raw yosys cell counts read as LUT / FF / block RAM / DSP, and why
#: Fmax may be missing when the family has no open place and route (else the flow's note)
_FAMILY_READING = {
    "ecp5": {"summary": _ecp5_summary, "unmeasured_why": None},
    "xilinx": {"summary": _xilinx_summary,
               "unmeasured_why": "no open-source place and route for 7-series; resources are "
                                 "yosys synth_xilinx cell counts"},
}
FAMILIES = tuple(_FAMILY_READING)


def summary_cells(family: str, used: dict) -> dict:
    """LUT / FF / block RAM / DSP from raw yosys cell counts (so that rows from
    different sources compare like for like), by the family's rule."""
    return _FAMILY_READING[family]["summary"](used)


def _schedule_name(lanes: int, steps: int) -> str:
    if steps == 1:
        return "sequential (T = 1: no spike steps)"
    if lanes == steps:
        return "wavefront (L = T)"
    if lanes == 1:
        return "element by element (L = 1)"
    return f"{lanes} lanes"


def _sparsity(net: NetworkConfig, stats: dict) -> dict:
    batch = int(stats["batch"])
    cells = batch * net.length * net.steps
    layers = []
    for l, ls in enumerate(stats["layers"]):
        h = net.hidden[l]
        slots = cells * h
        layers.append({
            # the cell's spiking gates (a cell with multi-bit gates has none here) and,
            # for the Datta cell, the spikes of the LIF on c
            "gates": {g: n / slots for g, n in ls.get("gate_spikes", {}).items()},
            "nonspiking_gate": None if net.nonspiking == "none" else net.nonspiking,
            "c": ls["c_spikes"] / slots if "c_spikes" in ls else None,
            "h": ls["h_spikes"] / slots,
            "input_events": ls["input_events"] / (cells * net.layer_inputs(l)),
        })
    return {"definition": "spikes (non-zero outputs) per neuron per time step, over "
                          f"{batch} sequences x N={net.length} x T={net.steps}",
            "layers": layers}


def _timing_statement(timing: dict, family: str) -> str:
    board = timing["board_clock_mhz"]
    if not timing["measured"] or timing["fmax_mhz"] is None:
        why = _FAMILY_READING[family]["unmeasured_why"] or timing.get("note") or ""
        return (f"Fmax was NOT measured ({why.strip()}). Times below use the "
                f"{board:g} MHz board clock.")
    note = f" ({timing['note']})" if timing.get("note") else ""
    pnr = timing.get("pnr") or {}
    run = f" {pnr['router']}, seed {pnr['seed']}" if {"router", "seed"} <= set(pnr) else ""
    stopped = (pnr.get("ripup_stopped") or {}).get(str(pnr.get("seed")))
    if stopped:
        run += (f", timing-driven rip-up given up after {stopped} router iterations "
                f"and routed again without it")
    elif pnr.get("timing_ripup"):
        run += ", timing-driven rip-up"
    if pnr.get("sweep_mhz"):  # several placements: every seed's figure, the best kept
        run += " (the best of seeds " + ", ".join(
            f"{s}: {f:.1f} MHz" if f is not None else f"{s}: no Fmax" for s, f in pnr["sweep_mhz"].items()) + ")"
    return f"Fmax {timing['fmax_mhz']:.1f} MHz from nextpnr{run}{note}; board clock {board:g} MHz."


def _back_to_back(stream, fmax: float | None, board: float) -> dict | None:
    """Throughput with the measured sequences streamed back to back (two input banks:
    the next sequence is taken in while one computes; ``flow.json`` ``sim.stream``, from
    :func:`hw.latency.stream_schedule`); None for a build without it (older builds, or
    a single sequence)."""
    if not isinstance(stream, dict) or not stream.get("result_periods"):
        return None
    periods = stream["result_periods"]
    if not all(_is_num(v) and v > 0 for v in periods) or not _is_num(stream.get("input_cycles")):
        raise ValueError("flow.json field 'sim.stream' must hold positive result periods and input cycles")
    mean = float(np.mean(periods))
    return {"cycles_per_result_mean": mean, "input_cycles": stream["input_cycles"],
            "sequences_per_s_at_fmax": fmax * 1e6 / mean if fmax else None,
            "sequences_per_s_at_board_clock": board * 1e6 / mean}


def _bound(flow: dict, hw: HardwareConfig, stats: dict, mean_cycles: float) -> dict | None:
    """DESIGN section 7's bound on the board's device (``hw.latency.cycle_bounds``) and
    the mean cycles as a multiple of it; None for a board this installation lacks."""
    from hw.latency import cycle_bounds
    from .boards import BoardError, board
    try:
        device = board(flow["board"])
    except BoardError:
        return None
    b = cycle_bounds(hw, stats, device.weights_per_cycle(hw.net.w_bits))
    return b | {"cycles_over_bound": mean_cycles / b["bound"]}


def report_from_flow(flow: dict) -> dict:
    """The report for one build (see the module docstring); ValueError names the first
    flow.json field that is missing or of the wrong type."""
    if not isinstance(flow, dict):
        raise ValueError(f"flow must be a dict, got {type(flow).__name__}")
    for field in ("board", "family", "device", "model"):
        _need(flow, field, str)
    family = flow["family"]
    if family not in FAMILIES:
        raise ValueError(f"flow.json field 'family' must be one of {', '.join(FAMILIES)}, got {family!r}")
    net_d = _need(flow, "net", dict)
    lanes = _need(flow, "hw.lanes", _INT)
    par = _need(flow, "hw.par", _INT)
    try:
        net = NetworkConfig.from_dict(net_d)
        hw = HardwareConfig(net, lanes=lanes, par=par)
    except (ConfigError, TypeError) as err:
        raise ValueError(f"flow.json field 'net'/'hw' is not a valid configuration: {err}") from None
    tools = _need(flow, "tools", dict)
    used = _need(flow, "resources.used", dict)
    available = _need(flow, "resources.available", dict)
    res_source = _need(flow, "resources.source", str)
    timing_in = {
        "fmax_mhz": _need(flow, "timing.fmax_mhz", _NUM, nullable=True),
        "target_mhz": _need(flow, "timing.target_mhz", _NUM, nullable=True),
        "board_clock_mhz": _need(flow, "timing.board_clock_mhz", _NUM),
        "measured": _need(flow, "timing.measured", bool),
        "note": _get(flow, "timing.note", None),
        "pnr": _get(flow, "timing.pnr", None),
    }
    if timing_in["board_clock_mhz"] <= 0:
        raise ValueError("flow.json field 'timing.board_clock_mhz' must be positive")
    if timing_in["measured"] and timing_in["fmax_mhz"] is None:
        raise ValueError("flow.json field 'timing.fmax_mhz' is null although 'timing.measured' is true")
    if not timing_in["measured"] and timing_in["fmax_mhz"] is not None:
        raise ValueError("flow.json field 'timing.fmax_mhz' holds a number although "
                         "'timing.measured' is false")
    sequences = _need(flow, "sim.sequences", _INT)
    simulated = _need(flow, "sim.cycles_simulated", list, nullable=True)
    analytic = _need(flow, "sim.cycles_analytic", list)
    for name, values in (("sim.cycles_simulated", simulated or []), ("sim.cycles_analytic", analytic)):
        if not all(_is_num(v) for v in values):
            raise ValueError(f"flow.json field {name!r} must hold numbers")
    if not analytic:
        raise ValueError("flow.json field 'sim.cycles_analytic' is empty")
    stats = _need(flow, "sim.golden_stats", dict)
    for key in ("batch", "layers", "readout_acs"):
        _need(flow, f"sim.golden_stats.{key}", list if key == "layers" else _INT)
    if len(stats["layers"]) != net.layers:
        raise ValueError(f"flow.json field 'sim.golden_stats.layers' has {len(stats['layers'])} "
                         f"entries for a {net.layers}-layer network")
    mem = _get(flow, "sim.memory_reads", None)
    activity = _get(flow, "activity", None)
    schedules_in = _need(flow, "schedules", list)

    # resources
    rows = []
    for key in sorted(set(used) | set(available)):
        u, a = used.get(key), available.get(key)
        if not _is_num(u) and u is not None:
            continue
        rows.append({"resource": key, "used": u if u is not None else 0,
                     "available": a if _is_num(a) else None,
                     "percent": 100.0 * (u or 0) / a if _is_num(a) and a > 0 else None})
    summary = summary_cells(family, used)

    # timing and time per sequence
    timing = dict(timing_in)
    timing["statement"] = _timing_statement(timing, family)
    cyc_sim, cyc_an = _stats(simulated), _stats(analytic)
    cycles_basis = cyc_sim if cyc_sim else cyc_an
    mean_cycles = cycles_basis["mean"]
    fmax = timing["fmax_mhz"] if timing["measured"] else None
    board = timing["board_clock_mhz"]
    latency = {
        "cycles_basis": "simulated" if cyc_sim else "analytic",
        "cycles_mean": mean_cycles,
        "us_per_sequence_at_fmax": mean_cycles / fmax if fmax else None,
        "sequences_per_s_at_fmax": fmax * 1e6 / mean_cycles if fmax else None,
        "us_per_sequence_at_board_clock": mean_cycles / board,
        "sequences_per_s_at_board_clock": board * 1e6 / mean_cycles,
        "note": "compute cycles from the first layer start to the result (the hardware's "
                "cycle counter); streaming the input in is not included",
    }
    latency["bound"] = _bound(flow, hw, stats, mean_cycles)
    latency["back_to_back"] = _back_to_back(_get(flow, "sim.stream", None), fmax, board)
    cycles = {"sequences": sequences, "simulated": cyc_sim, "analytic": cyc_an,
              "agree": (simulated == analytic) if simulated is not None else None}

    # energy
    try:
        ops = energy.operation_energy(hw, stats, mem)
    except (KeyError, TypeError) as err:
        raise ValueError(f"flow.json field 'sim.golden_stats' / 'sim.memory_reads' is incomplete: {err}") from None
    act_energy, act_reason = None, None
    if activity is None:
        act_reason = "no activity was measured for this build (flow.json 'activity' is null)"
    else:
        if not isinstance(activity, dict):
            raise ValueError("flow.json field 'activity' must be an object or null")
        clock = fmax or board
        note = (f"static energy over the simulated cycles at Fmax {fmax:.1f} MHz" if fmax
                else f"static energy at the {board:g} MHz board clock (Fmax not measured)")
        try:
            act_energy = energy.activity_energy(
                activity, family, clock, luts_available=_luts_available(available), clock_note=note)
        except (KeyError, TypeError) as err:
            raise ValueError(f"flow.json field 'activity' is incomplete: missing {err}") from None
    energy_out = {"operations": ops, "activity": act_energy, "activity_missing_reason": act_reason,
                  "constants": energy.constants_table()}

    # schedules
    schedules = []
    for i, row in enumerate(schedules_in):
        if not isinstance(row, dict):
            raise ValueError(f"flow.json field 'schedules[{i}]' must be an object")
        s_lanes = _need(row, "lanes", _INT)
        s_cycles = _need(row, "cycles_mean", _NUM)
        s_used = _get(row, "resources.used", {}) or {}
        schedules.append({"lanes": s_lanes, "par": row.get("par", par),
                          "name": _schedule_name(s_lanes, net.steps),
                          "cycles_mean": float(s_cycles),
                          "resources_source": _get(row, "resources.source", None),
                          "resources": summary_cells(family, s_used)})

    notes = []
    if mem is None:
        notes.append("energy (a) leaves memory out: flow.json has no sim.memory_reads "
                     "(flows.energy.memory_reads)")
    if activity is not None and isinstance(activity.get("config"), dict):
        want = {"net": net.to_dict(), "lanes": lanes, "par": par}
        got = activity["config"]
        if (got.get("lanes"), got.get("par"), got.get("net")) != (lanes, par, want["net"]):
            notes.append("the activity was measured on a different configuration "
                         f"(L={got.get('lanes')}, P={got.get('par')}) than this build "
                         f"(L={want['lanes']}, P={want['par']})")
    if cycles["agree"] is False:
        notes.append("simulated and analytic cycles DIFFER: the cycle model or the hardware is wrong")
    return {
        "schema": SCHEMA_ID,
        "board": flow["board"], "family": family, "device": flow["device"],
        "package": flow.get("package"), "speed": flow.get("speed"),
        "model": flow["model"], "model_source": flow.get("model_source"),
        "configuration": {"net": net.to_dict(), "hw": {"lanes": lanes, "par": par},
                          "schedule": _schedule_name(lanes, net.steps)},
        "tools": tools,
        "resources": {"source": res_source, "rows": rows, "summary": summary},
        "timing": timing,
        "cycles": cycles,
        "latency": latency,
        "sparsity": _sparsity(net, stats),
        "energy": energy_out,
        "schedules": schedules,
        "wall_s": flow.get("wall_s") or {},
        "notes": notes,
    }


# ---- validation ----------------------------------------------------------------------------

#: path -> (kind, nullable). Kinds: str, dict, list, bool, "number", "integer".
SCHEMA: dict[str, tuple] = {
    "schema": (str, False),
    "board": (str, False), "family": (str, False), "device": (str, False), "model": (str, False),
    "configuration": (dict, False), "configuration.net": (dict, False),
    "configuration.hw.lanes": (_INT, False), "configuration.hw.par": (_INT, False),
    "configuration.schedule": (str, False),
    "tools": (dict, False),
    "resources.source": (str, False), "resources.rows": (list, False), "resources.summary": (dict, False),
    "timing.fmax_mhz": (_NUM, True), "timing.board_clock_mhz": (_NUM, False),
    "timing.measured": (bool, False), "timing.statement": (str, False),
    "cycles.sequences": (_INT, False), "cycles.simulated": (dict, True), "cycles.analytic": (dict, False),
    "cycles.analytic.mean": (_NUM, False), "cycles.analytic.min": (_NUM, False),
    "cycles.analytic.max": (_NUM, False),
    "latency.cycles_mean": (_NUM, False),
    "latency.us_per_sequence_at_fmax": (_NUM, True), "latency.sequences_per_s_at_fmax": (_NUM, True),
    "latency.us_per_sequence_at_board_clock": (_NUM, False),
    "latency.sequences_per_s_at_board_clock": (_NUM, False),
    "sparsity.layers": (list, False),
    "energy.operations": (dict, False), "energy.operations.total_nj": (_NUM, False),
    "energy.operations.breakdown_nj": (dict, False), "energy.activity": (dict, True),
    "energy.constants": (list, False),
    "schedules": (list, False),
    "notes": (list, False),
}


def validate_report(report: dict) -> dict:
    """Check ``report`` against :data:`SCHEMA` and the rules between fields; raise
    ValueError naming the first bad field. Returns the report."""
    if not isinstance(report, dict):
        raise ValueError(f"report must be a dict, got {type(report).__name__}")
    for path, (kind, nullable) in SCHEMA.items():
        try:
            value = _get(report, path)
        except KeyError:
            raise ValueError(f"report field {path!r} is missing") from None
        if value is None:
            if nullable:
                continue
            raise ValueError(f"report field {path!r} must not be null")
        ok = {_NUM: _is_num(value), _INT: isinstance(value, int) and not isinstance(value, bool),
              str: isinstance(value, str), dict: isinstance(value, dict),
              list: isinstance(value, list), bool: isinstance(value, bool)}[kind]
        if not ok:
            name = kind if isinstance(kind, str) else kind.__name__
            raise ValueError(f"report field {path!r} must be {name}, got {type(value).__name__} {value!r:.60}")
    if report["schema"] != SCHEMA_ID:
        raise ValueError(f"report field 'schema' must be {SCHEMA_ID!r}, got {report['schema']!r}")
    if report["family"] not in FAMILIES:
        raise ValueError(f"report field 'family' must be one of {', '.join(FAMILIES)}")
    for i, row in enumerate(report["resources"]["rows"]):
        for key, kind, nullable in (("resource", str, False), ("used", _NUM, False),
                                    ("available", _NUM, True), ("percent", _NUM, True)):
            v = row.get(key) if isinstance(row, dict) else None
            good = (v is None and nullable) or (kind is str and isinstance(v, str)) or (kind == _NUM and _is_num(v))
            if not good:
                raise ValueError(f"report field 'resources.rows[{i}].{key}' is missing or mistyped: {v!r}")
    timing = report["timing"]
    if not timing["measured"]:
        if timing["fmax_mhz"] is not None or report["latency"]["us_per_sequence_at_fmax"] is not None:
            raise ValueError("report field 'timing.fmax_mhz': Fmax was not measured, so it and "
                             "the times at Fmax must be null")
        if "not measured" not in timing["statement"].lower():
            raise ValueError("report field 'timing.statement' must say that Fmax was not measured")
    elif timing["fmax_mhz"] is None:
        raise ValueError("report field 'timing.fmax_mhz' is null although 'timing.measured' is true")
    for i, layer in enumerate(report["sparsity"]["layers"]):
        for key in ("c", "h"):
            v = layer.get(key) if isinstance(layer, dict) else None
            if key == "c" and isinstance(layer, dict) and "c" in layer and v is None:
                continue  # a cell without a spike on c
            if not (_is_num(v) and 0 <= v <= 1):
                raise ValueError(f"report field 'sparsity.layers[{i}].{key}' must be a rate in [0, 1], got {v!r}")
    for way in ("operations", "activity"):
        e = report["energy"][way]
        if e is None:
            continue
        if not (_is_num(e.get("total_nj")) and e["total_nj"] >= 0):
            raise ValueError(f"report field 'energy.{way}.total_nj' must be a non-negative number")
        parts = e.get("breakdown_nj", {})
        if not all(_is_num(v) for v in parts.values()) or not math.isclose(
                sum(parts.values()), e["total_nj"], rel_tol=1e-9, abs_tol=1e-12):
            raise ValueError(f"report field 'energy.{way}.breakdown_nj' must add up to total_nj")
    for i, row in enumerate(report["schedules"]):
        if not (isinstance(row, dict) and isinstance(row.get("lanes"), int) and _is_num(row.get("cycles_mean"))):
            raise ValueError(f"report field 'schedules[{i}]' needs integer lanes and numeric cycles_mean")
    return report


# ---- writing -------------------------------------------------------------------------------

def _fmt(v, digits=3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1000 or (v.is_integer() and abs(v) < 1e15):
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _markdown(r: dict) -> str:
    net, hwc = r["configuration"]["net"], r["configuration"]["hw"]
    out = [f"# spikegate report: {r['model']} on {r['board']}", "",
           f"Device {r['device']} ({r['family']}), package {r.get('package') or 'n/a'}, "
           f"speed {r.get('speed') or 'n/a'}. Schema `{r['schema']}`.", ""]
    out += ["## Configuration", "",
            f"* network: M={net['inputs']} inputs, H={net['hidden']}, T={net['steps']} steps, "
            f"N={net['length']} elements, {net['classes']} classes, encoding `{net['encoding']}`, "
            + (f"non-spiking gate `{net['nonspiking']}`" if net.get("cell", DEFAULT_CELL) == DEFAULT_CELL
               else f"cell `{net['cell']}`"),
            f"* widths: w {net['w_bits']}, acc {net['acc_bits']}, u {net['u_bits']}, "
            f"c {net['c_bits']}, logits {net['logit_bits']} bits; leak shifts {net['leak_shift']}",
            f"* hardware: L={hwc['lanes']} lanes ({r['configuration']['schedule']}), P={hwc['par']} "
            "weights per lane per cycle", "",
            "Tools: " + ", ".join(f"{k} {v}" for k, v in r["tools"].items()), ""]
    out += ["## Resources", "", f"Source: {r['resources']['source']}.", "",
            "| resource | used | available | % of device |", "|---|---:|---:|---:|"]
    for row in r["resources"]["rows"]:
        if row["available"] is None and not row["used"]:
            continue
        out.append(f"| {row['resource']} | {_fmt(row['used'])} | {_fmt(row['available'])} | "
                   f"{_fmt(row['percent'])} |")
    out += ["", "## Timing", "", r["timing"]["statement"], ""]
    cyc, lat = r["cycles"], r["latency"]
    out += ["## Cycles and time per sequence", "",
            f"{cyc['sequences']} sequences "
            + ("simulated" if cyc.get("simulated") else "(analytic model only, not simulated)")
            + ". Cycles are " + lat["note"] + ".", "",
            "| cycles | mean | min | max |", "|---|---:|---:|---:|"]
    for name in ("simulated", "analytic"):
        c = cyc[name]
        out.append(f"| {name} | {_fmt(c['mean'])} | {_fmt(c['min'])} | {_fmt(c['max'])} |" if c
                   else f"| {name} | not simulated | | |")
    if cyc["agree"] is not None:
        out += ["", "Simulated and analytic cycles " + ("agree for every sequence." if cyc["agree"]
                                                         else "**DIFFER**.")]
    out += ["", f"Time per sequence ({lat['cycles_basis']} mean):", "",
            f"* at Fmax: {_fmt(lat['us_per_sequence_at_fmax'])} us, "
            f"{_fmt(lat['sequences_per_s_at_fmax'])} sequences/s"
            + ("" if r["timing"]["measured"] else " (Fmax not measured)"),
            f"* at the {r['timing']['board_clock_mhz']:g} MHz board clock: "
            f"{_fmt(lat['us_per_sequence_at_board_clock'])} us, "
            f"{_fmt(lat['sequences_per_s_at_board_clock'])} sequences/s", ""]
    btb = lat.get("back_to_back")
    if btb:
        out += [f"Back to back (the next sequence streams into the second input bank while one "
                f"computes; analytic, hw.latency.stream_schedule): a result every "
                f"{_fmt(btb['cycles_per_result_mean'])} cycles on average (streaming one sequence in "
                f"takes {_fmt(btb['input_cycles'])} cycles), "
                + (f"{_fmt(btb['sequences_per_s_at_fmax'])} sequences/s at Fmax, " if btb['sequences_per_s_at_fmax']
                   else "")
                + f"{_fmt(btb['sequences_per_s_at_board_clock'])} at the board clock.", ""]
    b = lat.get("bound")
    if b:
        out += [f"Against the bound (DESIGN section 7): {_fmt(lat['cycles_mean'])} cycles are "
                f"{b['cycles_over_bound']:.1f}x the {_fmt(b['bound'])} cycles that the {b['limited_by']} "
                f"allows (weight bandwidth: {_fmt(b['weight_reads'])} weight reads per sequence at "
                f"{_fmt(b['weights_per_cycle'])} weights per cycle from every block RAM of the device, "
                f"{_fmt(b['bandwidth'])} cycles; dependency: {b['chain_cells']} dependent cells of "
                f"{b['dependency'] // b['chain_cells']} pipeline stages, {b['dependency']} cycles).", ""]
    gate_names = list(cells.get(net.get("cell", DEFAULT_CELL)).GATES)
    with_c = any(layer.get("c") is not None for layer in r["sparsity"]["layers"])
    columns = gate_names + (["c"] if with_c else []) + ["h", "input events"]
    out += ["## Spike sparsity", "", r["sparsity"]["definition"] + ".", "",
            "| layer | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for l, layer in enumerate(r["sparsity"]["layers"]):
        g = layer["gates"]
        row = [_fmt(g[k]) if k in g else "multi-bit" for k in gate_names]
        row += [_fmt(layer["c"])] if with_c else []
        out.append(f"| {l} | " + " | ".join(row + [_fmt(layer["h"]), _fmt(layer["input_events"])]) + " |")
    ops, act = r["energy"]["operations"], r["energy"]["activity"]
    out += ["", "## Energy per inference", "",
            f"### (a) operations x per-operation energies: {_fmt(ops['total_nj'])} nJ", "",
            f"Rule: {ops['width_rule']}. Source: {ops['sources'][0]}.", "",
            "| part | nJ |", "|---|---:|"]
    out += [f"| {k} | {_fmt(v)} |" for k, v in ops["breakdown_nj"].items()]
    out += ["", "| item | count per inference | pJ each | nJ | rule |", "|---|---:|---:|---:|---|"]
    out += [f"| {it['name']} | {_fmt(float(it['count']))} | {_fmt(it['pj_each'])} | {_fmt(it['nj'])} | "
            f"{it['rule']} |" for it in ops["items"]]
    out += [f"* {n}" for n in ops["notes"]]
    paper = ops.get("paper_count")
    if paper:
        out += [f"* The cell's paper counts {_fmt(paper['total_nj'])} nJ for the same inference: "
                f"{paper['formula']} ({_fmt(paper['ac'])} accumulates, {_fmt(paper['mac'])} "
                f"multiplies per inference; {paper['note']}). Source: {paper['source']}."]
    out += [""]
    if act is None:
        out += ["### (b) FPGA activity estimate: not available", "",
                r["energy"]["activity_missing_reason"] + ".", ""]
    else:
        e = act["energies_pj"]
        out += [f"### (b) FPGA activity estimate: {_fmt(act['total_nj'])} nJ "
                f"({_fmt(act['dynamic_nj'])} dynamic + {_fmt(act['static_nj'])} static)", "",
                f"From {act['sequences']} sequences simulated in {act.get('simulator', 'amaranth')} "
                f"(combinational toggles: {act.get('level', 'Amaranth-level signals')}). Per-event energies for {act['family']}: "
                f"flip-flop toggle {_fmt(e.get('ff_toggle', e['net_toggle']))} pJ "
                f"({e.get('rules', {}).get('ff_toggle', 'the net toggle')}), "
                f"other net toggle {_fmt(e['net_toggle'])} pJ, clock {_fmt(e['clock_per_ff'])} pJ per "
                f"register bit per cycle, block RAM {_fmt(e['bram_bit'])} pJ per bit accessed. "
                f"Static: {_fmt(act['static_w'])} W ({act['static_rule']}); {act['clock_note']}.", "",
                "| part | nJ |", "|---|---:|"]
        out += [f"| {k} | {_fmt(v)} |" for k, v in act["breakdown_nj"].items()]
        out += ["", "| item | count per inference | pJ each | nJ |", "|---|---:|---:|---:|"]
        out += [f"| {it['name']} | {_fmt(float(it['count']))} | {_fmt(it['pj_each'])} | {_fmt(it['nj'])} |"
                for it in act["items"]]
        out += [""]
    out += ["### Constants", "", "| name | value | unit | source |", "|---|---:|---|---|"]
    out += [f"| {c['name']} | {c['value']:g} | {c['unit']} | {'**ASSUMED** ' if c['assumed'] else ''}"
            f"{c['source']} |" for c in r["energy"]["constants"]]
    out += ["", "## Schedules", "",
            "| schedule | L | P | cycles/sequence | LUT | FF | BRAM | DSP | resource source |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for s in r["schedules"]:
        res = s["resources"]
        out.append(f"| {s['name']} | {s['lanes']} | {s['par']} | {_fmt(s['cycles_mean'])} | "
                   f"{_fmt(res['LUT'])} | {_fmt(res['FF'])} | {_fmt(res['BRAM'])} | {_fmt(res['DSP'])} | "
                   f"{s['resources_source'] or 'n/a'} |")
    out += ["", "## Plots", "", "![resources](resources.png)", "![cycles](cycles.png)",
            "![energy](energy.png)", "![schedules](schedules.png)", ""]
    if r["notes"]:
        out += ["## Notes", ""] + [f"* {n}" for n in r["notes"]] + [""]
    if r["wall_s"]:
        out += ["Build wall time: " + ", ".join(f"{k} {_fmt(float(v))} s" for k, v in r["wall_s"].items()), ""]
    return "\n".join(out)


def _plots(r: dict, folder: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)

    rows = [row for row in r["resources"]["rows"] if row["percent"] is not None]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * max(len(rows), 2) + 1.2))
    if rows:
        ax.barh([row["resource"] for row in rows], [row["percent"] for row in rows], color="tab:blue")
        for i, row in enumerate(rows):
            ax.text(row["percent"], i, f" {row['percent']:.1f}%", va="center", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no device capacities in flow.json", ha="center", transform=ax.transAxes)
    ax.set_xlabel("% of device")
    ax.set_title(f"{r['device']}: resources ({r['resources']['source']})")
    save(fig, "resources.png")

    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    an = r["cycles"]["analytic"]["values"]
    ax.plot(range(len(an)), an, "o-", label="analytic (hw.latency)")
    if r["cycles"]["simulated"]:
        sim = r["cycles"]["simulated"]["values"]
        ax.plot(range(len(sim)), sim, "x", markersize=9, label="simulated")
    ax.set_xlabel("sequence")
    ax.set_ylabel("cycles")
    ax.legend()
    ax.set_title("cycles per sequence")
    save(fig, "cycles.png")

    ways = [("(a) operations", r["energy"]["operations"])]
    if r["energy"]["activity"]:
        ways.append(("(b) FPGA activity", r["energy"]["activity"]))
    fig, axes = plt.subplots(1, len(ways), figsize=(5.5 * len(ways), 3.8))
    axes = np.atleast_1d(axes)
    for ax, (title, e) in zip(axes, ways):
        parts = e["breakdown_nj"]
        bars = ax.bar(list(parts), list(parts.values()), color="tab:orange")
        ax.bar_label(bars, labels=[f"{v:.3g}" for v in parts.values()], fontsize=8)
        ax.set_ylabel("nJ per inference")
        ax.set_title(f"{title}: {e['total_nj']:.3g} nJ")
        ax.tick_params(axis="x", rotation=30)
    save(fig, "energy.png")

    sch = r["schedules"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
    names = [f"L={s['lanes']}" for s in sch]
    ax1.bar(names, [s["cycles_mean"] for s in sch], color="tab:green")
    ax1.set_ylabel("cycles per sequence")
    ax1.set_title("latency")
    keys = ("LUT", "FF", "BRAM", "DSP")
    width = 0.8 / max(len(sch), 1)
    for i, s in enumerate(sch):
        ax2.bar(np.arange(len(keys)) + i * width, [s["resources"][k] for k in keys], width, label=names[i])
    ax2.set_xticks(np.arange(len(keys)) + width * (len(sch) - 1) / 2, keys)
    ax2.set_yscale("symlog")
    ax2.set_title("resources")
    if sch:
        ax2.legend()
    save(fig, "schedules.png")


#: files in a report folder that another command writes (flows.compare), kept by write_report
KEEP = ("compare.*",)


def write_report(report: dict, out_dir) -> Path:
    """Validate ``report`` and write ``report.json``, ``report.md`` and the plots into
    ``out_dir``, atomically: everything goes into a temporary folder beside it first and
    replaces ``out_dir`` in one move; on any error nothing changes there. Files of
    other writers in ``out_dir`` (``make compare``'s ``compare.*``, :data:`KEEP`) are
    carried over."""
    validate_report(report)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for pattern in KEEP:
            for kept in (out.glob(pattern) if out.is_dir() else ()):
                shutil.copy2(kept, tmp / kept.name)
        (tmp / "report.json").write_text(json.dumps(report, indent=1, default=_json_default) + "\n")
        (tmp / "report.md").write_text(_markdown(report))
        _plots(report, tmp)
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


_json_default = jsonable


# ---- command line --------------------------------------------------------------------------

def _one(flow_path: Path, out_dir: Path) -> Path:
    try:
        flow = json.loads(flow_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{flow_path} is not valid JSON: {err}") from None
    return write_report(report_from_flow(flow), out_dir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m flows.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--build", type=Path, default=Path("build/synth"),
                     help="build root searched for */flow.json (default build/synth)")
    src.add_argument("--flow", type=Path, help="one flow.json")
    ap.add_argument("--out", type=Path, default=Path("reports"),
                    help="reports root (with --build: one folder per build below it) or, "
                         "with --flow, the report folder itself")
    args = ap.parse_args(argv)
    if args.flow:
        if not args.flow.is_file():
            print(f"spikegate: no flow file {args.flow}", file=sys.stderr)
            return 2
        jobs = [(args.flow, args.out)]
    else:
        found = sorted(args.build.rglob("flow.json")) if args.build.is_dir() else []
        if not found:
            print(f"spikegate: no builds found (no flow.json under {args.build}); "
                  "run 'make synth' first", file=sys.stderr)
            return 2
        jobs = [(f, args.out / f.parent.relative_to(args.build)) for f in found]
    failed = 0
    for i, (flow_path, out_dir) in enumerate(jobs, 1):
        print(f"[{i}/{len(jobs)}] {flow_path} -> {out_dir}", flush=True)
        try:
            _one(flow_path, out_dir)
        except (ValueError, OSError) as err:
            failed += 1
            print(f"spikegate: {flow_path}: {err}", file=sys.stderr)
    if failed:
        print(f"spikegate: {failed} of {len(jobs)} reports failed", file=sys.stderr)
        return 1
    print(f"{len(jobs)} report(s) written under {args.out}")
    return 0


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)

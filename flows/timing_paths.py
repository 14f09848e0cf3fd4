"""Every failing timing endpoint of a placement, grouped, from nextpnr's detailed report.

nextpnr prints one critical path per clock. To see what else fails, the flow asks it
for ``--detailed-timing-report``: for each net, the arrival time (min, max, ns after
the launching clock edge) at each of its sinks. A sink that is a flip-flop input, a
LUT RAM write input or a block RAM input ends a path, so its arrival against the clock
period says whether that path fails. Endpoints are grouped by name with the numbers
taken out (``layer0.neuron2.cell1.h_...DI`` and ``layer0.neuron3.cell0.h_...DI`` are
one group), worst first, each with the net that reaches it and that net's driver.

The report does not list every net (in our builds about half, among them no net that
feeds a LUT RAM's read address), so paths are not traced back to their start; the
endpoint, its arrival and its last net are exact.

    python -m flows.timing_paths build/synth/ulx3s-85f/digits/pnr.json --period 10
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

__all__ = ["failing_endpoints", "group_endpoints", "markdown", "is_endpoint"]

#: ports that end a timing path: flip-flop data, clock enable and set/reset; LUT RAM
#: write data, address and enable; block RAM (DP16KD) inputs
_FF_PORTS = {"DI", "M", "CE", "LSR"}
_RAM_WRITE = re.compile(r"(WD|WRE|WAD\d)$")
_BRAM_IN = re.compile(r"(DI|AD|CE|OCE|WE|CS)[AB]\d*$")


def is_endpoint(cell: str, port: str) -> bool:
    """Does ``port`` of ``cell`` end a timing path? (By nextpnr-ecp5's cell naming:
    flip-flops keep ``TRELLIS_FF`` in their names after yosys.)"""
    if port in _FF_PORTS and ("TRELLIS_FF" in cell or "_FF_Q" in cell):
        return True
    return bool(_RAM_WRITE.fullmatch(port) or _BRAM_IN.fullmatch(port))


def failing_endpoints(report: dict, period_ns: float) -> list[dict]:
    """Endpoints whose latest arrival exceeds ``period_ns``, latest first: ``cell``,
    ``port``, ``arrival_ns``, ``net``, ``driver`` (cell.port)."""
    nets = report.get("detailed_net_timings")
    if nets is None:
        raise ValueError("the nextpnr report has no detailed_net_timings: run nextpnr with "
                         "--report and --detailed-timing-report")
    out = []
    for net in nets:
        for sink in net.get("endpoints", []):
            delay = sink["delay"]
            arrival = max(delay) if isinstance(delay, list) else float(delay)
            if arrival > period_ns and is_endpoint(sink["cell"], sink["port"]):
                out.append({"cell": sink["cell"], "port": sink["port"], "arrival_ns": round(arrival, 3),
                            "net": net["net"], "driver": f"{net['driver']}.{net['port']}"})
    out.sort(key=lambda e: -e["arrival_ns"])
    return out


def _pattern(name: str) -> str:
    """A cell name without yosys' suffixes and with its numbers as ``#``."""
    name = re.sub(r"(_TRELLIS_FF|_LUT4|\$DPRAM|\$RAMW|_CCU2C).*", "", name)
    return re.sub(r"\d+", "#", name)


def group_endpoints(endpoints: list[dict]) -> list[dict]:
    """Endpoints grouped by (cell pattern, port), worst group first: ``endpoint``,
    ``count``, ``worst_ns`` and the worst member's ``net`` and ``driver``."""
    groups: dict[str, dict] = {}
    for e in endpoints:  # latest first, so a group's first member is its worst
        key = f"{_pattern(e['cell'])}.{e['port']}"
        if key not in groups:
            groups[key] = {"endpoint": key, "count": 0, "worst_ns": e["arrival_ns"],
                           "net": e["net"], "driver": e["driver"]}
        groups[key]["count"] += 1
    return sorted(groups.values(), key=lambda g: -g["worst_ns"])


def markdown(groups: list[dict], period_ns: float, total: int, limit: int = 40) -> str:
    """The groups as a Markdown table (the first ``limit``)."""
    lines = [f"# Failing endpoints at {period_ns:g} ns ({1000 / period_ns:.1f} MHz)", "",
             f"{total} endpoints arrive later than {period_ns:g} ns, in {len(groups)} groups "
             "(names with their numbers as #). Arrival: ns after the launching clock edge, "
             "the latest in the group; the net is the worst member's last net.", "",
             "| worst ns | endpoints | endpoint | last net | its driver |", "|---:|---:|---|---|---|"]
    for g in groups[:limit]:
        lines.append(f"| {g['worst_ns']:.2f} | {g['count']} | `{g['endpoint']}` | `{g['net']}` | `{g['driver']}` |")
    if len(groups) > limit:
        lines.append(f"\n{len(groups) - limit} more groups not shown.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report", type=Path, help="nextpnr --report JSON written with --detailed-timing-report")
    ap.add_argument("--period", type=float, default=10.0, help="clock period in ns (default 10: 100 MHz)")
    ap.add_argument("--limit", type=int, default=40, help="groups shown (default 40)")
    args = ap.parse_args(argv)
    try:
        report = json.loads(args.report.read_text())
        ends = failing_endpoints(report, args.period)
    except (OSError, ValueError) as err:
        print(f"error: {args.report}: {err}", file=sys.stderr)
        return 2
    print(markdown(group_endpoints(ends), args.period, len(ends), args.limit), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

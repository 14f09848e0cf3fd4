"""Where the placed wire goes: half-perimeter wire length by signal name.

A design that places but does not route is congested somewhere; nextpnr's router1 does
not say where. This tool reads a placed netlist (``nextpnr-ecp5 ... --no-route --write
placed.json``), takes for every net the bounding box of the tiles of the cells it
connects, and sums the half-perimeters (in tiles) by signal name, with the numbers in
the name replaced by ``#`` so that the bits and copies of one signal fall together::

    python -m flows.wirelength --build build/synth/ulx3s-85f/tmnist-lstm-random --place
    python -m flows.wirelength --placed placed.json --top 30

``--place`` runs the placement first (the build's ``top.json`` and ``top.lpf``, the
device of ``--board``, ``--seed``), a few minutes for tmnist. The half-perimeter is the
placer's own measure of wire; a signal group with a large share is where to look.
This is how the tmnist baseline's h bank was found to hold half the placed wire
(docs/compare.md).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
from pathlib import Path

__all__ = ["group_name", "wire_by_group", "main"]

_BEL = re.compile(r"X(\d+)/Y(\d+)/")


def group_name(net: str, depth: int = 3) -> str:
    """The last ``depth`` parts of a hierarchical net name, numbers as ``#``."""
    name = re.sub(r"\[\d+\]|\d+", "#", net)
    return ".".join(name.split(".")[-depth:])


def wire_by_group(placed: dict, top: str = "top") -> dict[str, dict]:
    """``{group: {"hpwl": tiles, "nets": n, "pins": n}}`` of a placed nextpnr JSON netlist,
    largest first. Cells without a placement (none after placement) are left out."""
    module = placed["modules"][top]
    pins = collections.defaultdict(list)  # bit -> tiles of the cells on it
    for cell in module["cells"].values():
        found = _BEL.match(cell.get("attributes", {}).get("NEXTPNR_BEL", ""))
        if not found:
            continue
        xy = (int(found.group(1)), int(found.group(2)))
        for bits in cell["connections"].values():
            for b in bits:
                if isinstance(b, int):
                    pins[b].append(xy)
    names: dict[int, str] = {}
    for net, info in module["netnames"].items():
        for b in info["bits"]:
            if isinstance(b, int) and (b not in names or len(net) < len(names[b])):
                names[b] = net  # the shortest name of a bit: the signal, not an alias
    groups: dict[str, dict] = collections.defaultdict(lambda: {"hpwl": 0, "nets": 0, "pins": 0})
    for b, tiles in pins.items():
        xs, ys = [t[0] for t in tiles], [t[1] for t in tiles]
        g = groups[group_name(names.get(b, "?"))]
        g["hpwl"] += (max(xs) - min(xs)) + (max(ys) - min(ys))
        g["nets"] += 1
        g["pins"] += len(tiles)
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]["hpwl"]))


def _place(build: Path, board_name: str, seed: int) -> Path:
    from .boards import board as get_board
    from .synth import nextpnr_args
    from .tools import run_tool
    for name in ("top.json", "top.lpf"):
        if not (build / name).is_file():
            raise FileNotFoundError(f"{build / name} is missing: run make synth for this design first")
    out = build / "placed.json"
    run_tool("nextpnr-ecp5", nextpnr_args(get_board(board_name), seed) + ["--no-route", "--write", "placed.json.partial"],
             cwd=build, log=build / "place.log", label="nextpnr-ecp5 (placement only)")
    os.replace(build / "placed.json.partial", out)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m flows.wirelength", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--placed", type=Path, help="a placed netlist (nextpnr --write)")
    ap.add_argument("--build", type=Path, help="a build folder (its placed.json, or --place)")
    ap.add_argument("--place", action="store_true", help="place the build's top.json first")
    ap.add_argument("--board", default="ulx3s-85f", help="the device to place for (with --place)")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (with --place)")
    ap.add_argument("--top", type=int, default=20, help="groups to print")
    args = ap.parse_args(argv)
    if (args.placed is None) == (args.build is None):
        ap.error("give --placed FILE or --build DIR")
    try:
        path = args.placed or (_place(args.build, args.board, args.seed) if args.place
                               else args.build / "placed.json")
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (add --place to make it)")
        groups = wire_by_group(json.loads(path.read_text()))
    except Exception as err:  # one line: a missing file, a netlist of another shape, a tool failure
        print(f"error: {err}", file=sys.stderr)
        return 2
    total = sum(g["hpwl"] for g in groups.values()) or 1
    print(f"placed half-perimeter wire length {total:,} tiles ({path})")
    print(f"{'tiles':>9} {'share':>6} {'nets':>6} {'pins':>6}  signal")
    for name, g in list(groups.items())[:args.top]:
        print(f"{g['hpwl']:>9,} {100 * g['hpwl'] / total:>5.1f}% {g['nets']:>6} {g['pins']:>6}  {name}")
    return 0


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)

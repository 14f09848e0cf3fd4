"""Emit the Verilog (or RTLIL) of a network.

    python -m hw.generate --preset tiny --lanes 2 --par 8 --out build/rtl/tiny.v
    python -m hw.generate --preset digits --encoding rate --seed 3 --format rtlil --out build/rtl/digits.il
    python -m hw.generate --weights models/digits --lanes 4 --par 16 --out build/rtl/digits.v

With ``--weights`` the ROMs hold a trained weights package (its configuration replaces
the preset); without it, deterministic random integers (``--seed``). The ports of the top module follow the stream signatures of
:class:`hw.network.SpikingLSTMNetwork` (``i_stream__payload``, ``i_stream__valid``, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from model.cli import write_text_atomic
from model.config import ConfigError, PRESETS, preset
from model.params import random_params

from .config import HardwareConfig
from .network import SpikingLSTMNetwork

__all__ = ["build_network", "write_design"]


def build_network(hw: HardwareConfig, params=None, seed: int = 0) -> SpikingLSTMNetwork:
    return SpikingLSTMNetwork(hw, params if params is not None else random_params(hw.net, seed))


def write_design(design: SpikingLSTMNetwork, path: str | os.PathLike, fmt: str = "verilog",
                 name: str = "top") -> Path:
    """Write the design atomically (a temporary file renamed into place)."""
    from amaranth.back import rtlil, verilog
    text = verilog.convert(design, name=name) if fmt == "verilog" else rtlil.convert(design, name=name)
    return write_text_atomic(path, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--encoding", choices=["spikes", "rate", "level", "direct"])
    ap.add_argument("--lanes", type=int, default=1)
    ap.add_argument("--par", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", help="a weights package folder (or a bundled name such as digits)")
    ap.add_argument("--format", choices=["verilog", "rtlil"], default="verilog")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    params = None
    try:
        if args.weights:
            from model.export import load_package, resolve_package
            pkg = load_package(resolve_package(args.weights))
            net, params = pkg.cfg, pkg.params
        else:
            net = preset(args.preset, **({"encoding": args.encoding} if args.encoding else {}))
        hw = HardwareConfig(net, lanes=args.lanes, par=args.par)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    path = write_design(build_network(hw, params, seed=args.seed), args.out, args.format)
    source = f"weights {args.weights}" if args.weights else f"random weights, seed {args.seed}"
    print(f"wrote {path} ({hw.net.name}, L={hw.lanes}, P={hw.par}, encoding {hw.net.encoding}, {source})")
    return 0


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)

"""``make weights``: another weights package into an existing ECP5 bitstream, no synthesis.

    python -m flows.weights --board ulx3s-85f --model digits --weights path/to/package

``--model`` names the build (``build/synth/<board>/<model>/``, made by ``make synth``);
``--weights`` is the new package. Its configuration must equal the built one and only
its ROM contents (``w_x``, ``w_h``, ``w_out``) may differ: :func:`flows.bram.check_patchable`
names anything else. The new words go into the placeholder configuration kept by the
build (``placeholder.config``), ``ecppack`` packs it, and the result is written to
``build/synth/<board>/<model>/weights/<name>/top.bit``; the original bitstream stays.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from model.config import ConfigError
from model.export import swap_into_place

from .boards import DEFAULT_BOARD, BoardError, board as get_board
from .bram import BramError, check_patchable, patch_config, patchable_roms, placeholder_params
from .tools import ToolError, run_tool

__all__ = ["patch_bitstream", "main"]

ROOT = Path(__file__).resolve().parent.parent


def patch_bitstream(build: Path, weights: str, out_dir: Path | None = None) -> Path:
    """Write ``weights`` into the bitstream built in ``build``; returns the new ``top.bit``."""
    from hw.config import HardwareConfig
    from .synth import load_model
    build = Path(build)
    flow_file, roms_file = build / "flow.json", build / "roms.json"
    if not (flow_file.exists() and roms_file.exists() and (build / "placeholder.config").exists()):
        raise BramError(f"no ECP5 build in {build}: run 'make synth' for that board and model first")
    flow = json.loads(flow_file.read_text())
    roms = json.loads(roms_file.read_text())
    if flow.get("family") != "ecp5":
        raise BramError(f"{build} is a {flow.get('family')} build; only ECP5 bitstreams can be patched")
    source = flow["model_source"]
    built = load_model(source if Path(source).exists() else flow["model"].removesuffix("-random"),
                       seed=roms["placeholder_seed"])
    new = load_model(weights)
    a, b = dict(built.cfg.to_dict()), dict(new.cfg.to_dict())
    a.pop("name", None), b.pop("name", None)
    if a != b:
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        raise BramError(f"the weights package {weights!r} has another configuration than the "
                        f"built design ({', '.join(diff)} differ); run 'make synth' with it instead")
    check_patchable(built.params, new.params)
    hw = HardwareConfig(built.cfg, lanes=roms["lanes"], par=roms["par"])
    placeholder = placeholder_params(hw, built.params, seed=roms["placeholder_seed"])
    name = new.manifest.get("name") or Path(weights).name
    out_dir = Path(out_dir) if out_dir else build / "weights" / name
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        counts = patch_config(build / "placeholder.config", tmp / "top.config",
                              patchable_roms(hw, placeholder), patchable_roms(hw, new.params))
        print(f"  ecpbram: {', '.join(f'{k}: {v} bit slices' for k, v in counts.items())}")
        run_tool("ecppack", ["--compress", "--input", "top.config", "--bit", "top.bit"],
                 cwd=tmp, log=tmp / "ecppack.log", label="ecppack")
        swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "top.bit"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="make weights", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default=DEFAULT_BOARD)
    ap.add_argument("--model", default="digits", help="the model the bitstream was built for")
    ap.add_argument("--weights", required=True, help="the new weights package (name or folder)")
    ap.add_argument("--build", type=Path, help="build root (default build/synth)")
    args = ap.parse_args(argv)
    try:
        brd = get_board(args.board)
        root = args.build or ROOT / "build" / "synth"
        build = root / brd.name / args.model
        if not build.exists() and (root / brd.name / f"{args.model}-random").exists():
            build = root / brd.name / f"{args.model}-random"
        bit = patch_bitstream(build, args.weights)
    except (BoardError, ConfigError, BramError, ToolError) as err:
        print(f"spikegate: {err}", file=sys.stderr)
        return 2
    print(f"wrote {bit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``make weights``: another weights package into an existing ECP5 bitstream, no synthesis.

    python -m flows.weights --board ulx3s-85f --model digits --weights path/to/package

``--model`` names the build (``build/synth/<board>/<model>/``, made by ``make synth``);
``--weights`` is the new package. Its configuration must equal the built one; all of its
integers may differ (weights, biases, start membranes, thresholds, readout biases: every
one lives in block RAM, :mod:`flows.bram`). The new words go into the placeholder configuration kept by the
build (``placeholder.config``), ``ecppack`` packs it, and the result is written to
``build/synth/<board>/<model>/weights/<name>-<digest>/top.bit`` (the digest of the
ROM contents, :func:`rom_digest`); the original bitstream stays.
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
from .bram import BramError, patch_config, patchable_roms, placeholder_params
from .tools import ToolError, run_tool

__all__ = ["patch_bitstream", "rom_digest", "main"]

ROOT = Path(__file__).resolve().parent.parent


def built_package(flow: dict, roms: dict):
    """The package a build was made from: its folder, or for random weights the recorded
    configuration (a preset, maybe changed by make compare) and seed."""
    from .synth import load_model
    source = flow["model_source"]
    if Path(source).exists():
        return load_model(source, seed=roms["placeholder_seed"])
    from model.config import NetworkConfig
    from model.export import Package
    from model.params import random_params
    cfg = NetworkConfig.from_dict(flow["net"])
    seed = flow.get("random_seed")
    seed = roms["placeholder_seed"] if seed is None else seed
    return Package(path=None, cfg=cfg, params=random_params(cfg, seed), manifest={"name": flow["model"]})


def rom_digest(params) -> str:
    """The first 12 hex digits of the SHA-256 of every integer array of the package
    (each layer's in order, then w_out and b_out), as 64-bit integers: what a patched
    bitstream holds."""
    import hashlib

    import numpy as np
    h = hashlib.sha256()
    for arr in ([getattr(lp, name) for lp in params.layers for name in lp.names]
                + [params.w_out, params.b_out]):
        a = np.ascontiguousarray(np.asarray(arr, dtype=np.int64))
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:12]


def patch_bitstream(build: Path, weights: str, out_dir: Path | None = None) -> Path:
    """Write ``weights`` into the bitstream built in ``build``; returns the new ``top.bit``."""
    from hw.config import HardwareConfig
    from .synth import load_model
    build = Path(build)
    flow, roms = _finished_build(build)
    built = built_package(flow, roms)
    new = load_model(weights)
    a, b = dict(built.cfg.to_dict()), dict(new.cfg.to_dict())
    a.pop("name", None), b.pop("name", None)
    if a != b:
        diff = [f"{k} {a.get(k)!r} built, {b.get(k)!r} in the package"
                for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        raise BramError(f"the weights package {weights!r} has another configuration than the "
                        f"built design ({'; '.join(diff)}); run 'make synth' with it instead")
    hw = HardwareConfig(built.cfg, lanes=roms["lanes"], par=roms["par"])
    placeholder = placeholder_params(hw, seed=roms["placeholder_seed"])
    name = new.manifest.get("name") or Path(weights).name
    # keyed by the name and the ROM contents: two packages of one name (retrained, or
    # from another folder) get two bitstreams, and the same package the same folder
    out_dir = Path(out_dir) if out_dir else build / "weights" / f"{name}-{rom_digest(new.params)}"
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


def _finished_build(build: Path) -> tuple[dict, dict]:
    """``flow.json`` and ``roms.json`` of a finished ECP5 build in ``build``, after a look
    at the files a patch reads or replaces: the placeholder configuration must be the
    textual configuration of the recorded device, ``top.bit`` a bitstream of it (the
    header ``ecppack`` writes). A damaged build is named here, not by a tool later."""
    again = "; run 'make synth' for that board and model again"
    files = {name: build / name for name in ("flow.json", "roms.json", "placeholder.config", "top.bit")}
    if not all(f.is_file() for f in files.values()):
        raise BramError(f"no ECP5 build in {build}: run 'make synth' for that board and model first")
    records = []
    for name in ("flow.json", "roms.json"):
        try:
            records.append(json.loads(files[name].read_text()))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BramError(f"{files[name]} is not valid JSON ({err}){again}") from None
    flow, roms = records
    if not (isinstance(flow, dict) and isinstance(roms, dict)
            and {"family", "device", "model", "model_source"} <= set(flow)
            and {"placeholder_seed", "lanes", "par"} <= set(roms)):
        raise BramError(f"{build}: flow.json or roms.json lacks the fields of a finished build{again}")
    if flow["family"] != "ecp5":
        raise BramError(f"{build} is a {flow['family']} build; only ECP5 bitstreams can be patched")
    device = str(flow["device"])
    with open(files["placeholder.config"], "rb") as f:
        head = f.read(256)
    if not head.startswith(f".device {device}".encode()):
        raise BramError(f"{files['placeholder.config']} is not a textual ECP5 configuration of "
                        f"{device} (it does not start with '.device {device}'){again}")
    with open(files["top.bit"], "rb") as f:
        head = f.read(4096)
    if not (head.startswith(b"\xff\x00") and f"Part: {device}".encode() in head
            and b"\xff\xff\xbd\xb3" in head):
        raise BramError(f"{files['top.bit']} is not an ECP5 bitstream of {device} (no ecppack "
                        f"header naming the part, or no preamble){again}")
    return flow, roms


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m flows.weights", description=__doc__,
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
    from model.cli import run_command
    run_command(main)

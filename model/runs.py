"""The folder of one trained model (``build/train/<dataset>/T<steps>``), and JSON values.

``model.train`` writes these folders and ``model.export`` reads them; both import this
module, neither imports the other.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .config import NetworkConfig
from .params import LayerParams, NetworkParams

__all__ = ["jsonable", "save_trained", "load_trained"]


def jsonable(o):
    """``json.dumps`` default for NumPy scalars and arrays."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


def save_trained(folder: Path, cfg: NetworkConfig, params: NetworkParams, meta: dict,
                 **extra: np.ndarray):
    """The integer result of one T: ``params.npz`` and ``result.json`` (read by model.export)."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"w_out": params.w_out, "b_out": params.b_out, **extra}
    for l, lp in enumerate(params.layers):
        for spec in cfg.cell_def().params:
            arrays[f"l{l}_{spec.name}"] = getattr(lp, spec.name)
    np.savez(folder / "params.npz", **arrays)
    (folder / "result.json").write_text(json.dumps({"config": cfg.to_dict(), **meta}, indent=1,
                                                   default=jsonable))


def load_trained(folder: str | os.PathLike) -> tuple[NetworkConfig, NetworkParams, dict]:
    """Read back what :func:`save_trained` wrote."""
    folder = Path(folder)
    meta = json.loads((folder / "result.json").read_text())
    cfg = NetworkConfig.from_dict(meta["config"])
    with np.load(folder / "params.npz") as z:
        layers = [LayerParams(**{s.name: z[f"l{l}_{s.name}"] for s in cfg.cell_def().params})
                  for l in range(cfg.layers)]
        params = NetworkParams(layers, z["w_out"], z["b_out"])
    return cfg, params.validate(cfg), meta

"""Integer parameters of a network, with range checks and random init, by its cell's spec."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import numerics as nr
from .cells import uniform
from .config import ConfigError, NetworkConfig

__all__ = ["LayerParams", "NetworkParams", "random_params", "param_ranges"]


class LayerParams:
    """One layer's integer arrays, by the names of its cell's parameter spec
    (:attr:`model.cells.Cell.params`). For the Datta cell, gate axis order
    :data:`model.numerics.GATES`, membrane axis order :data:`model.numerics.MEMBRANES`:

    * ``w_x[4, H, M_in]``, ``w_h[4, H, H]``: signed ``w_bits`` weights;
    * ``bias[4, H]``: signed ``acc_bits``, added into the gate accumulator;
    * ``u0[5, H]``: membrane start value for every element (bias shift lives here or
      in ``bias``), signed ``u_bits``;
    * ``theta_pos[5]``, ``theta_neg[5]``: firing thresholds, 1 .. 2**(u_bits-1)-1;
      ``theta_neg`` (magnitude of the negative threshold) is used by g and c only.
    """

    def __init__(self, **arrays):
        self.__dict__.update(arrays)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.__dict__)

    def replace(self, **changes) -> "LayerParams":
        unknown = sorted(set(changes) - set(self.__dict__))
        if unknown:
            raise ConfigError(f"layer parameters have no {', '.join(unknown)}")
        return LayerParams(**{**self.__dict__, **changes})

    def __repr__(self):
        return f"LayerParams({', '.join(self.names)})"


@dataclass
class NetworkParams:
    layers: list[LayerParams]
    w_out: np.ndarray  # [classes, H_last], signed w_bits
    b_out: np.ndarray  # [classes], signed logit_bits

    def validate(self, cfg: NetworkConfig) -> "NetworkParams":
        """Check every array's shape and range against ``cfg``; raise ConfigError."""
        def check(name, arr, shape, bits=None, lo=None, hi=None):
            arr = np.asarray(arr)
            if arr.shape != shape:
                raise ConfigError(f"{name} has shape {arr.shape}, config {cfg.name!r} needs {shape}")
            if not np.issubdtype(arr.dtype, np.integer):
                raise ConfigError(f"{name} must hold integers, got dtype {arr.dtype}")
            if bits is not None:
                lo, hi = nr.signed_range(bits)
            if arr.size and (arr.min() < lo or arr.max() > hi):
                raise ConfigError(f"{name} has values in [{arr.min()}, {arr.max()}], "
                                  f"outside the allowed [{lo}, {hi}]")

        if len(self.layers) != cfg.layers:
            raise ConfigError(f"parameters have {len(self.layers)} layers, config has {cfg.layers}")
        cell = cfg.cell_def()
        for l, p in enumerate(self.layers):
            for spec in cell.params:
                if not hasattr(p, spec.name):
                    raise ConfigError(f"layer {l} has no {spec.name} (cell {cell.name!r} needs "
                                      f"{', '.join(s.name for s in cell.params)})")
                lo, hi = spec.range(cfg)
                check(f"layer {l} {spec.name}", getattr(p, spec.name), spec.shape(cell, cfg, l),
                      lo=lo, hi=hi)
        check("readout w_out", self.w_out, (cfg.classes, cfg.hidden[-1]), cfg.w_bits)
        check("readout b_out", self.b_out, (cfg.classes,), cfg.logit_bits)
        return self


def param_ranges(cfg: NetworkConfig) -> dict[str, tuple[int, int]]:
    """The range of every parameter by its name: the cell's parameter spec (layers), the
    readout weights at ``w_bits`` and the readout bias at ``logit_bits``, as
    :meth:`NetworkParams.validate` checks them (fake quantization clamps to these)."""
    ranges = {s.name: s.range(cfg) for s in cfg.cell_def().params}
    ranges["w_out"] = nr.signed_range(cfg.w_bits)
    ranges["b_out"] = nr.signed_range(cfg.logit_bits)
    return ranges


def random_params(cfg: NetworkConfig, seed: int = 0, *, density: float = 0.3,
                  threshold_scale: float = 1.0) -> NetworkParams:
    """Deterministic random integers that give moderate spike rates.

    Thresholds are set near one standard deviation of a gate input when a fraction
    ``density`` of the inputs spike, times ``threshold_scale``; the cell draws its
    layer's arrays (:meth:`model.cells.Cell.random_layer`).
    """
    rng = np.random.default_rng(seed)
    w_hi = nr.signed_range(cfg.w_bits)[1]
    u_hi = nr.signed_range(cfg.u_bits)[1]
    cell = cfg.cell_def()
    layers = []
    for l, h in enumerate(cfg.hidden):
        m = cfg.layer_inputs(l)
        fan_in = m + h
        if l == 0 and cfg.encoding == "direct":
            fan_in = m * (1 << (cfg.x_bits - 1)) ** 2 / 3 + h
        sigma = w_hi / np.sqrt(3) * np.sqrt(max(density * fan_in, 1.0))
        base = max(1, min(u_hi, int(sigma * threshold_scale)))
        layers.append(LayerParams(**cell.random_layer(cfg, l, rng, base)))
    params = NetworkParams(
        layers=layers,
        w_out=uniform(rng, cfg.w_bits, (cfg.classes, cfg.hidden[-1])),
        b_out=np.clip(uniform(rng, cfg.w_bits, (cfg.classes,)), *nr.signed_range(cfg.logit_bits)),
    )
    return params.validate(cfg)

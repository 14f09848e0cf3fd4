"""Integer parameters of a spiking LSTM network, with range checks and random init."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import numerics as nr
from .config import ConfigError, NetworkConfig

__all__ = ["LayerParams", "NetworkParams", "random_params"]


@dataclass
class LayerParams:
    """One layer's integers. Gate axis order is :data:`model.numerics.GATES`; the
    membrane axis order is :data:`model.numerics.MEMBRANES`.

    * ``w_x[4, H, M_in]``, ``w_h[4, H, H]``: signed ``w_bits`` weights;
    * ``bias[4, H]``: signed ``acc_bits``, added into the gate accumulator;
    * ``u0[5, H]``: membrane start value for every element (bias shift lives here or
      in ``bias``), signed ``u_bits``;
    * ``theta_pos[5]``, ``theta_neg[5]``: firing thresholds, 1 .. 2**(u_bits-1)-1;
      ``theta_neg`` (magnitude of the negative threshold) is used by g and c only.
    """

    w_x: np.ndarray
    w_h: np.ndarray
    bias: np.ndarray
    u0: np.ndarray
    theta_pos: np.ndarray
    theta_neg: np.ndarray


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
        u_hi = nr.signed_range(cfg.u_bits)[1]
        for l, p in enumerate(self.layers):
            h, m = cfg.hidden[l], cfg.layer_inputs(l)
            check(f"layer {l} w_x", p.w_x, (4, h, m), cfg.w_bits)
            check(f"layer {l} w_h", p.w_h, (4, h, h), cfg.w_bits)
            check(f"layer {l} bias", p.bias, (4, h), cfg.acc_bits)
            check(f"layer {l} u0", p.u0, (5, h), cfg.u_bits)
            check(f"layer {l} theta_pos", p.theta_pos, (5,), lo=1, hi=u_hi)
            check(f"layer {l} theta_neg", p.theta_neg, (5,), lo=1, hi=u_hi)
        check("readout w_out", self.w_out, (cfg.classes, cfg.hidden[-1]), cfg.w_bits)
        check("readout b_out", self.b_out, (cfg.classes,), cfg.logit_bits)
        return self


def _uniform(rng, bits, shape, scale=1.0):
    lo, hi = nr.signed_range(bits)
    lo, hi = int(lo * scale), int(hi * scale)
    return rng.integers(lo, hi + 1, size=shape, dtype=np.int64)


def random_params(cfg: NetworkConfig, seed: int = 0, *, density: float = 0.3,
                  threshold_scale: float = 1.0) -> NetworkParams:
    """Deterministic random integers that give moderate spike rates.

    Thresholds are set near one standard deviation of a gate input when a fraction
    ``density`` of the inputs spike, times ``threshold_scale``.
    """
    rng = np.random.default_rng(seed)
    w_hi = nr.signed_range(cfg.w_bits)[1]
    u_hi = nr.signed_range(cfg.u_bits)[1]
    layers = []
    for l, h in enumerate(cfg.hidden):
        m = cfg.layer_inputs(l)
        fan_in = m + h
        if l == 0 and cfg.encoding == "direct":
            fan_in = m * (1 << (cfg.x_bits - 1)) ** 2 / 3 + h
        sigma = w_hi / np.sqrt(3) * np.sqrt(max(density * fan_in, 1.0))
        base = max(1, min(u_hi, int(sigma * threshold_scale)))

        # c moves by i*g per step: +-1 when both spike, up to the non-spiking maximum.
        c_step = 1 if cfg.nonspiking == "none" else nr.hard_tanh_max(cfg.ns_bits)
        c_index = nr.MEMBRANES.index("c")

        def thresholds():
            t = rng.integers(max(1, base // 4), base + 1, size=5)
            t[c_index] = rng.integers(1, c_step + 1)
            return np.clip(t, 1, u_hi).astype(np.int64)

        u0 = rng.integers(-base // 2, base // 2 + 1, size=(5, h))
        u0[c_index] = rng.integers(0, 2 * c_step + 1, size=h)

        layers.append(LayerParams(
            w_x=_uniform(rng, cfg.w_bits, (4, h, m)),
            w_h=_uniform(rng, cfg.w_bits, (4, h, h)),
            bias=np.clip(_uniform(rng, cfg.w_bits, (4, h)), *nr.signed_range(cfg.acc_bits)),
            u0=np.clip(u0, *nr.signed_range(cfg.u_bits)),
            theta_pos=thresholds(),
            theta_neg=thresholds(),
        ))
    params = NetworkParams(
        layers=layers,
        w_out=_uniform(rng, cfg.w_bits, (cfg.classes, cfg.hidden[-1])),
        b_out=np.clip(_uniform(rng, cfg.w_bits, (cfg.classes,)), *nr.signed_range(cfg.logit_bits)),
    )
    return params.validate(cfg)

"""First-layer input encodings (DESIGN §2.3), bit-exact with the hardware encoders."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import numerics as nr
from .config import ConfigError, NetworkConfig

__all__ = ["check_input", "encode", "rate_draws", "random_input"]


def check_input(cfg: NetworkConfig, x) -> np.ndarray:
    """Validate a batch of raw inputs and return it as int64 with a batch axis.

    ``spikes``: ``[B, N, T, M]`` (or without B) in {-1, 0, +1}. ``direct``: ``[B, N, M]``
    signed ``x_bits``. ``rate`` / ``level``: ``[B, N, M]`` unsigned ``x_bits``.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer) and not np.issubdtype(x.dtype, np.bool_):
        raise ConfigError(f"inputs must be integers, got dtype {x.dtype} (float features: "
                          f"model.data.to_integers turns them into the raw integer input)")
    if cfg.encoding == "spikes":
        want = (cfg.length, cfg.steps, cfg.inputs)
        if x.shape == want:
            x = x[None]
        if x.ndim != 4 or x.shape[1:] != want:
            raise ConfigError(f"'spikes' input needs shape [B, N={cfg.length}, T={cfg.steps}, "
                              f"M={cfg.inputs}], got {list(x.shape)}")
        lo, hi = -1, 1
    else:
        want = (cfg.length, cfg.inputs)
        if x.shape == want:
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != want:
            raise ConfigError(f"{cfg.encoding!r} input needs shape [B, N={cfg.length}, "
                              f"M={cfg.inputs}], got {list(x.shape)}")
        if cfg.encoding == "direct":
            lo, hi = nr.signed_range(cfg.x_bits)
        else:
            lo, hi = 0, nr.unsigned_max(cfg.x_bits)
    # the range is checked in the given type: a uint64 2**64-1 cast first would read -1
    if x.size and (x.min() < lo or x.max() > hi):
        raise ConfigError(f"{cfg.encoding!r} inputs must lie in [{lo}, {hi}], "
                          f"got values in [{x.min()}, {x.max()}]")
    return x.astype(np.int64)


@lru_cache(maxsize=32)
def rate_draws(seed: int, bits: int, length: int, steps: int, inputs: int) -> np.ndarray:
    """The LFSR draws ``[N, T, M]`` of one sequence (the same for every sequence)."""
    out = np.empty(length * steps * inputs, dtype=np.int64)
    state = seed
    for j in range(out.size):
        out[j], state = nr.lfsr_draw(state, bits)
    out = out.reshape(length, steps, inputs)
    out.setflags(write=False)
    return out


def encode(cfg: NetworkConfig, x) -> np.ndarray:
    """Layer-0 input per (element, step): ``[B, N, T, M_in]`` int8 spikes, or for
    ``direct`` the multi-bit features ``[B, N, M]`` (the same at every step)."""
    x = check_input(cfg, x)
    if cfg.encoding == "spikes":
        return x.astype(np.int8)
    if cfg.encoding == "direct":
        return x
    if cfg.encoding == "rate":
        draws = rate_draws(cfg.lfsr_seed, cfg.x_bits, cfg.length, cfg.steps, cfg.inputs)
        return (draws[None] < x[:, :, None, :]).astype(np.int8)
    # level: one reference level per channel, starting at 0 for every sequence; at
    # each step it moves one level toward the input's level and emits an up or down
    # spike on channel m or M + m.
    b = x.shape[0]
    levels = nr.level_of(x, cfg.level_shift)
    ref = np.zeros((b, cfg.inputs), dtype=np.int64)
    out = np.zeros((b, cfg.length, cfg.steps, 2 * cfg.inputs), dtype=np.int8)
    for n in range(cfg.length):
        for k in range(cfg.steps):
            up = levels[:, n] > ref
            down = levels[:, n] < ref
            ref += up.astype(np.int64) - down
            out[:, n, k, :cfg.inputs] = up
            out[:, n, k, cfg.inputs:] = down
    return out


def random_input(cfg: NetworkConfig, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random raw inputs of the kind and range ``cfg.encoding`` takes."""
    if cfg.encoding == "spikes":
        return rng.integers(-1, 2, (batch, cfg.length, cfg.steps, cfg.inputs))
    if cfg.encoding == "direct":
        lo, hi = nr.signed_range(cfg.x_bits)
        return rng.integers(lo, hi + 1, (batch, cfg.length, cfg.inputs))
    return rng.integers(0, nr.unsigned_max(cfg.x_bits) + 1, (batch, cfg.length, cfg.inputs))

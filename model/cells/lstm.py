"""The quantized non-spiking LSTM: the iso-architecture baseline of Datta et al.

The same network shape as the spiking LSTM (M inputs, H per layer, N elements, the same
readout), with multi-bit activations instead of spikes and one step per element
(``steps`` = 1: nothing to pipeline over spike steps). Every activation is fixed point
with the unit ``2**frac_bits`` (written F below), on the engine's exact gate sums
``z = sat_acc(W_x . x + W_h . h(n-1) + b)``, which here are multiply-accumulates::

    f, i, o  = hard_sigmoid_unit(z, ns_shift, F)   clamp((z >> ns_shift) + 2**(F-1), 0, 2**F)
    g        = hard_tanh_unit(z, ns_shift, F)      clamp(z >> ns_shift, -2**F, 2**F)
    c(n)     = sat_c((f * c(n-1) + i * g) >> F)    two exact products, one floor, one saturation
    h(n)     = (o * clamp(c(n), -2**F, 2**F)) >> F in [-2**F, 2**F]: F + 2 bits, signed

``c`` is carried to element n+1 (zero for n = 0); ``h`` feeds the next element and the
layer above through ``W_h`` / ``W_x``. There are no membranes, thresholds or start
values. The products (two for c, one for h per neuron, and every weight times a
multi-bit input) are real multiplies: the hardware maps them to DSP blocks.
"""

from __future__ import annotations

import numpy as np

from .. import numerics as nr
from . import Cell, check_ns_shift, uniform, unit_weight_scale

#: the presets whose size has a named baseline, ``<preset>-lstm``
BASELINE_PRESETS = ("digits", "tmnist", "gsc", "uci")

__all__ = ["QuantizedLSTM", "CELL", "baseline_config", "BASELINE_PRESETS"]


class QuantizedLSTM(Cell):
    name = "lstm"
    GATES = nr.GATES            # f, i, o, g
    MEMBRANES = ()
    CARRY = (("c", "c_bits"),)
    PARAMS = ()
    RECORD = {"gates": (("G",), np.int32), "c": ((), np.int32)}

    def h_bits(self, cfg) -> int:
        return cfg.frac_bits + 2

    def validate(self, cfg, need):
        need(cfg.steps == 1, f"the {self.name} cell is not spiking: it takes steps=1 (T), got {cfg.steps}")
        need(cfg.encoding == "direct",
             f"the {self.name} cell takes multi-bit inputs: encoding='direct', got {cfg.encoding!r}")
        need(cfg.nonspiking == "none", f"the {self.name} cell has no spiking gate to keep "
                                       f"(nonspiking={cfg.nonspiking!r})")
        check_ns_shift(cfg, need)
        need(cfg.c_bits >= cfg.frac_bits + 2,
             f"c_bits={cfg.c_bits} cannot hold +-1.0 with frac_bits={cfg.frac_bits} "
             f"(needs at least {cfg.frac_bits + 2})")

    def random_config(self, cfg, rng):
        frac = int(rng.integers(2, 8))
        return cfg.replace(cell=self.name, nonspiking="none", steps=1, encoding="direct",
                           frac_bits=frac, c_bits=max(cfg.c_bits, frac + 2), leak_shift=())

    def step(self, cfg, p, z, u, carry, ops):
        (c_prev,) = carry
        frac, shift = cfg.frac_bits, cfg.ns_shift
        f, i, o = (nr.hard_sigmoid_unit(z[..., a, :], shift, frac) for a in range(3))
        g = nr.hard_tanh_unit(z[..., 3, :], shift, frac)
        kept = nr.exact_product(f, c_prev) + nr.exact_product(i, g)
        c = nr.saturate(nr.floor_shift(kept, frac), cfg.c_bits, ops.tally, "c")
        h = nr.floor_shift(nr.exact_product(o, nr.clamp_unit(c, frac)), frac)
        return u, (c,), h, {"gates": ops.stack([f, i, o, g], -2), "c": c}

    def random_layer(self, cfg, layer, rng, base):
        h, m = cfg.hidden[layer], cfg.layer_inputs(layer)
        # weights scaled so that a gate sum is about one unit 2**(F + ns_shift) wide: the
        # gates then use their whole range instead of sitting at 0 or 1
        x_rms = (1 << (cfg.x_bits - 1)) / np.sqrt(3) if layer == 0 else nr.unit(cfg.frac_bits) / 2
        h_rms = nr.unit(cfg.frac_bits) / 2
        scale = unit_weight_scale(cfg, m, h, x_rms, h_rms)
        return {
            "w_x": uniform(rng, cfg.w_bits, (4, h, m), scale),
            "w_h": uniform(rng, cfg.w_bits, (4, h, h), scale),
            "bias": np.clip(uniform(rng, cfg.w_bits, (4, h), scale), *nr.signed_range(cfg.acc_bits)),
        }

    def activity(self, cfg, trace, cells):
        # per neuron and element: three products (f*c, i*g, o*c) on top of the MACs
        return {"products": 3 * cells * trace.h.shape[-1], "comparisons": 0}


CELL = QuantizedLSTM()


def baseline_config(dataset: str, **changes):
    """The baseline of the same size as the spiking preset of ``dataset`` (``tiny`` for
    an unknown one): the same M, H, N and classes, T = 1, direct inputs (a
    :class:`model.config.NetworkConfig`)."""
    from ..config import preset
    base = dict(cell="lstm", encoding="direct", steps=1, c_bits=14)
    name = dataset if dataset in BASELINE_PRESETS else "tiny"
    return preset(name, **{**base, **changes}).replace(name=f"{dataset}-lstm")

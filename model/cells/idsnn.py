"""The spiking neuron with improved inherent recurrence dynamics of Ponghiran & Roy
("Spiking Neural Networks with Improved Inherent Recurrence Dynamics for Sequential
Learning", AAAI 2022), version 2: the forget signal and the candidate current read the
layer's own previous outputs as well as its inputs (version 1 is this cell with the
recurrent weights ``w_h`` at zero).

Two gate rows per neuron on the engine's saturated sums ``z = sat_acc(W_x x + W_h Y(n-1)
+ b)``, fixed point on the unit ``2**F`` (F = ``frac_bits``) as in the baseline LSTM::

    F(n)  = clamp((z_f >> ns_shift) + 2**(F-1), 0, 2**F)      hard sigmoid (paper: sigmoid)
    C(n)  = clamp(z_c >> ns_shift, 0, 2**F)                   relu held to 1.0
    I(n)  = sat_c((F * I(n-1) + (2**F - F) * C) >> F)         two exact products, one floor
    V(n)  = sat_u(leak(V(n-1)) + I(n))                         leak U - (U >> s), s = leak_shift
    Y(n)  = V > theta ? clamp(V >> F, 1, Ymax) : 0             multi-bit output, Ymax = 2**(ns_bits-1) - 1
    V(n) -= Y(n) * 2**F                                        soft reset by what was sent

``I`` and ``V`` are carried from element n-1 to n (zero for n = 0; the reset by Y(n-1) is
applied to V at once, so Y itself need not be kept, and Y(n-1) reaches the gates through
``W_h``); nothing runs along the spike steps (no membranes), so with T > 1 each step k is
a chain of its own.
``Y`` is a signed ``ns_bits`` value: the next element and the layer above take it as a
multi-bit input (multiply-accumulates). The two products of ``I`` are real multiplies
(DSP blocks in hardware); the reset is a shift.
"""

from __future__ import annotations

import numpy as np

from .. import numerics as nr
from . import Cell, ParamSpec, check_ns_shift, uniform, unit_weight_scale

__all__ = ["ImprovedDynamicsSNN", "CELL", "y_max"]


def y_max(cfg) -> int:
    """The largest output level."""
    return nr.signed_range(cfg.ns_bits)[1]


class ImprovedDynamicsSNN(Cell):
    name = "idsnn"
    GATES = ("f", "c")
    MEMBRANES = ()
    LEAKS = ("v",)
    CARRY = (("i", "c_bits"), ("v", "u_bits"))
    PARAMS = (ParamSpec("theta", (), "u_bits", "constant", lo=1),)
    RECORD = {"gates": (("G",), np.int32), "i": ((), np.int32)}

    def h_bits(self, cfg) -> int:
        return cfg.ns_bits

    def h_max(self, cfg) -> int:
        return y_max(cfg)

    def validate(self, cfg, need):
        need(cfg.nonspiking == "none", f"the {self.name} cell has no gate to keep non-spiking "
                                       f"(nonspiking={cfg.nonspiking!r})")
        check_ns_shift(cfg, need)
        need(cfg.c_bits >= cfg.frac_bits + 2,
             f"c_bits={cfg.c_bits} cannot hold the current I up to 1.0 with frac_bits={cfg.frac_bits} "
             f"(needs at least {cfg.frac_bits + 2})")
        need(cfg.u_bits >= cfg.frac_bits + 2,
             f"u_bits={cfg.u_bits} cannot hold V up to 1.0 with frac_bits={cfg.frac_bits} "
             f"(needs at least {cfg.frac_bits + 2})")

    def random_config(self, cfg, rng):
        frac = int(rng.integers(2, 7))
        return cfg.replace(cell=self.name, nonspiking="none", frac_bits=frac,
                           c_bits=max(cfg.c_bits, frac + 2), u_bits=max(cfg.u_bits, frac + 2),
                           ns_bits=int(rng.integers(2, 5)), leak_shift=(int(rng.integers(0, 4)),))

    def step(self, cfg, p, z, u, carry, ops):
        i_prev, v_prev = carry
        frac, shift = cfg.frac_bits, cfg.ns_shift
        f = nr.hard_sigmoid_unit(z[..., 0, :], shift, frac)
        c = nr.clamp_unit01(nr.floor_shift(z[..., 1, :], shift), frac)
        kept = nr.exact_product(f, i_prev) + nr.exact_product(nr.unit(frac) - f, c)
        i = nr.saturate(nr.floor_shift(kept, frac), cfg.c_bits, ops.tally, "c")
        v = nr.membrane_update(v_prev, i, cfg.leak_shift[0], cfg.u_bits, ops.tally)
        y, v = nr.fire_levels(v, p.theta, frac, y_max(cfg), ops.spike)
        return u, (i, v), y, {"gates": ops.stack([f, c], -2), "i": i}

    def random_layer(self, cfg, layer, rng, base):
        h, m = cfg.hidden[layer], cfg.layer_inputs(layer)
        # weights scaled so that a gate sum is about one unit 2**(F + ns_shift) wide (the
        # gates then use their range), as for the baseline LSTM
        x_rms = (1 << (cfg.x_bits - 1)) / np.sqrt(3) if layer == 0 and cfg.encoding == "direct" else 0.5
        h_rms = y_max(cfg) / 2
        scale = unit_weight_scale(cfg, m, h, x_rms, h_rms)
        unit = nr.unit(cfg.frac_bits)
        u_hi = nr.signed_range(cfg.u_bits)[1]
        bias = uniform(rng, cfg.w_bits, (2, h), scale)
        # C's bias up to one unit above zero, so the relu passes about half the sums and V
        # climbs (a silent network would test nothing)
        bias[1] = rng.integers(0, (1 << (cfg.frac_bits + cfg.ns_shift)) + 1, size=h)
        return {
            "w_x": uniform(rng, cfg.w_bits, (2, h, m), scale),
            "w_h": uniform(rng, cfg.w_bits, (2, h, h), scale),
            "bias": np.clip(bias, *nr.signed_range(cfg.acc_bits)),
            "theta": np.int64(min(u_hi, self._random_theta(cfg, rng))),
        }

    @staticmethod
    def _random_theta(cfg, rng) -> int:
        """Half the layers fire below one unit (Y mostly 1), half above, up to where V
        still gets with a current of about half a unit (``2**s`` times it under the leak
        ``U - (U >> s)``, unbounded without): V then climbs over several units before it
        fires, so Y takes its higher levels too."""
        unit = nr.unit(cfg.frac_bits)
        if rng.random() < 0.5:
            return int(rng.integers(1, max(1, unit // 2) + 1))
        s = cfg.leak_shift[0]
        top = (y_max(cfg) + 1) * unit if s == 0 else min((y_max(cfg) + 1) * unit, (unit << s) // 2)
        return int(rng.integers(unit // 2, max(unit // 2, top) + 1))

    def activity(self, cfg, trace, cells):
        # per neuron and cell: the two products of I and the one comparison
        h_size = trace.h.shape[-1]
        return {"gate_spikes": {"y": int(np.count_nonzero(trace.h))},
                "products": 2 * cells * h_size, "comparisons": cells * h_size}


CELL = ImprovedDynamicsSNN()

"""The spiking LSTM unit of Lotfi Rezaabad & Vishwanath ("Long Short-Term Memory Spiking
Networks and Their Applications", ICONS 2020).

Every gate is a binary spike of its gate sum, with no membrane: nothing is integrated
over the spike steps. On the engine's saturated sums ``z_a(n,k)``, for a in (f, i, o, g)::

    f, i, o, g = z_a(n,k) > theta_a                       (strict; one threshold per gate)
    c(n,k)     = min((f ? c(n-1,k) : 0) + (i AND g), 2)   carried to element n+1
    h(n,k)     = o ? c(n,k) : 0                           in {0, 1, 2}

The paper ties f, i and o to one threshold and gives g its own; the package holds one per
gate (the tied form is the special case). ``c`` counts: it is a select, an add and a clamp
at 2 (``numerics.count_update``), so the cell is AND / add only. ``h`` takes three values,
so it is a 3-bit signed output and the shared engine treats it as a multi-bit input of
the next element and of the layer above (a product stage, counted as multiply-accumulates;
with ``h`` at most 2 each product is a weight, its double or zero).

The float twin trains it with the paper's surrogate, a Gaussian of ``|u| - |theta|``
(``model.float_twin.GaussianSpikeStep``).
"""

from __future__ import annotations

import numpy as np

from .. import numerics as nr
from . import Cell, ParamSpec, uniform

__all__ = ["SpikingLSTMUnit", "CELL", "C_MAX"]

#: the largest value of the cell state (the paper's c in {0, 1, 2})
C_MAX = 2


class SpikingLSTMUnit(Cell):
    name = "slstm"
    GATES = nr.GATES            # f, i, o, g
    MEMBRANES = ()
    CARRY = (("c", "c_bits"),)
    PARAMS = (ParamSpec("theta", ("G",), "acc_bits", "constant", lo=1),)
    RECORD = {"gates": (("G",), np.int8), "c": ((), np.int8)}
    SURROGATE = "gaussian"

    def h_bits(self, cfg) -> int:
        return 3  # h in {0, 1, 2}, signed like every h

    def validate(self, cfg, need):
        need(cfg.nonspiking == "none",
             f"the {self.name} cell has every gate spiking (nonspiking={cfg.nonspiking!r})")
        need(cfg.c_bits >= 3, f"the {self.name} cell's c reaches {C_MAX}: c_bits must be 3 "
                              f"or more, got {cfg.c_bits}")

    def random_config(self, cfg, rng):
        return cfg.replace(cell=self.name, nonspiking="none", leak_shift=())

    def step(self, cfg, p, z, u, carry, ops):
        (c_prev,) = carry
        f, i, o, g = (nr.fire_binary(z[..., a, :], p.theta[a], ops.spike)[0] for a in range(4))
        c = nr.count_update(f, c_prev, nr.gate_product(i, g, True), C_MAX, ops.tally)
        h = nr.h_output(o, c)
        return u, (c,), h, {"gates": ops.stack([f, i, o, g], -2), "c": c}

    def random_layer(self, cfg, layer, rng, base):
        h, m = cfg.hidden[layer], cfg.layer_inputs(layer)
        acc_lo, acc_hi = nr.signed_range(cfg.acc_bits)
        theta = np.clip(rng.integers(1, max(2, base // 2) + 1, size=4), 1, acc_hi).astype(np.int64)
        # biases near the thresholds, so that each gate fires about half the time and c
        # reaches 2 (a silent network would test nothing)
        bias = theta[:, None] + rng.integers(-base // 2, base // 2 + 1, size=(4, h))
        return {
            "w_x": uniform(rng, cfg.w_bits, (4, h, m)),
            "w_h": uniform(rng, cfg.w_bits, (4, h, h)),
            "bias": np.clip(bias, acc_lo, acc_hi),
            "theta": theta,
        }

    def activity(self, cfg, trace, cells):
        return {"gate_spikes": {g: int(np.count_nonzero(trace.gates[..., a, :]))
                                for a, g in enumerate(self.GATES)},
                "comparisons": cells * trace.h.shape[-1] * len(self.GATES)}


CELL = SpikingLSTMUnit()

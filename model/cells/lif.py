"""A recurrent leaky integrate-and-fire layer whose membrane persists from element to
element, with a hard reset: the neuron of NIR's ``LIF`` and ``IF`` nodes (and of
snnTorch's ``RLeaky``, Norse's ``LIFRecurrent``) on spikegate's integer rules, so that
a network of this cell at ``steps = 1`` is exactly a NIR graph (:mod:`model.nir`).

One gate row per neuron on the engine's saturated sum
``z(n,k) = sat_acc(W_x . x(n,k) + W_h . h(n-1,k) + b)``; the membrane ``v`` is carried
from element n-1 to n at the same step k (zero for n = 0)::

    v(n,k) = sat_u(leak(v(n-1,k)) + z(n,k))     leak v - (v >> s), s = leak_shift (0: IF)
    h(n,k) = v > theta                           binary spike, strict
    v(n,k) = h ? 0 : v                           hard reset to zero

Nothing runs along the spike steps (no membranes restarted per element), so with
T > 1 each step k is a chain of its own, as in the improved-dynamics cell; the NIR
mapping takes T = 1, one NIR time step per element. One threshold ``theta`` per layer.
"""

from __future__ import annotations

import numpy as np

from .. import numerics as nr
from . import Cell, ParamSpec, one_row_engine

__all__ = ["LeakyIntegrateAndFire", "CELL"]


class LeakyIntegrateAndFire(Cell):
    name = "lif"
    GATES = ("u",)
    MEMBRANES = ()
    LEAKS = ("v",)
    CARRY = (("v", "u_bits"),)
    PARAMS = (ParamSpec("theta", (), "u_bits", "constant", lo=1),)
    #: the membrane after its reset, for the traces (the carry itself is not kept in them)
    RECORD = {"v": ((), np.int32)}

    def validate(self, cfg, need):
        need(cfg.nonspiking == "none",
             f"the {self.name} cell has no gate to keep non-spiking (nonspiking={cfg.nonspiking!r})")

    def step(self, cfg, p, z, u, carry, ops):
        (v_prev,) = carry
        v = ops.membrane(0, v_prev, z[..., 0, :])
        h, v = nr.fire_binary_hard(v, p.theta, ops.spike)
        return u, (v,), h, {"v": v}

    def random_layer(self, cfg, layer, rng, base):
        u_hi = nr.signed_range(cfg.u_bits)[1]
        return {
            **one_row_engine(cfg, layer, rng),
            "theta": np.int64(min(u_hi, int(rng.integers(max(1, base // 4), base + 1)))),
        }

    def activity(self, cfg, trace, cells):
        return {"gate_spikes": {"v": int(np.count_nonzero(trace.h))},
                "comparisons": cells * trace.h.shape[-1]}


CELL = LeakyIntegrateAndFire()

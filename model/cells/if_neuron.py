"""A plain integrate-and-fire neuron layer: the smallest cell, and the worked example of
``docs/adding-a-cell.md``.

One gate row and one membrane per neuron, on the engine's saturated sum
``z(n,k) = sat_acc(W_x . x(n,k) + W_h . h(n-1,k) + b)``::

    U(n,k) = sat_u(leak(U(n,k-1)) + z(n,k)),  U(n,-1) = U0    (leak_shift 0: IF, no leak)
    h(n,k) = U > theta  (binary spike), soft reset: U -= theta

Nothing is carried from element n-1 but h itself (through ``W_h``).
"""

from __future__ import annotations

import numpy as np

from .. import numerics as nr
from . import Cell, ParamSpec, one_row_engine

__all__ = ["IFNeuron", "CELL"]


class IFNeuron(Cell):
    name = "if_neuron"
    GATES = ("u",)
    MEMBRANES = ("u",)
    CARRY = ()
    PARAMS = (
        ParamSpec("u0", ("S", "H"), "u_bits", "start"),
        ParamSpec("theta", ("S",), "u_bits", "constant", lo=1),
    )
    RECORD = {}

    def validate(self, cfg, need):
        need(cfg.nonspiking == "none",
             f"the {self.name} cell has no gate to keep non-spiking (nonspiking={cfg.nonspiking!r})")

    def step(self, cfg, p, z, u, carry, ops):
        v = ops.membrane(0, u[..., 0, :], z[..., 0, :])
        h, v = nr.fire_binary(v, p.theta[0], ops.spike)
        return ops.stack([v], -2), (), h, {}

    def random_layer(self, cfg, layer, rng, base):
        u_hi = nr.signed_range(cfg.u_bits)[1]
        return {
            **one_row_engine(cfg, layer, rng),
            "u0": np.clip(rng.integers(-base // 2, base // 2 + 1, size=(1, cfg.hidden[layer])),
                          *nr.signed_range(cfg.u_bits)),
            "theta": np.clip(rng.integers(max(1, base // 4), base + 1, size=1), 1, u_hi).astype(np.int64),
        }

    def activity(self, cfg, trace, cells):
        return {"gate_spikes": {"u": int(np.count_nonzero(trace.h))},
                "comparisons": cells * trace.h.shape[-1]}


CELL = IFNeuron()

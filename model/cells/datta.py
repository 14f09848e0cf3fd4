"""The spiking LSTM cell of Datta, Deng, Aviles & Beerel (the primary cell).

For element n and spike step k, gate rows a in (f, i, o, g), on the engine's saturated
gate sums ``z_a(n,k)``::

    U_a(n,k) = sat_u(leak_a(U_a(n,k-1)) + z_a(n,k)),  U_a(n,-1) = U0_a
    f, o, i  = binary spike of U (u > theta), soft reset       (i: or hard sigmoid of z)
    g        = ternary spike of U (+1 above theta+, -1 below -theta-), soft reset
                                                               (or hard tanh of z)
    c(n,k)   = sat_c((f ? c(n-1,k) : 0) + i*g)                 carried to element n+1
    U_c(n,k) = sat_u(leak_c(U_c(n,k-1)) + c(n,k)),  s_c = ternary spike of U_c
    h(n,k)   = o ? s_c : 0                                     in {-1, 0, +1}

At most one of i and g is kept non-spiking (``nonspiking``), so ``i * g`` is a select
or a negation, never a product. Every rule is one of :mod:`model.numerics`.
"""

from __future__ import annotations

import numpy as np

from .. import numerics as nr
from . import Cell, ParamSpec, check_ns_shift, uniform

__all__ = ["DattaLSTM", "CELL", "NONSPIKING"]

#: which gate is kept non-spiking ("none": all gates spike)
NONSPIKING = ("none", "i", "g")


class DattaLSTM(Cell):
    name = "datta"
    GATES = nr.GATES            # f, i, o, g
    MEMBRANES = nr.MEMBRANES    # f, i, o, g, c
    CARRY = (("c", "c_bits"),)
    PARAMS = (
        ParamSpec("u0", ("S", "H"), "u_bits", "start"),
        ParamSpec("theta_pos", ("S",), "u_bits", "constant", lo=1),
        ParamSpec("theta_neg", ("S",), "u_bits", "constant", lo=1),
    )
    #: gates: the spikes and the non-spiking gate's value, int16 unless ns_bits needs more
    RECORD = {"gates": (("G",), lambda cfg: np.int16 if nr.hard_sigmoid_max(cfg.ns_bits) < 1 << 15
                        else np.int64),
              "c": ((), np.int32), "s_c": ((), np.int8)}

    def validate(self, cfg, need):
        need(cfg.nonspiking in NONSPIKING,
             f"unknown nonspiking gate {cfg.nonspiking!r}; choose one of {', '.join(NONSPIKING)}")
        check_ns_shift(cfg, need)
        if cfg.nonspiking != "none":
            # i*g is added to c: the largest non-spiking value must fit in c.
            top = max(nr.hard_sigmoid_max(cfg.ns_bits), nr.hard_tanh_max(cfg.ns_bits))
            need(top <= nr.signed_range(cfg.c_bits)[1],
                 f"ns_bits={cfg.ns_bits} gives values up to {top}, which c_bits={cfg.c_bits} cannot hold")

    def step(self, cfg, p, z, u, carry, ops):
        (c_prev,) = carry
        outs, u_next = [], []
        for a, gate in enumerate(self.GATES):
            za = z[..., a, :]
            u_next.append(u[..., a, :])
            if gate == cfg.nonspiking:
                fn = nr.hard_sigmoid_q if gate == "i" else nr.hard_tanh_q
                outs.append(fn(za, cfg.ns_shift, cfg.ns_bits))
                continue
            v = ops.membrane(a, u[..., a, :], za)
            if gate == "g":
                spike, u_next[a] = nr.fire_ternary(v, p.theta_pos[a], p.theta_neg[a], ops.spike)
            else:
                spike, u_next[a] = nr.fire_binary(v, p.theta_pos[a], ops.spike)
            outs.append(spike)
        f, i, o, g = outs
        ig = nr.gate_product(i, g, cfg.i_spiking)
        c = nr.c_update(f, c_prev, ig, cfg.c_bits, ops.tally)
        ci = len(self.GATES)
        vc = ops.membrane(ci, u[..., ci, :], c)
        s_c, vc = nr.fire_ternary(vc, p.theta_pos[ci], p.theta_neg[ci], ops.spike)
        u_next.append(vc)
        h = nr.h_output(o, s_c)
        record = {"gates": ops.stack(outs, -2), "c": c, "s_c": s_c}
        return ops.stack(u_next, -2), (c,), h, record

    def random_layer(self, cfg, layer, rng, base):
        h, m = cfg.hidden[layer], cfg.layer_inputs(layer)
        u_hi = nr.signed_range(cfg.u_bits)[1]
        # c moves by i*g per step: +-1 when both spike, up to the non-spiking maximum.
        c_step = 1 if cfg.nonspiking == "none" else nr.hard_tanh_max(cfg.ns_bits)
        ci = self.MEMBRANES.index("c")

        def thresholds():
            t = rng.integers(max(1, base // 4), base + 1, size=len(self.MEMBRANES))
            t[ci] = rng.integers(1, c_step + 1)
            return np.clip(t, 1, u_hi).astype(np.int64)

        u0 = rng.integers(-base // 2, base // 2 + 1, size=(len(self.MEMBRANES), h))
        u0[ci] = rng.integers(0, 2 * c_step + 1, size=h)
        return {
            "w_x": uniform(rng, cfg.w_bits, (4, h, m)),
            "w_h": uniform(rng, cfg.w_bits, (4, h, h)),
            "bias": np.clip(uniform(rng, cfg.w_bits, (4, h)), *nr.signed_range(cfg.acc_bits)),
            "u0": np.clip(u0, *nr.signed_range(cfg.u_bits)),
            "theta_pos": thresholds(),
            "theta_neg": thresholds(),
        }

    def activity(self, cfg, trace, cells):
        h_size = trace.h.shape[-1]
        spiking = len(cfg.spiking_membranes)
        ternary = 1 + int(cfg.g_spiking)  # g (when spiking) and c compare twice
        return {
            "gate_spikes": {g: int(np.count_nonzero(trace.gates[..., a, :]))
                            for a, g in enumerate(self.GATES) if g != cfg.nonspiking},
            "c_spikes": int(np.count_nonzero(trace.s_c)),
            "comparisons": cells * h_size * (spiking + ternary),
        }


CELL = DattaLSTM()

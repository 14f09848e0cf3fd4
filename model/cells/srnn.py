"""The adaptive spiking recurrent neuron of Yin, Corradi & Bohte ("Accurate and
efficient time-domain classification with adaptive spiking recurrent neural networks",
Nature Machine Intelligence 2021): a LIF neuron whose threshold rises with each of its
spikes and decays back, with recurrent spikes and a soft reset by the threshold.

The paper, per time step (here: per element n)::

    eta(n)   = rho * eta(n-1) + (1 - rho) * S(n-1)
    theta(n) = b0 + beta * eta(n)
    u(n)     = alpha * u(n-1) + (1 - alpha) * (W x(n) + W_r S(n-1)) - S(n-1) * theta(n)
    S(n)     = u(n) > theta(n)

Integer form, on the engine's saturated sum ``z(n,k) = sat_acc(W_x x + W_h S(n-1) + b)``
(the factor ``1 - alpha`` is folded into the weights) and the leak rule
``leak(v, s) = v - (v >> s)`` (``alpha = 1 - 2**-s_u``, ``rho = 1 - 2**-s_a``, the two
entries of ``leak_shift``)::

    a(n)     = sat_u(leak(a(n-1), s_a) + (S(n-1) ? adapt : 0))     a = beta * eta, in threshold units
    theta(n) = sat_u(theta + a(n))                                  theta = b0 (>= 1)
    u(n)     = sat_u(leak(u(n-1), s_u) + z(n) - (S(n-1) ? theta(n) : 0))
    S(n)     = u(n) > theta(n)                                      binary, strict

``a`` is the paper's ``beta * eta``: its recursion is linear, so ``beta`` moves into
the increment, ``adapt = beta * (1 - rho)`` in threshold units, and the cell needs no
multiplier. ``adapt = 0`` is the plain LIF neuron of the paper's mixed networks.
``u``, ``a`` and ``S`` are carried from element n-1 to n (zero for n = 0); nothing runs
along the spike steps, so with T > 1 each step k is a chain of its own (the paper's
network is T = 1). One ``theta`` and one ``adapt`` per layer; the time constants are the
two leak shifts of the configuration, per network, not trained per neuron as in the
paper. The readout the paper uses, a leaky integrator averaged over time, is the
network option ``readout="integrator"``.

The float twin trains it with a Gaussian surrogate of ``u - theta``
(``model.float_twin.GaussianExcessStep``).
"""

from __future__ import annotations

import numpy as np

from .. import numerics as nr
from . import Cell, ParamSpec, one_row_engine

__all__ = ["AdaptiveSpikingNeuron", "CELL"]


class AdaptiveSpikingNeuron(Cell):
    name = "srnn"
    GATES = ("u",)
    MEMBRANES = ()
    LEAKS = ("u", "a")
    #: the membrane, the threshold's adaptation, and the spike of element n-1 (its reset
    #: and the adaptation's increment come one element later, as in the paper)
    CARRY = (("u", "u_bits"), ("a", "u_bits"), ("s", 2))
    PARAMS = (ParamSpec("theta", (), "u_bits", "constant", lo=1),
              ParamSpec("adapt", (), "u_bits", "constant", lo=0))
    RECORD = {"v": ((), np.int32), "threshold": ((), np.int32)}
    SURROGATE = "gaussian_excess"

    def validate(self, cfg, need):
        need(cfg.nonspiking == "none",
             f"the {self.name} cell has no gate to keep non-spiking (nonspiking={cfg.nonspiking!r})")

    def random_config(self, cfg, rng):
        # half the random cases take the paper's integrator readout
        cfg = super().random_config(cfg, rng)
        if rng.random() < 0.5:
            return cfg.replace(readout="integrator", readout_leak=int(rng.integers(0, 4)))
        return cfg

    def step(self, cfg, p, z, u, carry, ops):
        u_prev, a_prev, s_prev = carry
        a = ops.membrane(1, a_prev, nr.gate_by_spike(s_prev, p.adapt))
        theta = nr.saturate(p.theta + a, cfg.u_bits, ops.tally, "membrane")
        v = ops.membrane(0, u_prev, z[..., 0, :] - nr.gate_by_spike(s_prev, theta))
        s, _ = nr.fire_binary(v, theta, ops.spike)
        return u, (v, a, s), s, {"v": v, "threshold": theta}

    def random_layer(self, cfg, layer, rng, base):
        u_hi = nr.signed_range(cfg.u_bits)[1]
        return {
            **one_row_engine(cfg, layer, rng),
            "theta": np.int64(min(u_hi, int(rng.integers(max(1, base // 4), base + 1)))),
            # up to about a threshold per spike: the adaptation then matters within a
            # few elements, and saturates now and then at narrow widths
            "adapt": np.int64(min(u_hi, int(rng.integers(0, base + 1)))),
        }

    def activity(self, cfg, trace, cells):
        # per neuron and cell: the threshold add and the comparison (the leaks and the
        # carried updates are counted from CARRY by the energy model)
        return {"gate_spikes": {"u": int(np.count_nonzero(trace.h))},
                "comparisons": 2 * cells * trace.h.shape[-1]}

    def paper_energy(self, cfg, layer, h_spikes):
        # Yin et al. count, per time step of an adaptive recurrent layer of m inputs and
        # n neurons firing at the rate Fr: (mn + nn + 2n) E_AC Fr + 2n E_MAC (the
        # synaptic and recurrent accumulates and the neuron updates at the firing rate,
        # two multiplies per neuron for the decays), with E_AC = 0.9 pJ and E_MAC = 4.6 pJ
        m, n = cfg.layer_inputs(layer), cfg.hidden[layer]
        steps = cfg.length * cfg.steps
        rate = h_spikes / (steps * n)
        return {"formula": "(mn + nn + 2n) E_AC Fr + 2n E_MAC per time step",
                "source": "Yin, Corradi & Bohte, Nat. Mach. Intell. 2021 (E_AC 0.9 pJ, E_MAC 4.6 pJ)",
                "ac": steps * (m * n + n * n + 2 * n) * rate, "mac": steps * 2 * n,
                "e_ac_pj": 0.9, "e_mac_pj": 4.6}


CELL = AdaptiveSpikingNeuron()

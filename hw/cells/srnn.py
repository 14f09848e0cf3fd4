"""Hardware step of the adaptive spiking neuron, twin of :mod:`model.cells.srnn`."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Value
from amaranth.lib import wiring

from model import numerics as nr
from model.config import ConfigError

from ..cell import later, stager, thresholds
from . import step_signature

__all__ = ["AdaptiveSpikingNeuronStep", "STEP"]


class AdaptiveSpikingNeuronStep(wiring.Component):
    """Q adaptive spiking neurons (the equations of :mod:`model.cells.srnn`). The ports
    of :func:`hw.cells.step_signature`: no membranes; the carry is ``u``, ``a`` and the
    spike ``s`` of element n-1 at the same step.

    Pipelined, one carry chain per stage and no multiplier:

    1. the inputs;
    2. the saturated gate sum; the adaptation ``a = sat(leak(a) + (s ? adapt : 0))``;
    3. the threshold ``sat(theta + a)``; ``leak(u) + z`` (exact, not yet saturated);
    4. ``u = sat(leak(u) + z - (s ? threshold : 0))``;
    5. the spike ``u > threshold``, with ``u`` and ``a`` carried on.

    :data:`LATENCY` = 5.
    """

    LATENCY = 5

    def __init__(self, cfg, *, neurons: int, z_bits: int, theta, adapt, pipelined: bool = False):
        self.cfg, self.neurons, self.pipelined = cfg, neurons, pipelined
        self.latency = self.LATENCY if pipelined else 0
        self.theta = thresholds(self, theta[:1], cfg.u_bits, "adaptive neuron")[0]
        adapt = adapt[0] if isinstance(adapt, (list, tuple)) else adapt
        if isinstance(adapt, (int, np.integer)):
            hi = nr.signed_range(cfg.u_bits)[1]
            if not 0 <= int(adapt) <= hi:
                self._MustUse__silence = True
                raise ConfigError(f"adaptive neuron adapt must be an integer from 0 to {hi}, "
                                  f"got {int(adapt)}")
            adapt = int(adapt)
        else:
            adapt = Value.cast(adapt)
        self.adapt = adapt
        super().__init__(step_signature(cfg, neurons=neurons, z_bits=z_bits))

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        stage, delay = stager(m, self.pipelined), later(m, self.pipelined)
        s_u, s_a = cfg.leak_shift

        for q in range(self.neurons):
            prev = self.carry_prev[q]
            z = stage(self.z[q][0], f"z{q}_in")                                          # 1
            u = stage(prev.u, f"u{q}_in")
            a = stage(prev.a, f"a{q}_in")
            s = stage(prev.s, f"s{q}_in")
            zs = stage(nr.saturate(z, cfg.acc_bits), f"z{q}")                            # 2
            a = stage(nr.membrane_update(a, nr.gate_by_spike(s, self.adapt), s_a, cfg.u_bits),
                      f"a{q}")
            u = delay(u, 1, f"u{q}_s2")
            s = delay(s, 1, f"s{q}_s2")
            theta = stage(nr.saturate(self.theta + a, cfg.u_bits), f"theta{q}")         # 3
            uz = stage(nr.leak(u, s_u) + zs, f"uz{q}")
            s = delay(s, 1, f"s{q}_s3")
            a = delay(a, 1, f"a{q}_s3")
            v = stage(nr.saturate(uz - nr.gate_by_spike(s, theta), cfg.u_bits), f"v{q}")  # 4
            theta = delay(theta, 1, f"theta{q}_s4")
            a = delay(a, 1, f"a{q}_s4")
            spike, _ = nr.fire_binary(v, theta)
            h = stage(spike, f"h{q}")                                                    # 5
            m.d.comb += [self.h[q].eq(h), self.carry[q].s.eq(h),
                         self.carry[q].u.eq(delay(v, 1, f"v{q}_s5")),
                         self.carry[q].a.eq(delay(a, 1, f"a{q}_s5"))]
        return m


STEP = AdaptiveSpikingNeuronStep

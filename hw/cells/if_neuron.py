"""Hardware step of the integrate-and-fire cell, twin of :mod:`model.cells.if_neuron`."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring

from model import numerics as nr

from ..cell import thresholds, stager
from . import step_signature

__all__ = ["IFNeuronStep", "STEP"]


class IFNeuronStep(wiring.Component):
    """Q integrate-and-fire neurons: ``u = sat(leak(u_prev) + sat_acc(z))``, ``h = u >
    theta`` with soft reset. The ports of :func:`hw.cells.step_signature` (no carry).

    Pipelined: registers after the inputs, the saturated sum, the membrane and the
    spike, so :data:`LATENCY` = 4 and one carry chain per stage.
    """

    LATENCY = 4

    def __init__(self, cfg, *, neurons: int, z_bits: int, theta, pipelined: bool = False):
        self.cfg, self.neurons, self.pipelined = cfg, neurons, pipelined
        self.latency = self.LATENCY if pipelined else 0
        self.theta = thresholds(self, theta[:1], cfg.u_bits, "IF neuron")[0]
        super().__init__(step_signature(cfg, neurons=neurons, z_bits=z_bits))

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg

        stage = stager(m, self.pipelined)

        for q in range(self.neurons):
            z = stage(self.z[q][0], f"z{q}_in")
            u = stage(self.u_prev[q][0], f"u{q}_in")
            zs = stage(nr.saturate(z, cfg.acc_bits), f"z{q}")
            u = stage(u, f"u{q}_s2")
            v = stage(nr.membrane_update(u, zs, cfg.leak_shift[0], cfg.u_bits), f"v{q}")
            spike, after = nr.fire_binary(v, self.theta)
            h = stage(spike, f"h{q}")
            after = stage(after, f"after{q}")
            m.d.comb += [self.h[q].eq(h), self.u[q][0].eq(after)]
        return m


STEP = IFNeuronStep

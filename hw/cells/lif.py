"""Hardware step of the carried leaky integrate-and-fire cell, twin of :mod:`model.cells.lif`."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring

from model import numerics as nr

from ..cell import thresholds, stager
from . import step_signature
from .if_neuron import integrate_and_fire

__all__ = ["LeakyIntegrateAndFireStep", "STEP"]


class LeakyIntegrateAndFireStep(wiring.Component):
    """Q leaky integrate-and-fire neurons: ``v = sat(leak(v_prev) + sat_acc(z))``, ``h =
    v > theta``, ``v = h ? 0 : v``. The ports of :func:`hw.cells.step_signature`: no
    membranes; the carry is ``v`` (of element n-1 at the same step).

    Pipelined: registers after the inputs, the saturated sum, the membrane and the
    spike with its reset (a select, no subtractor), so :data:`LATENCY` = 4 and one
    carry chain per stage, as in the integrate-and-fire step.
    """

    LATENCY = 4

    def __init__(self, cfg, *, neurons: int, z_bits: int, theta, pipelined: bool = False):
        self.cfg, self.neurons, self.pipelined = cfg, neurons, pipelined
        self.latency = self.LATENCY if pipelined else 0
        self.theta = thresholds(self, theta[:1], cfg.u_bits, "LIF neuron")[0]
        super().__init__(step_signature(cfg, neurons=neurons, z_bits=z_bits))

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        stage = stager(m, self.pipelined)

        for q in range(self.neurons):
            # the integrate-and-fire step's stages, with the carried v and a hard reset
            h, after = integrate_and_fire(stage, cfg, q, self.z[q][0], self.carry_prev[q].v,
                                          nr.fire_binary_hard, self.theta, "v")
            m.d.comb += [self.h[q].eq(h), self.carry[q].v.eq(after)]
        return m


STEP = LeakyIntegrateAndFireStep

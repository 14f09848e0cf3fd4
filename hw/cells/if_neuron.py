"""Hardware step of the integrate-and-fire cell, twin of :mod:`model.cells.if_neuron`."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring

from model import numerics as nr

from ..cell import thresholds, stager
from . import step_signature

__all__ = ["IFNeuronStep", "STEP", "integrate_and_fire"]


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
            h, after = integrate_and_fire(stage, cfg, q, self.z[q][0], self.u_prev[q][0],
                                          nr.fire_binary, self.theta, "u")
            m.d.comb += [self.h[q].eq(h), self.u[q][0].eq(after)]
        return m


def integrate_and_fire(stage, cfg, q: int, z, v_prev, fire, theta, name: str):
    """One neuron's four register stages, shared by this cell and :mod:`hw.cells.lif`:
    the inputs, the saturated sum, the membrane ``sat(leak(v_prev) + sat_acc(z))``, then
    ``fire(v, theta)`` (its spike and the membrane after the reset). ``name`` names the
    membrane's input registers. Returns ``(h, after)``, the last stage's registers."""
    z = stage(z, f"z{q}_in")                                                           # 1
    v = stage(v_prev, f"{name}{q}_in")
    zs = stage(nr.saturate(z, cfg.acc_bits), f"z{q}")                                  # 2
    v = stage(v, f"{name}{q}_s2")
    v = stage(nr.membrane_update(v, zs, cfg.leak_shift[0], cfg.u_bits), f"v{q}")       # 3
    spike, after = fire(v, theta)
    return stage(spike, f"h{q}"), stage(after, f"after{q}")                            # 4


STEP = IFNeuronStep

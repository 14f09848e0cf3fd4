"""Hardware step of the spiking LSTM unit, twin of :mod:`model.cells.slstm`.

Q neurons a cycle in :data:`SpikingLSTMUnitStep.LATENCY` = 4 register stages: the inputs;
the saturated gate sums; the four comparisons (one carry chain each); the new ``c``
(select, a 2-bit add, the clamp at 2, on the low two bits of the carry) and ``h = o ? c : 0`` (a few LUTs, no carry
chain of any length). No membranes; the carry is ``c``. No multiplier anywhere.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring

from model import numerics as nr
from model.config import ConfigError
from model.cells.slstm import C_MAX

from ..cell import hold, stager, thresholds
from . import step_signature

__all__ = ["SpikingLSTMUnitStep", "STEP"]


class SpikingLSTMUnitStep(wiring.Component):
    """Q spiking LSTM units: the ports of :func:`hw.cells.step_signature`; ``theta`` is
    the layer's four gate thresholds (f, i, o, g)."""

    LATENCY = 4

    def __init__(self, cfg, *, neurons: int, z_bits: int, theta, pipelined: bool = False):
        self.cfg, self.neurons, self.pipelined = cfg, neurons, pipelined
        self.latency = self.LATENCY if pipelined else 0
        if len(theta) != 4:
            self._MustUse__silence = True  # a refused unit is not an unused one
            raise ConfigError(f"the spiking LSTM unit needs 4 thresholds (f, i, o, g), got {len(theta)}")
        self.theta = thresholds(self, theta, cfg.acc_bits, "spiking LSTM unit")
        super().__init__(step_signature(cfg, neurons=neurons, z_bits=z_bits))

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        stage = stager(m, self.pipelined)
        for q in range(self.neurons):
            z = [stage(self.z[q][a], f"z{q}_{a}_in") for a in range(4)]                    # 1
            c_prev = stage(self.carry_prev[q].c, f"c{q}_in")
            zs = [stage(nr.saturate(z[a], cfg.acc_bits), f"z{q}_{a}") for a in range(4)]    # 2
            c_prev = stage(c_prev, f"c{q}_s2")
            f, i, o, g = (stage(nr.fire_binary(zs[a], self.theta[a])[0], f"{n}{q}")          # 3
                          for a, n in enumerate("fiog"))
            # c is 0, 1 or 2 in every carry this step wrote (zero for n = 0): its low two
            # bits, unsigned, are all of it, so the add and the clamp are 3 bits wide
            # whatever c_bits is (at c_bits = 12 the full-width add was the critical path)
            c_prev = stage(c_prev[:2], f"c{q}_s3")
            c_next = hold(m, nr.count_update(f, c_prev, nr.gate_product(i, g, True), C_MAX), f"c{q}_next")
            c = stage(c_next, f"c{q}")                                                     # 4
            h = stage(nr.h_output(o, c_next), f"h{q}")
            m.d.comb += [self.h[q].eq(h), self.carry[q].c.eq(c)]
        return m


STEP = SpikingLSTMUnitStep

"""Hardware step of the improved-dynamics spiking neuron, twin of :mod:`model.cells.idsnn`.

Q neurons a cycle in :data:`ImprovedDynamicsStep.LATENCY` = 10 register stages: the
inputs; the saturated gate sums; the hard sigmoid's offset add and C's shift; the
clamps (F, C); the product operands (F, I(n-1), 2**F - F, C: registers with no other
load, beside the DSP blocks); the two products; their sum; I (floor shift and
saturation); V (leak, add, saturation); the output level Y and the reset V. The two
products are the only multipliers (DSP blocks); the reset is a shift.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring

from model import numerics as nr
from model.cells.idsnn import y_max

from ..cell import thresholds, later, stager
from . import step_signature

__all__ = ["ImprovedDynamicsStep", "STEP"]


class ImprovedDynamicsStep(wiring.Component):
    """Q improved-dynamics neurons: the ports of :func:`hw.cells.step_signature` (no
    membranes; the carry is I and V); ``theta`` is the layer's firing threshold."""

    LATENCY = 10

    def __init__(self, cfg, *, neurons: int, z_bits: int, theta, pipelined: bool = False):
        self.cfg, self.neurons, self.pipelined = cfg, neurons, pipelined
        self.latency = self.LATENCY if pipelined else 0
        self.theta = thresholds(self, theta[:1], cfg.u_bits, "improved-dynamics neuron")[0]
        super().__init__(step_signature(cfg, neurons=neurons, z_bits=z_bits))

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        frac, shift = cfg.frac_bits, cfg.ns_shift
        stage, delay = stager(m, self.pipelined), later(m, self.pipelined)

        for q in range(self.neurons):
            z = [stage(self.z[q][a], f"z{q}_{a}_in") for a in range(2)]                      # 1
            i_prev = stage(self.carry_prev[q].i, f"i{q}_in")
            v_prev = stage(self.carry_prev[q].v, f"v{q}_in")
            zs = [stage(nr.saturate(z[a], cfg.acc_bits), f"z{q}_{a}") for a in range(2)]     # 2
            f_pre = stage(nr.hard_sigmoid_offset(zs[0], shift, frac), f"f{q}_pre")            # 3
            c_pre = stage(nr.floor_shift(zs[1], shift), f"c{q}_pre")
            f = stage(nr.clamp_unit01(f_pre, frac), f"f{q}")                                  # 4
            c = stage(nr.clamp_unit01(c_pre, frac), f"c{q}")
            i_prev = delay(i_prev, 3, f"i{q}_s")
            # F, 1 - F and C lie in [0, 2**F] (the clamps): F + 1 bits unsigned, so each
            # product is one 18x18 DSP block whatever width the sums had
            top = frac + 1
            # (I(n-1) too: a convex mix of values in [0, 2**F], so it stays there)
            fa, ib = stage(f.as_unsigned()[:top], f"fi{q}_a"), stage(i_prev.as_unsigned()[:top], f"fi{q}_b")  # 5
            na = stage((nr.unit(frac) - f).as_unsigned()[:top], f"nc{q}_a")
            cb = stage(c.as_unsigned()[:top], f"nc{q}_b")
            fi = stage(nr.exact_product(fa, ib), f"fi{q}")                                    # 6
            nc = stage(nr.exact_product(na, cb), f"nc{q}")
            kept = stage(fi + nc, f"kept{q}")                                                 # 7
            i = stage(nr.saturate(nr.floor_shift(kept, frac), cfg.c_bits), f"i{q}")          # 8
            v_prev = delay(v_prev, 7, f"v{q}_s")
            v = stage(nr.membrane_update(v_prev, i, cfg.leak_shift[0], cfg.u_bits), f"v{q}")  # 9
            y, v_after = nr.fire_levels(v, self.theta, frac, y_max(cfg))
            y = stage(y, f"y{q}")                                                             # 10
            v_after = stage(v_after, f"va{q}")
            i_out = delay(i, 2, f"i{q}_out")
            m.d.comb += [self.h[q].eq(y), self.carry[q].i.eq(i_out), self.carry[q].v.eq(v_after)]
        return m


STEP = ImprovedDynamicsStep

"""Hardware step of the quantized non-spiking LSTM, twin of :mod:`model.cells.lstm`.

Q neurons a cycle, in a pipeline of :data:`LATENCY` register stages: inputs; saturated
gate sums; the gate activations' offset adds; their clamps (the four gate values); the products ``f*c`` and ``i*g`` (multipliers, which
synthesis maps to DSP blocks: operand registers, product registers, a copy); their
sum; the new ``c`` (saturated); ``clamp(c)``; the product ``o*clamp(c)`` (operand and product registers); ``h``.
Every multiplier reads registers that load nothing else and writes a register: with the
clamp in the multiplier's stage the digits baseline closed at 61.9 MHz, with registers
shared by other logic at 91.5 MHz (nextpnr seed 1; the operand routes to the DSP column
were the critical path), 95.8 MHz with each activation's add and clamp in one
stage, 96.3 MHz with the sum of products and its saturation in one.
Every value comes from the rules of :mod:`model.numerics`, as in the golden model.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring

from model import numerics as nr

from ..cell import later, stager
from . import step_signature

__all__ = ["QuantizedLSTMStep", "STEP"]


class QuantizedLSTMStep(wiring.Component):
    """The baseline LSTM cell for Q neurons: the ports of :func:`hw.cells.step_signature`
    (no membranes; the carry is ``c``)."""

    LATENCY = 13

    def __init__(self, cfg, *, neurons: int, z_bits: int, pipelined: bool = False):
        self.cfg, self.neurons, self.pipelined = cfg, neurons, pipelined
        self.latency = self.LATENCY if pipelined else 0
        super().__init__(step_signature(cfg, neurons=neurons, z_bits=z_bits))

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        frac, shift = cfg.frac_bits, cfg.ns_shift
        stage, delay = stager(m, self.pipelined), later(m, self.pipelined)

        def product(a, b, name):
            """``a * b`` in a DSP block: its operands registered once more (registers with
            no other load, which the placer puts beside the block), the product
            registered (two stages)."""
            a, b = stage(a, f"{name}_a"), stage(b, f"{name}_b")
            return stage(nr.exact_product(a, b), name)

        for q in range(self.neurons):
            z = [stage(self.z[q][a], f"z{q}_{a}_in") for a in range(4)]                 # 1
            c_prev = stage(self.carry_prev[q].c, f"c{q}_in")
            zs = [stage(nr.saturate(z[a], cfg.acc_bits), f"z{q}_{a}") for a in range(4)]  # 2
            c_prev = stage(c_prev, f"c{q}_s2")
            # hard sigmoid and hard tanh: the offset add, then the clamp (two stages)
            pre = [stage(nr.hard_sigmoid_offset(zs[a], shift, frac), f"{g}{q}_pre")        # 3
                   for a, g in enumerate("fio")]
            pre.append(stage(nr.floor_shift(zs[3], shift), f"g{q}_pre"))
            f, i, o = (stage(nr.clamp_unit01(pre[a], frac), f"{g}{q}")                      # 4
                       for a, g in enumerate("fio"))
            g = stage(nr.clamp_unit(pre[3], frac), f"g{q}")
            c_prev = delay(c_prev, 2, f"c{q}_s")
            fc = product(f, c_prev, f"fc{q}")                                           # 5, 6
            ig = product(i, g, f"ig{q}")
            fc, ig = stage(fc, f"fc{q}_s7"), stage(ig, f"ig{q}_s7")                       # 7
            o = delay(o, 3, f"o{q}_s")
            s = stage(nr.floor_shift(fc + ig, frac), f"s{q}")                            # 8
            c = stage(nr.saturate(s, cfg.c_bits), f"c{q}")                               # 9
            cc = stage(nr.clamp_unit(c, frac), f"cc{q}")                                 # 10
            o = delay(o, 3, f"o{q}_t")
            oc = product(o, cc, f"oc{q}")                                               # 11, 12
            h = stage(nr.floor_shift(oc, frac), f"h{q}")                                 # 13
            c_out = delay(c, 4, f"c{q}_out")
            m.d.comb += [self.h[q].eq(h), self.carry[q].c.eq(c_out)]
        return m


STEP = QuantizedLSTMStep

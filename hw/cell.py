"""Neuron and cell units: combinational hardware twins of the golden model's steps.

Each unit is built by calling the functions of :mod:`model.numerics` on Amaranth
values, so the hardware and the golden model share one written rule. The golden twin
of each block has the matching name: :class:`FireBinary` / ``numerics.fire_binary``,
:class:`FireTernary` / ``numerics.fire_ternary``, :class:`HardSigmoidQ` /
``numerics.hard_sigmoid_q``, :class:`HardTanhQ` / ``numerics.hard_tanh_q``. The cells'
steps are in :mod:`hw.cells` (one module per cell of :mod:`model.cells`).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from model import numerics as nr
from model.config import ConfigError

from .fanout import copies

__all__ = ["FireBinary", "FireTernary", "HardSigmoidQ", "HardTanhQ", "hold", "delayed", "later",
           "stager", "check_threshold", "thresholds", "negated", "FireAhead"]


def hold(m: Module, value, name: str | None = None) -> Signal:
    """Give an expression its own signal.

    The numeric rules use a value several times (``saturate(x)`` compares ``x`` twice
    and selects it). Amaranth lowers each use of an expression separately, so passing
    a compound expression into a chain of rules multiplies the logic at every step;
    a signal is a leaf and costs nothing to reuse.
    """
    value = Value.cast(value)
    sig = Signal(value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


def stager(m: Module, pipelined: bool):
    """The ``stage(value, name)`` of a cell step: a pipeline register or, when the step
    is combinational, a named signal (:func:`hold`).

    The registers hold data only (the valid bits travel beside them, in the layer), so
    they have no reset and the network's reset net reaches the control flip-flops alone.
    """
    def stage(value, name: str) -> Signal:
        if not pipelined:
            return hold(m, value, name)
        value = Value.cast(value)
        reg = Signal(value.shape(), name=name, reset_less=True)
        m.d.sync += reg.eq(value)
        return reg
    return stage


def later(m: Module, pipelined: bool):
    """The ``later(value, cycles, name)`` of a cell step: ``value`` ``cycles`` register
    stages later (:func:`delayed`) when the step is pipelined, else ``value`` itself."""
    def later_(value, cycles: int, name: str):
        return delayed(m, value, cycles, name)[-1] if pipelined else value
    return later_


def delayed(m: Module, value, stages: int, name: str, reset_less: bool = True) -> list:
    """``value`` and its copies 1 .. ``stages`` cycles later (registers named
    ``<name>_d<i>``, without reset unless ``reset_less`` is false): element ``i`` of the
    list is ``value`` ``i`` cycles ago."""
    out = [value]
    for i in range(1, stages + 1):
        reg = Signal(Value.cast(value).shape(), name=f"{name}_d{i}", reset_less=reset_less)
        m.d.sync += reg.eq(out[-1])
        out.append(reg)
    return out


def thresholds(unit, values, bits, what) -> list:
    """A cell step's thresholds as given: Python ints are constants of the logic,
    checked here (:func:`check_threshold`); Amaranth values are registers holding the
    loaded parameters (:mod:`hw.param_rom`: the layer's registers, checked when the
    package was loaded), kept as they are."""
    out = []
    for v in values:
        if isinstance(v, (int, np.integer)):
            check_threshold(unit, int(v), bits, what)
            out.append(int(v))
        else:
            out.append(Value.cast(v))
    return out


def negated(m: Module, theta, name: str):
    """``-theta``: for a constant the constant, for a loaded threshold a register of its
    own (the value does not change while the network computes, so a comparison against
    ``-theta`` costs one carry chain, not a negation before it)."""
    if isinstance(theta, int):
        return -theta
    # in a module of its own (hw.fanout): synthesis would merge the lanes' registers
    neg = Signal(signed(len(theta) + 1), name=f"{name}_d")
    m.d.comb += neg.eq(-theta)
    return copies(m, name, neg, 1)[0]


class FireAhead:
    """A LIF's membrane update and firing, ``fire_ternary(saturate(a + b, u_bits),
    theta_pos, theta_neg)`` (``fire_binary(saturate(a + b), theta_pos)`` without
    ``theta_neg``), over three register stages, with the threshold comparisons done
    before the sum's saturation, so that the stage that fires is a select with no carry
    chain (the compare-and-reset after a membrane register was the critical path of the
    default build, first for the c membrane, then for the gates). ``a + b`` is the
    membrane sum ``leak(u_prev) + z`` taken in either order: ``a`` is the part known one
    stage earlier. One call per stage:

    1. :meth:`offsets`: register ``a`` and its offsets ``a - theta_pos - 1``,
       ``a - theta_pos`` and (ternary) ``a + theta_neg``, all exact;
    2. :meth:`sums`: the exact sum ``x = a + b`` and the offsets plus ``b``:
       ``x - theta_pos``, ``x + theta_neg`` and the sign of ``x - theta_pos - 1`` (clear
       exactly when ``x > theta_pos``);
    3. :meth:`fire`: ``(spike, after)`` selected from these registers.

    With ``hi, lo`` the range of ``u_bits`` and ``s = saturate(x)``, for thresholds from
    1 to ``hi`` (:func:`check_threshold`): ``x`` in range: ``s = x``, so the signs of the
    sums decide and the sums are the membrane after the soft reset; ``x > hi``:
    ``s = hi`` fires +1 unless ``theta_pos = hi``, leaving ``hi - theta_pos`` (``hi`` if
    it does not fire); ``x < lo``: ``s = lo``, which a ternary LIF always fires -1 on,
    leaving ``lo + theta_neg``, and a binary one keeps. The signs of the sums are
    already right for a saturated ``x`` but for ``x > hi`` with ``theta_pos = hi``.
    ``hi - theta_pos`` and ``lo + theta_neg`` need no adder (``theta_pos`` XOR ``hi``;
    ``theta_neg`` with the sign bit set).
    """

    def __init__(self, m: Module, stage, theta_pos, theta_neg, u_bits: int, name: str):
        self.m, self.stage, self.u_bits, self.name = m, stage, u_bits, name
        self.theta_pos, self.theta_neg = theta_pos, theta_neg
        self.ternary = theta_neg is not None
        self.lo, self.hi = nr.signed_range(u_bits)

    def offsets(self, a):
        """Stage 1: register ``a`` and its offsets by the thresholds."""
        st, n, tp, tn = self.stage, self.name, self.theta_pos, self.theta_neg
        a = hold(self.m, a, f"{n}_a_now")
        self._a = st(a, f"{n}_a")
        self._ofs = [st(a - tp - 1, f"{n}_ofs_up"), st(a - tp, f"{n}_ofs_p")]
        if self.ternary:
            self._ofs.append(st(a + tn, f"{n}_ofs_n"))

    def sums(self, b):
        """Stage 2: the exact sum and the offsets plus ``b``."""
        st, n = self.stage, self.name
        b = hold(self.m, b, f"{n}_b_now")
        self._x = st(self._a + b, f"{n}_x")
        self._up = st(~Value.cast(self._ofs[0] + b)[-1], f"{n}_gt")   # x - theta_pos - 1 >= 0
        self._xp = st(self._ofs[1] + b, f"{n}_xp")
        if self.ternary:
            self._xn = st(self._ofs[2] + b, f"{n}_xn")

    def fire(self):
        """Stage 3: ``(spike, after)``, selects of the registers of :meth:`sums`."""
        m, b, tp, tn = self.m, self.u_bits, self.theta_pos, self.theta_neg
        x = self._x
        # x fits u_bits when its bits from b - 1 up are all copies of the sign: the test of
        # model.numerics.saturate in gates, written as two equality checks here (sharing
        # that code changed the mapped netlist of the measured build; the unit test checks
        # this against saturate for every input)
        top = x[b - 1:]
        fits = (top == 0) | (top == (1 << len(top)) - 1)
        over = hold(m, ~fits & ~x[-1], f"{self.name}_over")
        under = hold(m, ~fits & x[-1], f"{self.name}_under")
        if isinstance(tp, int):
            fires_at_hi, hi_after_up = int(tp < self.hi), self.hi - tp
        else:
            # a register: the loaded threshold is static while the network computes
            fires_at_hi = Signal(name=f"{self.name}_fires_at_hi", reset_less=True)
            m.d.sync += fires_at_hi.eq(~tp[:b - 1].all())
            hi_after_up = tp[:b - 1] ^ self.hi   # unsigned: theta_pos >= 0
        up = hold(m, self._up & (~over | fires_at_hi), f"{self.name}_up")
        fired_up = Mux(over, hi_after_up, self._xp)
        if not self.ternary:
            return up, self._word(Mux(up, fired_up, Mux(over, self.hi, Mux(under, self.lo, x))))
        lo_after_down = (self.lo + tn if isinstance(tn, int)
                         else Cat(tn[:b - 1], Const(1, 1)).as_signed())
        # x < lo gives x + theta_neg < 0, x > hi the opposite
        down = hold(m, self._xn[-1], f"{self.name}_down")
        spike = Mux(up, 1, Mux(down, -1, 0))
        after = Mux(up, fired_up, Mux(down, Mux(under, lo_after_down, self._xn), Mux(over, self.hi, x)))
        return spike, self._word(after)

    def _word(self, value):
        """A membrane value that lies in the range of ``u_bits``, at that width."""
        return Value.cast(value)[:self.u_bits].as_signed()


def check_threshold(unit, theta, u_bits, what):
    """Refuse a threshold outside 1 .. 2**(u_bits-1)-1 (the unit is then not built)."""
    lo, hi = 1, nr.signed_range(u_bits)[1]
    if not (isinstance(theta, int) and lo <= theta <= hi):
        unit._MustUse__silence = True  # a refused unit is not an unused one
        raise ConfigError(f"{what} threshold must be an integer from {lo} to {hi}, got {theta!r}")


class FireBinary(wiring.Component):
    """Membrane update and binary LIF: ``u = sat(leak(u_prev) + z)``, fire on ``u > theta``."""

    def __init__(self, *, z_bits: int, u_bits: int, theta: int, leak_shift: int = 0):
        check_threshold(self, theta, u_bits, "binary LIF")
        self.u_bits, self.theta, self.leak_shift = u_bits, theta, leak_shift
        super().__init__({"z": In(signed(z_bits)), "u_prev": In(signed(u_bits)),
                          "spike": Out(1), "u": Out(signed(u_bits))})

    def elaborate(self, platform):
        m = Module()
        v = hold(m, nr.membrane_update(self.u_prev, self.z, self.leak_shift, self.u_bits), "v")
        spike, after = nr.fire_binary(v, self.theta)
        m.d.comb += [self.spike.eq(spike), self.u.eq(after)]
        return m


class FireTernary(wiring.Component):
    """Membrane update and ternary LIF: +1 on ``u > theta_pos``, -1 on ``u < -theta_neg``."""

    def __init__(self, *, z_bits: int, u_bits: int, theta_pos: int, theta_neg: int,
                 leak_shift: int = 0):
        check_threshold(self, theta_pos, u_bits, "ternary LIF positive")
        check_threshold(self, theta_neg, u_bits, "ternary LIF negative")
        self.u_bits, self.theta_pos, self.theta_neg = u_bits, theta_pos, theta_neg
        self.leak_shift = leak_shift
        super().__init__({"z": In(signed(z_bits)), "u_prev": In(signed(u_bits)),
                          "spike": Out(signed(2)), "u": Out(signed(u_bits))})

    def elaborate(self, platform):
        m = Module()
        v = hold(m, nr.membrane_update(self.u_prev, self.z, self.leak_shift, self.u_bits), "v")
        spike, after = nr.fire_ternary(v, self.theta_pos, self.theta_neg)
        m.d.comb += [self.spike.eq(spike), self.u.eq(after)]
        return m


class HardSigmoidQ(wiring.Component):
    """Non-spiking i gate: quantized hard sigmoid of the gate input."""

    def __init__(self, *, z_bits: int, shift: int, bits: int):
        self.shift, self.bits = shift, bits
        super().__init__({"z": In(signed(z_bits)), "q": Out(unsigned(bits))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.q.eq(nr.hard_sigmoid_q(self.z, self.shift, self.bits))
        return m


class HardTanhQ(wiring.Component):
    """Non-spiking g gate: quantized hard tanh of the gate input."""

    def __init__(self, *, z_bits: int, shift: int, bits: int):
        self.shift, self.bits = shift, bits
        super().__init__({"z": In(signed(z_bits)), "q": Out(signed(bits))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.q.eq(nr.hard_tanh_q(self.z, self.shift, self.bits))
        return m

"""Neuron and cell units: combinational hardware twins of the golden model's steps.

Each unit is built by calling the functions of :mod:`model.numerics` on Amaranth
values, so the hardware and the golden model share one written rule. The golden twin
of each block has the matching name: :class:`FireBinary` / ``numerics.fire_binary``,
:class:`FireTernary` / ``numerics.fire_ternary``, :class:`HardSigmoidQ` /
``numerics.hard_sigmoid_q``, :class:`HardTanhQ` / ``numerics.hard_tanh_q`` and
:class:`CellStep` / ``golden.cell_step``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from model import numerics as nr
from model.config import ConfigError, NetworkConfig

__all__ = ["FireBinary", "FireTernary", "HardSigmoidQ", "HardTanhQ", "CellStep", "hold"]


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


def _check_threshold(unit, theta, u_bits, what):
    lo, hi = 1, nr.signed_range(u_bits)[1]
    if not (isinstance(theta, int) and lo <= theta <= hi):
        unit._MustUse__silence = True  # a refused unit is not an unused one
        raise ConfigError(f"{what} threshold must be an integer from {lo} to {hi}, got {theta!r}")


class FireBinary(wiring.Component):
    """Membrane update and binary LIF: ``u = sat(leak(u_prev) + z)``, fire on ``u > theta``."""

    def __init__(self, *, z_bits: int, u_bits: int, theta: int, leak_shift: int = 0):
        _check_threshold(self, theta, u_bits, "binary LIF")
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
        _check_threshold(self, theta_pos, u_bits, "ternary LIF positive")
        _check_threshold(self, theta_neg, u_bits, "ternary LIF negative")
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


def gate_value_shape(cfg: NetworkConfig, gate: str):
    """Shape of a gate's output: a spike, or the multi-bit value of the non-spiking gate."""
    if gate == cfg.nonspiking == "i":
        return unsigned(cfg.ns_bits)
    if gate == cfg.nonspiking == "g":
        return signed(cfg.ns_bits)
    return signed(2) if gate == "g" else unsigned(1)


class CellStep(wiring.Component):
    """One spike step of ``neurons`` LSTM cells (combinational).

    Inputs: ``z`` (exact gate sums, ``[neuron][gate]`` with gate order f, i, o, g),
    ``u_prev`` (membranes f, i, o, g, c per neuron), ``c_prev``. Outputs: ``u``, ``c``,
    ``s_c``, ``h`` and each gate's output. The gate sums saturate to ``acc_bits`` here.
    """

    def __init__(self, cfg: NetworkConfig, *, neurons: int, z_bits: int,
                 theta_pos, theta_neg):
        self.cfg, self.neurons = cfg, neurons
        self.theta_pos = [int(t) for t in theta_pos]
        self.theta_neg = [int(t) for t in theta_neg]
        for a in range(5):
            _check_threshold(self, self.theta_pos[a], cfg.u_bits, f"membrane {nr.MEMBRANES[a]} positive")
            _check_threshold(self, self.theta_neg[a], cfg.u_bits, f"membrane {nr.MEMBRANES[a]} negative")
        u = signed(cfg.u_bits)
        gates = data.StructLayout({g: gate_value_shape(cfg, g) for g in nr.GATES})
        super().__init__({
            "z": In(data.ArrayLayout(data.ArrayLayout(signed(z_bits), 4), neurons)),
            "u_prev": In(data.ArrayLayout(data.ArrayLayout(u, 5), neurons)),
            "c_prev": In(data.ArrayLayout(signed(cfg.c_bits), neurons)),
            "u": Out(data.ArrayLayout(data.ArrayLayout(u, 5), neurons)),
            "c": Out(data.ArrayLayout(signed(cfg.c_bits), neurons)),
            "s_c": Out(data.ArrayLayout(signed(2), neurons)),
            "h": Out(data.ArrayLayout(signed(2), neurons)),
            "gates": Out(data.ArrayLayout(gates, neurons)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        for q in range(self.neurons):
            outs = {}
            for a, gate in enumerate(nr.GATES):
                z = hold(m, nr.saturate(self.z[q][a], cfg.acc_bits), f"z{q}_{gate}")
                if gate == cfg.nonspiking:
                    fn = nr.hard_sigmoid_q if gate == "i" else nr.hard_tanh_q
                    outs[gate] = fn(z, cfg.ns_shift, cfg.ns_bits)
                    m.d.comb += self.u[q][a].eq(self.u_prev[q][a])
                    continue
                v = hold(m, nr.membrane_update(self.u_prev[q][a], z, cfg.leak_shift[a], cfg.u_bits),
                         f"v{q}_{gate}")
                if gate == "g":
                    spike, after = nr.fire_ternary(v, self.theta_pos[a], self.theta_neg[a])
                else:
                    spike, after = nr.fire_binary(v, self.theta_pos[a])
                outs[gate] = spike
                m.d.comb += self.u[q][a].eq(after)
            for gate in nr.GATES:
                m.d.comb += self.gates[q][gate].eq(outs[gate])
            gate_sig = {g: self.gates[q][g] for g in nr.GATES}
            ig = hold(m, nr.gate_product(gate_sig["i"], gate_sig["g"], cfg.i_spiking), f"ig{q}")
            c = nr.c_update(gate_sig["f"], self.c_prev[q], ig, cfg.c_bits)
            m.d.comb += self.c[q].eq(c)
            vc = hold(m, nr.membrane_update(self.u_prev[q][4], self.c[q], cfg.leak_shift[4], cfg.u_bits),
                      f"vc{q}")
            s_c, after = nr.fire_ternary(vc, self.theta_pos[4], self.theta_neg[4])
            m.d.comb += [self.u[q][4].eq(after), self.s_c[q].eq(s_c),
                         self.h[q].eq(nr.h_output(gate_sig["o"], self.s_c[q]))]
        return m

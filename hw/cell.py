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

__all__ = ["FireBinary", "FireTernary", "HardSigmoidQ", "HardTanhQ", "CellStep", "CELL_LATENCY", "hold", "delayed"]


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


#: register stages of the pipelined cell step (``CellStep(pipelined=True)``): its outputs
#: belong to the inputs presented this many cycles earlier. :mod:`hw.latency` counts them.
CELL_LATENCY = 8


class CellStep(wiring.Component):
    """One spike step of ``neurons`` LSTM cells.

    Inputs: ``z`` (exact gate sums, ``[neuron][gate]`` with gate order f, i, o, g),
    ``u_prev`` (membranes f, i, o, g, c per neuron), ``c_prev``. Outputs: ``u``, ``c``,
    ``s_c``, ``h`` and each gate's output. The gate sums saturate to ``acc_bits`` here.

    Combinational by default. With ``pipelined=True`` a register follows each step of
    the chain (inputs; saturated gate sums; gate membranes; gate outputs; i * g; c; the
    c membrane; the c spike and h), so no path holds more than one carry chain, and
    every output comes
    :data:`CELL_LATENCY` cycles after its inputs. The pipeline runs freely: the user
    tracks which outputs are valid.
    """

    def __init__(self, cfg: NetworkConfig, *, neurons: int, z_bits: int,
                 theta_pos, theta_neg, pipelined: bool = False):
        self.cfg, self.neurons, self.pipelined = cfg, neurons, pipelined
        self.latency = CELL_LATENCY if pipelined else 0
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

        def stage(value, name):
            """A pipeline register (or, combinational, a named signal)."""
            if not self.pipelined:
                return hold(m, value, name)
            value = Value.cast(value)
            # data only (the valid bits travel beside it, in the layer): no reset, so the
            # network's reset net reaches the control flip-flops alone
            sig = Signal(value.shape(), name=name, reset_less=True)
            m.d.sync += sig.eq(value)
            return sig

        def carry(values: dict, tag: str) -> dict:
            return {key: stage(v, f"{key}_{tag}") for key, v in values.items()}

        for q in range(self.neurons):
            spiking = [a for a, g in enumerate(nr.GATES) if g != cfg.nonspiking]
            # 1: inputs
            z = [stage(self.z[q][a], f"z{q}_{g}_in") for a, g in enumerate(nr.GATES)]
            up = [stage(self.u_prev[q][a], f"u{q}_{a}_in") for a in range(5)]
            cp = stage(self.c_prev[q], f"c{q}_in")
            # 2: saturated gate sums
            zs = [stage(nr.saturate(z[a], cfg.acc_bits), f"z{q}_{g}") for a, g in enumerate(nr.GATES)]
            keep = carry({f"u{q}_{a}": up[a] for a in range(5)} | {f"cp{q}": cp}, "s2")
            # 3: gate membranes, or the non-spiking gate's value
            vals = {}
            for a, gate in enumerate(nr.GATES):
                if a in spiking:
                    vals[f"v{q}_{gate}"] = nr.membrane_update(keep[f"u{q}_{a}"], zs[a],
                                                              cfg.leak_shift[a], cfg.u_bits)
                else:
                    fn = nr.hard_sigmoid_q if gate == "i" else nr.hard_tanh_q
                    vals[f"ns{q}"] = fn(zs[a], cfg.ns_shift, cfg.ns_bits)
            vals = carry(vals, "s3")
            keep = carry(keep, "s3")
            # 4: gate outputs and the gate membranes after firing
            outs, after = {}, {}
            for a, gate in enumerate(nr.GATES):
                if a in spiking:
                    v = vals[f"v{q}_{gate}"]
                    fire = nr.fire_ternary if gate == "g" else nr.fire_binary
                    thresholds = ((self.theta_pos[a], self.theta_neg[a]) if gate == "g"
                                  else (self.theta_pos[a],))
                    outs[gate], after[a] = fire(v, *thresholds)
                else:
                    outs[gate], after[a] = vals[f"ns{q}"], keep[f"u{q}_{a}"]
            gate_out = carry({f"{g}{q}": Value.cast(outs[g]) for g in nr.GATES}, "s4")
            after = carry({f"after{q}_{a}": after[a] for a in range(4)}, "s4")
            keep = carry({f"u{q}_4": keep[f"u{q}_4"], f"cp{q}": keep[f"cp{q}"]}, "s4")
            gates = {g: Signal(gate_value_shape(cfg, g), name=f"{g}{q}_val") for g in nr.GATES}
            for g in nr.GATES:
                m.d.comb += gates[g].eq(gate_out[f"{g}{q}"])
            # 5: i * g
            ig = stage(nr.gate_product(gates["i"], gates["g"], cfg.i_spiking), f"ig{q}")
            gates5 = carry({f"{g}{q}": gates[g] for g in nr.GATES}, "s5")
            after = carry(after, "s5")
            keep = carry(keep, "s5")
            # 6: c
            c = stage(nr.c_update(gates5[f"f{q}"], keep[f"cp{q}"], ig, cfg.c_bits), f"c{q}")
            gates6 = carry(gates5, "s6")
            after = carry(after, "s6")
            u4 = stage(keep[f"u{q}_4"], f"u{q}_4_s6")
            # 7: the c membrane
            vc = stage(nr.membrane_update(u4, c, cfg.leak_shift[4], cfg.u_bits), f"vc{q}")
            c = stage(c, f"c{q}_s7")
            gates6 = carry(gates6, "s7")
            after = carry(after, "s7")
            # 8: the c-LIF fires, h = o * s_c
            s_c_now, after_c = nr.fire_ternary(vc, self.theta_pos[4], self.theta_neg[4])
            s_c_now = hold(m, s_c_now, f"s_c{q}_now")
            h = stage(nr.h_output(gates6[f"o{q}"], s_c_now), f"h{q}")
            s_c = stage(s_c_now, f"s_c{q}")
            after_c = stage(after_c, f"after{q}_4")
            c = stage(c, f"c{q}_s8")
            gates6 = carry(gates6, "s8")
            after = carry(after, "s8")
            for a, g in enumerate(nr.GATES):
                m.d.comb += [self.gates[q][g].eq(gates6[f"{g}{q}"]),
                             self.u[q][a].eq(after[f"after{q}_{a}"])]
            m.d.comb += [self.c[q].eq(c), self.u[q][4].eq(after_c), self.s_c[q].eq(s_c),
                         self.h[q].eq(h)]
        return m

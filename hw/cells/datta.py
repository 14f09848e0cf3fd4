"""Hardware step of the Datta spiking LSTM cell, twin of :mod:`model.cells.datta`.

:class:`CellStep` builds the same equations as ``model.cells.datta.DattaLSTM.step``
from the rules of :mod:`model.numerics`, for Q neurons at once, in a pipeline of
:data:`CELL_LATENCY` register stages (one carry chain per stage).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out

from model import numerics as nr
from model.config import ConfigError, NetworkConfig

from ..cell import FireAhead, hold, stager, thresholds
from . import step_signature

__all__ = ["CellStep", "CELL_LATENCY", "STEP", "gate_value_shape"]


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

    The ports of :func:`hw.cells.step_signature`: ``z`` (exact gate sums,
    ``[neuron][gate]`` with gate order f, i, o, g), ``u_prev`` (membranes f, i, o, g, c
    per neuron), ``carry_prev`` (``.c`` of element n-1); outputs ``u``, ``carry``
    (``.c``), ``h``; besides them ``s_c`` and each gate's output (``gates``). The gate
    sums saturate to ``acc_bits`` here.

    Combinational by default. With ``pipelined=True`` a register follows each step of
    the chain (inputs; saturated gate sums with their threshold offsets, and the leaked
    gate membranes; the gate membranes' sums; gate outputs, a select; i * g and the
    leaked c membrane; c; the c membrane's sums; the c spike and h, a select: both
    LIF firings are :class:`hw.cell.FireAhead`), so no path holds more than one carry
    chain, and
    every output comes
    :data:`CELL_LATENCY` cycles after its inputs. The pipeline runs freely: the user
    tracks which outputs are valid.
    """

    LATENCY = CELL_LATENCY

    def __init__(self, cfg: NetworkConfig, *, neurons: int, z_bits: int,
                 theta_pos, theta_neg, pipelined: bool = False):
        self.cfg, self.neurons, self.pipelined = cfg, neurons, pipelined
        self.latency = CELL_LATENCY if pipelined else 0
        if len(theta_pos) != len(nr.MEMBRANES) or len(theta_neg) != len(nr.MEMBRANES):
            self._MustUse__silence = True
            raise ConfigError(f"the Datta cell needs {len(nr.MEMBRANES)} positive and negative "
                              f"thresholds, got {len(theta_pos)} and {len(theta_neg)}")
        self.theta_pos = [thresholds(self, [t], cfg.u_bits, f"membrane {name} positive")[0]
                          for t, name in zip(theta_pos, nr.MEMBRANES)]
        self.theta_neg = [thresholds(self, [t], cfg.u_bits, f"membrane {name} negative")[0]
                          for t, name in zip(theta_neg, nr.MEMBRANES)]
        gates = data.StructLayout({g: gate_value_shape(cfg, g) for g in nr.GATES})
        super().__init__({
            **step_signature(cfg, neurons=neurons, z_bits=z_bits),
            "s_c": Out(data.ArrayLayout(signed(2), neurons)),
            "gates": Out(data.ArrayLayout(gates, neurons)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg

        stage = stager(m, self.pipelined)

        def carry(values: dict, tag: str) -> dict:
            return {key: stage(v, f"{key}_{tag}") for key, v in values.items()}

        for q in range(self.neurons):
            spiking = [a for a, g in enumerate(nr.GATES) if g != cfg.nonspiking]
            # 1: inputs
            z = [stage(self.z[q][a], f"z{q}_{g}_in") for a, g in enumerate(nr.GATES)]
            up = [stage(self.u_prev[q][a], f"u{q}_{a}_in") for a in range(5)]
            cp = stage(self.carry_prev[q].c, f"c{q}_in")
            # 2: saturated gate sums; for a spiking gate its offsets by the thresholds and
            # the leaked membrane (hw.cell.FireAhead: the membrane fires by a select)
            fires, zs, leaked = {}, {}, {}
            for a, gate in enumerate(nr.GATES):
                z_sat = nr.saturate(z[a], cfg.acc_bits)
                if a in spiking:
                    fires[a] = FireAhead(m, stage, self.theta_pos[a],
                                         self.theta_neg[a] if gate == "g" else None, cfg.u_bits,
                                         f"v{q}_{gate}")
                    fires[a].offsets(z_sat)
                    leaked[a] = stage(nr.leak(up[a], cfg.leak_shift[a]), f"lk{q}_{gate}")
                else:
                    zs[a] = stage(z_sat, f"z{q}_{gate}")
            keep = carry({f"u{q}_{a}": up[a] for a in range(5) if a not in spiking} | {f"cp{q}": cp},
                         "s2")
            # 3: the spiking gates' sums, or the non-spiking gate's value
            vals = {}
            for a, gate in enumerate(nr.GATES):
                if a in spiking:
                    fires[a].sums(leaked[a])
                else:
                    fn = nr.hard_sigmoid_q if gate == "i" else nr.hard_tanh_q
                    vals[f"ns{q}"] = fn(zs[a], cfg.ns_shift, cfg.ns_bits)
            vals = carry(vals, "s3")
            keep = carry(keep, "s3")
            # 4: gate outputs and the gate membranes after firing
            outs, after = {}, {}
            for a, gate in enumerate(nr.GATES):
                if a in spiking:
                    outs[gate], after[a] = fires[a].fire()
                else:
                    outs[gate], after[a] = vals[f"ns{q}"], keep[f"u{q}_{a}"]
            gate_out = carry({f"{g}{q}": Value.cast(outs[g]) for g in nr.GATES}, "s4")
            after = carry({f"after{q}_{a}": after[a] for a in range(4)}, "s4")
            keep = carry({f"u{q}_4": keep[f"u{q}_4"], f"cp{q}": keep[f"cp{q}"]}, "s4")
            gates = {g: Signal(gate_value_shape(cfg, g), name=f"{g}{q}_val") for g in nr.GATES}
            for g in nr.GATES:
                m.d.comb += gates[g].eq(gate_out[f"{g}{q}"])
            # 5: i * g; the c membrane leaks
            ig = stage(nr.gate_product(gates["i"], gates["g"], cfg.i_spiking), f"ig{q}")
            gates5 = carry({f"{g}{q}": gates[g] for g in nr.GATES}, "s5")
            after = carry(after, "s5")
            leaked_c = stage(nr.leak(keep[f"u{q}_4"], cfg.leak_shift[4]), f"lk{q}_s5")
            keep = carry({f"cp{q}": keep[f"cp{q}"]}, "s5")
            # 6: c; the c membrane's offsets by its thresholds (FireAhead)
            c = stage(nr.c_update(gates5[f"f{q}"], keep[f"cp{q}"], ig, cfg.c_bits), f"c{q}")
            gates6 = carry(gates5, "s6")
            after = carry(after, "s6")
            fire_c = FireAhead(m, stage, self.theta_pos[4], self.theta_neg[4], cfg.u_bits, f"vc{q}")
            fire_c.offsets(leaked_c)
            # 7: the c membrane's sum, before saturation, and the sums against its thresholds
            fire_c.sums(c)
            c = stage(c, f"c{q}_s7")
            gates6 = carry(gates6, "s7")
            after = carry(after, "s7")
            # 8: the c-LIF fires (a select), h = o * s_c
            s_c_now, after_c = fire_c.fire()
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
            m.d.comb += [self.carry[q].c.eq(c), self.u[q][4].eq(after_c), self.s_c[q].eq(s_c),
                         self.h[q].eq(h)]
        return m


STEP = CellStep

"""Registers copied so that a wide fan-out starts at many flip-flops, not one.

A control value that selects every bit of a lane's accumulators (the spike value of
the accumulate stage, the restart-from-bias select) reaches a few hundred LUTs spread
over the lane. Driven by one flip-flop, that net's routing set the clock period. Each
copy made here sits in a module of its own, named ``fanout_*``; the synthesis flow
marks those modules ``keep_hierarchy`` (see ``flows.synth``), because yosys would
otherwise merge identical flip-flops back into one. Under simulation, or a flow that
flattens them, the copies are plain registers with the same value.
"""

from __future__ import annotations

from amaranth.hdl import Module, Shape, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["FanoutCopy", "FanoutLogic", "FANOUT_PREFIX", "copies", "logic_copies"]

#: prefix of the submodule names the synthesis flow keeps apart
FANOUT_PREFIX = "fanout_"


class FanoutCopy(wiring.Component):
    """``q`` is ``d`` one cycle later (a register, reset like any other)."""

    def __init__(self, shape):
        super().__init__({"d": In(shape), "q": Out(shape)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.q.eq(self.d)
        return m


class FanoutLogic(wiring.Component):
    """``q`` is ``fn(**inputs)`` one cycle later: the logic before the register sits in
    the copy's own module, so each copy's LUTs are placed beside its flip-flops (yosys
    would otherwise share one LUT among identical copies and route its output to all)."""

    def __init__(self, fn, inputs: dict, shape):
        self._fn, self._names = fn, list(inputs)
        super().__init__({**{f"i_{k}": In(Shape.cast(v)) for k, v in inputs.items()},
                          "q": Out(shape)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.q.eq(self._fn(**{k: getattr(self, f"i_{k}") for k in self._names}))
        return m


def logic_copies(m: Module, name: str, fn, count: int, **inputs) -> list:
    """``count`` registered copies of ``fn(**inputs)``, each computing ``fn`` in its own
    submodule ``fanout_<name>_<i>`` (:class:`FanoutLogic`)."""
    shape = Shape.cast(Value.cast(fn(**inputs)).shape())
    out = []
    for i in range(count):
        copy = FanoutLogic(fn, {k: Value.cast(v).shape() for k, v in inputs.items()}, shape)
        m.submodules[f"{FANOUT_PREFIX}{name}_{i}"] = copy
        m.d.comb += [getattr(copy, f"i_{k}").eq(v) for k, v in inputs.items()]
        out.append(copy.q)
    return out


def copies(m: Module, name: str, value, count: int) -> list:
    """``count`` registered copies of ``value`` (its value one cycle later), each in
    its own submodule ``fanout_<name>_<i>``."""
    out = []
    shape = Shape.cast(value.shape())
    for i in range(count):
        copy = FanoutCopy(shape)
        m.submodules[f"{FANOUT_PREFIX}{name}_{i}"] = copy
        m.d.comb += copy.d.eq(value)
        out.append(copy.q)
    return out

"""The event list of a layer round: the non-zero input positions, taken lowest first.

A round's events are the positions (layer inputs, then recurrent h) that are non-zero
in at least one firing lane. The list is a register of those positions; one is taken
per request by clearing the lowest set bit (:func:`hw.onehot.lowest_set`, a carry
chain), so the current event is known one cycle ahead of its use.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .cell import hold
from .onehot import at_least_two, lowest_set, onehot_index
from .rom import bits_for

__all__ = ["EventList"]


class EventList(wiring.Component):
    """``width`` event positions, emitted lowest first, one per ``take``.

    Members:

    * ``events`` (in, ``width`` bits): the positions to load, sampled while ``load`` is high;
    * ``load`` (in): replace the list by ``events``; the current event becomes invalid;
    * ``take`` (in): the lowest remaining position becomes the current event (``cur``,
      ``valid`` the next cycle) and leaves the list; with the list empty, ``valid``
      goes low;
    * ``cur`` (out, ``width`` bits): the current event, one-hot (a register, no reset);
    * ``index`` (out): the position of ``cur`` (0 when none is set);
    * ``valid`` (out): ``cur`` holds an event (a control register, reset low);
    * ``pending`` (out): events remain in the list, not yet taken.

    ``load`` wins over ``take`` in the same cycle.
    """

    def __init__(self, width: int):
        if not (isinstance(width, int) and width >= 1):
            self._MustUse__silence = True  # a refused list is not an unused one
            raise ValueError(f"an event list needs a width of at least 1, got {width!r}")
        self.width = width
        super().__init__({
            "events": In(width),
            "load": In(1),
            "take": In(1),
            "cur": Out(width),
            "index": Out(bits_for(width - 1)),
            "valid": Out(1),
            "pending": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        # ``union`` holds the events not yet taken; ``cur`` the one being used
        union = Signal(self.width, reset_less=True)
        cur = Signal(self.width, reset_less=True)
        cur_valid = Signal()
        # ``pending`` is a register equal to ``union.any()`` (reset-less like ``union``):
        # the layer's control decides from it in the same cycle, so the wide OR sits
        # before the flip-flop, not after it. After a take it is "two or more bits of
        # ``union``" (``rest.any()``), from a LUT tree beside the carry chains, not after them
        pending = Signal(reset_less=True)
        lowest, rest = lowest_set(m, union)
        m.d.comb += [self.cur.eq(cur), self.valid.eq(cur_valid), self.pending.eq(pending),
                     self.index.eq(hold(m, onehot_index(cur), "event"))]
        with m.If(self.take):
            m.d.sync += [cur.eq(lowest), cur_valid.eq(pending), union.eq(rest),
                         pending.eq(at_least_two(union))]
        with m.If(self.load):
            m.d.sync += [union.eq(self.events), cur_valid.eq(0), pending.eq(self.events.any())]
        return m

"""A read-only memory in banks, each with a register on its output.

A deep ROM maps to a column of block RAMs whose outputs a LUT multiplexer selects. An
ECP5 block RAM's data appears late after the clock edge (its optional output register
is not used by yosys), so "block RAM, routing, multiplexer" was the longest path of
the tmnist build. Here the address is registered first, once per bank (``hw.fanout``
copies, so each can sit next to its bank); every bank of :data:`hw.rom.WEIGHT_BANK`
words is a memory of its own, read into :data:`BANK_REGISTERS` registers; the bank
select follows, into the output register (with one bank, the output register takes the bank's
register as it is). ``data`` is the word at ``addr`` :data:`LATENCY` cycles after ``addr``
was presented.

Banks are 512 words: one ECP5 block RAM deep in its 36-bit mode, and one bit slice of
:mod:`flows.bram`, so a bank boundary never splits a slice and the bitstream patcher
finds the same slices as in an unbanked ROM.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Shape, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .cell import delayed
from .fanout import copies
from .onehot import onehot_select
from .rom import BLOCK_ROM, WEIGHT_BANK, bits_for, weight_banks

__all__ = ["BankedROM", "LATENCY"]

#: registers after each bank's block RAM: the first sits next to the block RAM (its
#: data arrives 5.6 ns after the clock, so only a short net fits), the second carries the
#: word towards the bank select (one placement put a single register 4.4 ns of routing
#: away from its block RAM, towards the lanes)
BANK_REGISTERS = 2
#: cycles from ``addr`` to ``data``: the address register, the block RAM read, the bank
#: registers, the register after the bank select
LATENCY = 2 + BANK_REGISTERS + 1


class BankedROM(wiring.Component):
    """``words`` (a list of values of ``shape``) in banks; ``data`` follows ``addr`` by
    :data:`LATENCY` cycles. Addresses past the last word read an unspecified word."""

    def __init__(self, shape, words: list):
        if not words:
            raise ValueError("a ROM needs at least one word")
        self.shape = shape
        self.words = list(words)
        self.banks = weight_banks(self.words)
        super().__init__({"addr": In(bits_for(len(self.words) - 1)), "data": Out(shape)})

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self.shape).width
        bank_q = []
        addr_q = copies(m, "addr", self.addr, len(self.banks))
        for b, init in enumerate(self.banks):
            rom = memory.Memory(shape=self.shape, depth=len(init), init=init, attrs=BLOCK_ROM)
            m.submodules[f"bank{b}"] = rom
            rd = rom.read_port()
            m.d.comb += rd.addr.eq(addr_q[b][:len(rd.addr)])
            bank_q.append(delayed(m, rd.data.as_value(), BANK_REGISTERS, f"bank{b}")[-1])
        out = Signal(width, reset_less=True)
        m.d.comb += self.data.eq(out)
        if len(self.banks) == 1:
            m.d.sync += out.eq(bank_q[0])
            return m
        # one-hot bank select: registered with the address, then along with the bank words
        high = addr_q[0][bits_for(WEIGHT_BANK - 1):]
        sel = Signal(len(self.banks), name="sel_read", reset_less=True)
        m.d.sync += sel.eq(Cat(*[high == b for b in range(len(self.banks))]))
        sel = delayed(m, sel, BANK_REGISTERS, "sel")[-1]
        m.d.sync += out.eq(onehot_select(sel, bank_q, width))
        return m


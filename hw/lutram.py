"""A small RAM in LUTs cut into parts, each addressed from flip-flops of its own.

A lane's membrane or accumulator memory is a few hundred bits wide and a few words
deep: synthesis maps it to 60-80 ECP5 ``TRELLIS_DPR16X4`` (4 bits by 16 words each).
Built as one :class:`amaranth.lib.memory.Memory`, one read address register, one
write address register and one write enable register drive all of them, and those
nets spread over the whole lane: on the digits build they set the clock period
(13.9 ns of routing on one read address net, 10 ns on a write enable; nextpnr seed 1).

:class:`LutRAM` keeps one memory's behaviour but cuts its word into ``parts`` runs of
whole array elements, each a memory ``part<i>`` with its own registered copies
(:mod:`hw.fanout`) of the read address, the write address and the write enable. The
user gives those one cycle ahead (``addr_next``, ``en_next``), so the registers are the
RAM's own and the timing is that of a register-addressed RAM:

* read: ``rd.addr_next`` in cycle t; ``rd.data`` in cycle t + 1 is the word at that
  address, read asynchronously from the registered copies (register it, as a block
  RAM's output would be);
* write: ``wr.addr_next`` and ``wr.en_next`` in cycle t; ``wr.data`` in cycle t + 1 is
  written at the end of that cycle (a read of the same address in cycle t + 1 sees the
  old word).

The activity counters (:mod:`flows.activity`, :mod:`flows.verilator_activity`) see the
parts as one memory (:func:`fold_parts`).
"""

from __future__ import annotations

import re

from amaranth.hdl import Module
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .fanout import copies

__all__ = ["LutRAM", "ReadSignature", "WriteSignature", "fold_parts", "PART_PREFIX"]

#: the parts' submodule names: ``part0``, ``part1``, ...
PART_PREFIX = "part"


class ReadSignature(wiring.Signature):
    """A :class:`LutRAM` read port (members as the RAM sees them): ``addr_next`` (in),
    ``data`` (out, the word at ``addr_next`` of the previous cycle)."""

    def __init__(self, addr_width: int, shape):
        super().__init__({"addr_next": In(addr_width), "data": Out(shape)})


class WriteSignature(wiring.Signature):
    """A :class:`LutRAM` write port (members as the RAM sees them): ``addr_next`` and
    ``en_next`` (in, one cycle ahead of the write), ``data`` (in, in the write's cycle)."""

    def __init__(self, addr_width: int, shape):
        super().__init__({"addr_next": In(addr_width), "en_next": In(1), "data": In(shape)})


class LutRAM(wiring.Component):
    """``depth`` words of ``shape`` (an :class:`amaranth.lib.data.ArrayLayout` whose
    length ``parts`` divides) in ``parts`` memories; members ``rd`` and ``wr``
    (:class:`ReadSignature`, :class:`WriteSignature`). ``attrs`` go to every part
    (synthesis attributes, e.g. ``ram_style``)."""

    def __init__(self, shape, depth: int, *, parts: int = 1, attrs=None):
        if not isinstance(shape, data.ArrayLayout):
            raise TypeError(f"a LutRAM word is an ArrayLayout, got {shape!r}")
        if not (isinstance(parts, int) and parts >= 1 and shape.length % parts == 0):
            raise ValueError(f"{parts!r} parts do not divide a word of {shape.length} elements")
        self.shape, self.depth, self.parts = shape, depth, parts
        self.abits = ceil_log2(depth)
        part_shape = data.ArrayLayout(shape.elem_shape, shape.length // parts)
        #: the parts, in element order (test benches read them: :meth:`word`)
        self.memories = [memory.Memory(shape=part_shape, depth=depth, init=[], attrs=attrs or {})
                         for _ in range(parts)]
        super().__init__({"rd": Out(ReadSignature(self.abits, shape)),
                          "wr": Out(WriteSignature(self.abits, shape))})

    def elaborate(self, platform):
        m = Module()
        rd_bits, wr_bits = self.rd.data.as_value(), self.wr.data.as_value()
        width = self.memories[0].shape.size  # bits of one part
        for i, mem in enumerate(self.memories):
            m.submodules[f"{PART_PREFIX}{i}"] = mem
            rd, wr = mem.read_port(domain="comb"), mem.write_port()
            if self.abits:
                m.d.comb += [rd.addr.eq(copies(m, f"raddr{i}", self.rd.addr_next, 1)[0]),
                             wr.addr.eq(copies(m, f"waddr{i}", self.wr.addr_next, 1)[0])]
            m.d.comb += [wr.en.eq(copies(m, f"wen{i}", self.wr.en_next, 1)[0]),
                         wr.data.eq(wr_bits[i * width:(i + 1) * width]),
                         rd_bits[i * width:(i + 1) * width].eq(rd.data)]
        return m

    def word(self, ctx, addr: int) -> list[int]:
        """The word at ``addr`` as a list of element values, read in a test bench
        (``ctx`` of :meth:`amaranth.sim.Simulator.add_testbench`)."""
        out = []
        for mem in self.memories:
            out += [int(v) for v in ctx.get(mem.data[addr])]
        return out


def fold_parts(memories: dict) -> dict:
    """Activity records per memory with the parts of each :class:`LutRAM` folded into one
    record under the RAM's name: word bits added up, port counts and cycles those of
    ``part0`` (every part is enabled in the same cycles)."""
    out = {}
    for name, rec in memories.items():
        hit = re.fullmatch(rf"(.*)\.{PART_PREFIX}(\d+)", name)
        if hit is None:
            out[name] = rec
            continue
        base, i = hit.group(1), int(hit.group(2))
        if base not in out:
            out[base] = dict(rec, word_bits=0)
        out[base]["word_bits"] += rec["word_bits"]
        if i == 0:
            out[base].update({k: v for k, v in rec.items() if k != "word_bits"})
    return out

"""One lane's rows: its input row and recurrent row in, its h row out.

In BEGIN a lane addresses its input row (from the input buffer, or the h bank of the
layer below) and the recurrent row h(n-1, k) in the previous lane's h bank; in FETCH
both arrive and are registered as they are (no logic after a block RAM's output); in
LOAD they become the lane's event vectors. In the NEURON phase the lane's h row is
collected chunk by chunk; FINISH writes it to the lane's own h bank.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .links import LaneSignature, Phases, WriteBack

__all__ = ["LaneRows"]


class LaneRows(wiring.Component):
    """Input, recurrent and h rows of lane ``lane``.

    Members:

    * ``phase`` (in, :class:`hw.links.Phases`): ``load`` latches the event vectors,
      ``finish`` writes the h row (when the lane fires);
    * ``lane`` (in, :class:`hw.links.LaneSignature`): the lane's cell ``(n, k)``;
    * ``in_addr`` (out) / ``in_data`` (in): the input row request, answered next cycle;
    * ``rec_rd`` (out, a flipped read port signature): the previous lane's h bank, read
      at h(n-1, k);
    * ``x`` / ``h`` (out): the event vectors latched in LOAD (zero when the lane does
      not fire; ``h`` zero for element 0); no reset;
    * ``nonzero`` (out): this lane's non-zero positions, inputs then h, of the vectors
      LOAD latches (valid in LOAD);
    * ``h_out`` (in, ``h[Q]``): the h of the chunk leaving the neuron stage;
    * ``wb`` (in, :class:`hw.links.WriteBack`): which chunk of the h row it is;
    * ``bank_wr`` (out, a flipped write port signature): the lane's own h bank, at
      ``{e, k}``.
    """

    def __init__(self, *, lane: int, kind: str, in_row, h_row, in_addr_bits: int, bank_depth: int,
                 nbits: int, ebits: int, kbits: int, cbits: int, chunks: int, neurons: int):
        if kind not in ("rows", "features", "banks"):
            raise ValueError(f"unknown input kind {kind!r}")
        self.index, self.kind, self.in_row, self.h_row = lane, kind, in_row, h_row
        self.nbits, self.ebits, self.kbits, self.chunks, self.neurons = nbits, ebits, kbits, chunks, neurons
        bank_addr = ceil_log2(bank_depth)  # the h banks' address width
        super().__init__({
            "phase": In(Phases(cbits)),
            "lane": In(LaneSignature(nbits=nbits, ebits=ebits, kbits=kbits)),
            "in_addr": Out(unsigned(in_addr_bits)),
            "in_data": In(in_row),
            "rec_rd": In(memory.ReadPort.Signature(addr_width=bank_addr, shape=h_row)),
            "x": Out(in_row),
            "h": Out(h_row),
            "nonzero": Out(in_row.length + h_row.length),
            "h_out": In(data.ArrayLayout(h_row.elem_shape, neurons)),
            "wb": In(WriteBack(cbits=cbits, chunks=chunks)),
            "bank_wr": In(memory.WritePort.Signature(addr_width=bank_addr, shape=h_row)),
        })

    def elaborate(self, platform):
        m = Module()
        n, e, k, fire = self.lane.n, self.lane.e, self.lane.k, self.lane.fire
        kk = k[:self.kbits]
        if self.kind == "rows":
            m.d.comb += self.in_addr.eq(Cat(kk, n[:self.nbits]))
        elif self.kind == "features":
            m.d.comb += self.in_addr.eq(n[:self.nbits])
        else:
            m.d.comb += self.in_addr.eq(Cat(kk, e))
        # the recurrent row h(n-1, k) from the previous lane's bank; lane 0's previous
        # element is the last lane's, one element number lower
        prev_e = e if self.index > 0 else e - 1
        m.d.comb += self.rec_rd.addr.eq(Cat(kk, prev_e[:self.ebits]))
        # the rows as read (FETCH), registered before any logic sees them: block RAM
        # data arrives late in its cycle
        x_raw = Signal(self.in_row, name="x_raw", reset_less=True)
        h_raw = Signal(self.h_row, name="h_raw", reset_less=True)
        m.d.sync += [x_raw.eq(self.in_data), h_raw.eq(self.rec_rd.data)]

        xvec = Signal(self.in_row, name="xvec", reset_less=True)
        hvec = Signal(self.h_row, name="hvec", reset_less=True)
        m.d.comb += [self.x.eq(xvec), self.h.eq(hvec)]
        # element 0 has no recurrent row. ``n`` changes in FINISH and holds through BEGIN
        # and FETCH, so "n is 0" can be a register by LOAD: the lane counter's compare
        # then is not on the path from the rows to the event list's ``pending``
        n_zero = Signal(name="n_zero")
        m.d.sync += n_zero.eq(n == 0)
        x_in = Mux(fire, x_raw.as_value(), 0)
        h_in = Mux(fire & ~n_zero, h_raw.as_value(), 0)
        with m.If(self.phase.load):
            m.d.sync += [xvec.eq(x_in), hvec.eq(h_in)]
        x_view, h_view = data.View(self.in_row, x_in), data.View(self.h_row, h_in)
        m.d.comb += self.nonzero.eq(Cat(*[x_view[i] != 0 for i in range(self.in_row.length)],
                                        *[h_view[i] != 0 for i in range(self.h_row.length)]))

        # the h row, a chunk of Q neurons at a time, written to the bank in FINISH
        hrow = Signal(self.h_row, name="hrow", reset_less=True)
        width = self.h_row.elem_shape.width * self.neurons
        for c in range(self.chunks):
            with m.If(self.wb.hsel[c]):
                m.d.sync += hrow.as_value()[c * width:(c + 1) * width].eq(self.h_out.as_value())
        m.d.comb += [self.bank_wr.addr.eq(Cat(kk, e)), self.bank_wr.data.eq(hrow),
                     self.bank_wr.en.eq(self.phase.finish & fire)]
        return m

"""The network's input side: ``i_stream`` beats into the input buffer of layer 0.

``spikes`` beats (N x T, element-major) and ``direct`` beats (N) are written as they
come, one a cycle. A ``rate`` or ``level`` beat is taken into a register and expanded
into its T spike rows, one a cycle, with ``i_stream.ready`` low meanwhile (EXPAND):

* ``rate``: channel ``i`` spikes when the LFSR's draw is below its feature
  (:func:`model.numerics.lfsr_draw`, the same draws in the same order as the golden model);
* ``level``: the feature's level (:func:`model.numerics.level_of`) is followed by a
  reference per channel, one step a cycle; an up step spikes on channel ``i``, a down
  step on channel ``M + i``.

Row ``(n, k)`` goes to address ``{n, k}`` (``{n}`` for direct features). The LFSR and
the references restart with each sequence.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from model import numerics as nr
from model.config import NetworkConfig

from .cell import hold
from .rom import bits_for

__all__ = ["InputEncoder"]


class InputEncoder(wiring.Component):
    """The input side of network ``net``, writing rows of layout ``row``.

    Members:

    * ``i_stream`` (in, a stream of ``beat`` payloads): the sequence's beats;
    * ``wr`` (out, a flipped write port signature): the input buffer, ``depth`` rows;
    * ``loaded`` (out): the sequence's last row is written this cycle; from then on no
      beat is taken until ``restart``;
    * ``restart`` (in): take the next sequence (the counters, the LFSR and the level
      references restart).
    """

    def __init__(self, net: NetworkConfig, *, beat, row, depth: int):
        if net.encoding not in ("spikes", "direct", "rate", "level"):
            self._MustUse__silence = True
            raise ValueError(f"unknown input encoding {net.encoding!r}")
        self.net, self.row, self.depth = net, row, depth
        super().__init__({
            "i_stream": In(stream.Signature(beat)),
            "wr": In(memory.WritePort.Signature(addr_width=ceil_log2(depth), shape=row)),
            "loaded": Out(1),
            "restart": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        net = self.net
        T, N = net.steps, net.length
        kbits, nbits = bits_for(T - 1), bits_for(N - 1)
        in_n = Signal(nbits + 1)
        in_k = Signal(kbits + 1)
        features = Signal(self.i_stream.payload.shape())
        lfsr = Signal(nr.LFSR_BITS, init=net.lfsr_seed)
        ref = Signal(data.ArrayLayout(unsigned(net.x_bits - net.level_shift + 1), net.inputs))
        beat, row_addr = self.i_stream.payload, Cat(in_k[:kbits], in_n[:nbits])

        def write(addr, row):
            m.d.comb += [self.wr.addr.eq(addr), self.wr.data.eq(row), self.wr.en.eq(1)]

        def loaded():
            m.d.comb += self.loaded.eq(1)
            m.next = "LOADED"

        def next_row(then=None):
            """Step k, then n; ``then`` is the state after a beat's last row."""
            with m.If(in_k == T - 1):
                m.d.sync += [in_k.eq(0), in_n.eq(in_n + 1)]
                with m.If(in_n == N - 1):
                    loaded()
                if then is not None:
                    with m.Else():
                        m.next = then
            with m.Else():
                m.d.sync += in_k.eq(in_k + 1)

        with m.FSM(name="encoder"):
            with m.State("INPUT"):
                m.d.comb += self.i_stream.ready.eq(1)
                with m.If(self.i_stream.valid):
                    if net.encoding == "spikes":
                        write(row_addr, beat)
                        next_row()
                    elif net.encoding == "direct":
                        write(in_n[:nbits], beat)
                        m.d.sync += in_n.eq(in_n + 1)
                        with m.If(in_n == N - 1):
                            loaded()
                    else:
                        m.d.sync += [features.eq(beat), in_k.eq(0)]
                        m.next = "EXPAND"
            if net.encoding in ("rate", "level"):
                with m.State("EXPAND"):
                    write(row_addr, self._spike_row(m, features, lfsr, ref))
                    next_row(then="INPUT")
            with m.State("LOADED"):
                with m.If(self.restart):
                    m.d.sync += [in_n.eq(0), in_k.eq(0), lfsr.eq(net.lfsr_seed), ref.eq(0)]
                    m.next = "INPUT"
        return m

    def _spike_row(self, m, features, lfsr, ref):
        """The spike row of step k from the held features; the LFSR or the references
        take their step (the caller's state enables it: this runs inside EXPAND)."""
        net, M = self.net, self.net.inputs
        row = Signal(self.row)
        if net.encoding == "rate":
            state = lfsr
            for ch in range(M):
                draw, state = nr.lfsr_draw(state, net.x_bits, lambda v: hold(m, v))
                m.d.comb += row[ch].eq(draw < features[ch])
            m.d.sync += lfsr.eq(state)
        else:
            for ch in range(M):
                level = nr.level_of(features[ch], net.level_shift)
                up, down = level > ref[ch], level < ref[ch]
                m.d.comb += [row[ch].eq(up), row[M + ch].eq(down)]
                m.d.sync += ref[ch].eq(ref[ch] + up - down)
        return row

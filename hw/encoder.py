"""The network's input side: ``i_stream`` beats into the input buffer of layer 0.

``spikes`` beats (N x T, element-major) and ``direct`` beats (N) are written as they
come, one a cycle. A ``rate`` or ``level`` beat is taken into a register and expanded
into its T spike rows, one a cycle, with ``i_stream.ready`` low meanwhile (EXPAND):

* ``rate``: channel ``i`` spikes when its draw is below its feature. The draws are the
  golden model's (:func:`model.encoding.rate_draws`: the LFSR of
  :func:`model.numerics.lfsr_draw`, restarted with each sequence, so the same for every
  sequence) and come from a ROM of one word per row ``(n, k)``: the address, the block
  RAM's read, its output register, then the compares and the write, so a beat's
  EXPAND takes T + 2 cycles, T + 3 from one beat to the next (unrolled in one cycle,
  the M chained draws of a row were the critical path: 67.1 MHz on the digits rate
  package, nextpnr seed 1);
* ``level``: the feature's level (:func:`model.numerics.level_of`) is followed by a
  reference per channel, one step a cycle; an up step spikes on channel ``i``, a down
  step on channel ``M + i``.

Row ``(n, k)`` goes to address ``{n, k}`` (``{n}`` for direct features). The
references restart with each sequence.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, Value, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from model import numerics as nr
from model.config import NetworkConfig
from model.encoding import rate_draws

from .rom import bits_for

__all__ = ["InputEncoder", "RATE_EXTRA_CYCLES", "draw_words", "banked_address"]

#: cycles a rate beat takes beyond its T rows (the draw ROM's read and output register)
RATE_EXTRA_CYCLES = 2


def banked_address(addr, depth: int, bank):
    """Row ``addr`` (at most ``depth`` rows) of bank ``bank`` of the two-bank input
    buffer: the bank is the top bit, above ``ceil_log2(depth)`` row bits."""
    bits = ceil_log2(depth)
    addr = Value.cast(addr)
    addr = addr[:bits] if len(addr) >= bits else Cat(addr, Const(0, bits - len(addr)))
    return Cat(addr, bank)


def draw_words(net: NetworkConfig) -> list[int]:
    """The draw ROM of ``rate`` coding: word ``{n, k}`` holds the M draws of row (n, k),
    channel ``i`` in bits ``[i*x_bits, (i+1)*x_bits)``."""
    draws = rate_draws(net.lfsr_seed, net.x_bits, net.length, net.steps, net.inputs)
    kbits = bits_for(net.steps - 1)
    words = [0] * (net.length << kbits)
    for n in range(net.length):
        for k in range(net.steps):
            words[n << kbits | k] = sum(int(d) << (i * net.x_bits) for i, d in enumerate(draws[n, k]))
    return words


class InputEncoder(wiring.Component):
    """The input side of network ``net``, writing rows of layout ``row``.

    Members:

    * ``i_stream`` (in, a stream of ``beat`` payloads): the sequence's beats;
    * ``wr`` (out, a flipped write port signature): the input buffer, two banks of
      ``depth`` rows (each ``2**ceil_log2(depth)`` rows apart), the bank ``bank``;
    * ``bank`` (in): the bank to write (:class:`hw.network_control.InputBanks`);
    * ``loaded`` (out): the sequence's last row is written this cycle; from then on no
      beat is taken until ``restart``;
    * ``restart`` (in): take the next sequence (the counters, the LFSR and the level
      references restart) into ``bank``.
    """

    def __init__(self, net: NetworkConfig, *, beat, row, depth: int):
        if net.encoding not in ("spikes", "direct", "rate", "level"):
            self._MustUse__silence = True
            raise ValueError(f"unknown input encoding {net.encoding!r}")
        self.net, self.row, self.depth = net, row, depth
        super().__init__({
            "i_stream": In(stream.Signature(beat)),
            "wr": In(memory.WritePort.Signature(addr_width=ceil_log2(depth) + 1, shape=row)),
            "bank": In(1),
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
        ref = Signal(data.ArrayLayout(unsigned(net.x_bits - net.level_shift + 1), net.inputs))
        beat, row_addr = self.i_stream.payload, Cat(in_k[:kbits], in_n[:nbits])

        def write(addr, row):
            m.d.comb += [self.wr.addr.eq(banked_address(addr, self.depth, self.bank)),
                         self.wr.data.eq(row), self.wr.en.eq(1)]

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
            if net.encoding == "level":
                with m.State("EXPAND"):
                    write(row_addr, self._level_row(m, features, ref))
                    next_row(then="INPUT")
            if net.encoding == "rate":
                self._rate_expand(m, features, in_n, in_k, write, loaded)
            with m.State("LOADED"):
                with m.If(self.restart):
                    m.d.sync += [in_n.eq(0), in_k.eq(0), ref.eq(0)]
                    m.next = "INPUT"
        return m

    def _rate_expand(self, m, features, in_n, in_k, write, loaded):
        """EXPAND of a rate beat (inside the encoder's FSM): cycle j addresses the draws
        of row j (j < T), the block RAM answers, its word is registered, and in cycle
        j + 2 row j is written; T + 2 cycles in all."""
        net, M, xb = self.net, self.net.inputs, self.net.x_bits
        T, N = net.steps, net.length
        kbits, nbits = bits_for(T - 1), bits_for(N - 1)
        m.submodules.draws = rom = memory.Memory(shape=unsigned(M * xb), depth=N << kbits,
                                                  init=draw_words(net))
        rd = rom.read_port(domain="sync")
        word = Signal(M * xb, name="draw_word")
        m.d.sync += word.eq(rd.data)  # no logic after the block RAM's output
        step = Signal(bits_for(T + RATE_EXTRA_CYCLES - 1), name="expand_step")
        m.d.comb += rd.addr.eq(Cat(step[:kbits], in_n[:nbits]))
        row = Signal(self.row)
        m.d.comb += [row[ch].eq(word[ch * xb:(ch + 1) * xb] < features[ch]) for ch in range(M)]
        with m.State("EXPAND"):
            m.d.sync += step.eq(step + 1)
            with m.If(step >= RATE_EXTRA_CYCLES):
                write(Cat(in_k[:kbits], in_n[:nbits]), row)
                m.d.sync += in_k.eq(in_k + 1)
            with m.If(step == T + RATE_EXTRA_CYCLES - 1):
                m.d.sync += [step.eq(0), in_k.eq(0), in_n.eq(in_n + 1)]
                with m.If(in_n == N - 1):
                    loaded()
                with m.Else():
                    m.next = "INPUT"

    def _level_row(self, m, features, ref):
        """The spike row of step k from the held features; the references take their step
        (the caller's state enables it: this runs inside EXPAND)."""
        net, M = self.net, self.net.inputs
        row = Signal(self.row)
        for ch in range(M):
            level = nr.level_of(features[ch], net.level_shift)
            up, down = level > ref[ch], level < ref[ch]
            m.d.comb += [row[ch].eq(up), row[M + ch].eq(down)]
            m.d.sync += ref[ch].eq(ref[ch] + up - down)
        return row

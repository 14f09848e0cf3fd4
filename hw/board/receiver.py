"""The board top's receiver: request bytes from the UART into the network's input beats.

A state machine waits for the request start byte (:data:`hw.board.protocol.REQUEST_START`),
then gathers each beat's bytes, least significant first, in a shift register; a
complete beat moves to a one-beat holding register that drives ``o_stream`` (the
network stalls there while it expands a rate or level beat into T spike rows), so the
bytes of the next beat can arrive meanwhile. When all beats are gathered the receiver
waits for the result and drops any bytes that arrive.

A request is given up on a framing error, on a receive overrun, or when no byte arrived
for ``timeout_cycles`` cycles in the middle of it: ``reasons`` then says why, for one
cycle, and the receiver waits for the next request start byte.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from model.config import ConfigError, NetworkConfig

from . import protocol

__all__ = ["RequestReceiver"]


class RequestReceiver(wiring.Component):
    """Requests for network ``cfg``, given up after ``timeout_cycles`` idle cycles.

    Members:

    * ``i_stream`` (in, a stream of bytes): from the UART receiver;
    * ``framing_error`` / ``overrun`` (in): the UART receiver's error pulses;
    * ``o_stream`` (out, a stream of :func:`hw.board.protocol.beat_layout` beats): to the
      network (the holding register);
    * ``result_taken`` (in): the result has been taken (the receiver is ready for the
      next request from the next cycle);
    * ``request`` (out): a request start byte is taken this cycle;
    * ``reasons`` (out): the request is given up this cycle, the bits say why
      (``ERROR_FRAMING``, ``ERROR_OVERRUN``, ``ERROR_TIMEOUT``); 0 otherwise;
    * ``busy`` (out): a request is being received or computed.
    """

    def __init__(self, cfg: NetworkConfig, *, timeout_cycles: int):
        if not (isinstance(timeout_cycles, int) and timeout_cycles >= 1):
            self._MustUse__silence = True
            raise ConfigError(f"the request timeout must be a positive number of cycles, "
                              f"got {timeout_cycles!r}")
        self.cfg, self.timeout_cycles = cfg, timeout_cycles
        super().__init__({
            "i_stream": In(stream.Signature(8)),
            "framing_error": In(1),
            "overrun": In(1),
            "o_stream": Out(stream.Signature(protocol.beat_layout(cfg))),
            "result_taken": In(1),
            "request": Out(1),
            "reasons": Out(3),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, byte_stream = self.cfg, self.i_stream
        nbytes = protocol.beat_bytes(cfg)
        nbeats = protocol.beats_per_sequence(cfg)
        bits = protocol.beat_bits(cfg)
        gather = Signal(8 * nbytes)
        byte_n = Signal(range(nbytes))
        beat_n = Signal(range(nbeats))
        beat = Signal(bits)
        beat_valid = Signal()
        idle = Signal(range(self.timeout_cycles + 1))

        m.d.comb += [self.o_stream.payload.eq(beat), self.o_stream.valid.eq(beat_valid)]
        with m.If(self.o_stream.valid & self.o_stream.ready):
            m.d.sync += beat_valid.eq(0)

        byte_in = byte_stream.valid & byte_stream.ready
        last_byte = byte_n == nbytes - 1
        # idle == timeout_cycles, from a register: the comparison of the wide counter is
        # made a cycle ahead (idle counts up by one in RECEIVE unless a byte comes in)
        timed_out = Signal()
        m.d.sync += timed_out.eq((idle == self.timeout_cycles - 1) & ~byte_in)
        with m.FSM(name="receiver") as receiver:
            with m.State("IDLE"):
                m.d.comb += byte_stream.ready.eq(1)
                with m.If(byte_stream.valid & (byte_stream.payload == protocol.REQUEST_START)):
                    m.d.comb += self.request.eq(1)
                    m.d.sync += [byte_n.eq(0), beat_n.eq(0), idle.eq(0)]
                    m.next = "RECEIVE"
            with m.State("RECEIVE"):
                # the last byte of a beat waits while the previous beat is still held
                m.d.comb += byte_stream.ready.eq(~(last_byte & beat_valid))
                m.d.sync += idle.eq(idle + 1)
                with m.If(byte_in):
                    word = Cat(gather[8:], byte_stream.payload)
                    m.d.sync += [gather.eq(word), idle.eq(0), byte_n.eq(byte_n + 1)]
                    with m.If(last_byte):
                        m.d.sync += [beat.eq(word[:bits]), beat_valid.eq(1), byte_n.eq(0),
                                     beat_n.eq(beat_n + 1)]
                        with m.If(beat_n == nbeats - 1):
                            m.next = "RESULT"
                m.d.comb += self.reasons.eq(Cat(self.framing_error, self.overrun, timed_out))
                with m.If(self.reasons != 0):
                    m.d.sync += beat_valid.eq(0)
                    m.next = "IDLE"
            with m.State("RESULT"):
                m.d.comb += byte_stream.ready.eq(1)  # bytes before the response are dropped
                with m.If(self.result_taken):
                    m.next = "IDLE"
        m.d.comb += self.busy.eq(~receiver.ongoing("IDLE"))
        return m

"""The board top's sender: the network's result, or an error byte, to the UART.

When idle, the sender first sends a pending error reply (one byte,
``ERROR_BASE | reasons``, the reasons gathered since the last one was sent), else takes
the network's result beat, copies the whole response (:func:`hw.board.protocol.response_length`
bytes, the start byte first) into a shift register and hands it to the UART
transmitter byte by byte.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.config import HardwareConfig
from hw.network import output_layout
from model.config import NetworkConfig

from . import protocol

__all__ = ["ResponseSender"]


class ResponseSender(wiring.Component):
    """Responses of network ``cfg``.

    Members:

    * ``i_stream`` (in, a stream of :func:`hw.network.output_layout` beats): the results;
    * ``reasons`` (in): error reasons of a request given up this cycle; they are kept
      (OR-ed) until their error byte is taken for sending;
    * ``o_stream`` (out, a stream of bytes): to the UART transmitter;
    * ``result_taken`` (out): a result is taken this cycle (``i_stream``'s transfer).
    """

    def __init__(self, cfg: NetworkConfig):
        protocol.check_protocol(cfg)
        self.cfg = cfg
        super().__init__({
            "i_stream": In(stream.Signature(output_layout(HardwareConfig(cfg)))),
            "reasons": In(3),
            "o_stream": Out(stream.Signature(8)),
            "result_taken": Out(1),
        })

    def _response_word(self, m: Module, payload):
        """The response as one word, its first byte in the low bits (hw.board.protocol)."""
        cfg = self.cfg
        parts = [Const(protocol.RESPONSE_START, 8)]
        for c in range(cfg.classes):
            logit = Signal(signed(8 * protocol.logit_bytes(cfg)), name=f"resp_logit{c}")
            m.d.comb += logit.eq(payload.logits[c])  # sign-extends
            parts.append(logit)
        cls = Signal(8 * protocol.CLASS_BYTES, name="resp_cls")
        cycles = Signal(8 * protocol.CYCLE_BYTES, name="resp_cycles")
        m.d.comb += [cls.eq(payload.cls), cycles.eq(payload.cycles)]
        word = Cat(*parts, cls, cycles)
        assert len(word) == 8 * protocol.response_length(cfg)
        return word

    def elaborate(self, platform):
        m = Module()
        result = self.i_stream
        response = self._response_word(m, result.payload)
        nresp = protocol.response_length(self.cfg)
        shift = Signal(len(response))
        left = Signal(range(nresp + 1))
        pending = Signal(3)        # error reply not sent yet
        sent_error = Signal()      # the error reply is taken for sending this cycle
        m.d.sync += pending.eq(Mux(sent_error, 0, pending) | self.reasons)
        # the byte offered to the UART is a register of its own; the wide shift register
        # moves on only in the cycle after ``step`` is set (a flip-flop, so its clock
        # enable does not start at the UART's handshake logic; a byte on the line takes
        # ten bit times, so the extra cycles cost nothing)
        byte, byte_valid, step = Signal(8), Signal(), Signal()
        m.d.comb += [self.o_stream.payload.eq(byte), self.o_stream.valid.eq(byte_valid),
                     self.result_taken.eq(result.valid & result.ready)]
        with m.If(self.o_stream.ready):
            m.d.sync += byte_valid.eq(0)
        m.d.sync += step.eq(0)
        with m.FSM(name="sender"):
            with m.State("IDLE"):
                with m.If(pending != 0):
                    m.d.comb += sent_error.eq(1)
                    m.d.sync += [shift.eq(protocol.ERROR_BASE | pending), left.eq(1)]
                    m.next = "SEND"
                with m.Elif(result.valid):
                    m.d.comb += result.ready.eq(1)
                    m.d.sync += [shift.eq(response), left.eq(nresp)]
                    m.next = "SEND"
            with m.State("SEND"):
                with m.If(step):
                    m.d.sync += [byte.eq(shift[:8]), byte_valid.eq(1), shift.eq(shift >> 8),
                                 left.eq(left - 1)]
                    with m.If(left == 1):
                        m.next = "IDLE"
                with m.Elif(~byte_valid):
                    m.d.sync += step.eq(1)
        return m

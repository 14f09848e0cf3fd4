"""Board top: the network behind a UART, so a bitstream can be used from a host.

The byte protocol is described in :mod:`flows.host`; its constants and lengths come
from :mod:`hw.board.protocol`, which the host script uses too. In short:

* host to board: ``0xA5``, then the sequence's input beats, each beat's raw payload
  bits (``hw.network.input_layout``) as ``ceil(bits / 8)`` bytes, little-endian;
* board to host: ``0x5A``, the logits (``logit_bits`` two's complement, sign-extended
  to ``ceil(logit_bits / 8)`` bytes each, little-endian), the class (1 byte), the cycle
  count (4 bytes, little-endian); or one error byte ``0xE0 | reasons`` (framing 1,
  overrun 2, timeout 4) when a request was given up.

How the top works. A receiver state machine waits for the request start byte, then
gathers each beat's bytes in a shift register; a complete beat moves to a one-beat
holding register that drives ``network.i_stream`` (the network stalls there while it
expands a rate or level beat into T spike rows), so the bytes of the next beat can
arrive meanwhile. When all beats are gathered the receiver waits for the result and
drops any bytes that arrive. A sender state machine takes ``o_stream`` when it is idle,
copies the whole response into a shift register and hands it to the UART transmitter
byte by byte; the receiver is ready for the next request from that moment.

A request is given up, with the network held in reset for a cycle (so that it is back
at the start of a sequence), on a framing error, on a receive overrun, or when no byte
arrived for ``request_timeout`` seconds in the middle of a request. The sender then
sends the error byte.

Ports without a platform (simulation): ``rx`` in, ``tx`` out, and the status
``busy`` (a request is being received or computed), ``done`` (a response has been
sent, no new request yet), ``error`` (a byte was lost or a request given up since
the last good response). With a platform the line is ``platform.request("uart", 0)``
and the status goes to the first four LEDs when the board has them: led0 busy,
led1 done, led2 error, led3 a heartbeat (period 0.5 to 1 s: the bitstream is running).
The clock is the platform's default ``sync`` domain; ``clk_hz`` must be its real
frequency (a flow that only tightens the timing constraint passes the oscillator's).
"""


import math

from amaranth.build import ResourceError
from amaranth.hdl import Cat, Const, Module, Mux, ResetInserter, Signal, signed
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from hw.network import SpikingLSTMNetwork
from model.config import ConfigError

from . import protocol
from .uart import MIN_DIVISOR, UARTRx, UARTTx

__all__ = ["BoardTop", "uart_divisor", "BAUD_TOLERANCE", "STATUS_LEDS"]

#: Largest relative baud-rate error accepted (8N1 tolerates about 4% between both ends).
BAUD_TOLERANCE = 0.02
#: LED order on the board.
STATUS_LEDS = ("busy", "done", "error", "heartbeat")


def uart_divisor(clk_hz: float, baud: int) -> int:
    """Clock cycles per UART bit; refuses a pair that gives too few or too wrong a rate."""
    if not clk_hz > 0:
        raise ConfigError(f"clk_hz must be positive, got {clk_hz!r}")
    if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
        raise ConfigError(f"baud must be a positive integer, got {baud!r}")
    divisor = round(clk_hz / baud)
    if divisor < MIN_DIVISOR:
        raise ConfigError(f"baud {baud} is too fast for a {clk_hz / 1e6:g} MHz clock: "
                          f"{clk_hz / baud:.2f} cycles per bit, the UART needs at least {MIN_DIVISOR}")
    error = abs(clk_hz / divisor - baud) / baud
    if error > BAUD_TOLERANCE:
        raise ConfigError(f"baud {baud} from a {clk_hz / 1e6:g} MHz clock: the nearest divisor "
                          f"{divisor} gives {clk_hz / divisor:.0f} baud, {100 * error:.1f}% off "
                          f"(at most {100 * BAUD_TOLERANCE:g}%)")
    return divisor


class BoardTop(wiring.Component):
    """``network`` behind a UART at ``baud`` (see the module docstring)."""

    rx: In(1, init=1)
    tx: Out(1, init=1)
    busy: Out(1)
    done: Out(1)
    error: Out(1)

    def __init__(self, network: SpikingLSTMNetwork, *, clk_hz: float, baud: int = protocol.DEFAULT_BAUD,
                 request_timeout: float = 0.1):
        if not isinstance(network, SpikingLSTMNetwork):
            raise ConfigError(f"BoardTop needs a hw.network.SpikingLSTMNetwork, got {type(network).__name__}")
        self.network = network
        self.cfg = network.hw.net
        protocol.check_protocol(self.cfg)
        self.clk_hz, self.baud = clk_hz, baud
        self.divisor = uart_divisor(clk_hz, baud)
        if not request_timeout > 0:
            raise ConfigError(f"request_timeout must be positive seconds, got {request_timeout!r}")
        self.timeout_cycles = math.ceil(request_timeout * clk_hz)
        byte_cycles = 10 * self.divisor
        if self.timeout_cycles < 2 * byte_cycles:
            raise ConfigError(f"request_timeout {request_timeout!r} s is {self.timeout_cycles} cycles, "
                              f"shorter than two UART bytes ({2 * byte_cycles} cycles)")
        self.uart_rx = UARTRx(self.divisor)
        self.uart_tx = UARTTx(self.divisor)
        super().__init__()

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
        cfg = self.cfg
        net = self.network
        abort = Signal()
        # the network's reset is registered: it reaches every flip-flop of the network,
        # so it must not hang off the receiver's logic (that path set Fmax otherwise)
        reset_network = Signal()
        m.d.sync += reset_network.eq(abort)
        m.submodules.network = ResetInserter(reset_network)(net)
        m.submodules.uart_rx = urx = self.uart_rx
        m.submodules.uart_tx = utx = self.uart_tx

        # ---- pins and LEDs ------------------------------------------------------------
        if platform is None:
            m.d.comb += urx.rx.eq(self.rx)
        else:
            uart = platform.request("uart", 0, dir="-")
            m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
            m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
            m.d.comb += [urx.rx.eq(rx_pin.i), tx_pin.o.eq(utx.tx)]
            heartbeat = Signal(max(1, int(self.clk_hz).bit_length() - 1))
            m.d.sync += heartbeat.eq(heartbeat + 1)
            status = {"busy": self.busy, "done": self.done, "error": self.error,
                      "heartbeat": heartbeat[-1]}
            for i, name in enumerate(STATUS_LEDS):
                try:
                    led = platform.request("led", i, dir="-")
                except ResourceError:
                    break
                m.submodules[f"led{i}"] = led_pin = io.Buffer("o", led)
                m.d.comb += led_pin.o.eq(status[name])
        m.d.comb += self.tx.eq(utx.tx)

        # ---- receiver: request start byte, beats into the network --------------------
        nbytes = protocol.beat_bytes(cfg)
        nbeats = protocol.beats_per_sequence(cfg)
        bits = protocol.beat_bits(cfg)
        gather = Signal(8 * nbytes)
        byte_n = Signal(range(nbytes))
        beat_n = Signal(range(nbeats))
        beat = Signal(bits)
        beat_valid = Signal()
        idle = Signal(range(self.timeout_cycles + 1))
        reasons = Signal(3)        # error bits of a request given up this cycle
        pending = Signal(3)        # error reply not sent yet
        sent_error = Signal()      # the sender takes ``pending`` this cycle
        got_result = Signal()      # the sender takes o_stream this cycle

        m.d.comb += [net.i_stream.payload.eq(beat), net.i_stream.valid.eq(beat_valid)]
        with m.If(net.i_stream.valid & net.i_stream.ready):
            m.d.sync += beat_valid.eq(0)

        byte_in = urx.o_stream.valid & urx.o_stream.ready
        last_byte = byte_n == nbytes - 1
        with m.FSM(name="receiver") as receiver:
            with m.State("IDLE"):
                m.d.comb += urx.o_stream.ready.eq(1)
                with m.If(urx.o_stream.valid & (urx.o_stream.payload == protocol.REQUEST_START)):
                    m.d.sync += [byte_n.eq(0), beat_n.eq(0), idle.eq(0), self.done.eq(0)]
                    m.next = "RECEIVE"
            with m.State("RECEIVE"):
                # the last byte of a beat waits while the previous beat is still held
                m.d.comb += urx.o_stream.ready.eq(~(last_byte & beat_valid))
                m.d.sync += idle.eq(idle + 1)
                with m.If(byte_in):
                    word = Cat(gather[8:], urx.o_stream.payload)
                    m.d.sync += [gather.eq(word), idle.eq(0), byte_n.eq(byte_n + 1)]
                    with m.If(last_byte):
                        m.d.sync += [beat.eq(word[:bits]), beat_valid.eq(1), byte_n.eq(0),
                                     beat_n.eq(beat_n + 1)]
                        with m.If(beat_n == nbeats - 1):
                            m.next = "RESULT"
                m.d.comb += reasons.eq(Cat(urx.framing_error, urx.overrun,
                                           idle == self.timeout_cycles))
                with m.If(reasons != 0):
                    m.d.comb += abort.eq(1)
                    m.d.sync += beat_valid.eq(0)
                    m.next = "IDLE"
            with m.State("RESULT"):
                m.d.comb += urx.o_stream.ready.eq(1)  # bytes before the response are dropped
                with m.If(got_result):
                    m.next = "IDLE"
        m.d.comb += self.busy.eq(~receiver.ongoing("IDLE"))
        m.d.sync += pending.eq(Mux(sent_error, 0, pending) | reasons)

        # ---- sender: error byte or the whole response, byte by byte -------------------
        response = self._response_word(m, net.o_stream.payload)
        nresp = protocol.response_length(cfg)
        shift = Signal(len(response))
        left = Signal(range(nresp + 1))
        m.d.comb += utx.i_stream.payload.eq(shift[:8])
        with m.FSM(name="sender"):
            with m.State("IDLE"):
                with m.If(pending != 0):
                    m.d.comb += sent_error.eq(1)
                    m.d.sync += [shift.eq(protocol.ERROR_BASE | pending), left.eq(1)]
                    m.next = "SEND"
                with m.Elif(net.o_stream.valid):
                    m.d.comb += [net.o_stream.ready.eq(1), got_result.eq(1)]
                    m.d.sync += [shift.eq(response), left.eq(nresp), self.done.eq(1), self.error.eq(0)]
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += utx.i_stream.valid.eq(1)
                with m.If(utx.i_stream.ready):
                    m.d.sync += [shift.eq(shift >> 8), left.eq(left - 1)]
                    with m.If(left == 1):
                        m.next = "IDLE"

        # after the sender's clear: a byte lost in the same cycle keeps the LED lit
        with m.If(urx.framing_error | urx.overrun | abort):
            m.d.sync += self.error.eq(1)
        return m

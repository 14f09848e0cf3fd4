"""Board top: the network behind a UART, so a bitstream can be used from a host.

The byte protocol is described in :mod:`flows.host`; its constants and lengths come
from :mod:`hw.board.protocol`, which the host script uses too. In short:

* host to board: ``0xA5``, then the sequence's input beats, each beat's raw payload
  bits (``hw.network.input_layout``) as ``ceil(bits / 8)`` bytes, little-endian;
* board to host: ``0x5A``, the logits (``logit_bits`` two's complement, sign-extended
  to ``ceil(logit_bits / 8)`` bytes each, little-endian), the class (1 byte), the cycle
  count (4 bytes, little-endian); or one error byte ``0xE0 | reasons`` (framing 1,
  overrun 2, timeout 4) when a request was given up.

How the top works. Its parts are joined with ``wiring.connect``: the UART receiver
(:class:`hw.board.uart.UARTRx`), the request receiver (:class:`hw.board.receiver.RequestReceiver`:
the request start byte, then each beat's bytes gathered into a one-beat holding
register that drives ``network.i_stream``), the network, the response sender
(:class:`hw.board.sender.ResponseSender`: the whole response in a shift register, byte
by byte) and the UART transmitter (:class:`hw.board.uart.UARTTx`). The receiver is
ready for the next request from the moment the sender takes the result.

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
from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from hw.network import SpikingLSTMNetwork
from model.config import ConfigError

from . import protocol
from .receiver import RequestReceiver
from .sender import ResponseSender
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
        try:
            self._check(network, clk_hz, baud, request_timeout)
        except ConfigError:
            self._MustUse__silence = True  # a refused top is not an unused one
            raise
        self.uart_rx = UARTRx(self.divisor)
        self.uart_tx = UARTTx(self.divisor)
        self.receiver = RequestReceiver(self.cfg, timeout_cycles=self.timeout_cycles)
        self.sender = ResponseSender(self.cfg)
        super().__init__()

    def _check(self, network, clk_hz, baud, request_timeout):
        """Validate the parameters and keep the figures derived from them."""
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

    def elaborate(self, platform):
        m = Module()
        net, receiver, sender = self.network, self.receiver, self.sender
        abort = Signal()  # a request is given up this cycle
        # the network's reset is registered: it reaches every flip-flop of the network,
        # so it must not hang off the receiver's logic (that path set Fmax otherwise)
        reset_network = Signal()
        m.d.sync += reset_network.eq(abort)
        m.submodules.network = ResetInserter(reset_network)(net)
        m.submodules.uart_rx = urx = self.uart_rx
        m.submodules.uart_tx = utx = self.uart_tx
        m.submodules.receiver = receiver
        m.submodules.sender = sender

        wiring.connect(m, urx.o_stream, receiver.i_stream)
        wiring.connect(m, receiver.o_stream, net.i_stream)
        wiring.connect(m, net.o_stream, sender.i_stream)
        wiring.connect(m, sender.o_stream, utx.i_stream)
        m.d.comb += [receiver.framing_error.eq(urx.framing_error), receiver.overrun.eq(urx.overrun),
                     receiver.result_taken.eq(sender.result_taken), sender.reasons.eq(receiver.reasons),
                     self.busy.eq(receiver.busy), self.tx.eq(utx.tx), abort.eq(receiver.reasons != 0)]

        # the status: done from a response sent until the next request; error from a lost
        # byte or a request given up until the next response (after the sender's clear: a
        # byte lost in the same cycle keeps the LED lit)
        with m.If(receiver.request):
            m.d.sync += self.done.eq(0)
        with m.If(sender.result_taken):
            m.d.sync += [self.done.eq(1), self.error.eq(0)]
        with m.If(urx.framing_error | urx.overrun | abort):
            m.d.sync += self.error.eq(1)
        self._pins(m, platform)
        return m

    def _pins(self, m: Module, platform):
        """The UART line and the status LEDs: the platform's pins, else the ports."""
        urx, utx = self.uart_rx, self.uart_tx
        if platform is None:
            m.d.comb += urx.rx.eq(self.rx)
            return
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

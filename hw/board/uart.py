"""UART receiver and transmitter, 8N1, as byte streams.

A frame is one start bit (0), eight data bits, least significant first, and one stop
bit (1); the line idles at 1. Both ends count ``divisor`` clock cycles per bit (the
board top computes it as ``round(clk_hz / baud)``); 4 is the least that lets the
receiver find the middle of a bit.

:class:`UARTRx` passes the line through a two-flop synchronizer, waits half a bit after
the falling edge of a start bit, checks that the line is still low there (a shorter
pulse is a glitch and is ignored) and then samples each bit in its middle. A frame
whose stop bit reads 0 is dropped and pulses ``framing_error``; the receiver then waits
until the line has been idle (1) for a whole frame (10 bits) before it looks for the
next start bit. Bytes that follow the bad one back to back are therefore dropped too,
but the receiver cannot lock onto a data bit as a start bit, and a held-low line (a
break) counts as one error, not a stream of zero bytes. The received byte waits in
``o_stream`` until it is taken; a byte that completes while the previous one is still
waiting is dropped and pulses ``overrun``.

:class:`UARTTx` takes a byte from ``i_stream`` whenever it is idle and shifts out its
frame; the stop bit lasts ``divisor + 1`` cycles between back-to-back bytes.
"""


from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from model.config import ConfigError

__all__ = ["UARTRx", "UARTTx", "MIN_DIVISOR", "check_divisor"]

#: Fewest clock cycles per bit: the receiver samples half a bit after the start edge,
#: and the synchronizer already takes two of those cycles.
MIN_DIVISOR = 4


def check_divisor(divisor) -> int:
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < MIN_DIVISOR:
        raise ConfigError(f"UART divisor (clock cycles per bit) must be an integer >= "
                          f"{MIN_DIVISOR}, got {divisor!r}")
    return divisor


class UARTRx(wiring.Component):
    """8N1 receiver: ``rx`` line in, bytes out on ``o_stream`` (see the module docstring).

    ``framing_error`` and ``overrun`` are one-cycle pulses, one per lost byte, from
    registers (the board top acts on them across the die).
    """

    rx: In(1, init=1)
    o_stream: Out(stream.Signature(8))
    framing_error: Out(1)
    overrun: Out(1)

    def __init__(self, divisor: int):
        self.divisor = check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1, stages=2)

        timer = Signal(range(d))
        # timer == 0 as a register, set a cycle ahead: the byte register's enable comes
        # from flip-flops, not from a comparator of the timer
        timer_zero = Signal(init=1)

        def load_timer(value: int):
            return [timer.eq(value), timer_zero.eq(value == 0)]

        def count_down():
            return [timer.eq(timer - 1), timer_zero.eq(timer == 1)]
        bit = Signal(range(8))
        shift = Signal(8)
        quiet = Signal(range(10 * d))   # idle cycles after a framing error

        with m.If(self.o_stream.valid & self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]

        with m.FSM(name="rx"):
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += load_timer(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(~timer_zero):
                    m.d.sync += count_down()
                with m.Elif(line):
                    m.next = "IDLE"  # shorter than half a bit: a glitch
                with m.Else():
                    m.d.sync += load_timer(d - 1) + [bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(~timer_zero):
                    m.d.sync += count_down()
                with m.Else():
                    m.d.sync += load_timer(d - 1) + [shift.eq(Cat(shift[1:], line)), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(~timer_zero):
                    m.d.sync += count_down()
                with m.Elif(line):
                    # the stored byte is replaced only once it has been taken
                    with m.If(self.o_stream.valid & ~self.o_stream.ready):
                        m.d.sync += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [self.o_stream.payload.eq(shift), self.o_stream.valid.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += self.framing_error.eq(1)
                    m.d.sync += quiet.eq(0)
                    m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(~line):
                    m.d.sync += quiet.eq(0)
                with m.Elif(quiet == 10 * d - 1):
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += quiet.eq(quiet + 1)
        return m


class UARTTx(wiring.Component):
    """8N1 transmitter: bytes in on ``i_stream``, ``tx`` line out (registered, idles at 1)."""

    i_stream: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        self.divisor = check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        left = Signal(range(10))   # bits still to put on the line after the current one
        shift = Signal(9)          # data bits, then the stop bit

        with m.FSM(name="tx"):
            with m.State("IDLE"):
                m.d.comb += self.i_stream.ready.eq(1)
                m.d.sync += self.tx.eq(1)
                with m.If(self.i_stream.valid):
                    m.d.sync += [self.tx.eq(0), shift.eq(Cat(self.i_stream.payload, Const(1, 1))),
                                 left.eq(9), timer.eq(d - 1)]
                    m.next = "SEND"
            with m.State("SEND"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(left == 0):
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [self.tx.eq(shift[0]), shift.eq(shift >> 1), left.eq(left - 1),
                                 timer.eq(d - 1)]
        return m

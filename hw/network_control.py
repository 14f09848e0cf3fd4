"""The network's controller: one sequence from its input to its result beat.

:class:`NetworkControl` waits for the input side to hold a whole sequence, runs the
layers one after the other, then the readout and the first-maximum scan
(:class:`Task` links, joined with ``wiring.connect``), offers the result and moves on
once it has left. It counts the cycles from the first compute cycle to the result
(:mod:`hw.latency` models them).

:class:`InputBanks` lets the input side load the next sequence while one computes: the
input buffer has two banks, one read by the layers, the other written by the encoder.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import CYCLE_BITS

__all__ = ["Task", "NetworkControl", "InputBanks"]


class Task(wiring.Signature):
    """A part that the controller runs, seen from the controller:

    * ``start`` (out): this cycle is the task's first (the part loads its registers at
      the clock edge that ends it);
    * ``last`` (in): this cycle is the task's last; the controller moves on at its end.
    """

    def __init__(self):
        super().__init__({"start": Out(1), "last": In(1)})


class NetworkControl(wiring.Component):
    """The sequence schedule of a network of ``layers`` layers and ``classes`` classes.

    Members:

    * ``loaded`` (in): a whole sequence waits in the input buffer
      (:class:`InputBanks` ``available``);
    * ``taken`` (out): the controller starts that sequence this cycle;
    * ``restart`` (out): the result has left (its input bank is free again);
    * ``layer_start`` (out, one bit per layer): a layer's start pulse;
    * ``layer_busy`` (in, one bit per layer): the layers' busy outputs;
    * ``readout`` (out, :class:`Task`): the readout's accumulate, from its biases to the
      last add;
    * ``argmax`` (out, :class:`Task`): the saturation (its start) and the scan; with one
      class the start alone, the scan's ``last`` is not waited for;
    * ``o_valid`` (out) / ``o_ready`` (in): the result beat's handshake;
    * ``cycles`` (out): cycles since the first compute cycle (a register; 0 while the
      input comes in, held while the result waits).

    With ``per_element`` (the readout ``"element"``) there is one result beat per element:
    after each beat the controller starts the readout again, ``resume`` high, while
    its ``more`` says another element follows; the input bank frees after the last.
    """

    def __init__(self, *, layers: int, classes: int, per_element: bool = False):
        if not (isinstance(layers, int) and layers >= 1):
            self._MustUse__silence = True
            raise ValueError(f"a network needs at least one layer, got {layers!r}")
        if not (isinstance(classes, int) and classes >= 1):
            self._MustUse__silence = True
            raise ValueError(f"a network needs at least one class, got {classes!r}")
        self.layers, self.classes, self.per_element = layers, classes, per_element
        super().__init__({
            "loaded": In(1),
            "taken": Out(1),
            "restart": Out(1),
            "layer_start": Out(layers),
            "layer_busy": In(layers),
            "readout": Out(Task()),
            "argmax": Out(Task()),
            "o_valid": Out(1),
            "o_ready": In(1),
            "cycles": Out(CYCLE_BITS),
            **({"more": In(1), "resume": Out(1)} if per_element else {}),
        })

    def elaborate(self, platform):
        m = Module()
        cycles = Signal(CYCLE_BITS)
        m.d.comb += self.cycles.eq(cycles)
        # the readout's and the scan's start pulses come from flip-flops, set on the
        # transition into RO_BEGIN / RO_SAT: decoded from the state register, they had to
        # cross the device to the readout (the critical path of one digits placement,
        # 12.3 ns of routing over two nets, nextpnr seed 1)
        ro_start, sat_start = Signal(name="ro_start"), Signal(name="sat_start")
        m.d.sync += [ro_start.eq(0), sat_start.eq(0)]
        m.d.comb += [self.readout.start.eq(ro_start), self.argmax.start.eq(sat_start)]
        if self.per_element:
            resume = Signal(name="ro_resume")
            m.d.comb += self.resume.eq(resume)
        with m.FSM(name="network"):
            with m.State("INPUT"):
                m.d.sync += cycles.eq(0)
                with m.If(self.loaded):
                    m.d.comb += self.taken.eq(1)
                    m.next = "START0"
            for l in range(self.layers):
                with m.State(f"START{l}"):
                    m.d.sync += cycles.eq(cycles + 1)
                    m.d.comb += self.layer_start[l].eq(1)
                    m.next = f"WAIT{l}"
                with m.State(f"WAIT{l}"):
                    m.d.sync += cycles.eq(cycles + 1)
                    with m.If(~self.layer_busy[l]):
                        m.next = f"START{l + 1}" if l + 1 < self.layers else "RO_BEGIN"
                        if l + 1 == self.layers:
                            m.d.sync += ro_start.eq(1)
            with m.State("RO_BEGIN"):
                m.d.sync += cycles.eq(cycles + 1)
                m.next = "READOUT"
            with m.State("READOUT"):
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(self.readout.last):
                    m.d.sync += sat_start.eq(1)
                    m.next = "RO_SAT"
            with m.State("RO_SAT"):
                m.d.sync += cycles.eq(cycles + 1)
                m.next = "RO_ARGMAX" if self.classes > 1 else "OUTPUT"
            with m.State("RO_ARGMAX"):
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(self.argmax.last):
                    m.next = "OUTPUT"
            with m.State("OUTPUT"):
                m.d.comb += self.o_valid.eq(1)
                if self.per_element:
                    # the readout's next element: resume (a flip-flop) goes with its start
                    with m.If(self.o_ready & self.more):
                        m.d.sync += [ro_start.eq(1), resume.eq(1)]
                        m.next = "RO_BEGIN"
                    with m.Elif(self.o_ready):
                        m.d.sync += resume.eq(0)
                        m.d.comb += self.restart.eq(1)
                        m.next = "INPUT"
                else:
                    with m.If(self.o_ready):
                        m.d.comb += self.restart.eq(1)
                        m.next = "INPUT"
        return m


class InputBanks(wiring.Component):
    """The two banks of the input buffer: which one the encoder writes, which one the
    layers read, and when the encoder may take the next sequence.

    Members:

    * ``loaded`` (in): the encoder writes a sequence's last row this cycle;
    * ``taken`` (in): the controller starts a sequence this cycle (it must be
      ``available``);
    * ``done`` (in): the result of the sequence being computed leaves this cycle;
    * ``available`` (out): a whole sequence waits in a bank (``loaded`` this cycle, or
      earlier and not yet taken);
    * ``restart`` (out): a bank is free: the encoder may take the next sequence;
    * ``wbank`` / ``rbank`` (out): the bank the encoder writes / the layers read.

    A bank holds a sequence from its first row until that sequence's result has left.
    Sequences are taken in the order they were loaded, so both banks simply alternate.
    """

    def __init__(self):
        super().__init__({
            "loaded": In(1), "taken": In(1), "done": In(1),
            "available": Out(1), "restart": Out(1), "wbank": Out(1), "rbank": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        queued = Signal()     # a loaded sequence not yet taken
        busy = Signal()       # a sequence is being computed (its bank is in use)
        wbank = Signal()
        # toggled when the first sequence is taken: bank 0. It equals wbank ^ queued ^ 1,
        # but as its own flip-flop no logic sits before the input buffer's read address
        rbank = Signal(init=1)
        m.d.comb += [self.available.eq(self.loaded | queued), self.wbank.eq(wbank),
                     self.rbank.eq(rbank), self.restart.eq(~(queued & busy))]
        m.d.sync += queued.eq((queued | self.loaded) & ~self.taken)
        with m.If(self.loaded):
            m.d.sync += wbank.eq(~wbank)
        with m.If(self.taken):
            m.d.sync += [busy.eq(1), rbank.eq(~rbank)]
        with m.Elif(self.done):
            m.d.sync += busy.eq(0)
        return m

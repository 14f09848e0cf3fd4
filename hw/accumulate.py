"""The accumulate pipeline of a layer: event values in, per-lane gate sums out.

Stage 1 addresses the weight ROM with ``{event, chunk}``; the word arrives in stage
``ADD_STAGE = WEIGHT_LATENCY + 1`` (:mod:`hw.banked_rom`), where every lane adds it,
subtracts it or leaves its accumulators alone. A layer whose events are multi-bit
(:func:`hw.config.multiplies`) registers the products ``w * value`` there and adds them
one stage later (:func:`add_stage`), so that no multiplier feeds an adder in the same
cycle. :class:`AccumulatePipeline` carries the stage
flags, chunks and spike values shared by the lanes; :class:`LaneAccumulator` is one
lane's accumulator memory access: the read (address register, asynchronous read, data
register), the add and the write, the restart from the biases in the NEURON phase.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from model import numerics as nr

from .banked_rom import LATENCY as WEIGHT_LATENCY
from .cell import delayed
from .config import COUNTER_BITS
from .fanout import copies, logic_copies
from .links import AccumulateStages, LaneSignature, Phases
from .lutram import ReadSignature, WriteSignature
from .onehot import onehot_select

__all__ = ["ADD_STAGE", "add_stage", "AccumulatePipeline", "LaneAccumulator", "popcount", "times_const",
           "product", "SHIFT_ADD_BITS"]

#: the stage in which the weight word arrives (and the lanes add spikes)
ADD_STAGE = WEIGHT_LATENCY + 1


def add_stage(multiply: bool) -> int:
    """The stage of the accumulators' add: :data:`ADD_STAGE`, one later for a layer that
    multiplies (its product register)."""
    return ADD_STAGE + int(multiply)


def times_const(value, factor: int):
    """``value * factor`` as a sum of shifts, so no multiplier is inferred."""
    total = 0
    for b in range(factor.bit_length()):
        if factor >> b & 1:
            total = total + (value << b)
    return total


#: event values at most this many bits wide (signed) are multiplied by shifts and adds in
#: logic instead of a DSP block: for a narrow operand the block costs a long route to the
#: DSP column and back, and the blocks are left to the cells' own products. Measured
#: before this rule (make synth / make compare, ulx3s-85f, nextpnr seed 1, builds not
#: kept): digits-slstm, whose h is 3 bits, 76.4 MHz with those products on MULT18X18D
#: (its critical path), 80.7 MHz without; digits-idsnn, 4-bit outputs, 48.1 MHz with
#: 138 DSP blocks, 73.6 MHz with its own 64
SHIFT_ADD_BITS = 4


def product(w, value):
    """``w * value`` exactly: :func:`model.numerics.exact_product` (a DSP block), or, for a
    ``value`` of at most :data:`SHIFT_ADD_BITS` bits, one shifted copy of ``w`` per set bit
    of ``value`` (the sign bit subtracted), summed in logic."""
    value = Value.cast(value)
    shape = value.shape()
    if shape.width > SHIFT_ADD_BITS:
        return nr.exact_product(w, value)
    total = 0
    for b in range(shape.width):
        term = Mux(value[b], Value.cast(w) << b, 0)
        total = total - term if shape.signed and b == shape.width - 1 else total + term
    return total


def popcount(bits):
    """Number of set bits (an adder tree)."""
    items = [bits[i] for i in range(len(bits))]
    if not items:
        return Const(0, 1)
    while len(items) > 1:
        items = [items[i] + items[i + 1] if i + 1 < len(items) else items[i]
                 for i in range(0, len(items), 2)]
    return items[0]


class AccumulatePipeline(wiring.Component):
    """Stage flags, chunks and spike values of the accumulate pipeline, shared by the lanes.

    Members:

    * ``phase`` (in, :class:`hw.links.Phases`): ``issue`` starts stage 2 with ``phase.chunk``
      and, per lane, the value at the current event; ``clear`` zeroes ``acs``;
    * ``cur`` (in): the current event, one-hot over the ``width`` positions;
    * ``values`` (in, per lane): the lane's event values, ``x`` (the layer inputs) then
      ``h`` (the recurrent h), sign-extended here to ``value_shape``;
    * ``value`` (out, per lane): the stage-2 spike value of each lane (no reset);
    * ``stages`` (out, :class:`hw.links.AccumulateStages`): the later stages, for the lanes;
    * ``in_flight`` (out): an event is in the stages before the accumulators' read
      (the controller waits for it before NEURON);
    * ``acs`` (out): accumulate operations of this run (P per lane with a non-zero value).
    """

    def __init__(self, *, lanes: int, par: int, chunks: int, cbits: int, in_row, h_row, value_shape,
                 multiply: bool = False):
        self.lanes, self.par, self.chunks, self.cbits = lanes, par, chunks, cbits
        self.add = add_stage(multiply)
        self.value_shape = value_shape
        super().__init__({
            "phase": In(Phases(cbits)),
            "cur": In(in_row.length + h_row.length),
            "values": In(data.ArrayLayout(data.StructLayout({"x": in_row, "h": h_row}), lanes)),
            "value": Out(data.ArrayLayout(value_shape, lanes)),
            "stages": Out(AccumulateStages(cbits)),
            "in_flight": Out(1),
            "acs": Out(COUNTER_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        ADD, L = self.add, self.lanes
        s2_acc = Signal()
        s2_chunk = Signal(self.cbits, reset_less=True)
        s_acc = [None, None] + delayed(m, s2_acc, ADD - 2, "s_acc", reset_less=False)  # by stage
        s_chunk = [None, None] + delayed(m, s2_chunk, ADD - 2, "s_chunk")
        s2_val = [Signal(self.value_shape, name=f"s2_val{l}", reset_less=True) for l in range(L)]
        m.d.comb += [self.value[l].eq(s2_val[l]) for l in range(L)]
        m.d.comb += [self.in_flight.eq(Cat(*s_acc[2:ADD - 1]).any()),
                     self.stages.rd_chunk.eq(s_chunk[ADD - 3]), self.stages.wr_chunk.eq(s_chunk[ADD - 2]),
                     self.stages.wr_en.eq(s_acc[ADD - 2]), self.stages.add.eq(s_acc[ADD])]
        if self.chunks == 1:
            # with one chunk, the word written by an event is read (one cycle too early)
            # by the next one: the last written word is forwarded
            forward = Signal()
            m.d.sync += forward.eq(s_acc[ADD])
            m.d.comb += self.stages.forward.eq(forward)

        m.d.sync += s2_acc.eq(0)
        with m.If(self.phase.issue):
            m.d.sync += [s2_acc.eq(1), s2_chunk.eq(self.phase.chunk)]
            width = len(Value.cast(s2_val[0]))
            for l in range(L):
                x, h = self.values[l].x, self.values[l].h
                values = [x[i] for i in range(x.shape().length)] + [h[i] for i in range(h.shape().length)]
                m.d.sync += s2_val[l].eq(onehot_select(self.cur, values, width))

        acs = Signal(COUNTER_BITS)
        m.d.comb += self.acs.eq(acs)
        with m.If(s2_acc):
            m.d.sync += acs.eq(acs + times_const(popcount(Cat(*[v != 0 for v in s2_val])), self.par))
        with m.If(self.phase.clear):
            m.d.sync += acs.eq(0)
        return m


class LaneAccumulator(wiring.Component):
    """One lane's accumulators: read, add the broadcast weight word, write back.

    Members:

    * ``phase`` (in, :class:`hw.links.Phases`): in ``neuron`` the chunk ``phase.chunk`` is read
      for the cell step and, when the lane fires, rewritten with its biases;
    * ``lane`` (in, :class:`hw.links.LaneSignature`): ``fire``, the lane fires in this round;
    * ``stages`` (in, :class:`hw.links.AccumulateStages`): the shared pipeline's stages;
    * ``value`` (in): the lane's stage-2 spike value (delayed here to the add stage and
      copied per accumulator word, :mod:`hw.fanout`);
    * ``w`` (in): the weight word of the add stage, P weights;
    * ``bias_word`` (in): the bias word of ``phase.chunk`` (the bias memory's data; not
      ``bias``, the bias memory's name in the layer);
    * ``rd`` / ``wr`` (out, flipped :class:`hw.lutram.ReadSignature` /
      :class:`hw.lutram.WriteSignature`): the accumulator memory, a :class:`hw.lutram.LutRAM`
      with a part per word, whose address and enable registers are its own; the read
      data is registered here;
    * ``z`` (out): the accumulators read, registered: the P gate sums of a chunk.
    """

    def __init__(self, *, par: int, chunks: int, cbits: int, zbits: int, w_word, value_shape,
                 multiply: bool, lane: LaneSignature):
        self.par, self.chunks, self.cbits, self.zbits, self.multiply = par, chunks, cbits, zbits, multiply
        self.add = add_stage(multiply)
        self.acc_word = acc_word = data.ArrayLayout(signed(zbits), par)
        super().__init__({
            "phase": In(Phases(cbits)),
            "lane": In(lane),
            "stages": In(AccumulateStages(cbits)),
            "value": In(value_shape),
            "w": In(w_word),
            "bias_word": In(acc_word),
            # the accumulator memory holds ``chunks`` words
            "rd": In(ReadSignature(ceil_log2(chunks), acc_word)),
            "wr": In(WriteSignature(ceil_log2(chunks), acc_word)),
            "z": Out(acc_word),
        })

    def elaborate(self, platform):
        m = Module()
        ADD, P, acc_word = self.add, self.par, self.acc_word
        # the accumulators are read one cycle after a chunk is issued, from the RAM's
        # address registers, asynchronously, into a data register: the address path has
        # no logic and the accumulate path starts at a register next to the adder.
        # The RAM's read address, write address and enable come from registers of this
        # lane (hw.fanout: kept apart from the other lanes'), which take them from the
        # controller and the shared stages a cycle before the RAM's own registers do
        data_q = Signal(acc_word, name="data", reset_less=True)
        m.d.comb += self.z.eq(data_q)
        m.d.sync += data_q.eq(self.rd.data)
        ph = self.phase
        # NEURON reads its own chunk, the cycle after it is issued; NEURON restarts a
        # firing lane's chunk from the biases, INIT (after the parameters are loaded,
        # hw.param_rom) every lane's. The values below are those of the next cycle
        restart_next = Signal(name="restart_next")
        m.d.comb += restart_next.eq((ph.neuron_next & self.lane.fire) | ph.init_next)
        # the selects sit in the copies' modules (hw.fanout.logic_copies): each lane's
        # mux is placed beside its own registers, not shared among the lanes
        addr_next = logic_copies(m, "raddr", lambda sel, a, b: Mux(sel, a, b), 1,
                                 sel=ph.neuron_next, a=ph.chunk_next, b=self.stages.rd_chunk)[0]
        waddr_next = logic_copies(
            m, "waddr", lambda nn, fire, init, a, b: Mux((nn & fire) | init, a, b), 1,
            nn=ph.neuron_next, fire=self.lane.fire, init=ph.init_next, a=ph.chunk_next,
            b=self.stages.wr_chunk)[0]
        wen_next = copies(m, "wen", self.stages.wr_en | restart_next, 1)[0]
        restart = copies(m, "restart", restart_next, 1)[0]
        m.d.comb += self.rd.addr_next.eq(addr_next)
        # the restart-from-bias select, copied per word, so no single flip-flop drives
        # every accumulator bit (hw.fanout)
        bias_sel = copies(m, "bias_sel", restart, P)
        # the event value: registers up to the stage before the weight word's, then one
        # register per accumulator word (hw.fanout), so it meets the word in ADD_STAGE
        add_val = copies(m, f"s{ADD_STAGE}_val", delayed(m, self.value, ADD_STAGE - 3, "s_val")[-1], P)

        acc_in = data_q
        if self.chunks == 1:
            last = Signal(acc_word, name="last", reset_less=True)
            acc_in = data.View(acc_word, Mux(self.stages.forward, last.as_value(), data_q.as_value()))
        terms = []
        for p in range(P):
            w = self.w[p]
            if self.multiply:
                # a multi-bit value: the product is registered (a DSP block's output
                # register, or shift-adds for a narrow value), then added in the next stage
                prod = Signal(signed(len(w) + len(add_val[p])), name=f"prod{p}", reset_less=True)
                m.d.sync += prod.eq(product(w, add_val[p]))
                terms.append(acc_in[p] + prod)
            else:
                terms.append(nr.accumulate_spike(acc_in[p], add_val[p], w))
        if self.chunks == 1:
            with m.If(self.stages.add):
                m.d.sync += [last[p].eq(terms[p]) for p in range(P)]
        # one write port: the add stage or, in the NEURON phase, the restart from the
        # biases as soon as a chunk has been read. The two never overlap
        bias_bits = self.bias_word.as_value()
        m.d.comb += [
            self.wr.addr_next.eq(waddr_next), self.wr.en_next.eq(wen_next),
            self.wr.data.eq(Cat(*[Mux(bias_sel[p], bias_bits.word_select(p, self.zbits),
                                      Value.cast(terms[p])[:self.zbits]) for p in range(P)])),
        ]
        return m

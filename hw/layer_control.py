"""The layer's controller and the neuron pipeline's bookkeeping.

:class:`LayerControl` is the round schedule of :mod:`hw.layer` (IDLE, then per round
BEGIN FETCH LOAD ACC NEURON DRAIN FINISH) with the lane counters; its phase strobes
(:class:`hw.links.Phases`) drive the other parts. :class:`NeuronTrack` follows
the chunks through the neuron pipeline: the write-back enables and the h spike count.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .accumulate import popcount
from .config import COUNTER_BITS
from .links import LaneSignature, Phases, WriteBack

__all__ = ["LayerControl", "NeuronTrack"]


class LayerControl(wiring.Component):
    """The round schedule of ``lanes`` lanes over ``length`` elements of ``steps`` steps.

    Members:

    * ``start`` (in, a pulse while idle) / ``busy`` (out);
    * ``init`` (in, a pulse while idle): the INIT pass, one cycle per chunk with
      ``phase.init`` (the accumulators restart from the freshly loaded biases), busy
      meanwhile;
    * ``phase`` (out, :class:`hw.links.Phases`): the phase strobes and the chunk;
    * ``chunk_next`` (out): the chunk of the next cycle (``phase.chunk`` registers it);
    * ``lane`` (out, one :class:`hw.links.LaneSignature` per lane): the counters;
    * ``valid`` (in): the event list's current event is valid (ACC issues it);
    * ``pending`` (in): events remain in the list;
    * ``in_flight`` (in): an event is in the accumulate stages before the read (ACC
      waits for it before NEURON);
    * ``neuron_latency`` (a parameter): DRAIN lasts ``neuron_latency + 1`` cycles.
    """

    def __init__(self, *, lanes: int, steps: int, length: int, chunks: int, nbits: int,
                 ebits: int, kbits: int, cbits: int, neuron_latency: int):
        self.lanes, self.steps, self.length, self.chunks = lanes, steps, length, chunks
        self.neuron_latency = neuron_latency
        super().__init__({
            "start": In(1),
            "init": In(1),
            "busy": Out(1),
            "phase": Out(Phases(cbits)),
            "chunk_next": Out(cbits),
            "lane": Out(LaneSignature(nbits=nbits, ebits=ebits, kbits=kbits)).array(lanes),
            "valid": In(1),
            "pending": In(1),
            "in_flight": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        L, T, N, C = self.lanes, self.steps, self.length, self.chunks
        lane, ph = self.lane, self.phase
        n = [Signal.like(lane[l].n, name=f"n{l}", init=l) for l in range(L)]
        e = [Signal.like(lane[l].e, name=f"e{l}") for l in range(L)]
        k = [Signal.like(lane[l].k, name=f"k{l}") for l in range(L)]
        active = [Signal(name=f"active{l}", init=int(l < N)) for l in range(L)]
        fire = [Signal(name=f"fire{l}") for l in range(L)]
        for l in range(L):
            m.d.comb += [lane[l].n.eq(n[l]), lane[l].e.eq(e[l]), lane[l].k.eq(k[l]),
                         lane[l].fire.eq(fire[l])]
        # (n, k) is ready once (n-1, k), in the previous lane, is done
        ready = []
        for l in range(L):
            p = (l - 1) % L
            ready.append(Const(1) if L == 1 else (n[l] == 0) | (n[p] != n[l] - 1) | (k[p] > k[l]))
        chunk = Signal.like(ph.chunk, name="chunk")
        # the FSM only decides: ``advance`` (the next chunk, ``succ``) or ``restart``
        # (chunk 0); neither holds the chunk
        advance, restart = Signal(name="chunk_advance"), Signal(name="chunk_restart")
        succ = Signal.like(chunk, name="chunk_succ", init=1 % C)
        m.d.comb += [ph.chunk.eq(chunk),
                     self.chunk_next.eq(Mux(advance, succ, Mux(restart, 0, chunk)))]
        m.d.sync += chunk.eq(self.chunk_next)
        # the chunk after this one, "this is the last chunk" and "succ is the last
        # chunk", registers beside the chunk: chunk_next reaches every lane, so it is a
        # select of registers. Their own next values are selected by the same decision
        # from values computed off registers, so no incrementer or comparator follows
        # chunk_next either
        last = Signal(name="chunk_last", init=int(C == 1))
        succ_last = Signal(name="chunk_succ_last", init=int(1 % C == C - 1))
        succ2 = Signal.like(chunk, name="chunk_succ2")
        m.d.comb += succ2.eq(Mux(succ_last, 0, succ + 1))
        with m.If(advance):
            m.d.sync += [succ.eq(succ2), last.eq(succ_last), succ_last.eq(succ2 == C - 1)]
        with m.Elif(restart):
            m.d.sync += [succ.eq(1 % C), last.eq(int(C == 1)), succ_last.eq(int(1 % C == C - 1))]
        drain = Signal(range(self.neuron_latency + 2))
        # FINISH as a flip-flop, and per lane "k is the last step" and "another element
        # follows" as registers (k and n change only in FINISH and at the start), so the
        # lane counters' enables come from flip-flops, not from decodes and comparators
        in_finish = Signal(name="in_finish")
        k_last = [Signal(name=f"k_last{l}") for l in range(L)]
        n_more = [Signal(name=f"n_more{l}") for l in range(L)]
        m.d.sync += [in_finish.eq(0)] + [k_last[l].eq(k[l] == T - 1) for l in range(L)]
        m.d.sync += [n_more[l].eq(n[l] + L < N) for l in range(L)]
        m.d.comb += ph.finish.eq(in_finish)
        # the NEURON and INIT strobes are flip-flops (set on entering the state, cleared
        # on leaving it), not decodes of the state register: they reach every lane
        in_neuron, in_init = Signal(name="in_neuron"), Signal(name="in_init")
        neuron_next, init_next = Signal(name="neuron_next"), Signal(name="init_next")
        m.d.comb += [ph.neuron.eq(in_neuron), ph.init.eq(in_init), ph.chunk_next.eq(self.chunk_next),
                     ph.neuron_next.eq(neuron_next), ph.init_next.eq(init_next),
                     neuron_next.eq(in_neuron), init_next.eq(in_init)]
        m.d.sync += [in_neuron.eq(neuron_next), in_init.eq(init_next)]

        with m.FSM(name="layer"):
            with m.State("IDLE"):
                with m.If(self.start):
                    for l in range(L):
                        m.d.sync += [n[l].eq(l), e[l].eq(0), k[l].eq(0), active[l].eq(int(l < N))]
                    m.d.comb += ph.clear.eq(1)
                    m.next = "BEGIN"
                with m.Elif(self.init):
                    m.d.comb += restart.eq(1)
                    m.d.comb += init_next.eq(1)
                    m.next = "INIT"
            with m.State("INIT"):
                m.d.comb += self.busy.eq(1)
                with m.If(last):
                    m.d.comb += restart.eq(1)
                    m.d.comb += init_next.eq(0)
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += advance.eq(1)
            with m.State("BEGIN"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [fire[l].eq(active[l] & ready[l]) for l in range(L)]
                with m.If(Cat(*active).any()):
                    m.next = "FETCH"
                with m.Else():
                    m.next = "IDLE"
            with m.State("FETCH"):
                # the rows addressed since BEGIN arrive and are registered
                m.d.comb += self.busy.eq(1)
                m.next = "LOAD"
            with m.State("LOAD"):
                m.d.comb += [self.busy.eq(1), ph.load.eq(1), restart.eq(1)]
                m.next = "ACC"
            with m.State("ACC"):
                m.d.comb += self.busy.eq(1)
                # take the next event when there is none or the last chunk goes out
                m.d.comb += ph.take.eq(~self.valid | last)
                with m.If(self.valid):
                    m.d.comb += [ph.issue.eq(1), advance.eq(1)]
                with m.Elif(~self.pending & ~self.in_flight):
                    # the last event's add lands before NEURON reads its chunk
                    m.d.comb += restart.eq(1)
                    m.d.comb += neuron_next.eq(1)
                    m.next = "NEURON"
            with m.State("NEURON"):
                m.d.comb += self.busy.eq(1)
                with m.If(last):
                    m.d.sync += drain.eq(0)
                    m.d.comb += neuron_next.eq(0)
                    m.d.comb += restart.eq(1)
                    m.next = "DRAIN"
                with m.Else():
                    m.d.comb += advance.eq(1)
            with m.State("DRAIN"):
                # until the last chunk has left the cell pipeline
                m.d.comb += self.busy.eq(1)
                m.d.sync += drain.eq(drain + 1)
                with m.If(drain == self.neuron_latency):
                    m.d.sync += in_finish.eq(1)
                    m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += self.busy.eq(1)
                m.next = "BEGIN"
        for l in range(L):
            with m.If(in_finish & fire[l]):
                with m.If(k_last[l]):
                    with m.If(n_more[l]):
                        m.d.sync += [n[l].eq(n[l] + L), e[l].eq(e[l] + 1), k[l].eq(0)]
                    with m.Else():
                        m.d.sync += [active[l].eq(0), k[l].eq(T)]
                with m.Else():
                    m.d.sync += k[l].eq(k[l] + 1)
        return m


class NeuronTrack(wiring.Component):
    """Which chunk is where in the neuron pipeline of ``latency`` register stages after
    the accumulators' read, and the h spike count.

    Members:

    * ``phase`` (in, :class:`hw.links.Phases`): ``neuron`` issues ``phase.chunk``
      to the pipeline (read next cycle); ``clear`` zeroes ``h_spikes``;
    * ``lane`` (in, per lane, :class:`hw.links.LaneSignature`): ``fire``;
    * ``h`` (in, per lane, ``h[Q]``): the h leaving each lane's neuron stage;
    * ``wb`` (out, per lane, :class:`hw.links.WriteBack`): the write-back stage;
    * ``h_spikes`` (out): non-zero h of the firing lanes in this run.
    """

    def __init__(self, *, lanes: int, chunks: int, cbits: int, neurons: int, latency: int,
                 nbits: int, ebits: int, kbits: int, h_shape):
        self.lanes, self.chunks, self.cbits, self.neurons, self.latency = lanes, chunks, cbits, neurons, latency
        super().__init__({
            "phase": In(Phases(cbits)),
            "lane": In(LaneSignature(nbits=nbits, ebits=ebits, kbits=kbits)).array(lanes),
            "h": In(data.ArrayLayout(data.ArrayLayout(h_shape, neurons), lanes)),
            "wb": Out(WriteBack(cbits=cbits, chunks=chunks)).array(lanes),
            "h_spikes": Out(COUNTER_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        L, C, Q = self.lanes, self.chunks, self.neurons
        # stage 2 (memory data out), then the register stages; wb_* is the write-back stage
        s2_neuron = Signal()
        s2_nchunk = Signal(self.cbits, reset_less=True)
        m.d.sync += s2_neuron.eq(self.phase.neuron)
        with m.If(self.phase.neuron):
            m.d.sync += s2_nchunk.eq(self.phase.chunk)
        wb_neuron, wb_nchunk = s2_neuron, s2_nchunk
        for d in range(self.latency):
            nxt_v, nxt_c = Signal(name=f"neuron_v{d}"), Signal(self.cbits, name=f"neuron_chunk{d}", reset_less=True)
            m.d.sync += [nxt_v.eq(wb_neuron), nxt_c.eq(wb_nchunk)]
            pre_neuron, pre_nchunk = wb_neuron, wb_nchunk
            wb_neuron, wb_nchunk = nxt_v, nxt_c
        # write-back enables decoded a stage early, per lane (fire is constant in a
        # round), so the enables of the state memories and of the h row start at flip-flops
        for l in range(L):
            fire = self.lane[l].fire
            wb_fire = Signal(name=f"wb_fire{l}")
            wb_hsel = Signal(C, name=f"wb_hsel{l}")
            m.d.sync += wb_fire.eq(pre_neuron & fire)
            m.d.sync += [wb_hsel[c].eq(pre_neuron & fire & (pre_nchunk == c)) for c in range(C)]
            m.d.comb += [self.wb[l].chunk.eq(wb_nchunk), self.wb[l].fire.eq(wb_fire),
                         self.wb[l].hsel.eq(wb_hsel), self.wb[l].chunk_next.eq(pre_nchunk),
                         self.wb[l].fire_next.eq(pre_neuron & fire)]

        h_spikes = Signal(COUNTER_BITS)
        m.d.comb += self.h_spikes.eq(h_spikes)
        spikes = 0
        for l in range(L):
            h = self.h[l]
            spikes = spikes + Mux(self.lane[l].fire, popcount(Cat(*[h[q] != 0 for q in range(Q)])), 0)
        with m.If(wb_neuron):
            m.d.sync += h_spikes.eq(h_spikes + spikes)
        with m.If(self.phase.clear):
            m.d.sync += h_spikes.eq(0)
        return m

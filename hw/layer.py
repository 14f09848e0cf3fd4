"""One spiking LSTM layer: L lanes, event-driven accumulate-only gate sums.

Schedule. Lane ``l`` owns the elements ``n = l, l + L, l + 2L, ...`` and runs each
for its T steps. The layer works in *rounds*; in a round every lane whose next cell
(n, k) is ready computes it. (n, k) is ready once (n-1, k) is done (the previous
element lives in the previous lane). With L = T this is the wavefront: round s holds
the cells with n + k = s, T + N - 1 rounds in all. With L = 1 it is element by element.

A round of the lanes that fire:

* ``BEGIN`` (1 cycle): pick the lanes that fire, address their input rows.
* ``FETCH`` (1 cycle): the rows arrive and are registered as they are (no logic after
  a block RAM's output).
* ``LOAD`` (1 cycle): latch each lane's event vector: the layer input x(n, k) and the
  recurrent h(n-1, k) (from the previous lane's h bank). The union of the non-zero
  positions of all lanes is the round's event list.
* ``ACC`` (E x C + 5 cycles for E > 0 events in the union, C chunks; 1 cycle when there
  are none; the next event is taken from the union one cycle ahead, by clearing its
  lowest set bit; a pipeline of ``WEIGHT_LATENCY + 1`` stages: the weight address, the
  weight ROM's ``WEIGHT_LATENCY`` = 5 register stages (:mod:`hw.banked_rom`), in the
  last of which each lane adds): one event at a time,
  the weight column is read once in chunks of P weights and broadcast to every lane,
  which adds it, subtracts it, or (no spike there) leaves its accumulators alone.
  Zero inputs cost nothing: cycles follow the spike count.
* ``NEURON`` (C cycles): per chunk, the cell step of Q = P/4 neurons: membranes,
  gates, c, h, in a pipeline of ``CELL_LATENCY`` register stages (one carry chain
  each). The accumulators are reset to the biases for the next round.
* ``DRAIN`` (``NEURON_LATENCY + 1`` cycles): the last chunk leaves the pipeline (the
  accumulator data register, then ``CELL_LATENCY`` cell stages).
* ``FINISH`` (1 cycle): the lane's h row goes to its bank; lane counters advance.

So a round takes ``E*C + C + 6 + NEURON_LATENCY`` cycles, ``WEIGHT_LATENCY - 1`` = 4
more when ``E > 0``;
:mod:`hw.latency` computes the total.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from model import numerics as nr
from model.params import LayerParams

from .banked_rom import LATENCY as WEIGHT_LATENCY, BankedROM
from .cell import CELL_LATENCY, CellStep, delayed, hold
from .fanout import copies
from .onehot import lowest_set, onehot_index, onehot_select
from .config import COUNTER_BITS, HardwareConfig
from .rom import bias_words, bits_for, u0_words, weight_rom

__all__ = ["SpikingLSTMLayer", "NEURON_LATENCY", "WEIGHT_LATENCY", "popcount",
           "times_const", "input_kind"]


#: cycles from a chunk's memory data (stage 2) to its write-back: the accumulator data
#: register, then the cell pipeline
NEURON_LATENCY = CELL_LATENCY + 1


class _ReadData:
    """A read port's address and (registered) data, as a synchronous port has them."""

    def __init__(self, addr, data):
        self.addr, self.data = addr, data


def times_const(value, factor: int):
    """``value * factor`` as a sum of shifts, so no multiplier is inferred."""
    total = 0
    for b in range(factor.bit_length()):
        if factor >> b & 1:
            total = total + (value << b)
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


def input_kind(hw: HardwareConfig, layer: int) -> str:
    """Where a layer's input rows come from: ``rows`` (the input buffer, one ternary
    row per (n, k)), ``features`` (direct features, one row per n), or ``banks`` (the
    h banks of the layer below, one per lane)."""
    if layer > 0:
        return "banks"
    return "features" if hw.net.encoding == "direct" else "rows"


class SpikingLSTMLayer(wiring.Component):
    """A layer with its weight ROMs, accumulators, membranes and per-lane h banks.

    Ports (``L`` lanes):

    * ``start`` (pulse while idle) / ``busy``;
    * ``in_addr[L]`` / ``in_data[L]``: each lane's input row request; the provider
      answers the next cycle (a synchronous read port);
    * ``out_addr[L]`` / ``out_data[L]``: read port on each lane's h bank, address
      ``{e, k}`` for element ``n = e*L + lane``, answered the next cycle;
    * ``acs``, ``h_spikes``, ``gate_spikes``: activity counters of the last run.
    """

    def __init__(self, hw: HardwareConfig, layer: int, params: LayerParams):
        net = hw.net
        self.hw, self.layer, self.params = hw, layer, params
        self.lanes, self.steps, self.length = hw.lanes, net.steps, net.length
        self.hidden, self.inputs = net.hidden[layer], net.layer_inputs(layer)
        self.chunks, self.q, self.par = hw.chunks(layer), hw.neurons_per_chunk, hw.par
        self.kind = input_kind(hw, layer)
        self.kbits = bits_for(self.steps - 1)
        self.cbits = bits_for(self.chunks - 1)
        self.nbits = bits_for(self.length - 1)
        self.elements_per_lane = -(-self.length // self.lanes)
        self.ebits = bits_for(self.elements_per_lane - 1)
        self.zbits = hw.acc_sum_bits(layer)
        if self.kind == "features":
            self.x_shape = signed(net.x_bits)
            in_addr_bits = self.nbits
        else:
            self.x_shape = signed(2)
            in_addr_bits = self.nbits + self.kbits if self.kind == "rows" else self.ebits + self.kbits
        self.in_row = data.ArrayLayout(self.x_shape, self.inputs)
        self.h_row = data.ArrayLayout(signed(2), self.hidden)
        self.bank_addr_bits = self.ebits + self.kbits
        lanes = self.lanes
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "in_addr": Out(data.ArrayLayout(unsigned(in_addr_bits), lanes)),
            "in_data": In(data.ArrayLayout(self.in_row, lanes)),
            "out_addr": In(data.ArrayLayout(unsigned(self.bank_addr_bits), lanes)),
            "out_data": Out(data.ArrayLayout(self.h_row, lanes)),
            "acs": Out(COUNTER_BITS),
            "h_spikes": Out(COUNTER_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        hw, net, lp = self.hw, self.hw.net, self.params
        L, T, N, H, M = self.lanes, self.steps, self.length, self.hidden, self.inputs
        C, Q, P = self.chunks, self.q, self.par
        W = M + H  # event positions: inputs, then recurrent h

        # ---- shared ROMs ------------------------------------------------------------
        acc_word = data.ArrayLayout(signed(self.zbits), P)
        # the weight word of an address arrives WEIGHT_LATENCY cycles later (hw.banked_rom)
        m.submodules.weights = weights = BankedROM(data.ArrayLayout(signed(net.w_bits), P),
                                                   weight_rom(hw, self.layer, lp))
        biases = bias_words(hw, self.layer, lp)
        m.submodules.bias = bias_rom = memory.Memory(shape=acc_word, depth=C, init=biases)
        bias_rd = bias_rom.read_port()
        u_word = data.ArrayLayout(data.ArrayLayout(signed(net.u_bits), 5), Q)
        m.submodules.u0 = u0_rom = memory.Memory(shape=u_word, depth=C,
                                                 init=u0_words(hw, self.layer, lp))
        u0_rd = u0_rom.read_port()

        # ---- per-lane state ---------------------------------------------------------
        n = [Signal(self.nbits + 1, name=f"n{l}", init=l) for l in range(L)]
        e = [Signal(self.ebits, name=f"e{l}") for l in range(L)]
        k = [Signal(self.kbits + 1, name=f"k{l}") for l in range(L)]
        active = [Signal(name=f"active{l}", init=int(l < N)) for l in range(L)]
        fire = [Signal(name=f"fire{l}") for l in range(L)]
        xvec = [Signal(self.in_row, name=f"xvec{l}", reset_less=True) for l in range(L)]
        hvec = [Signal(self.h_row, name=f"hvec{l}", reset_less=True) for l in range(L)]
        hrow = [Signal(self.h_row, name=f"hrow{l}", reset_less=True) for l in range(L)]
        # the input rows as read (FETCH), registered before any logic sees them: block
        # RAM data arrives late in its cycle
        x_raw = [Signal(self.in_row, name=f"x_raw{l}", reset_less=True) for l in range(L)]
        h_raw = [Signal(self.h_row, name=f"h_raw{l}", reset_less=True) for l in range(L)]

        ready = []
        for l in range(L):
            if L == 1:
                ready.append(Const(1))
            else:
                p = (l - 1) % L
                ready.append((n[l] == 0) | (n[p] != n[l] - 1) | (k[p] > k[l]))

        # ---- per-lane memories ------------------------------------------------------
        acc_rd, acc_wr, u_rd, u_wr, c_rd, c_wr, bank_wr, bank_rec, bank_out = ([] for _ in range(9))
        self.banks = []  # kept for simulation test benches, which read the h of every cell
        c_word = data.ArrayLayout(signed(net.c_bits), Q)
        for l in range(L):
            acc = memory.Memory(shape=acc_word, depth=C, init=biases)
            m.submodules[f"acc{l}"] = acc
            acc_wr.append(acc.write_port())
            # the accumulators are read one cycle after a chunk is issued, from an address
            # register, asynchronously, into a data register: the address path has no
            # logic and the accumulate path starts at a register next to the adder
            rd = acc.read_port(domain="comb")
            addr_q = Signal(self.cbits, name=f"acc{l}_addr", reset_less=True)
            data_q = Signal.like(rd.data, name=f"acc{l}_data", reset_less=True)
            m.d.comb += rd.addr.eq(addr_q)
            m.d.sync += data_q.eq(rd.data)
            acc_rd.append(_ReadData(addr_q, data_q))
            u_mem = memory.Memory(shape=u_word, depth=C, init=[])
            m.submodules[f"membranes{l}"] = u_mem
            u_wr.append(u_mem.write_port())
            u_rd.append(u_mem.read_port())
            c_mem = memory.Memory(shape=c_word, depth=T << self.cbits, init=[])
            m.submodules[f"cstate{l}"] = c_mem
            c_wr.append(c_mem.write_port())
            c_rd.append(c_mem.read_port())
            bank = memory.Memory(shape=self.h_row, depth=self.elements_per_lane << self.kbits, init=[])
            m.submodules[f"bank{l}"] = bank
            self.banks.append(bank)
            bank_wr.append(bank.write_port())
            bank_rec.append(bank.read_port())
            bank_out.append(bank.read_port())
            m.d.comb += [bank_out[l].addr.eq(self.out_addr[l]), self.out_data[l].eq(bank_out[l].data)]

        # input row requests (answered during LOAD)
        for l in range(L):
            kk = k[l][:self.kbits]
            if self.kind == "rows":
                m.d.comb += self.in_addr[l].eq(Cat(kk, n[l][:self.nbits]))
            elif self.kind == "features":
                m.d.comb += self.in_addr[l].eq(n[l][:self.nbits])
            else:
                m.d.comb += self.in_addr[l].eq(Cat(kk, e[l]))
            # recurrent row h(n-1, k) from the previous lane's bank
            p = (l - 1) % L
            prev_e = e[l] if l > 0 else e[l] - 1
            m.d.comb += bank_rec[p].addr.eq(Cat(kk, prev_e[:self.ebits]))
            m.d.sync += [x_raw[l].eq(self.in_data[l]), h_raw[l].eq(bank_rec[p].data)]

        # ---- event list -------------------------------------------------------------
        # the event list: ``union`` holds the events not yet taken; ``cur`` (one-hot) is
        # the event being accumulated, taken from ``union`` a cycle ahead
        union = Signal(W, reset_less=True)
        cur = Signal(W, reset_less=True)
        cur_valid = Signal()
        lowest, rest = lowest_set(m, union)
        j = hold(m, onehot_index(cur), "event")
        chunk = Signal(self.cbits)
        # the control below sets chunk_next; the lanes' state memories are addressed from
        # copies of it (hw.fanout), registered with chunk itself
        chunk_next = Signal(self.cbits)
        m.d.comb += chunk_next.eq(chunk)
        m.d.sync += chunk.eq(chunk_next)

        # the accumulate pipeline: stage 1 addresses the weights, whose word arrives in
        # stage ADD = WEIGHT_LATENCY + 1, which adds and writes; s_acc[d] / s_chunk[d]: an
        # event's chunk is in stage d
        ADD = WEIGHT_LATENCY + 1
        s2_acc = Signal()
        s2_chunk = Signal(self.cbits, reset_less=True)
        s_acc = [None, None] + delayed(m, s2_acc, ADD - 2, "s_acc", reset_less=False)  # by stage
        s_chunk = [None, None] + delayed(m, s2_chunk, ADD - 2, "s_chunk")
        # ACC may hand over to NEURON once no event is in the stages before the read of
        # the accumulators (NEURON's first read then sees the last event's write)
        acc_in_flight = Cat(*s_acc[2:ADD - 1])
        val_shape = self.x_shape if self.kind == "features" else signed(2)
        s2_val = [Signal(val_shape, name=f"s2_val{l}", reset_less=True) for l in range(L)]
        # stage 2 of the neuron pipeline (memory data out), then CELL_LATENCY register
        # stages in the cell step; wb_* is the write-back stage
        s2_neuron = Signal()
        s2_nchunk = Signal(self.cbits, reset_less=True)
        # per lane: s2_neuron and the lane fires (the accumulators restart from the biases)
        bias_next = [Signal(name=f"bias_next{l}") for l in range(L)]
        bias_sel = [copies(m, f"bias_sel{l}", bias_next[l], P) for l in range(L)]
        bias_bits = bias_rd.data.as_value()
        # per lane: the accumulator write address and enable, registered (the values
        # of the add stage), so each lane's RAM write controls start at its own flip-flops
        acc_waddr = [Signal(self.cbits, name=f"acc{l}_waddr", reset_less=True) for l in range(L)]
        acc_wen = [Signal(name=f"acc{l}_wen") for l in range(L)]
        wb_neuron, wb_nchunk = s2_neuron, s2_nchunk
        for d in range(NEURON_LATENCY):
            nxt_v, nxt_c = Signal(name=f"neuron_v{d}"), Signal(self.cbits, name=f"neuron_chunk{d}", reset_less=True)
            m.d.sync += [nxt_v.eq(wb_neuron), nxt_c.eq(wb_nchunk)]
            pre_neuron, pre_nchunk = wb_neuron, wb_nchunk
            wb_neuron, wb_nchunk = nxt_v, nxt_c
        # write-back enables decoded a stage early, per lane (fire is constant in a round),
        # so the enables of the state memories and of the h row start at flip-flops
        wb_fire = [Signal(name=f"wb_fire{l}") for l in range(L)]
        wb_hsel = [Signal(C, name=f"wb_hsel{l}") for l in range(L)]
        for l in range(L):
            m.d.sync += wb_fire[l].eq(pre_neuron & fire[l])
            m.d.sync += [wb_hsel[l][c].eq(pre_neuron & fire[l] & (pre_nchunk == c)) for c in range(C)]
        drain = Signal(range(NEURON_LATENCY + 2))

        m.d.comb += [weights.addr.eq(Cat(chunk, j)), bias_rd.addr.eq(chunk), u0_rd.addr.eq(chunk)]
        for l in range(L):
            u_chunk = copies(m, f"chunk_u{l}", chunk_next, 1)[0]
            c_chunk = copies(m, f"chunk_c{l}", chunk_next, 1)[0]
            m.d.comb += [u_rd[l].addr.eq(u_chunk), c_rd[(l - 1) % L].addr.eq(Cat(c_chunk, k[l][:self.kbits]))]

        # the accumulators are read (address register, then data register) in stage ADD - 1
        # of the accumulate pipeline, so their data arrives with the weight word; NEURON
        # overrides this with its own chunk, read the cycle after it is issued
        m.d.sync += [acc_rd[l].addr.eq(s_chunk[ADD - 2]) for l in range(L)]

        # accumulate: broadcast weights, each lane adds w * value (value in {-1, 0, +1}
        # except the direct-input columns, which multiply by the feature)
        acs = Signal(COUNTER_BITS)
        h_spikes = Signal(COUNTER_BITS)
        m.d.comb += [self.acs.eq(acs), self.h_spikes.eq(h_spikes)]
        active_events = popcount(Cat(*[v != 0 for v in s2_val]))
        with m.If(s2_acc):
            m.d.sync += acs.eq(acs + times_const(active_events, P))
        # the add stage: the weight word; the spike value of each lane: registers up to the
        # stage before, then one register per accumulator word (hw.fanout)
        w_q = weights.data
        add_val = [copies(m, f"s{ADD}_val{l}", delayed(m, s2_val[l], ADD - 3, f"s_val{l}")[-1], P)
                   for l in range(L)]
        if C == 1:
            # with one chunk, the word written by an event is read (one cycle too early)
            # by the next one: the last written word is forwarded
            forward = Signal()
            m.d.sync += forward.eq(s_acc[ADD])
        for l in range(L):
            acc_in = acc_rd[l].data
            if C == 1:
                last = Signal(acc_word, name=f"acc{l}_last", reset_less=True)
                acc_in = data.View(acc_word, Mux(forward, last.as_value(), acc_rd[l].data.as_value()))
            terms = []
            for p in range(P):
                w = w_q[p]
                if self.kind == "features":
                    terms.append(acc_in[p] + w * add_val[l][p])  # direct input: a real multiply
                else:
                    terms.append(nr.accumulate_spike(acc_in[p], add_val[l][p], w))
            if C == 1:
                with m.If(s_acc[ADD]):
                    m.d.sync += [last[p].eq(terms[p]) for p in range(P)]
            # cell step on the neuron pipeline stage
            cell = CellStep(net, neurons=Q, z_bits=self.zbits,
                            theta_pos=lp.theta_pos, theta_neg=lp.theta_neg, pipelined=True)
            m.submodules[f"cell{l}"] = cell
            # k = 0 and n = 0, registered and copied per membrane / per c (hw.fanout): k and
            # n change in FINISH, these selects are used from NEURON on
            first_step = copies(m, f"first_step{l}", k[l] == 0, Q * 5)
            first_elem = copies(m, f"first_elem{l}", n[l] == 0, Q)
            # u and c are read with the chunk; a register waits for the accumulators
            u_prev_q = Signal.like(u_rd[l].data, name=f"u_prev{l}", reset_less=True)
            c_prev_q = Signal.like(c_rd[(l - 1) % L].data, name=f"c_prev{l}", reset_less=True)
            # c comes from a block RAM in the large presets: its data is registered as it is,
            # and element 0's zero start is applied after that register
            m.d.sync += c_prev_q.eq(c_rd[(l - 1) % L].data)
            c_start = [Mux(first_elem[q], 0, c_prev_q[q]) for q in range(Q)]
            for q in range(Q):
                for g in range(5):
                    m.d.sync += u_prev_q[q][g].eq(Mux(first_step[5 * q + g], u0_rd.data[q][g], u_rd[l].data[q][g]))
            m.d.comb += [cell.z.eq(acc_rd[l].data), cell.u_prev.eq(u_prev_q)]
            m.d.comb += [cell.c_prev[q].eq(c_start[q]) for q in range(Q)]
            # one write port: the add stage or, in the NEURON phase, the
            # restart from the biases as soon as a chunk has been read (s2). The two never
            # overlap; the choice is a register of this lane, copied per word (hw.fanout),
            # so no single flip-flop drives every accumulator bit
            m.d.comb += [
                acc_wr[l].addr.eq(acc_waddr[l]),
                acc_wr[l].en.eq(acc_wen[l]),
                acc_wr[l].data.eq(Cat(*[Mux(bias_sel[l][p], bias_bits.word_select(p, self.zbits),
                                            Value.cast(terms[p])[:self.zbits]) for p in range(P)])),
            ]
            m.d.comb += [
                u_wr[l].addr.eq(wb_nchunk), u_wr[l].data.eq(cell.u), u_wr[l].en.eq(wb_fire[l]),
                c_wr[l].addr.eq(Cat(wb_nchunk, k[l][:self.kbits])), c_wr[l].data.eq(cell.c),
                c_wr[l].en.eq(wb_fire[l]),
            ]
            for c in range(C):
                with m.If(wb_hsel[l][c]):
                    m.d.sync += hrow[l].as_value()[c * 2 * Q:(c + 1) * 2 * Q].eq(cell.h.as_value())
            m.d.comb += [bank_wr[l].addr.eq(Cat(k[l][:self.kbits], e[l])),
                         bank_wr[l].data.eq(hrow[l])]

        neuron_spikes = 0
        for l in range(L):
            cell = m.submodules[f"cell{l}"]
            neuron_spikes = neuron_spikes + Mux(fire[l], popcount(Cat(*[cell.h[q] != 0 for q in range(Q)])), 0)
        with m.If(wb_neuron):
            m.d.sync += h_spikes.eq(h_spikes + neuron_spikes)

        m.d.sync += [s2_acc.eq(0), s2_neuron.eq(0)]
        # by default the next write is the add stage's
        m.d.sync += [acc_waddr[l].eq(s_chunk[ADD - 1]) for l in range(L)]
        m.d.sync += [acc_wen[l].eq(s_acc[ADD - 1]) for l in range(L)]

        # ---- control ----------------------------------------------------------------
        with m.FSM(name="layer"):
            with m.State("IDLE"):
                with m.If(self.start):
                    for l in range(L):
                        m.d.sync += [n[l].eq(l), e[l].eq(0), k[l].eq(0), active[l].eq(int(l < N))]
                    m.d.sync += [acs.eq(0), h_spikes.eq(0)]
                    m.next = "BEGIN"
            with m.State("BEGIN"):
                m.d.comb += self.busy.eq(1)
                for l in range(L):
                    m.d.sync += fire[l].eq(active[l] & ready[l])
                with m.If(Cat(*active).any()):
                    m.next = "FETCH"
                with m.Else():
                    m.next = "IDLE"
            with m.State("FETCH"):
                # the rows addressed since BEGIN arrive and are registered
                m.d.comb += self.busy.eq(1)
                m.next = "LOAD"
            with m.State("LOAD"):
                m.d.comb += self.busy.eq(1)
                nonzero = 0
                for l in range(L):
                    x_in = Mux(fire[l], x_raw[l].as_value(), 0)
                    h_in = Mux(fire[l] & (n[l] != 0), h_raw[l].as_value(), 0)
                    m.d.sync += [xvec[l].eq(x_in), hvec[l].eq(h_in)]
                    x_view = data.View(self.in_row, x_in)
                    h_view = data.View(self.h_row, h_in)
                    nonzero = nonzero | Cat(*[x_view[i] != 0 for i in range(M)],
                                            *[h_view[i] != 0 for i in range(H)])
                m.d.sync += [union.eq(nonzero), cur_valid.eq(0)]
                m.d.comb += chunk_next.eq(0)
                m.next = "ACC"
            with m.State("ACC"):
                m.d.comb += self.busy.eq(1)
                # take the next event when there is none or the last chunk goes out
                with m.If(~cur_valid | (chunk == C - 1)):
                    m.d.sync += [cur.eq(lowest), cur_valid.eq(union.any()), union.eq(rest)]
                with m.If(cur_valid):
                    m.d.sync += [s2_acc.eq(1), s2_chunk.eq(chunk)]
                    width = len(Value.cast(s2_val[0]))
                    for l in range(L):
                        values = [xvec[l][i] for i in range(M)] + [hvec[l][i] for i in range(H)]
                        m.d.sync += s2_val[l].eq(onehot_select(cur, values, width))
                    with m.If(chunk == C - 1):
                        m.d.comb += chunk_next.eq(0)
                    with m.Else():
                        m.d.comb += chunk_next.eq(chunk + 1)
                with m.Elif(~union.any() & ~acc_in_flight.any()):
                    # the last event's add lands before NEURON reads its chunk
                    m.d.comb += chunk_next.eq(0)
                    m.next = "NEURON"
            with m.State("NEURON"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [s2_neuron.eq(1), s2_nchunk.eq(chunk)]
                m.d.comb += [bias_next[l].eq(fire[l]) for l in range(L)]
                for l in range(L):
                    with m.If(fire[l]):
                        m.d.sync += [acc_waddr[l].eq(chunk), acc_wen[l].eq(1)]
                m.d.sync += [acc_rd[l].addr.eq(chunk) for l in range(L)]
                with m.If(chunk == C - 1):
                    m.d.sync += drain.eq(0)
                    m.d.comb += chunk_next.eq(0)
                    m.next = "DRAIN"
                with m.Else():
                    m.d.comb += chunk_next.eq(chunk + 1)
            with m.State("DRAIN"):
                # until the last chunk has left the cell pipeline
                m.d.comb += self.busy.eq(1)
                m.d.sync += drain.eq(drain + 1)
                with m.If(drain == NEURON_LATENCY):
                    m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += self.busy.eq(1)
                for l in range(L):
                    with m.If(fire[l]):
                        m.d.comb += bank_wr[l].en.eq(1)
                        with m.If(k[l] == T - 1):
                            with m.If(n[l] + L < N):
                                m.d.sync += [n[l].eq(n[l] + L), e[l].eq(e[l] + 1), k[l].eq(0)]
                            with m.Else():
                                m.d.sync += [active[l].eq(0), k[l].eq(T)]
                        with m.Else():
                            m.d.sync += k[l].eq(k[l] + 1)
                m.next = "BEGIN"
        return m

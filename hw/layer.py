"""One layer of spiking cells (the Datta LSTM or any cell of hw.cells): L lanes, event-driven accumulate-only gate sums.

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
* ``ACC`` (E x C + 5 cycles for E > 0 events in the union, C chunks, 6 when the events
  are multi-bit; 1 cycle when there are none; the next event is taken from the union one cycle ahead, by clearing its
  lowest set bit; a pipeline of ``WEIGHT_LATENCY + 1`` stages: the weight address, the
  weight ROM's ``WEIGHT_LATENCY`` = 5 register stages (:mod:`hw.banked_rom`), in the
  last of which each lane adds; a layer of multi-bit events registers the products
  there and adds them one stage later, :func:`hw.accumulate.add_stage`): one event at a time,
  the weight column is read once in chunks of P weights and broadcast to every lane,
  which adds it, subtracts it, or (no spike there) leaves its accumulators alone.
  Zero inputs cost nothing: cycles follow the spike count.
* ``NEURON`` (C cycles): per chunk, the cell step of Q = P/G neurons: membranes,
  gates, c, h, in the cell step's pipeline of ``LATENCY`` register stages (one carry chain
  each). The accumulators are reset to the biases for the next round.
* ``DRAIN`` (``NEURON_LATENCY + 1`` cycles): the last chunk leaves the pipeline (the
  accumulator data register, then the cell step's stages: ``hw.latency.neuron_latency``).
* ``FINISH`` (1 cycle): the lane's h row goes to its bank; lane counters advance.

So a round takes ``E*C + C + 6 + NEURON_LATENCY`` cycles, ``WEIGHT_LATENCY - 1`` = 4
more when ``E > 0`` (5 for multi-bit events);
:mod:`hw.latency` computes the total.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from model.params import LayerParams

from .accumulate import AccumulatePipeline, LaneAccumulator, popcount, times_const
from .banked_rom import LATENCY as WEIGHT_LATENCY, BankedROM
from .config import COUNTER_BITS, HardwareConfig, input_kind, multiplies
from .events import EventList
from .lanes import LaneRows
from .lutram import LutRAM
from .latency import neuron_latency
from .layer_control import LayerControl, NeuronTrack
from .links import LaneSignature
from .neuron_stage import NeuronStage
from .param_rom import targets, theta_layout
from .rom import bits_for, weight_rom

__all__ = ["SpikingLSTMLayer", "WEIGHT_LATENCY", "popcount", "times_const", "input_kind"]

#: synthesis attributes of the layer's small parameter RAMs: LUT RAM, never block RAM
LUT_RAM = {"ram_style": "distributed"}



class SpikingLSTMLayer(wiring.Component):
    """A layer with its weight ROMs, accumulators, membranes and per-lane h banks.

    Ports (``L`` lanes):

    * ``start`` (pulse while idle) / ``busy``;
    * ``in_addr[L]`` / ``in_data[L]``: each lane's input row request; the provider
      answers the next cycle (a synchronous read port);
    * ``out_addr[L]`` / ``out_data[L]``: read port on each lane's h bank, address
      ``{e, k}`` for element ``n = e*L + lane``, answered the next cycle;
    * ``acs``, ``h_spikes``: activity counters of the last run;
    * ``bias_wr``, ``u0_wr`` (write ports; ``u0_wr`` for cells with membranes),
      ``theta_wr`` (en and data; for cells with thresholds): the parameter loader's
      writes (:mod:`hw.param_rom`), before ``init``;
    * ``init`` (in, a pulse while idle): restart the accumulators from the loaded biases
      (``busy`` meanwhile).

    Parts (each a component with a documented signature; the links are the small
    signatures of :mod:`hw.links`, joined with ``wiring.connect``):
    :class:`hw.layer_control.LayerControl` (the rounds and the lane counters),
    :class:`hw.events.EventList`, :class:`hw.accumulate.AccumulatePipeline` (stages
    shared by the lanes) and, per lane, :class:`hw.lanes.LaneRows` (input, recurrent and
    h rows), :class:`hw.accumulate.LaneAccumulator` and :class:`hw.neuron_stage.NeuronStage`
    (all that is particular to the cell); :class:`hw.layer_control.NeuronTrack` follows
    the chunks through the neuron pipeline. The memories are submodules of the layer
    itself, so their names (``acc<l>``, ``membranes<l>``, ``cstate<l>``, ``bank<l>``,
    ``weights``, ``bias``, ``u0``) stay those that :mod:`flows.activity` and
    :mod:`flows.energy` count.
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
        #: the h of the cell: a ternary spike, or multi-bit (the baseline LSTM)
        self.h_shape = signed(net.cell_def().h_bits(net))
        if self.kind == "features":
            self.x_shape = signed(net.x_bits)
            in_addr_bits = self.nbits
        else:
            # spike rows of the input buffer, or the h rows of the layer below
            self.x_shape = signed(2) if self.kind == "rows" else self.h_shape
            in_addr_bits = self.nbits + self.kbits if self.kind == "rows" else self.ebits + self.kbits
        self.in_row = data.ArrayLayout(self.x_shape, self.inputs)
        self.h_row = data.ArrayLayout(self.h_shape, self.hidden)
        #: an event's value is multi-bit (a product stage, then the add), or a spike
        self.multiply = multiplies(hw, layer)
        self.bank_addr_bits = self.ebits + self.kbits
        lanes = self.lanes
        #: the parameter loader's ports of this layer (hw.param_rom), by member name
        param_ports = {f"{t.name.split('.', 1)[1]}_wr": Out(t.signature())
                       for t in targets(hw) if t.name.startswith(f"layer{layer}.")}
        super().__init__({
            "start": In(1),
            "init": In(1),
            **param_ports,
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
        L, C, Q, P, cbits = self.lanes, self.chunks, self.q, self.par, self.cbits
        counters = dict(nbits=self.nbits, ebits=self.ebits, kbits=self.kbits)
        lane_sig = LaneSignature(**counters)
        val_shape = (signed(max(self.x_shape.width, self.h_shape.width)) if self.multiply
                     else signed(2))
        neurons = [NeuronStage(net, neurons=Q, z_bits=self.zbits, theta_layout=theta_layout(hw), cbits=cbits,
                               chunks=C, steps=self.steps, **counters) for _ in range(L)]
        # cycles from a chunk's memory data (stage 2) to its write-back (hw.latency)
        drain = neuron_latency(hw)

        # ---- the controller, the event list, the shared pipeline stages ---------------
        m.submodules.control = ctl = LayerControl(
            lanes=L, steps=self.steps, length=self.length, chunks=C, cbits=cbits,
            neuron_latency=drain, **counters)
        m.submodules.events = events = EventList(self.inputs + self.hidden)
        m.submodules.accumulate = pipe = AccumulatePipeline(
            lanes=L, par=P, chunks=C, cbits=cbits, in_row=self.in_row, h_row=self.h_row,
            value_shape=val_shape, multiply=self.multiply)
        m.submodules.neuron_track = track = NeuronTrack(
            lanes=L, chunks=C, cbits=cbits, neurons=Q, latency=drain,
            h_shape=self.h_shape, **counters)
        m.d.comb += [ctl.start.eq(self.start), ctl.init.eq(self.init), self.busy.eq(ctl.busy),
                     self.acs.eq(pipe.acs), self.h_spikes.eq(track.h_spikes)]
        m.d.comb += [events.load.eq(ctl.phase.load), events.take.eq(ctl.phase.take),
                     ctl.valid.eq(events.valid), ctl.pending.eq(events.pending),
                     ctl.in_flight.eq(pipe.in_flight), pipe.cur.eq(events.cur)]

        # ---- shared memories: the weight ROM (its word WEIGHT_LATENCY cycles after the
        # address, hw.banked_rom); the biases, start membranes and thresholds, written by
        # the parameter loader after reset (hw.param_rom) ------------------------------------
        acc_word = data.ArrayLayout(signed(self.zbits), P)
        w_word = data.ArrayLayout(signed(net.w_bits), P)
        m.submodules.weights = weights = BankedROM(w_word, weight_rom(hw, self.layer, lp))
        # small RAMs in LUTs: their data feeds logic (the restart select, the first-step
        # select), which a block RAM's late output must not (docs/hardware.md, Timing)
        m.submodules.bias = bias_mem = memory.Memory(shape=acc_word, depth=C, init=[],
                                                     attrs=LUT_RAM)
        self.bias_mem = bias_mem  # kept for simulation test benches
        wiring.connect(m, wiring.flipped(self.bias_wr), bias_mem.write_port())
        bias_rd = bias_mem.read_port()
        chunk = ctl.phase.chunk
        m.d.comb += [weights.addr.eq(Cat(chunk, events.index)), bias_rd.addr.eq(chunk)]
        if neurons[0].has_membranes:
            m.submodules.u0 = u0_mem = memory.Memory(shape=neurons[0].u_word, depth=C, init=[],
                                                     attrs=LUT_RAM)
            wiring.connect(m, wiring.flipped(self.u0_wr), u0_mem.write_port())
            u0_rd = u0_mem.read_port()
            m.d.comb += u0_rd.addr.eq(chunk)
        theta = None
        if hasattr(self, "theta_wr"):
            theta = Signal(theta_layout(hw), name="theta")
            with m.If(self.theta_wr.en):
                m.d.sync += theta.eq(self.theta_wr.data)

        # ---- per-lane memories (named in the layer: flows.activity and flows.energy
        # count them as layer<i>.acc<l>, ...) ---------------------------------------------
        cell_mem, bank_wr, bank_rec = ([] for _ in range(3))
        self.banks = []  # kept for simulation test benches, which read the h of every cell
        self.acc_mems = []  # and the accumulators
        for l in range(L):
            # the biases come in by the INIT pass after the parameters are loaded; a part
            # per accumulator word, each with address and enable registers of its own
            m.submodules[f"acc{l}"] = acc = LutRAM(acc_word, C, parts=P)
            self.acc_mems.append(acc)
            cell_mem.append(self._cell_memories(m, l, neurons[l]))
            bank = memory.Memory(shape=self.h_row, depth=self.elements_per_lane << self.kbits, init=[])
            m.submodules[f"bank{l}"] = bank
            self.banks.append(bank)
            bank_wr.append(bank.write_port())
            bank_rec.append(bank.read_port())
            bank_out = bank.read_port()
            m.d.comb += [bank_out.addr.eq(self.out_addr[l]), self.out_data[l].eq(bank_out.data)]

        # ---- the lanes -------------------------------------------------------------------
        nonzero = 0
        for l in range(L):
            p = (l - 1) % L  # the previous lane: element n - 1, its h and c
            m.submodules[f"rows{l}"] = rows = LaneRows(
                lane=l, kind=self.kind, in_row=self.in_row, h_row=self.h_row,
                in_addr_bits=len(self.in_addr[l]), bank_depth=self.banks[l].depth, cbits=cbits, chunks=C, neurons=Q, **counters)
            m.submodules[f"lane_acc{l}"] = lacc = LaneAccumulator(
                par=P, chunks=C, cbits=cbits, zbits=self.zbits, w_word=w_word, value_shape=val_shape,
                multiply=self.multiply, lane=lane_sig)
            m.submodules[f"neuron{l}"] = ns = neurons[l]
            wiring.connect(m, ctl.lane[l], rows.lane, lacc.lane, ns.lane, track.lane[l])
            wiring.connect(m, track.wb[l], rows.wb, ns.wb)
            wiring.connect(m, rows.rec_rd, bank_rec[p])
            wiring.connect(m, rows.bank_wr, bank_wr[l])
            for port, lane in (("u_rd", l), ("u_wr", l), ("c_rd", p), ("c_wr", l)):
                if port in cell_mem[lane]:  # the memories the cell has (NeuronStage)
                    wiring.connect(m, getattr(ns, port), cell_mem[lane][port])
            if ns.has_membranes:
                m.d.comb += ns.u_start.eq(u0_rd.data)
            if theta is not None:
                m.d.comb += ns.theta.eq(theta)
            wiring.connect(m, lacc.rd, self.acc_mems[l].rd)
            wiring.connect(m, lacc.wr, self.acc_mems[l].wr)
            m.d.comb += [self.in_addr[l].eq(rows.in_addr), rows.in_data.eq(self.in_data[l]),
                         pipe.values[l].x.eq(rows.x), pipe.values[l].h.eq(rows.h),
                         lacc.value.eq(pipe.value[l]), lacc.w.eq(weights.data), lacc.bias_word.eq(bias_rd.data),
                         ns.chunk_next.eq(ctl.chunk_next),
                         ns.z.eq(lacc.z.as_value()), rows.h_out.eq(ns.h), track.h[l].eq(ns.h)]
            nonzero = nonzero | rows.nonzero
        m.d.comb += events.events.eq(nonzero)
        wiring.connect(m, ctl.phase, pipe.phase, track.phase,
                       *[m.submodules[f"lane_acc{l}"].phase for l in range(L)],
                       *[m.submodules[f"rows{l}"].phase for l in range(L)])
        wiring.connect(m, pipe.stages, *[m.submodules[f"lane_acc{l}"].stages for l in range(L)])
        return m

    @staticmethod
    def _cell_memories(m, l: int, ns: NeuronStage) -> dict:
        """Lane ``l``'s memories of the cell: its membranes and the carry store (Datta:
        c, read by the next lane for element n+1), as the cell has them; their ports by
        the names of :class:`hw.neuron_stage.NeuronStage`'s."""
        ports = {}
        if ns.has_membranes:
            # a part per neuron, each with address and enable registers of its own
            m.submodules[f"membranes{l}"] = u_mem = LutRAM(ns.u_word, ns.u_depth, parts=ns.neurons)
            ports["u_wr"], ports["u_rd"] = u_mem.wr, u_mem.rd
        if ns.has_carry:
            m.submodules[f"cstate{l}"] = c_mem = memory.Memory(shape=ns.c_word, depth=ns.c_depth, init=[])
            ports["c_wr"], ports["c_rd"] = c_mem.write_port(), c_mem.read_port()
        return ports

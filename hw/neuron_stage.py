"""One lane's neuron stage: everything in a layer that belongs to the particular cell.

The rest of the layer (lanes, event list, accumulate pipeline, controller) knows only
"G gate sums per neuron in, h per neuron out". Here is the cell: its pipelined hardware
step (``hw/cells/<cell>.py``, :mod:`hw.cells`), its S membranes per neuron (state
memory ``u``, restarted from the start-value memory at step 0), and its carried values
(the Datta cell's ``c``: written to this lane's carry store, read from the previous
lane's, which holds element n-1; zero for element 0). A cell that carries nothing has
no carry store.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from . import cells
from .fanout import copies
from .links import LaneSignature, WriteBack
from .lutram import ReadSignature, WriteSignature

__all__ = ["NeuronStage"]


class NeuronStage(wiring.Component):
    """The cell step of Q neurons of one lane, a chunk per cycle, with its state memories.

    ``G`` gate sums and ``S`` membranes per neuron, the configured cell's
    (:attr:`gates`, :attr:`membranes`). The outputs of a chunk leave :attr:`latency`
    cycles after its gate sums arrive (the cell step's ``LATENCY``).

    Members:

    * ``lane`` (in, :class:`hw.links.LaneSignature`): ``k == 0`` restarts the membranes from U0,
      ``n == 0`` starts the carried values at zero; ``k`` addresses the carry stores;
    * ``chunk_next`` (in): the chunk read next cycle (the state memories are addressed
      from registered copies of it, :mod:`hw.fanout`);
    * ``z`` (in, ``z[Q][G]``): the gate sums of the chunk, exact (saturated in the cell);
    * ``u_start`` (in, ``u[Q][S]``): the start membranes of the chunk (the u0 memory's data;
      not ``u0``, that ROM's name in the layer);
    * ``u_rd`` / ``u_wr`` (out, flipped :class:`hw.lutram.ReadSignature` /
      :class:`hw.lutram.WriteSignature`): the lane's membrane memory, ``u[Q][S]`` per
      chunk, a :class:`hw.lutram.LutRAM` with a part per neuron;
    * ``c_rd`` (out, a flipped read port signature): the previous lane's carry store,
      ``carry[Q]`` per ``{k, chunk}``; ``c_wr``: this lane's carry store (both absent
      when the cell carries nothing, :attr:`has_carry`);
    * ``wb`` (in, :class:`hw.links.WriteBack`): when the outputs are written back;
    * ``theta`` (in, :func:`hw.param_rom.theta_layout`; for cells with thresholds): the
      layer's thresholds as the parameter loader left them; registered here, so each
      lane's cell step compares against flip-flops of its own;
    * ``h`` (out, ``h[Q]``): the ternary h of the chunk leaving the pipeline.
    """

    def __init__(self, cfg, *, neurons: int, z_bits: int, theta_layout=None,
                 nbits: int, ebits: int, kbits: int, cbits: int, chunks: int, steps: int):
        self.cfg, self.neurons, self.z_bits, self.kbits = cfg, neurons, z_bits, kbits
        cell = cfg.cell_def()
        #: the cell's hardware step
        self.step_cls = cells.get(cfg)
        self.gates, self.membranes = cell.gates, len(cell.MEMBRANES)
        self.latency = self.step_cls.LATENCY
        Q = neurons
        #: one chunk of membranes and of carried values, the words of the state memories
        self.u_word = data.ArrayLayout(cells.state_layout(cfg), Q)
        self.c_word = data.ArrayLayout(cells.carry_layout(cfg), Q)
        self.has_carry = self.c_word.size > 0
        #: depths of the membrane memory and of the carry store
        self.u_depth, self.c_depth = chunks, steps << cbits
        u_addr, c_addr = ceil_log2(self.u_depth), ceil_log2(self.c_depth)
        ports = {
            "lane": In(LaneSignature(nbits=nbits, ebits=ebits, kbits=kbits)),
            "chunk_next": In(cbits),
            "z": In(data.ArrayLayout(data.ArrayLayout(signed(z_bits), self.gates), Q)),
            "wb": In(WriteBack(cbits=cbits, chunks=chunks)),
            "h": Out(data.ArrayLayout(signed(cell.h_bits(cfg)), Q)),
        }
        if theta_layout is not None:
            ports["theta"] = In(theta_layout)
        #: the cell has membranes (the baseline LSTM has none: no state memory, no u0 memory)
        self.has_membranes = self.membranes > 0
        if self.has_membranes:
            ports["u_start"] = In(self.u_word)
            ports["u_rd"] = In(ReadSignature(u_addr, self.u_word))
            ports["u_wr"] = In(WriteSignature(u_addr, self.u_word))
        if self.has_carry:
            ports["c_rd"] = In(memory.ReadPort.Signature(addr_width=c_addr, shape=self.c_word))
            ports["c_wr"] = In(memory.WritePort.Signature(addr_width=c_addr, shape=self.c_word))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        kk = self.lane.k[:self.kbits]
        # a cell step per neuron, each with its own copy of the thresholds (hw.fanout: a
        # module of its own, or synthesis merges the copies): a threshold is static while
        # the network computes, but timing analysis sees a path from its register to
        # every comparator, and one register per lane sat far from most of them
        steps = []
        for q in range(self.neurons):
            thresholds = {}
            if hasattr(self, "theta"):
                theta_q = data.View(self.theta.shape(), copies(m, f"theta{q}", self.theta.as_value(), 1)[0])
                thresholds = {name: [theta_q[name][i] for i in range(len(theta_q[name]))]
                              for name, _ in theta_q.shape()}
            step = self.step_cls(self.cfg, neurons=1, z_bits=self.z_bits, pipelined=True, **thresholds)
            m.submodules[f"cell{q}"] = step
            m.d.comb += [step.z[0].eq(self.z[q]), self.h[q].eq(step.h[0])]
            steps.append(step)
        if self.has_membranes:
            self._membranes(m, steps)
        if self.has_carry:
            self._carry(m, steps, kk)
        return m

    def _membranes(self, m, steps):
        """The membranes: this lane's state memory, restarted from U0 at k = 0."""
        Q, S = self.neurons, self.membranes
        # the membrane memory (a hw.lutram.LutRAM, a part per neuron) is addressed from
        # a register of this lane holding the next chunk (hw.fanout), which each part
        # registers again; its data goes through the first-step select into a register
        lane_chunk = copies(m, "chunk_u", self.chunk_next, 1)[0]
        m.d.comb += self.u_rd.addr_next.eq(lane_chunk)
        u_rd_q = self.u_rd.data
        # k = 0, registered, then copied per membrane (hw.fanout): k changes in FINISH,
        # the select is used from NEURON on, four cycles later at the earliest
        first_step = copies(m, "first_step", self._registered(m, self.lane.k == 0, "k_zero"), Q * S)
        # u is read with the chunk; a register waits for the accumulators
        u_prev_q = Signal(self.u_word, name="u_prev", reset_less=True)
        for q in range(Q):
            for g in range(S):
                m.d.sync += u_prev_q[q][g].eq(Mux(first_step[S * q + g], self.u_start[q][g],
                                                  u_rd_q[q][g]))
        m.d.comb += [steps[q].u_prev[0].eq(u_prev_q[q]) for q in range(Q)]
        m.d.comb += [self.u_wr.addr_next.eq(self.wb.chunk_next), self.u_wr.en_next.eq(self.wb.fire_next),
                     self.u_wr.data.eq(Cat(*[steps[q].u[0].as_value() for q in range(Q)]))]

    @staticmethod
    def _registered(m, value, name):
        reg = Signal(name=name)
        m.d.sync += reg.eq(value)
        return reg

    def _carry(self, m, steps, kk):
        """The carried values: read from the previous lane's store (element n-1), zero
        for element 0, written to this lane's."""
        Q = self.neurons
        c_chunk = copies(m, "chunk_c", self.chunk_next, 1)[0]
        m.d.comb += self.c_rd.addr.eq(Cat(c_chunk, kk))
        # n = 0, registered, then copied per neuron (hw.fanout), as first_step
        first_elem = copies(m, "first_elem", self._registered(m, self.lane.n == 0, "n_zero"), Q)
        # the store is a block RAM in the large presets: its data is registered as it
        # is, and element 0's zero start is applied after that register
        c_prev_q = Signal(self.c_word, name="c_prev", reset_less=True)
        m.d.sync += c_prev_q.eq(self.c_rd.data)
        m.d.comb += [steps[q].carry_prev[0].eq(Mux(first_elem[q], 0, c_prev_q[q].as_value()))
                     for q in range(Q)]
        m.d.comb += [self.c_wr.addr.eq(Cat(self.wb.chunk, kk)),
                     self.c_wr.data.eq(Cat(*[steps[q].carry[0].as_value() for q in range(Q)])),
                     self.c_wr.en.eq(self.wb.fire)]

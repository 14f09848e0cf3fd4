"""The network's readout: accumulate-only logits and their first maximum.

:class:`Readout` adds, for each step k of the last element, the ``W_out`` column of
every non-zero h spike of the last layer (added or subtracted by the spike's sign) to
the logits, which start from the biases; zero spikes cost nothing. Per step:

* ``ADDR``: the last element's h row is addressed in its lane's bank;
* ``LATCH``: the row is registered as it leaves the bank (block RAM data arrives late);
* ``MASK``: its non-zero positions become the step's event mask;
* ``ACC``: one event a cycle, taken from the mask one cycle ahead by clearing its lowest
  set bit; the W_out word of an event is read, registered, and then added.

``DRAIN`` lets the last word land; a multi-bit h (the baseline LSTM) multiplies, so its
products are registered before they are added and ``PRODUCT`` waits one cycle more. The logits leave saturated to ``logit_bits``.

With ``readout="integrator"`` the same steps run for every element in order (element n
is element ``n // L`` of lane ``n % L``); after each element's ``DRAIN``, ``INTEG`` takes
its sums into the leaky integrator (:func:`model.numerics.integrate_readout`) and reloads
them from the biases, the integrator joins the sum over the sequence a cycle later, and
``FINAL`` adds the last one. The logits are that sum, saturated.

:class:`ArgmaxScan` then finds the first maximum: one comparison a cycle, a later class
wins only when strictly larger.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from model import numerics as nr
from model.config import NetworkConfig

from .accumulate import product
from .cell import hold
from .config import COUNTER_BITS, multibit_h
from .fanout import copies
from .network_control import Task
from .onehot import lowest_set, onehot_index, onehot_select
from .rom import bits_for

__all__ = ["Readout", "ArgmaxScan"]


def saturated_greater(a, b, bits: int):
    """``saturate(a, bits) > saturate(b, bits)`` without the saturation in front of the
    comparator: the clamp is monotonic, so the saturated values differ in order exactly
    when ``a > b`` and the two do not clamp to the same bound (``b`` below the top,
    ``a`` above the bottom). Three comparators side by side, then one LUT."""
    lo, hi = nr.signed_range(bits)
    return (a > b) & (b < hi) & (a > lo)


class Readout(wiring.Component):
    """The readout of network ``net``: logits from the biases (``b_out``) and the h spikes
    of the last element (element number ``element`` of its lane, ``ebits`` bits),
    summed in ``sum_bits`` (:meth:`hw.config.HardwareConfig.logit_sum_bits`: no overflow);
    with ``readout="integrator"``, of every element, the integrator and its sum in the
    widths ``integrator_bits`` (:meth:`hw.config.HardwareConfig.integrator_bits`).

    Members:

    * ``task`` (in, :class:`hw.network_control.Task`): ``start`` (while idle) restarts
      the logits from the biases (the BEGIN cycle); ``last`` is the DRAIN cycle, after
      which the logits are final;
    * ``h_addr`` (out) / ``h_data`` (in): a read port on the lane's h bank, address
      ``{e, k}``, answered the next cycle (``h_addr`` is 0 outside ADDR); for the
      integrator, ``h_data`` is the row of every one of the ``lanes`` banks, all read at
      ``h_addr``;
    * ``w_rd`` (out, a flipped read port signature): the ``W_out`` ROM, one word of
      ``classes`` weights per hidden neuron;
    * ``b_out`` (in): the biases, one per class (the network's register, written by the
      parameter loader, :mod:`hw.param_rom`);
    * ``logits`` (out): the logits saturated to ``logit_bits`` (from registers);
    * ``first_beats`` (out): logit 1 > logit 0, compared on the sums before saturation
      (:func:`saturated_greater`), for :class:`ArgmaxScan`'s first step;
    * ``acs`` (out): accumulate operations of the last run (multiply-accumulates when
      h is multi-bit).
    """

    def __init__(self, net: NetworkConfig, *, element: int, ebits: int, sum_bits: int,
                 lanes: int = 1, integrator_bits: tuple[int, int] | None = None):
        self.net = net
        self.element, self.ebits, self.kbits = element, ebits, bits_for(net.steps - 1)
        self.sum_bits = sum_bits
        #: the integrator and the per-element readout read every element, from every
        #: lane's h bank; the per-element one runs as one task per element
        self.walk = net.reads_every_element
        self.integrate = net.readout == "integrator"
        self.per_element = net.readout == "element"
        self.lanes = lanes
        if self.integrate and integrator_bits is None:
            self._MustUse__silence = True
            raise ValueError("an integrator readout needs integrator_bits "
                             "(hw.config.HardwareConfig.integrator_bits)")
        self.integrator_bits = integrator_bits
        hidden = net.hidden[-1]
        #: the cell's h: a spike (the W_out column is added or subtracted) or multi-bit
        #: (the baseline LSTM: each W_out column is multiplied by it, a MAC per class)
        self.h_shape = signed(net.cell_def().h_bits(net))
        self.h_row = data.ArrayLayout(self.h_shape, hidden)
        self.w_word = data.ArrayLayout(signed(net.w_bits), net.classes)
        super().__init__({
            "task": In(Task()),
            "h_addr": Out(ebits + self.kbits),
            "h_data": In(data.ArrayLayout(self.h_row, lanes) if self.walk else self.h_row),
            "w_rd": In(memory.ReadPort.Signature(addr_width=ceil_log2(hidden), shape=self.w_word)),
            "b_out": In(data.ArrayLayout(signed(net.logit_bits), net.classes)),
            "logits": Out(data.ArrayLayout(signed(net.logit_bits), net.classes)),
            "first_beats": Out(1),
            "acs": Out(COUNTER_BITS),
            **({"resume": In(1), "more": Out(1)} if self.per_element else {}),
        })

    def elaborate(self, platform):
        m = Module()
        net, T, kbits = self.net, self.net.steps, self.kbits
        classes, hidden = net.classes, net.hidden[-1]
        sums = Signal(data.ArrayLayout(signed(self.sum_bits), classes))
        ro_k = Signal(kbits + 1)
        ro_row = Signal(self.h_row)
        ro_mask = Signal(hidden)
        ro_cur = Signal(hidden)  # one-hot: the h spike being added, taken a cycle ahead
        ro_valid = Signal()
        ro_lowest, ro_rest = lowest_set(m, ro_mask)
        ro_j = hold(m, onehot_index(ro_cur), "ro_event")
        ro_acs = Signal(COUNTER_BITS)
        # a two-stage accumulate: the W_out word is registered before it is added; a
        # multi-bit h (a real multiply) registers the products too and adds them a stage later
        multiply = multibit_h(net)
        ro_s2, ro_sign = Signal(name="ro_s2"), Signal(self.h_shape, name="ro_sign")
        ro_s3, ro_sign3 = Signal(name="ro_s3"), Signal(self.h_shape, name="ro_sign3")
        w_out_q = Signal.like(self.w_rd.data)
        m.d.comb += self.w_rd.addr.eq(ro_j)
        m.d.sync += [ro_s2.eq(0), ro_s3.eq(ro_s2), ro_sign3.eq(ro_sign), w_out_q.eq(self.w_rd.data)]
        if multiply:
            ro_s4 = Signal(name="ro_s4")
            prods = [Signal(signed(len(w_out_q[c]) + self.h_shape.width), name=f"ro_prod{c}",
                            reset_less=True) for c in range(classes)]
            # the h value, one register per class (hw.fanout), so that no register
            # drives every multiplier across the DSP column
            sign_c = copies(m, "ro_sign3", ro_sign, classes)
            m.d.sync += [ro_s4.eq(ro_s3)] + [prods[c].eq(product(w_out_q[c], sign_c[c]))
                                             for c in range(classes)]
            with m.If(ro_s4):
                m.d.sync += [sums[c].eq(sums[c] + prods[c]) for c in range(classes)]
        else:
            # the add enable, a register per class (hw.fanout): one flip-flop reached
            # every logit register's clock enable, over the whole readout
            s3_c = copies(m, "ro_s3", ro_s2, classes)
            for c in range(classes):
                with m.If(s3_c[c]):
                    m.d.sync += sums[c].eq(nr.accumulate_spike(sums[c], ro_sign3, w_out_q[c]))
        # the biases load outside the state machine: nested in its IDLE case, yosys found
        # no clock enable for the logit registers (a multiplexer per bit: 400 more LUTs on
        # the digits preset). The load is a cycle after start, from a register per class
        # (hw.fanout); the first add comes five cycles after start at the earliest
        if self.walk:  # element n: element ro_e of lane ro_lane
            ro_n = Signal(range(net.length), name="ro_n")
            ro_e = Signal(max(1, self.ebits), name="ro_e")
            ro_lane = Signal(range(max(2, self.lanes)), name="ro_lane")

            def first_element():
                m.d.sync += [ro_n.eq(0), ro_e.eq(0), ro_lane.eq(0)]

            def next_element():  # the next lane, or lane 0 one row on
                m.d.sync += ro_n.eq(ro_n + 1)
                if self.lanes > 1:
                    with m.If(ro_lane == self.lanes - 1):
                        m.d.sync += [ro_lane.eq(0), ro_e.eq(ro_e + 1)]
                    with m.Else():
                        m.d.sync += ro_lane.eq(ro_lane + 1)
                else:
                    m.d.sync += ro_e.eq(ro_e + 1)
        if self.per_element:
            m.d.comb += self.more.eq(ro_n != net.length - 1)
        if self.integrate:
            # the integrator (model.numerics.integrate_readout) takes the element's sums in
            # INTEG, which reloads them from the biases a cycle later; the sum over the
            # sequence takes the new integrator value the cycle after that
            o_bits, total_bits = self.integrator_bits
            integ = Signal(data.ArrayLayout(signed(o_bits), classes), name="ro_integ")
            total = Signal(data.ArrayLayout(signed(total_bits), classes), name="ro_total")
            reload, add_o = Signal(name="ro_reload"), Signal(name="ro_add_o")
            m.d.sync += add_o.eq(0)
            with m.If(add_o):
                m.d.sync += [total[c].eq(total[c] + integ[c]) for c in range(classes)]
            load_c = copies(m, "ro_load", self.task.start | reload, classes)
            out = total
        else:
            load_c = copies(m, "ro_load", self.task.start, classes)
            out = sums
        for c in range(classes):
            with m.If(load_c[c]):
                m.d.sync += sums[c].eq(self.b_out[c])
        for c in range(classes):
            m.d.comb += self.logits[c].eq(nr.saturate(out[c], net.logit_bits))
        if classes > 1:
            m.d.comb += self.first_beats.eq(saturated_greater(out[1], out[0], net.logit_bits))
        m.d.comb += self.acs.eq(ro_acs)

        with m.FSM(name="readout"):
            with m.State("IDLE"):
                def begin():  # a new sequence: from the biases and the first element
                    m.d.sync += [ro_k.eq(0), ro_acs.eq(0)]
                    if self.walk:
                        first_element()
                    if self.integrate:
                        m.d.sync += [integ[c].eq(0) for c in range(classes)]
                        m.d.sync += [total[c].eq(0) for c in range(classes)]
                    m.next = "ADDR"

                if self.per_element:
                    with m.If(self.task.start & self.resume):  # the sequence's next element
                        m.d.sync += ro_k.eq(0)
                        next_element()
                        m.next = "ADDR"
                    with m.Elif(self.task.start):
                        begin()
                else:
                    with m.If(self.task.start):
                        begin()
            with m.State("ADDR"):
                element = ro_e[:self.ebits] if self.walk else Const(self.element, self.ebits)
                m.d.comb += self.h_addr.eq(Cat(ro_k[:kbits], element))
                m.next = "LATCH"
            with m.State("LATCH"):
                m.d.sync += ro_row.eq(self.h_data[ro_lane] if self.walk else self.h_data)
                m.next = "MASK"
            with m.State("MASK"):
                m.d.sync += [ro_valid.eq(0), ro_mask.eq(Cat(*[ro_row[i] != 0 for i in range(hidden)]))]
                m.next = "ACC"
            with m.State("ACC"):
                m.d.sync += [ro_cur.eq(ro_lowest), ro_valid.eq(ro_mask.any()), ro_mask.eq(ro_rest)]
                with m.If(ro_valid):
                    row = [ro_row[i] for i in range(hidden)]
                    m.d.sync += [ro_s2.eq(1), ro_sign.eq(onehot_select(ro_cur, row, self.h_shape.width)),
                                 ro_acs.eq(ro_acs + classes)]
                with m.Elif(ro_mask.any()):
                    pass  # the first spike of this step is being taken
                with m.Elif(ro_k == T - 1):
                    m.next = "PRODUCT" if multiply else "DRAIN"
                with m.Else():
                    m.d.sync += ro_k.eq(ro_k + 1)
                    m.next = "ADDR"
            if multiply:
                with m.State("PRODUCT"):  # the last products are registered
                    m.next = "DRAIN"
            if self.integrate:
                with m.State("DRAIN"):  # the element's last W_out word is added
                    m.next = "INTEG"
                with m.State("INTEG"):  # o(n) = leak(o(n-1)) + r(n); the sums reload
                    m.d.sync += [integ[c].eq(nr.integrate_readout(integ[c], sums[c], net.readout_leak))
                                 for c in range(classes)]
                    m.d.sync += [add_o.eq(1), ro_k.eq(0)]
                    m.d.comb += reload.eq(1)
                    with m.If(ro_n == net.length - 1):
                        m.next = "FINAL"
                    with m.Else():
                        next_element()
                        m.next = "ADDR"
                with m.State("FINAL"):  # the last o(n) joins the sum
                    m.d.comb += self.task.last.eq(1)
                    m.next = "IDLE"
            else:
                with m.State("DRAIN"):  # the last W_out word is added
                    m.d.comb += self.task.last.eq(1)
                    m.next = "IDLE"
        return m


class ArgmaxScan(wiring.Component):
    """The first maximum of ``count`` values of ``shape``, one comparison a cycle.

    Members:

    * ``task`` (in, :class:`hw.network_control.Task`): ``start`` samples ``values``;
      the scan then takes ``count - 1`` cycles, ``last`` high in the last of them (with
      one value there is nothing to scan: ``last`` stays low);
    * ``values`` (in): the values, sampled in the start cycle;
    * ``held`` (out): the values sampled (registers);
    * ``index`` (out): the first index of their maximum, final after the scan (a
      register: the candidate wins only when strictly larger than the best so far).

    The compare-and-keep is enabled by the ``scanning`` flip-flop alone, not by a decode
    of a state register (a timing path).

    With ``first_input=True`` there is one more input, ``first_beats`` (value 1 > value
    0, sampled at ``start``), which the scan uses instead of comparing ``values[1]`` and
    ``values[0]`` itself: the network's readout computes it from its sums before they
    are saturated (:func:`saturated_greater`), so the start cycle has no saturation in
    front of that comparator.
    """

    def __init__(self, count: int, shape, *, first_input: bool = False):
        if not (isinstance(count, int) and count >= 1):
            self._MustUse__silence = True
            raise ValueError(f"an argmax scan needs at least one value, got {count!r}")
        self.count, self.shape, self.first_input = count, shape, first_input
        super().__init__({
            "task": In(Task()),
            "values": In(data.ArrayLayout(shape, count)),
            **({"first_beats": In(1)} if first_input else {}),
            "held": Out(data.ArrayLayout(shape, count)),
            "index": Out(bits_for(count - 1)),
        })

    def elaborate(self, platform):
        m = Module()
        count = self.count
        held = Signal.like(self.held)
        best = Signal.like(self.index)
        best_val = Signal(self.shape)
        scan = Signal(bits_for(count))
        scanning = Signal()  # high exactly while the scan runs
        # the values after the first, shifted past the comparator one per cycle
        queue = Signal(data.ArrayLayout(self.shape, max(1, count - 1)))
        candidate = queue[0]
        m.d.comb += [self.held.eq(held), self.index.eq(best),
                     self.task.last.eq(scanning & (scan == count - 1))]
        # "the candidate beats the best" is decided a cycle ahead, both ways: against the
        # best as it is (beats_best) and against the candidate before it (beats_prev),
        # which is the best if that one won; a LUT picks. So the keep enables start at
        # flip-flops, not at a comparator's carry chain
        beats_best, beats_prev = Signal(name="beats_best"), Signal(name="beats_prev")
        won, wins = Signal(name="won"), Signal(name="wins")
        m.d.comb += wins.eq(Mux(won, beats_prev, beats_best))
        with m.If(self.task.start):
            m.d.sync += [held.eq(self.values), best.eq(0), best_val.eq(self.values[0]),
                         scan.eq(1), scanning.eq(int(count > 1)), won.eq(0)]
            m.d.sync += [queue[c - 1].eq(self.values[c]) for c in range(1, count)]
            if count > 1:
                first = self.first_beats if self.first_input else self.values[1] > self.values[0]
                m.d.sync += beats_best.eq(first)
        with m.If(scanning):
            m.d.sync += [scan.eq(scan + 1), won.eq(wins)] + [queue[c].eq(queue[c + 1]) for c in range(count - 2)]
            if count > 2:
                m.d.sync += [beats_best.eq(queue[1] > best_val), beats_prev.eq(queue[1] > queue[0])]
            with m.If(scan == count - 1):
                m.d.sync += scanning.eq(0)
        with m.If(scanning & wins):
            m.d.sync += [best.eq(scan), best_val.eq(candidate)]
        return m

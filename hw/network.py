"""Network top: input stream, encoder, stacked layers, accumulate-only readout, output stream.

Protocol. A sequence enters on ``i_stream``, one beat per row:

* ``spikes``: N x T beats, element-major, each ``M`` ternary spikes (signed 2-bit);
* ``direct``: N beats of ``M`` signed ``x_bits`` features;
* ``rate`` / ``level``: N beats of ``M`` unsigned ``x_bits`` features; the encoder
  expands each into T spike rows (T cycles, ``i_stream.ready`` low meanwhile).

Then the layers run one after the other, the readout accumulates ``W_out`` columns of
the last element's non-zero h spikes, and one beat leaves on ``o_stream``: the
saturated logits, the class (first maximum) and the cycle count from the first compute
cycle to the result. Activity counters (``acs``, ``h_spikes``) hold the last sequence's
figures.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from model import numerics as nr
from model.config import ConfigError
from model.params import NetworkParams

from .config import COUNTER_BITS, CYCLE_BITS, HardwareConfig
from .cell import hold
from .layer import SpikingLSTMLayer, input_kind
from .onehot import lowest_set, onehot_index, onehot_select
from .rom import BLOCK_ROM, bits_for, readout_rom

__all__ = ["SpikingLSTMNetwork", "input_layout", "output_layout", "input_beats",
           "beats_per_sequence"]


def input_layout(hw: HardwareConfig) -> data.ArrayLayout:
    net = hw.net
    if net.encoding == "spikes":
        return data.ArrayLayout(signed(2), net.inputs)
    if net.encoding == "direct":
        return data.ArrayLayout(signed(net.x_bits), net.inputs)
    return data.ArrayLayout(unsigned(net.x_bits), net.inputs)


def beats_per_sequence(net) -> int:
    """Beats of one sequence on ``i_stream``: N x T spike rows, else N feature rows."""
    return net.length * net.steps if net.encoding == "spikes" else net.length


def input_beats(net, sequence) -> np.ndarray:
    """The ``i_stream`` beats of one raw input sequence (as for :func:`model.golden.run`,
    without the batch axis), in order: ``[beats_per_sequence(net), M]``."""
    beats = np.asarray(sequence).reshape(-1, net.inputs)
    if len(beats) != beats_per_sequence(net):
        raise ConfigError(f"a sequence of {len(beats)} rows of {net.inputs} inputs; "
                          f"{net.encoding!r} input takes {beats_per_sequence(net)}")
    return beats


def output_layout(hw: HardwareConfig) -> data.StructLayout:
    net = hw.net
    return data.StructLayout({
        "logits": data.ArrayLayout(signed(net.logit_bits), net.classes),
        "cls": unsigned(bits_for(net.classes - 1)),
        "cycles": unsigned(CYCLE_BITS),
    })


class SpikingLSTMNetwork(wiring.Component):
    """The whole network with its weights in ROMs (see the module docstring)."""

    def __init__(self, hw: HardwareConfig, params: NetworkParams):
        params.validate(hw.net)
        self.hw, self.params = hw, params
        net = hw.net
        super().__init__({
            "i_stream": In(stream.Signature(input_layout(hw))),
            "o_stream": Out(stream.Signature(output_layout(hw))),
            "acs": Out(COUNTER_BITS),
            "h_spikes": Out(data.ArrayLayout(unsigned(COUNTER_BITS), net.layers)),
        })

    def elaborate(self, platform):
        m = Module()
        hw, net, params = self.hw, self.hw.net, self.params
        L, T, N, M = hw.lanes, net.steps, net.length, net.inputs
        kbits, nbits = bits_for(T - 1), bits_for(N - 1)

        layers = self.layers = []
        for l in range(net.layers):
            layer = SpikingLSTMLayer(hw, l, params.layers[l])
            m.submodules[f"layer{l}"] = layer
            layers.append(layer)
            m.d.comb += self.h_spikes[l].eq(layer.h_spikes)

        # ---- input buffer of layer 0 --------------------------------------------------
        kind = input_kind(hw, 0)
        first = layers[0]
        depth = N if kind == "features" else N << kbits
        m.submodules.inbuf = inbuf = memory.Memory(shape=first.in_row, depth=depth, init=[])
        in_wr = inbuf.write_port()
        for l in range(L):
            rd = inbuf.read_port()
            m.d.comb += [rd.addr.eq(first.in_addr[l]), first.in_data[l].eq(rd.data)]
        for l in range(1, net.layers):
            below, above = layers[l - 1], layers[l]
            m.d.comb += [below.out_addr.eq(above.in_addr), above.in_data.eq(below.out_data)]

        # ---- encoder state ----------------------------------------------------------------
        in_n = Signal(nbits + 1)
        in_k = Signal(kbits + 1)
        features = Signal(input_layout(hw))
        lfsr = Signal(nr.LFSR_BITS, init=net.lfsr_seed)
        level_bits = net.x_bits - net.level_shift + 1
        ref = Signal(data.ArrayLayout(unsigned(level_bits), M))

        # ---- readout ----------------------------------------------------------------------
        classes = net.classes
        last = layers[-1]
        last_lane, last_e = (N - 1) % L, (N - 1) // L
        m.submodules.w_out = w_out = memory.Memory(
            shape=data.ArrayLayout(signed(net.w_bits), classes), depth=net.hidden[-1],
            init=readout_rom(params), attrs=BLOCK_ROM)
        w_out_rd = w_out.read_port()
        logit_sum = data.ArrayLayout(signed(hw.logit_sum_bits()), classes)
        logits = Signal(logit_sum)
        ro_k = Signal(kbits + 1)
        ro_row = Signal(last.h_row)
        ro_mask = Signal(net.hidden[-1])
        ro_cur = Signal(net.hidden[-1])  # one-hot: the h spike being added, taken a cycle ahead
        ro_valid = Signal()
        ro_lowest, ro_rest = lowest_set(m, ro_mask)
        ro_j = hold(m, onehot_index(ro_cur), "ro_event")
        ro_s2 = Signal()
        ro_sign = Signal(signed(2))
        # a two-stage accumulate: the W_out word is registered before it is added
        ro_s3 = Signal()
        ro_sign3 = Signal(signed(2))
        w_out_q = Signal.like(w_out_rd.data)
        m.d.comb += w_out_rd.addr.eq(ro_j)
        m.d.sync += [ro_s2.eq(0), ro_s3.eq(ro_s2), ro_sign3.eq(ro_sign), w_out_q.eq(w_out_rd.data)]
        with m.If(ro_s3):
            for c in range(classes):
                m.d.sync += logits[c].eq(nr.accumulate_spike(logits[c], ro_sign3, w_out_q[c]))
        ro_acs = Signal(COUNTER_BITS)

        acs_total = ro_acs
        for layer in layers:
            acs_total = acs_total + layer.acs
        m.d.comb += self.acs.eq(acs_total)

        # ---- output -----------------------------------------------------------------------
        # the result registers: saturated logits, then the first maximum found by a scan
        # over the classes, one comparison per cycle (a later class wins only when
        # strictly larger)
        cycles = Signal(CYCLE_BITS)
        sat_logits = Signal(data.ArrayLayout(signed(net.logit_bits), classes))
        best = Signal(bits_for(classes - 1))
        best_val = Signal(signed(net.logit_bits))
        scan = Signal(bits_for(classes))
        # high exactly while the FSM is in RO_ARGMAX: the compare-and-keep below depends
        # on this one flip-flop, not on a decode of the state register (a timing path)
        scanning = Signal()
        # the classes after the first, shifted past the comparator one per cycle
        queue = Signal(data.ArrayLayout(signed(net.logit_bits), max(1, classes - 1)))
        candidate = queue[0]
        m.d.comb += [self.o_stream.payload.logits.eq(sat_logits),
                     self.o_stream.payload.cls.eq(best), self.o_stream.payload.cycles.eq(cycles)]

        def start_sequence():
            m.d.sync += [in_n.eq(0), in_k.eq(0), lfsr.eq(net.lfsr_seed)]
            m.d.sync += ref.eq(0)

        with m.FSM(name="network"):
            with m.State("INPUT"):
                m.d.comb += self.i_stream.ready.eq(1)
                m.d.sync += cycles.eq(0)
                with m.If(self.i_stream.valid):
                    if net.encoding == "spikes":
                        m.d.comb += [in_wr.addr.eq(Cat(in_k[:kbits], in_n[:nbits])),
                                     in_wr.data.eq(self.i_stream.payload), in_wr.en.eq(1)]
                        with m.If(in_k == T - 1):
                            m.d.sync += [in_k.eq(0), in_n.eq(in_n + 1)]
                            with m.If(in_n == N - 1):
                                m.next = "START0"
                        with m.Else():
                            m.d.sync += in_k.eq(in_k + 1)
                    elif net.encoding == "direct":
                        m.d.comb += [in_wr.addr.eq(in_n[:nbits]), in_wr.data.eq(self.i_stream.payload),
                                     in_wr.en.eq(1)]
                        m.d.sync += in_n.eq(in_n + 1)
                        with m.If(in_n == N - 1):
                            m.next = "START0"
                    else:
                        m.d.sync += [features.eq(self.i_stream.payload), in_k.eq(0)]
                        m.next = "EXPAND"
            if net.encoding in ("rate", "level"):
                with m.State("EXPAND"):
                    row = Signal(first.in_row)
                    if net.encoding == "rate":
                        state = lfsr

                        for ch in range(M):
                            draw, state = nr.lfsr_draw(state, net.x_bits, lambda v: hold(m, v))
                            m.d.comb += row[ch].eq(draw < features[ch])
                        m.d.sync += lfsr.eq(state)
                    else:
                        for ch in range(M):
                            level = nr.level_of(features[ch], net.level_shift)
                            up, down = level > ref[ch], level < ref[ch]
                            m.d.comb += [row[ch].eq(up), row[M + ch].eq(down)]
                            m.d.sync += ref[ch].eq(ref[ch] + up - down)
                    m.d.comb += [in_wr.addr.eq(Cat(in_k[:kbits], in_n[:nbits])), in_wr.data.eq(row),
                                 in_wr.en.eq(1)]
                    with m.If(in_k == T - 1):
                        m.d.sync += [in_k.eq(0), in_n.eq(in_n + 1)]
                        with m.If(in_n == N - 1):
                            m.next = "START0"
                        with m.Else():
                            m.next = "INPUT"
                    with m.Else():
                        m.d.sync += in_k.eq(in_k + 1)
            for l, layer in enumerate(layers):
                with m.State(f"START{l}"):
                    m.d.sync += cycles.eq(cycles + 1)
                    m.d.comb += layer.start.eq(1)
                    m.next = f"WAIT{l}"
                with m.State(f"WAIT{l}"):
                    m.d.sync += cycles.eq(cycles + 1)
                    with m.If(~layer.busy):
                        m.next = f"START{l + 1}" if l + 1 < net.layers else "RO_BEGIN"
            with m.State("RO_BEGIN"):
                m.d.sync += [cycles.eq(cycles + 1), ro_k.eq(0), ro_acs.eq(0)]
                for c in range(classes):
                    m.d.sync += logits[c].eq(int(params.b_out[c]))
                m.next = "RO_ADDR"
            with m.State("RO_ADDR"):
                m.d.sync += cycles.eq(cycles + 1)
                m.d.comb += last.out_addr[last_lane].eq(Cat(ro_k[:kbits], Const(last_e, last.ebits)))
                m.next = "RO_LATCH"
            with m.State("RO_LATCH"):
                m.d.sync += cycles.eq(cycles + 1)
                # the h row is registered as it leaves the bank (block RAM data arrives late)
                m.d.sync += ro_row.eq(last.out_data[last_lane])
                m.next = "RO_MASK"
            with m.State("RO_MASK"):
                m.d.sync += cycles.eq(cycles + 1)
                m.d.sync += [ro_valid.eq(0), ro_mask.eq(Cat(*[ro_row[i] != 0 for i in range(net.hidden[-1])]))]
                m.next = "RO_ACC"
            with m.State("RO_ACC"):
                m.d.sync += [cycles.eq(cycles + 1),
                             ro_cur.eq(ro_lowest), ro_valid.eq(ro_mask.any()), ro_mask.eq(ro_rest)]
                with m.If(ro_valid):
                    row = [ro_row[i] for i in range(net.hidden[-1])]
                    m.d.sync += [ro_s2.eq(1), ro_sign.eq(onehot_select(ro_cur, row, 2)),
                                 ro_acs.eq(ro_acs + classes)]
                with m.Elif(ro_mask.any()):
                    pass  # the first spike of this step is being taken
                with m.Elif(ro_k == T - 1):
                    m.next = "RO_DRAIN"
                with m.Else():
                    m.d.sync += ro_k.eq(ro_k + 1)
                    m.next = "RO_ADDR"
            with m.State("RO_DRAIN"):  # the last W_out word is added
                m.d.sync += cycles.eq(cycles + 1)
                m.next = "RO_SAT"
            with m.State("RO_SAT"):
                m.d.sync += cycles.eq(cycles + 1)
                for c in range(classes):
                    m.d.sync += sat_logits[c].eq(nr.saturate(logits[c], net.logit_bits))
                    if c:
                        m.d.sync += queue[c - 1].eq(nr.saturate(logits[c], net.logit_bits))
                m.d.sync += [best.eq(0), best_val.eq(nr.saturate(logits[0], net.logit_bits)), scan.eq(1)]
                m.d.sync += scanning.eq(int(classes > 1))
                m.next = "RO_ARGMAX" if classes > 1 else "OUTPUT"
            with m.State("RO_ARGMAX"):
                m.d.sync += [cycles.eq(cycles + 1), scan.eq(scan + 1)]
                for c in range(classes - 2):
                    m.d.sync += queue[c].eq(queue[c + 1])
                with m.If(scan == classes - 1):
                    m.d.sync += scanning.eq(0)
                    m.next = "OUTPUT"
            with m.State("OUTPUT"):
                m.d.comb += self.o_stream.valid.eq(1)
                with m.If(self.o_stream.ready):
                    start_sequence()
                    m.next = "INPUT"
        # the first-maximum scan (RO_ARGMAX): a later class wins only when strictly larger
        with m.If(scanning & (candidate > best_val)):
            m.d.sync += [best.eq(scan), best_val.eq(candidate)]
        return m


def check_fits(hw: HardwareConfig, params: NetworkParams) -> None:
    """Refuse parameters that do not belong to this hardware configuration."""
    try:
        params.validate(hw.net)
    except ConfigError as err:
        raise ConfigError(f"parameters do not fit the hardware: {err}") from None

"""Network top: input stream, encoder, stacked layers, accumulate-only readout, output stream.

Protocol. A sequence enters on ``i_stream``, one beat per row:

* ``spikes``: N x T beats, element-major, each ``M`` ternary spikes (signed 2-bit);
* ``direct``: N beats of ``M`` signed ``x_bits`` features;
* ``rate`` / ``level``: N beats of ``M`` unsigned ``x_bits`` features; the encoder
  expands each into T spike rows (T cycles, ``i_stream.ready`` low meanwhile).

After reset the network first loads its biases, start membranes, thresholds and
readout biases from the parameter ROM (:mod:`hw.param_rom`; ``i_stream.ready`` stays
low meanwhile, :func:`hw.param_rom.load_cycles` and C more cycles). Then, per
sequence, the layers run one after the other, the readout accumulates ``W_out`` columns of
the last element's non-zero h spikes, and one beat leaves on ``o_stream``: the
saturated logits, the class (first maximum) and the cycle count from the first compute
cycle to the result. Activity counters (``acs``, ``h_spikes``) hold the last sequence's
figures. The input buffer has two banks: the next sequence's beats are taken while one
computes (:class:`hw.network_control.InputBanks`, :func:`hw.latency.stream_schedule`).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from model.config import ConfigError
from model.params import NetworkParams

from .config import (COUNTER_BITS, CYCLE_BITS, HardwareConfig, beats_per_sequence, input_buffer_depth,
                     input_rows)
from .encoder import InputEncoder, banked_address
from .layer import SpikingLSTMLayer
from .network_control import InputBanks, NetworkControl
from .param_rom import ParamLoader, b_out_layout, image
from .readout import ArgmaxScan, Readout
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
    """The whole network with its weights in ROMs (see the module docstring).

    Parts (each a component with a documented signature, joined with ``wiring.connect``):
    the layers (:class:`hw.layer.SpikingLSTMLayer`, kept in ``layers`` after elaboration
    for simulation test benches), :class:`hw.encoder.InputEncoder` (the input buffer
    writes, the rate / level expansion), :class:`hw.readout.Readout` (the W_out
    accumulate and the saturation), :class:`hw.readout.ArgmaxScan` (the first maximum)
    and :class:`hw.network_control.NetworkControl` (the sequence schedule and the cycle
    count), :class:`hw.param_rom.ParamLoader` (the parameters into the layers' memories and
    registers after reset). The memories ``inbuf`` and ``w_out`` are submodules of the network itself,
    so their names stay those that :mod:`flows.activity` and :mod:`flows.energy` count.
    """

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
        L, N = hw.lanes, net.length
        layers = self.layers = []
        for l in range(net.layers):
            layer = SpikingLSTMLayer(hw, l, params.layers[l])
            m.submodules[f"layer{l}"] = layer
            layers.append(layer)
            m.d.comb += self.h_spikes[l].eq(layer.h_spikes)
        first, last = layers[0], layers[-1]

        # ---- the memories (named here: flows.activity and flows.energy count ``inbuf``
        # and ``w_out``); the input buffer is read by the lanes of layer 0 ----------------
        # two banks (hw.network_control.InputBanks): the encoder fills one while the
        # layers read the other
        depth = input_rows(hw)
        m.submodules.inbuf = inbuf = memory.Memory(shape=first.in_row, depth=input_buffer_depth(hw),
                                                   init=[])
        m.submodules.banks = banks = InputBanks()
        in_wr = inbuf.write_port()
        for l in range(L):
            rd = inbuf.read_port()
            m.d.comb += [rd.addr.eq(banked_address(first.in_addr[l], depth, banks.rbank)),
                         first.in_data[l].eq(rd.data)]
        for l in range(1, net.layers):
            below, above = layers[l - 1], layers[l]
            m.d.comb += [below.out_addr.eq(above.in_addr), above.in_data.eq(below.out_data)]
        m.submodules.w_out = w_out = memory.Memory(
            shape=data.ArrayLayout(signed(net.w_bits), net.classes), depth=net.hidden[-1],
            init=readout_rom(params), attrs=BLOCK_ROM)

        # ---- the parts ---------------------------------------------------------------------
        m.submodules.encoder = encoder = InputEncoder(
            net, beat=input_layout(hw), row=first.in_row, depth=depth)
        last_lane, last_e = (N - 1) % L, (N - 1) // L
        walk = net.reads_every_element
        m.submodules.readout = readout = Readout(
            net, element=last_e, ebits=last.ebits, sum_bits=hw.logit_sum_bits(), lanes=L,
            integrator_bits=hw.integrator_bits() if net.readout == "integrator" else None)
        m.submodules.argmax = argmax = ArgmaxScan(net.classes, signed(net.logit_bits),
                                                   first_input=net.classes > 1)
        per_element = net.readout == "element"
        m.submodules.control = ctl = NetworkControl(layers=net.layers, classes=net.classes,
                                                    per_element=per_element)

        # ---- the parameters: loaded after reset, then the layers' INIT pass; no input
        # beat is taken before ---------------------------------------------------------------
        m.submodules.params = loader = ParamLoader(hw, image(hw, params))
        for t in loader.targets:
            if t.name == "b_out":
                continue
            layer, member = t.name.split(".", 1)
            wiring.connect(m, getattr(loader, loader.port_name(t)),
                           getattr(m.submodules[layer], f"{member}_wr"))
        b_out = Signal(b_out_layout(hw), name="b_out")
        with m.If(loader.b_out.en):
            m.d.sync += b_out.eq(loader.b_out.data)
        m.d.comb += readout.b_out.eq(b_out)
        init_sent, params_ready = Signal(), Signal()
        with m.If(loader.done & ~init_sent):
            m.d.comb += [layer.init.eq(1) for layer in layers]
            m.d.sync += init_sent.eq(1)
        with m.If(init_sent & ~Cat(*[layer.busy for layer in layers]).any()):
            m.d.sync += params_ready.eq(1)
        m.d.comb += [encoder.i_stream.payload.eq(self.i_stream.payload),
                     encoder.i_stream.valid.eq(self.i_stream.valid & params_ready),
                     self.i_stream.ready.eq(encoder.i_stream.ready & params_ready)]
        wiring.connect(m, encoder.wr, in_wr)
        wiring.connect(m, readout.w_rd, w_out.read_port())
        wiring.connect(m, ctl.readout, readout.task)
        wiring.connect(m, ctl.argmax, argmax.task)
        if walk:  # every element: the same address on every lane's bank
            readout_h = [*[last.out_addr[l].eq(readout.h_addr) for l in range(L)],
                         readout.h_data.eq(last.out_data)]
        else:
            readout_h = [last.out_addr[last_lane].eq(readout.h_addr),
                         readout.h_data.eq(last.out_data[last_lane])]
        m.d.comb += [banks.loaded.eq(encoder.loaded), banks.taken.eq(ctl.taken),
                     banks.done.eq(ctl.restart), ctl.loaded.eq(banks.available),
                     encoder.restart.eq(banks.restart), encoder.bank.eq(banks.wbank),
                     *readout_h, argmax.values.eq(readout.logits)]
        if net.classes > 1:
            m.d.comb += argmax.first_beats.eq(readout.first_beats)
        if per_element:
            m.d.comb += [readout.resume.eq(ctl.resume), ctl.more.eq(readout.more)]
        for l, layer in enumerate(layers):
            m.d.comb += [layer.start.eq(ctl.layer_start[l]), ctl.layer_busy[l].eq(layer.busy)]

        # ---- the result beat and the activity ---------------------------------------------
        out = self.o_stream
        m.d.comb += [out.payload.logits.eq(argmax.held), out.payload.cls.eq(argmax.index),
                     out.payload.cycles.eq(ctl.cycles), out.valid.eq(ctl.o_valid),
                     ctl.o_ready.eq(out.ready)]
        acs_total = readout.acs
        for layer in layers:
            acs_total = acs_total + layer.acs
        m.d.comb += self.acs.eq(acs_total)
        return m


def check_fits(hw: HardwareConfig, params: NetworkParams) -> None:
    """Refuse parameters that do not belong to this hardware configuration."""
    try:
        params.validate(hw.net)
    except ConfigError as err:
        raise ConfigError(f"parameters do not fit the hardware: {err}") from None

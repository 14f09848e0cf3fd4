"""The values a bitstream patch may replace besides the weights, in one block RAM.

A retrained package changes its biases, start membranes, thresholds and readout biases
as well as its weights. Built into the logic as constants, those would need a new
synthesis; here they live in one *parameter ROM*, a block RAM that
:mod:`flows.bram` finds and rewrites like the weight ROMs. After reset,
:class:`ParamLoader` copies its words into the memories and registers that use them
(the *targets*, :func:`targets`):

* ``layer<l>.bias``: each layer's bias memory (C words of P biases; the accumulators
  restart from it);
* ``layer<l>.u0``: the start membranes (C words of Q x S values), for cells with membranes;
* ``layer<l>.theta``: the layer's thresholds (the cell's ``constant`` parameters), a
  register;
* ``b_out``: the readout biases, a register.

Layout. The ROM is :data:`DEPTH` words deep and ``36 * m`` bits wide (``m`` block RAMs
side by side, the smallest that fits, :func:`rom_width`). A word holds ``width -
tag_bits`` bits of data and, on top, a tag: 0 for a part of a target word that goes on,
``i + 1`` for the last part of a word of target ``i``. Target words are cut into parts
low bits first and stored target after target, word after word. The rest of the ROM
is *filler*: random words, the same for every package of a configuration, at least
:data:`FILLER` of them, so that every 512-bit slice of every data bit is non-zero and
distinct from all others whatever the parameters are (``ecpbram`` needs that).

The loader reads one word a cycle through :class:`hw.banked_rom.BankedROM` (registered
block RAM output), shifts each data part into a staging register and, on a tagged
word, writes the assembled word to its target. :func:`load_cycles` says how long that
takes. The layers then restart their accumulators from the loaded biases (one pass of
C cycles, :class:`hw.layer_control.LayerControl`'s INIT), and only then does the network
take its first input beat; cycle counts start at the first compute cycle, so the load
is not part of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from amaranth.hdl import Cat, Const, Module, Shape, Signal, Value, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from .banked_rom import LATENCY as ROM_LATENCY, BankedROM
from .cell import delayed
from .config import HardwareConfig
from .rom import bias_words, bits_for, u0_words

__all__ = ["Target", "targets", "theta_layout", "b_out_layout", "rom_width", "tag_bits",
           "used_words", "filler", "image", "load_cycles", "ParamLoader", "DEPTH", "FILLER",
           "BRAM_WIDTH"]

#: words of the parameter ROM: one ECP5 block RAM deep in its 36-bit mode (one bit
#: slice of :mod:`flows.bram`)
DEPTH = 512
#: bits of one block RAM in its widest mode; the ROM is a multiple of this wide
BRAM_WIDTH = 36
#: random filler words at least, at the end of the ROM
FILLER = 64
#: the seed of the filler words (the same for every package, so any two images of a
#: configuration differ only in their parameter words)
FILLER_SEED = 0x5EED


@dataclass(frozen=True)
class Target:
    """One destination of the loaded words: ``depth`` words of ``layout`` (depth 1: a
    register), ``bits`` wide; ``words(params)`` gives them as values of the layout."""
    name: str
    layout: object
    depth: int
    words: Callable = field(compare=False, repr=False)

    @property
    def bits(self) -> int:
        return Shape.cast(self.layout).width

    def signature(self) -> memory.WritePort.Signature:
        return memory.WritePort.Signature(addr_width=bits_for(self.depth - 1) if self.depth > 1 else 0,
                                          shape=self.layout)


def theta_layout(hw: HardwareConfig) -> data.StructLayout | None:
    """A layer's thresholds (the cell's ``constant`` parameters), each a list of signed
    values at its config width; ``None`` for a cell without any."""
    cell = hw.net.cell_def()
    specs = cell.by_role("constant")
    if not specs:
        return None
    return data.StructLayout({
        s.name: data.ArrayLayout(signed(getattr(hw.net, s.bits)),
                                 int(np.prod(s.shape(cell, hw.net, 0), dtype=int)))
        for s in specs})


def b_out_layout(hw: HardwareConfig) -> data.ArrayLayout:
    return data.ArrayLayout(signed(hw.net.logit_bits), hw.net.classes)


def targets(hw: HardwareConfig) -> list[Target]:
    """The loader's targets in ROM order (see the module docstring)."""
    from . import cells
    net = hw.net
    cell = net.cell_def()
    consts = cell.by_role("constant")
    out = []
    for l in range(net.layers):
        C, Q, P = hw.chunks(l), hw.neurons_per_chunk, hw.par
        out.append(Target(f"layer{l}.bias", data.ArrayLayout(signed(hw.acc_sum_bits(l)), P), C,
                          lambda params, l=l: bias_words(hw, l, params.layers[l])))
        if cell.MEMBRANES:
            out.append(Target(f"layer{l}.u0", data.ArrayLayout(cells.state_layout(net), Q), C,
                              lambda params, l=l: u0_words(hw, l, params.layers[l])))
        if consts:
            out.append(Target(f"layer{l}.theta", theta_layout(hw), 1, lambda params, l=l: [
                {s.name: np.ravel(getattr(params.layers[l], s.name)).astype(int).tolist()
                 for s in consts}]))
    out.append(Target("b_out", b_out_layout(hw), 1,
                      lambda params: [np.ravel(params.b_out).astype(int).tolist()]))
    return out


def tag_bits(hw: HardwareConfig) -> int:
    return bits_for(len(targets(hw)))


def _parts(bits: int, data_bits: int) -> int:
    return -(-bits // data_bits)


def rom_width(hw: HardwareConfig) -> int:
    """The ROM's width: the fewest block RAMs side by side whose words hold every
    target word's parts with :data:`FILLER` words to spare."""
    tb, ts = tag_bits(hw), targets(hw)
    for m in range(1, 1024):
        width = BRAM_WIDTH * m
        if width - tb < 1:
            continue
        used = sum(t.depth * _parts(t.bits, width - tb) for t in ts)
        if used <= DEPTH - FILLER:
            return width
    raise ValueError("the parameters do not fit a parameter ROM")  # pragma: no cover


def used_words(hw: HardwareConfig) -> int:
    """Words of the ROM that hold parameters (the loader reads these)."""
    width, tb = rom_width(hw), tag_bits(hw)
    return sum(t.depth * _parts(t.bits, width - tb) for t in targets(hw))


def filler(hw: HardwareConfig) -> list[int]:
    """The filler words after the parameters."""
    return _filler_words(np.random.default_rng(FILLER_SEED), DEPTH - used_words(hw), rom_width(hw))


def _filler_words(rng, count: int, width: int) -> list[int]:
    words = []
    for _ in range(count):
        value = 0
        for i in range(0, width, 32):
            value |= int(rng.integers(0, 1 << 32)) << i
        words.append(value & ((1 << width) - 1))
    return words


def image(hw: HardwareConfig, params) -> list[int]:
    """The :data:`DEPTH` words of the parameter ROM for ``params`` (see the module
    docstring), as unsigned integers ``rom_width(hw)`` bits wide."""
    width, tb = rom_width(hw), tag_bits(hw)
    dbits = width - tb
    words = []
    for i, t in enumerate(targets(hw)):
        vals = t.words(params)
        if len(vals) != t.depth:  # pragma: no cover - the layouts come from one place
            raise ValueError(f"{t.name}: {len(vals)} words for a depth of {t.depth}")
        for v in vals:
            packed = Const.cast(Value.cast(data.Layout.cast(t.layout).const(v))).value
            n = _parts(t.bits, dbits)
            for p in range(n):
                part = (packed >> (p * dbits)) & ((1 << dbits) - 1)
                words.append(part | ((i + 1 if p == n - 1 else 0) << dbits))
    return words + filler(hw)


def load_cycles(hw: HardwareConfig) -> int:
    """Cycles from reset until the loader's ``done`` is high: one read a word, the ROM's
    latency, the tag register, and ``done``'s own register."""
    return used_words(hw) + ROM_LATENCY + 2


class ParamLoader(wiring.Component):
    """Copies the parameter ROM (``words``, :func:`image`) into its targets once after
    reset.

    Members: one flipped write port signature per target, named as the target with
    dots as underscores (``layer0_bias``, ..., ``b_out``; a register target has no
    address), and ``done`` (out): every word is written (a register, high until the
    next reset).
    """

    def __init__(self, hw: HardwareConfig, words: list[int]):
        self.hw, self.words = hw, list(words)
        self.targets = targets(hw)
        self.width, self.tag_bits = rom_width(hw), tag_bits(hw)
        self.used = used_words(hw)
        if len(self.words) != DEPTH:
            self._MustUse__silence = True
            raise ValueError(f"a parameter ROM of {len(self.words)} words, not {DEPTH}")
        super().__init__({"done": Out(1),
                          **{self.port_name(t): In(t.signature()) for t in self.targets}})

    @staticmethod
    def port_name(target: Target) -> str:
        return target.name.replace(".", "_")

    def elaborate(self, platform):
        m = Module()
        dbits, K = self.width - self.tag_bits, self.used
        # one word of one entry: BankedROM takes a layout (its banks are block RAMs
        # with registered outputs)
        m.submodules.rom = rom = BankedROM(data.ArrayLayout(unsigned(self.width), 1),
                                           [[w] for w in self.words])
        word = rom.data.as_value()
        addr = Signal(range(K + 1))
        issue = Signal()
        m.d.comb += [issue.eq(addr != K), rom.addr.eq(addr[:len(rom.addr)])]
        with m.If(issue):
            m.d.sync += addr.eq(addr + 1)
        # the issue flags, aligned with the ROM's data
        valid = delayed(m, issue, ROM_LATENCY, "valid", reset_less=False)
        parts = [_parts(t.bits, dbits) for t in self.targets]
        staging = Signal(max(parts) * dbits)
        tag = Signal(self.tag_bits)
        m.d.sync += tag.eq(0)
        with m.If(valid[-1]):
            m.d.sync += [staging.eq(Cat(staging[dbits:], word[:dbits])),
                         tag.eq(word[dbits:])]
        top = len(staging)
        for i, (t, n) in enumerate(zip(self.targets, parts)):
            port = getattr(self, self.port_name(t))
            m.d.comb += [port.en.eq(tag == i + 1),
                         port.data.eq(staging[top - n * dbits:top - n * dbits + t.bits])]
            if t.depth > 1:
                taddr = Signal(len(port.addr), name=f"addr_{self.port_name(t)}")
                m.d.comb += port.addr.eq(taddr)
                with m.If(port.en):
                    m.d.sync += taddr.eq(taddr + 1)
        with m.If(~Cat(*valid).any() & (tag == 0)):
            m.d.sync += self.done.eq(1)
        return m

"""A package's parameters in an ECP5 bitstream's block RAM, replaceable without synthesis.

Every integer of a package lives in a block RAM: each layer's weight ROM, the readout
ROM and the parameter ROM (:mod:`hw.param_rom`: biases, start membranes, thresholds,
readout biases, copied into the logic's memories and registers after reset). Nothing
else in the netlist depends on them, so any package of the same configuration patches in.

The flow synthesizes the design with *placeholder* contents: a random package of the
configuration (:func:`placeholder_params`), whose ROM words make every bit column of
every ROM distinct, and yosys finds nothing constant to trim. After place and route
the real words go into the textual configuration with ``ecpbram``; ``make weights``
does the same later with another weights package of the same configuration.

How a ROM is found in the configuration. For one data bit of a memory, 512 consecutive
words form a 512-bit *slice*; each block RAM holds its contents as slices, whatever
width mode yosys chose for it (1 to 36 bits). ``ecpbram`` looks up every slice of
every block RAM among the slices of the "from" words and writes the matching slice of
the "to" words. :func:`find_slices` reads the same slices back from a configuration,
so the flow can prove that every slice was replaced and a test can read a bitstream
(through ``ecpunpack``) and check the words it holds.

Only the configuration (sizes, widths, cell, encoding, lanes and P) is built into the
logic; :mod:`flows.weights` refuses a package whose configuration differs.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hw.config import HardwareConfig
from hw.param_rom import image as param_image, rom_width as param_rom_width
from hw.rom import readout_rom, weight_rom
from model import numerics as nr
from model.params import NetworkParams

from .tools import find_tool

__all__ = ["PatchableROM", "patchable_roms", "placeholder_params",
           "patch_config", "find_slices", "BramError"]

SLICE = 512
#: block RAM width modes: (data bits, bits used per 9-bit config word, slices per block)
_MODES = ((1, 8, 32), (2, 8, 32), (4, 8, 32), (9, 9, 36), (18, 9, 36), (36, 9, 36))


class BramError(RuntimeError):
    """Block RAM contents could not be replaced or verified."""


@dataclass(frozen=True)
class PatchableROM:
    """One ROM's words: ``elements`` signed ``bits``-wide values per word."""
    name: str
    words: tuple[tuple[int, ...], ...]
    bits: int

    @property
    def width(self) -> int:
        return len(self.words[0]) * self.bits

    def packed(self) -> list[int]:
        mask = (1 << self.bits) - 1
        out = []
        for word in self.words:
            value = 0
            for i, v in enumerate(word):
                value |= (int(v) & mask) << (i * self.bits)
            out.append(value)
        return out

    def slices(self):
        """``(element, bit, part, slice)`` for every 512-word part of every data bit
        (the words zero-padded to whole parts)."""
        packed = self.packed()
        depth = -(-len(packed) // SLICE) * SLICE
        rows = packed + [0] * (depth - len(packed))
        for pos in range(self.width):
            column = [(r >> pos) & 1 for r in rows]
            for part in range(depth // SLICE):
                yield pos // self.bits, pos % self.bits, part, tuple(column[part * SLICE:(part + 1) * SLICE])

    def columns(self) -> list[tuple[int, ...]]:
        return [s[-1] for s in self.slices()]


def patchable_roms(hw: HardwareConfig, params: NetworkParams) -> list[PatchableROM]:
    """The ROMs :mod:`flows.bram` can replace, as the hardware lays them out."""
    bits = hw.net.w_bits
    roms = [PatchableROM(f"layer{l}.weights", tuple(map(tuple, weight_rom(hw, l, lp))), bits)
            for l, lp in enumerate(params.layers)]
    roms.append(PatchableROM("w_out", tuple(map(tuple, readout_rom(params))), bits))
    roms.append(PatchableROM("params", tuple((w,) for w in param_image(hw, params)),
                             param_rom_width(hw)))
    return roms


def placeholder_params(hw: HardwareConfig, seed: int = 1, tries: int = 200) -> NetworkParams:
    """A random package of ``hw``'s configuration: the thresholds, biases and start values of
    :func:`model.params.random_params` at ``seed``, and full-range random weights drawn
    until every 512-word bit slice of every ROM is non-zero and distinct from all
    others (``ecpbram`` needs that to find each one; the parameter ROM's filler words
    see to it there)."""
    from model.params import random_params
    params = random_params(hw.net, seed)
    rng = np.random.default_rng(seed)
    lo, hi = nr.signed_range(hw.net.w_bits)
    q_per = hw.neurons_per_chunk

    def rand(shape):
        return rng.integers(lo, hi, size=shape, endpoint=True)

    layers = [[rand(np.shape(lp.w_x)), rand(np.shape(lp.w_h))] for lp in params.layers]
    w_out = rand(np.shape(params.w_out))
    for _ in range(tries):
        ph = replace(params, w_out=w_out.astype(np.asarray(params.w_out).dtype),
                     layers=[lp.replace(w_x=wx.astype(np.asarray(lp.w_x).dtype),
                                     w_h=wh.astype(np.asarray(lp.w_h).dtype))
                             for lp, (wx, wh) in zip(params.layers, layers)])
        seen, redo = set(), set()
        for r, rom in enumerate(patchable_roms(hw, ph)):
            for element, bit, part, column in rom.slices():
                if not any(column) or column in seen:
                    redo.add((r, element))
                seen.add(column)
        if not redo:
            return ph
        if any(r > len(layers) for r, _ in redo):
            break  # the parameter ROM: its filler words, not the weights, tell it apart
        for r, element in redo:  # draw that element's weights again, in every word
            if r == len(layers):
                w_out[element] = rand(w_out.shape[1])
                continue
            q, a = divmod(element, hw.gates)
            wx, wh = layers[r]
            for neuron in range(q, wx.shape[1], q_per):
                wx[a, neuron] = rand(wx.shape[2])
                wh[a, neuron] = rand(wh.shape[2])
    raise BramError(f"could not make distinct placeholder ROM contents in {tries} tries "
                    "(a ROM too shallow to tell its bit columns apart)")


def _hexfile(path: Path, words: list[int], width: int, pad_bits: list[int]) -> None:
    digits = -(-width // 4)
    depth = -(-len(words) // SLICE) * SLICE
    with open(path, "w") as f:
        for i in range(depth):
            value = words[i] if i < len(words) else 0
            value |= pad_bits[i] << width if i < len(words) else 0
            f.write(f"{value:0{digits}x}\n")


def patch_config(config_in: Path, config_out: Path, old: list[PatchableROM],
                 new: list[PatchableROM], *, seed: int = 7) -> dict:
    """Replace ``old`` ROM words by ``new`` ones in a textual configuration.

    Writes ``config_out`` atomically and returns ``{rom name: slices replaced}``. Every
    slice of the old contents must be found once and none may be left afterwards.
    """
    config_in, config_out = Path(config_in), Path(config_out)
    have = find_slices(config_in.read_text())
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(dir=config_out.parent) as tmp:
        tmp = Path(tmp)
        # the tools run in the temporary folder with relative paths (a YoWASP tool sees
        # its working folder; absolute paths of other folders may not resolve)
        current = tmp / "in.config"
        current.write_text(config_in.read_text())
        counts = {}
        for i, (a, b) in enumerate(zip(old, new)):
            if a.name != b.name or len(a.words) != len(b.words) or a.width != b.width:
                raise BramError(f"ROM {a.name}: the new contents have another shape")
            wanted = a.columns()
            missing = sum(1 for c in wanted if have.get(c, 0) != 1)
            if missing:
                raise BramError(f"ROM {a.name}: {missing} of {len(wanted)} bit slices of the built "
                                "contents are not in block RAM exactly once (was it mapped to "
                                "logic, or built from other placeholders?)")
            # padding bits up to whole hex digits: random in "from" so they match nothing
            pad = (-a.width) % 4
            pad_from = [int(v) for v in rng.integers(0, 1 << pad, size=len(a.words))] if pad else [0] * len(a.words)
            f_hex, t_hex = tmp / f"{i}.from.hex", tmp / f"{i}.to.hex"
            _hexfile(f_hex, a.packed(), a.width, pad_from)
            _hexfile(t_hex, b.packed(), b.width, [0] * len(b.words))
            out = tmp / f"{i}.config"
            proc = subprocess.run(find_tool("ecpbram") + ["-i", current.name, "-o", out.name,
                                                      "-f", f_hex.name, "-t", t_hex.name],
                                  capture_output=True, text=True, cwd=tmp)
            if proc.returncode != 0:
                raise BramError(f"ecpbram failed on ROM {a.name}: {proc.stderr.strip()[-500:]}")
            counts[a.name] = len(wanted)
            current = out
        text = current.read_text()
        after = find_slices(text)
        for a, b in zip(old, new):
            lost = [c for c in b.columns() if any(c) and c not in after]
            if lost:
                raise BramError(f"ROM {b.name}: {len(lost)} bit slices of the new contents are "
                                "missing after the patch")
        final = tmp / "final.config"
        final.write_text(text)
        os.replace(final, config_out)
    return counts


def find_slices(config_text: str) -> dict[tuple[int, ...], int]:
    """Every 512-bit slice of every block RAM in a textual configuration, counted.

    A block RAM's ``.bram_init`` holds 2048 nine-bit words. In a mode of ``w`` data bits,
    data bit ``b`` of word ``k`` of the 512-word part ``p`` sits at bit
    ``k*w + b + p*512*w`` of the RAM, packed 8 bits to a config word in the narrow modes
    and 9 in the others.
    """
    counts: dict[tuple[int, ...], int] = {}
    lines = config_text.splitlines()
    i = 0
    k = np.arange(SLICE)
    while i < len(lines):
        if not lines[i].startswith(".bram_init"):
            i += 1
            continue
        values = []
        i += 1
        while i < len(lines) and lines[i] and not lines[i].startswith("."):
            values.extend(int(v, 16) for v in lines[i].split())
            i += 1
        words = np.array(values, dtype=np.int64)
        for w, per_word, slices in _MODES:
            for j in range(slices):
                bn = k * w + (j % w) + (j // w) * SLICE * w
                bits = (words[bn // per_word] >> (bn % per_word)) & 1
                key = tuple(int(v) for v in bits)
                counts[key] = counts.get(key, 0) + 1
    return counts

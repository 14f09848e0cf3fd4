"""Memory layouts: how integer parameters are laid out in the generated ROMs.

Accumulators, weights, biases and start values are stored in chunks: chunk ``c`` of a
layer holds neurons ``c*Q .. c*Q + Q - 1`` with their G gate rows, entry ``q*G + a``
(neuron-major, in the cell's gate order; Datta: f, i, o, g). Start values hold the S
membranes of each neuron, entry ``q*S + m``. Nothing here depends on which cell it is
beyond G, S and the names of its parameters (:mod:`model.cells`). Addresses that combine two indices are concatenations
(``{j, c}``: ``j << chunk_bits | c``), so no address needs a multiplier; the unused
words of the padding are zero.
"""

from __future__ import annotations

import numpy as np

from model.cells import start_values
from model.params import LayerParams, NetworkParams

from .config import HardwareConfig, bits_for  # bits_for: kept importable from here

__all__ = ["BLOCK_ROM", "WEIGHT_BANK", "bits_for", "weight_rom", "weight_banks", "bias_words", "u0_words",
           "readout_rom", "memories"]


#: synthesis attributes of the weight ROMs: block RAM even when small, so that a
#: bitstream's weights can be replaced (see :mod:`flows.bram`)
BLOCK_ROM = {"ram_style": "block", "rom_style": "block"}


#: words per bank of a weight ROM (see :mod:`hw.banked_rom`)
WEIGHT_BANK = 512


def _chunked_gates(arr_gh: np.ndarray, chunks: int, q: int) -> list[list[int]]:
    """``[G, H]`` gate-major values -> one list of ``Q*G`` entries per chunk."""
    arr_gh = np.asarray(arr_gh)
    neuron_major = arr_gh.T.reshape(chunks, q * arr_gh.shape[0])  # [H, G] -> chunks
    return neuron_major.astype(int).tolist()


def weight_rom(hw: HardwareConfig, layer: int, lp: LayerParams) -> list[list[int]]:
    """Weight ROM of a layer: word ``{j, c}`` is chunk c of input column j.

    Columns ``0 .. M_in-1`` are the layer inputs, ``M_in .. M_in+H-1`` the recurrent h.
    """
    chunks, q = hw.chunks(layer), hw.neurons_per_chunk
    cbits = bits_for(chunks - 1)
    columns = np.concatenate([lp.w_x, lp.w_h], axis=2)  # [G, H, M_in + H]
    words = []
    zero = [0] * (q * columns.shape[0])
    for j in range(columns.shape[2]):
        col = _chunked_gates(columns[:, :, j], chunks, q)
        words.extend(col + [zero] * ((1 << cbits) - chunks))
    return words


def weight_banks(words: list) -> list[list]:
    """The weight ROM's words in banks of :data:`WEIGHT_BANK` (the last one may be
    shorter): bank ``b`` holds the words at addresses ``b*WEIGHT_BANK ...``."""
    return [words[i:i + WEIGHT_BANK] for i in range(0, len(words), WEIGHT_BANK)]


def bias_words(hw: HardwareConfig, layer: int, lp: LayerParams) -> list[list[int]]:
    return _chunked_gates(lp.bias, hw.chunks(layer), hw.neurons_per_chunk)


def u0_words(hw: HardwareConfig, layer: int, lp: LayerParams) -> list[list[list[int]]]:
    """Start membranes per chunk: ``[q][m]`` for the chunk's Q neurons, S membranes each."""
    chunks, q = hw.chunks(layer), hw.neurons_per_chunk
    start = start_values(hw.net.cell_def(), hw.net, layer, lp)
    return start.T.reshape(chunks, q, start.shape[0]).astype(int).tolist()


def readout_rom(params: NetworkParams) -> list[list[int]]:
    """Readout weights: word j holds ``W_out[:, j]`` (one weight per class)."""
    return np.asarray(params.w_out).T.astype(int).tolist()


def _pack(entries, bits: int) -> int:
    mask = (1 << bits) - 1
    word = 0
    for e, v in enumerate(entries):
        word |= (int(v) & mask) << (e * bits)
    return word


def memories(cfg, params: NetworkParams, par: int) -> list[dict]:
    """The ROM images of a network for parallelism ``par``, as a weights package stores
    them (:mod:`model.export`): name, entry width, entries per word, a description of
    the layout, and the words (entry 0 in the low bits, two's complement)."""
    hw = HardwareConfig(cfg, lanes=1, par=par)
    cell = cfg.cell_def()
    gates, membranes = ", ".join(cell.GATES), ", ".join(cell.MEMBRANES)
    g, s = len(cell.GATES), len(cell.MEMBRANES)
    start = cell.by_role("start")
    consts = cell.by_role("constant")
    mems = []

    def add(name, bits, words, layout):
        words = [list(np.ravel(w)) for w in words]
        per_word = len(words[0]) if words else 0
        mems.append({"name": name, "entry_bits": bits, "entries": per_word,
                     "width": bits * per_word, "depth": len(words), "layout": layout,
                     "words": [_pack(w, bits) for w in words]})

    for l, lp in enumerate(params.layers):
        add(f"l{l}_weights", cfg.w_bits, weight_rom(hw, l, lp),
            "address {j, c}: chunk c of input column j (inputs, then recurrent h); "
            f"entry q*{g}+a: gate a ({gates}) of neuron c*Q+q")
        add(f"l{l}_bias", cfg.acc_bits, bias_words(hw, l, lp), f"word c: entry q*{g}+a as in weights")
        if start:
            add(f"l{l}_{start[0].name}", getattr(cfg, start[0].bits), u0_words(hw, l, lp),
                f"word c: entry q*{s}+m: membrane m ({membranes}) of neuron c*Q+q")
        if consts:
            add(f"l{l}_thresholds", getattr(cfg, consts[0].bits), [getattr(lp, c.name) for c in consts],
                ", ".join(f"word {i}: {c.name}" for i, c in enumerate(consts))
                + f"; entry m: membrane m ({membranes})")
    add("readout_weights", cfg.w_bits, readout_rom(params), "word j: W_out[:, j], entry = class")
    add("readout_bias", cfg.logit_bits, [params.b_out], "word 0: b_out, entry = class")
    return mems

"""Memory layouts: how integer parameters are laid out in the generated ROMs.

Accumulators, weights, biases and start values are stored in chunks: chunk ``c`` of a
layer holds neurons ``c*Q .. c*Q + Q - 1`` with their four gates, entry ``q*4 + a``
(neuron-major, gate order f, i, o, g). Start values hold the five membranes of each
neuron, entry ``q*5 + m``. Addresses that combine two indices are concatenations
(``{j, c}``: ``j << chunk_bits | c``), so no address needs a multiplier; the unused
words of the padding are zero.
"""

from __future__ import annotations

import numpy as np

from model.params import LayerParams, NetworkParams

from .config import HardwareConfig

__all__ = ["BLOCK_ROM", "WEIGHT_BANK", "bits_for", "weight_rom", "weight_banks", "bias_words", "u0_words",
           "readout_rom"]


#: synthesis attributes of the weight ROMs: block RAM even when small, so that a
#: bitstream's weights can be replaced (see :mod:`flows.bram`)
BLOCK_ROM = {"ram_style": "block", "rom_style": "block"}


#: words per bank of a weight ROM (see :mod:`hw.banked_rom`)
WEIGHT_BANK = 512


def bits_for(max_value: int) -> int:
    """Bits of an unsigned counter that reaches ``max_value`` (at least 1)."""
    return max(1, int(max_value).bit_length())


def _chunked_gates(arr_4h: np.ndarray, chunks: int, q: int) -> list[list[int]]:
    """``[4, H]`` gate-major values -> one list of ``Q*4`` entries per chunk."""
    neuron_major = np.asarray(arr_4h).T.reshape(chunks, q * 4)  # [H, 4] -> chunks
    return neuron_major.astype(int).tolist()


def weight_rom(hw: HardwareConfig, layer: int, lp: LayerParams) -> list[list[int]]:
    """Weight ROM of a layer: word ``{j, c}`` is chunk c of input column j.

    Columns ``0 .. M_in-1`` are the layer inputs, ``M_in .. M_in+H-1`` the recurrent h.
    """
    chunks, q = hw.chunks(layer), hw.neurons_per_chunk
    cbits = bits_for(chunks - 1)
    columns = np.concatenate([lp.w_x, lp.w_h], axis=2)  # [4, H, M_in + H]
    words = []
    zero = [0] * (q * 4)
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
    """Start membranes per chunk: ``[q][m]`` for the chunk's Q neurons, 5 membranes each."""
    chunks, q = hw.chunks(layer), hw.neurons_per_chunk
    return np.asarray(lp.u0).T.reshape(chunks, q, 5).astype(int).tolist()


def readout_rom(params: NetworkParams) -> list[list[int]]:
    """Readout weights: word j holds ``W_out[:, j]`` (one weight per class)."""
    return np.asarray(params.w_out).T.astype(int).tolist()

"""The memories the generator builds: word width, depth, instances, ROM or RAM.

One fact, used by the energy model (:mod:`flows.energy`) and the reports; the names
follow the layer (:mod:`hw.layer`) and the network (:mod:`hw.network`). Widths come
from the cell's G gate rows, S membranes and carried values (:mod:`model.cells`).
"""

from __future__ import annotations

from .config import HardwareConfig
from .config import input_buffer_depth, input_kind
from .rom import bits_for

__all__ = ["memory_layout"]


def memory_layout(hw: HardwareConfig) -> dict[str, dict]:
    """Word width, depth and instance count of every memory the generator builds."""
    net = hw.net
    cell = net.cell_def()
    states = len(cell.MEMBRANES)
    carry_bits = sum(cell.carry_bits(net, bits) for _, bits in cell.CARRY)
    out = {}
    kbits = bits_for(net.steps - 1)
    for l in range(net.layers):
        h, m_in = net.hidden[l], net.layer_inputs(l)
        c, q, p = hw.chunks(l), hw.neurons_per_chunk, hw.par
        cbits = bits_for(c - 1)
        z = hw.acc_sum_bits(l)
        per_lane = -(-net.length // hw.lanes)
        out[f"layer{l}.weights"] = {"word_bits": p * net.w_bits, "depth": (m_in + h) << cbits, "instances": 1, "kind": "rom"}
        out[f"layer{l}.bias"] = {"word_bits": p * z, "depth": c, "instances": 1, "kind": "rom"}
        if states:  # a cell with membranes: their start values and (below) their state memory
            out[f"layer{l}.u0"] = {"word_bits": q * states * net.u_bits, "depth": c, "instances": 1, "kind": "rom"}
        out[f"layer{l}.acc"] = {"word_bits": p * z, "depth": c, "instances": hw.lanes, "kind": "ram"}
        if states:
            out[f"layer{l}.membranes"] = {"word_bits": q * states * net.u_bits, "depth": c, "instances": hw.lanes, "kind": "ram"}
        if carry_bits:
            out[f"layer{l}.cstate"] = {"word_bits": q * carry_bits, "depth": net.steps << cbits, "instances": hw.lanes, "kind": "ram"}
        out[f"layer{l}.bank"] = {"word_bits": hw.h_bits * h, "depth": per_lane << kbits, "instances": hw.lanes, "kind": "ram"}
    # the input buffer: two banks of a sequence's rows (hw.network_control.InputBanks)
    word = net.inputs * net.x_bits if input_kind(hw, 0) == "features" else 2 * net.layer_inputs(0)
    out["inbuf"] = {"word_bits": word, "depth": input_buffer_depth(hw), "instances": 1, "kind": "ram"}
    if net.encoding == "rate":  # the encoder's draws, one word per row (hw.encoder)
        out["draws"] = {"word_bits": net.inputs * net.x_bits, "depth": net.length << kbits,
                        "instances": 1, "kind": "rom"}
    out["w_out"] = {"word_bits": net.classes * net.w_bits, "depth": net.hidden[-1], "instances": 1, "kind": "rom"}
    for mem in out.values():
        mem["capacity_bits"] = mem["word_bits"] * mem["depth"]
    return out

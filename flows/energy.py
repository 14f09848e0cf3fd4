"""Energy per inference, estimated two ways.

(a) :func:`operation_energy`: operation counts times per-operation energies from
Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014
(45 nm, 0.9 V). The counts come from the golden model's statistics
(:func:`model.golden.run` ``.stats``) and from :func:`memory_reads`, which replays the
layer controller's schedule (:func:`hw.latency.schedule`) on the golden spikes and
counts every memory word the datapath reads or writes.

(b) :func:`activity_energy`: an FPGA estimate from the toggle and memory-access counts
that :func:`flows.activity.measure_activity` takes from a simulation of the generated
hardware on real inputs, times per-toggle / per-access energies for the device family,
plus the device's static power over the time the inference takes.

Every constant lives in :data:`CONSTANTS`, each with its source; those that are
assumptions (no public figure found) say so with ``assumed=True`` and a reason.

Width scaling (a). Horowitz publishes each integer operation at 8 and 32 bits. For
any other width ``w`` the energy follows the power law through those two points,
``E(w) = E8 * (w / 8) ** p`` with ``p = log(E32 / E8) / log(4)``: exact at both
published points, about linear in width for adders (p = 0.87) and about quadratic for
multipliers (p = 1.98), as the circuits are. A comparison is charged as an add of the
compared width (it is a subtraction whose sign is kept). SRAM reads are published for
a 64-bit word from arrays of 8 KB, 32 KB and 1 MB; a read of a ``b``-bit word costs
``b / 64`` of the 64-bit figure of the array size, interpolated log-log between the
published sizes and extrapolated with the nearest segment's slope outside them. Below
8 KB that slope is 0.5 (energy ~ sqrt(capacity), 10 pJ at 8 KB, 20 pJ at 32 KB), the
bit-line and word-line length rule; the generator's small per-lane memories (a few
hundred bits to a few Kbit) lie there, so their figures are extrapolations. A write is
charged like a read (assumption: Horowitz lists reads only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hw.config import HardwareConfig
from hw.latency import round_events, schedule
from hw.config import input_kind
from hw.memory_map import memory_layout
from hw.rom import bits_for
from model import golden
from model import numerics as nr
from model.encoding import encode

__all__ = ["Constant", "CONSTANTS", "FAMILIES", "add_pj", "mult_pj", "sram_pj",
           "memory_layout", "memory_reads", "operation_energy", "family_energies",
           "static_power_w", "activity_energy", "constants_table"]

HOROWITZ = ("M. Horowitz, 'Computing's energy problem (and what we can do about it)', "
            "ISSCC 2014, table of operation energies (45 nm, 0.9 V)")
SHANG = ("L. Shang, A. Kaviani, K. Bathala, 'Dynamic power consumption in Virtex-II FPGA "
         "family', FPGA 2002 (abstract): a Virtex-II CLB dissipates 5.9 uW/MHz in typical "
         "designs; routing 60 %, logic 16 %, clocking 14 % of dynamic power")
VIRTEX2_DS = "Xilinx DS031 Virtex-II data sheet: a CLB is 4 slices of 2 LUT4 + 2 flip-flops"
XPE_TOGGLE = ("Xilinx Power Estimator user guide (UG440 / UG1275, Logic sheet): default "
              "toggle rate 12.5 %, one transition every eight cycles")


@dataclass(frozen=True)
class Constant:
    value: float
    unit: str
    source: str
    assumed: bool = False


CONSTANTS: dict[str, Constant] = {
    # -- (a) per-operation energies ----------------------------------------------------
    "add8": Constant(0.03, "pJ", HOROWITZ + ": 8-bit integer add"),
    "add32": Constant(0.1, "pJ", HOROWITZ + ": 32-bit integer add"),
    "mult8": Constant(0.2, "pJ", HOROWITZ + ": 8-bit integer multiply"),
    "mult32": Constant(3.1, "pJ", HOROWITZ + ": 32-bit integer multiply"),
    "sram_8kb_64b": Constant(10.0, "pJ", HOROWITZ + ": 64-bit read, 8 KB SRAM"),
    "sram_32kb_64b": Constant(20.0, "pJ", HOROWITZ + ": 64-bit read, 32 KB SRAM"),
    "sram_1mb_64b": Constant(100.0, "pJ", HOROWITZ + ": 64-bit read, 1 MB SRAM"),
    "horowitz_node": Constant(45.0, "nm", HOROWITZ),
    "horowitz_vdd": Constant(0.9, "V", HOROWITZ),
    # -- (b) FPGA fabric, from a measured reference device, scaled by process ----------
    "virtex2_clb_dynamic": Constant(5.9, "pJ per CLB per cycle (uW/MHz)", SHANG),
    "virtex2_share_routing": Constant(0.60, "fraction", SHANG),
    "virtex2_share_logic": Constant(0.16, "fraction", SHANG),
    "virtex2_share_clock": Constant(0.14, "fraction", SHANG),
    "virtex2_nets_per_clb": Constant(16, "nets", VIRTEX2_DS + " (8 LUT + 8 FF outputs)"),
    "virtex2_ffs_per_clb": Constant(8, "flip-flops", VIRTEX2_DS),
    "virtex2_node": Constant(150.0, "nm", "Virtex-II: 0.15 um, 8-layer metal (DS031)"),
    "virtex2_vdd": Constant(1.5, "V", "Virtex-II VCCINT 1.5 V (DS031)"),
    "typical_toggle_rate": Constant(
        0.125, "transitions per net per cycle",
        XPE_TOGGLE + "; ASSUMED to be the activity behind Shang's 'typical designs' figure "
        "(the abstract does not state it)", assumed=True),
    # -- device families ---------------------------------------------------------------
    "ecp5_node": Constant(40.0, "nm", "Lattice ECP5 family data sheet FPGA-DS-02012: 40 nm process"),
    "ecp5_vcc": Constant(1.1, "V", "Lattice ECP5 family data sheet FPGA-DS-02012: core VCC 1.1 V"),
    "ecp5_icc_static_85f": Constant(
        0.212, "A",
        "ECP5 core (VCC 1.1 V) supply current of the 85F, 212 mA (77 mA for the 12F), as "
        "quoted from the ECP5 data sheet in github.com/butterstick-fpga/butterstick-hardware "
        "issue 2; taken as the static core current (ASSUMED: the quote does not separate "
        "static from typical design current)", assumed=True),
    "ecp5_ff_toggle_measured": Constant(
        0.25, "pJ per flip-flop toggle",
        "MEASURED on a ULX3S (LFE5U-85F): a flip-flop toggling every cycle drew about 25 uW at "
        "100 MHz above the board's idle 0.2 W, regulator losses included (project "
        "targeted/fpga-reg-power); charged to register toggles on ECP5"),
    "ecp5_luts_85f": Constant(83640, "LUT4", "LFE5U-85F: 84k LUTs (ECP5 data sheet family table)"),
    "xc7_node": Constant(28.0, "nm", "Xilinx WP389 'Lowering power at 28 nm with Xilinx 7 series': TSMC 28 nm HPL"),
    "xc7_vccint": Constant(1.0, "V", "Xilinx DS182 Kintex-7 data sheet: VCCINT 1.0 V"),
    "xc7_static_ref": Constant(
        0.163, "W",
        "Vivado report_power 'Device Static 0.163 W' of an XC7A200T (133800 LUTs, same "
        "28 nm HPL process) at 29.6 C junction, github.com/enjoy-digital/litex_m2sdr issue 22; "
        "ASSUMED to scale with the device's LUT count (Kintex-7 leaks more per LUT than "
        "Artix-7, so this is optimistic)", assumed=True),
    "xc7_static_ref_luts": Constant(133800, "LUT6", "XC7A200T LUT count (same report)"),
}

#: The process node and core supply of each family (names of entries in CONSTANTS).
FAMILIES = {
    "ecp5": {"node": "ecp5_node", "vdd": "ecp5_vcc", "core": "ECP5 (40 nm, VCC 1.1 V)"},
    "xilinx": {"node": "xc7_node", "vdd": "xc7_vccint", "core": "7-series (28 nm, VCCINT 1.0 V)"},
}


def _c(name: str) -> float:
    return CONSTANTS[name].value


def constants_table() -> list[dict]:
    """Every constant as ``{name, value, unit, source, assumed}`` (for reports)."""
    return [{"name": k, "value": c.value, "unit": c.unit, "source": c.source,
             "assumed": c.assumed} for k, c in CONSTANTS.items()]


# ---- (a) operations ------------------------------------------------------------------------

def _power_law(bits: float, e8: float, e32: float) -> float:
    if bits <= 0:
        raise ValueError(f"operand width must be positive, got {bits}")
    p = math.log(e32 / e8) / math.log(4.0)
    return e8 * (bits / 8.0) ** p


def add_pj(bits: float) -> float:
    """Energy of one integer add (or compare) ``bits`` wide, in pJ."""
    return _power_law(bits, _c("add8"), _c("add32"))


def mult_pj(bits: float) -> float:
    """Energy of one integer multiply with ``bits``-wide operands, in pJ."""
    return _power_law(bits, _c("mult8"), _c("mult32"))


_SRAM_POINTS = ((8 * 1024 * 8, "sram_8kb_64b"), (32 * 1024 * 8, "sram_32kb_64b"),
                (1024 * 1024 * 8, "sram_1mb_64b"))


def sram_pj(word_bits: int, capacity_bits: int) -> float:
    """Energy of reading one ``word_bits`` word from an SRAM of ``capacity_bits``, in pJ."""
    if word_bits <= 0 or capacity_bits <= 0:
        raise ValueError(f"word and capacity must be positive, got {word_bits}, {capacity_bits}")
    points = [(cap, _c(name)) for cap, name in _SRAM_POINTS]
    segments = list(zip(points, points[1:]))
    # the segment whose range holds the capacity; the first and last extend outward
    (c0, e0), (c1, e1) = next((seg for seg in segments if capacity_bits <= seg[1][0]), segments[-1])
    p = math.log(e1 / e0) / math.log(c1 / c0)
    return e0 * (capacity_bits / c0) ** p * word_bits / 64.0


def memory_reads(hw: HardwareConfig, params, x) -> dict:
    """Memory words read and written for a batch of raw inputs ``x``, per memory.

    The golden model gives the spikes; :func:`hw.latency.schedule` gives the rounds of
    cells the layer controller fires. Per layer and round, with ``E`` the events of the
    round (non-zero input or recurrent positions in any firing lane), ``C`` chunks and
    ``L`` lanes, the hardware (:mod:`hw.layer`) does:

    * ``weights``: E*C reads (one P-weight word per event and chunk, shared by lanes);
    * ``acc``: E*C reads and writes in *every* lane (the accumulate write is not gated
      by ``fire``; idle lanes add zero), plus C reads (the cell step's z) and C writes
      (reset to the bias) per firing lane; ``bias``: C reads per round;
    * ``u0``: C reads per round in which a firing cell has k = 0; ``membranes``: C
      reads per firing cell with k > 0, C writes per firing cell;
    * ``cstate``: C reads (c of the previous element, in the previous lane) per firing
      cell with n > 0, C writes per firing cell;
    * ``bank``: one write per firing cell; one recurrent read per firing cell with
      n > 0; one read per cell of the layer above (its input row); T reads by the readout;
    * ``inbuf``: the input rows written while the sequence streams in, one read per
      firing cell of layer 0; ``draws`` (rate coding): one read per row (n, k);
      ``w_out``: one read per non-zero h of the last element.

    Reads the ports make while nothing uses the data (the read ports are always
    enabled) are not counted here; :mod:`flows.activity` counts those.
    Returns totals over the batch (JSON-able).
    """
    net = hw.net
    res = golden.run(net, params, x)
    enc = encode(net, x)
    batch = enc.shape[0]
    layout = memory_layout(hw)
    counts = {name: {"reads": 0, "writes": 0} for name in layout}
    rounds = schedule(hw.lanes, net.steps, net.length)
    events_per_layer = [0] * net.layers
    for l in range(net.layers):
        c = hw.chunks(l)
        if l == 0:
            x_nz = enc != 0
            if x_nz.ndim == 3:  # direct features, the same at every step
                x_nz = np.broadcast_to(x_nz[:, :, None, :], (batch, net.length, net.steps, x_nz.shape[-1]))
        else:
            x_nz = res.layers[l - 1].h != 0
        h_nz = res.layers[l].h != 0
        for b in range(batch):
            events_per_layer[l] += sum(round_events(x_nz[b], h_nz[b], rounds))
        fired = len([cell for cells in rounds for cell in cells])
        with_prev = len([1 for cells in rounds for n, k in cells if n > 0])
        later_step = len([1 for cells in rounds for n, k in cells if k > 0])
        first_step_rounds = len([1 for cells in rounds if any(k == 0 for _, k in cells)])
        e = events_per_layer[l]
        pre = f"layer{l}."
        counts[pre + "weights"]["reads"] += e * c
        counts[pre + "bias"]["reads"] += batch * len(rounds) * c
        counts[pre + "acc"]["reads"] += e * c * hw.lanes + batch * fired * c
        counts[pre + "acc"]["writes"] += e * c * hw.lanes + batch * fired * c
        if pre + "membranes" in counts:  # a cell with membranes (and their start values)
            counts[pre + "u0"]["reads"] += batch * first_step_rounds * c
            counts[pre + "membranes"]["reads"] += batch * later_step * c
            counts[pre + "membranes"]["writes"] += batch * fired * c
        if pre + "cstate" in counts:  # a cell that carries values across elements
            counts[pre + "cstate"]["reads"] += batch * with_prev * c
            counts[pre + "cstate"]["writes"] += batch * fired * c
        counts[pre + "bank"]["writes"] += batch * fired
        counts[pre + "bank"]["reads"] += batch * with_prev
        if l == 0:
            counts["inbuf"]["reads"] += batch * fired
        else:
            counts[f"layer{l - 1}.bank"]["reads"] += batch * fired
    # the readout reads the last element's h rows, or every element's (the integrator,
    # the per-element readout)
    read_elements = net.length if net.reads_every_element else 1
    counts[f"layer{net.layers - 1}.bank"]["reads"] += batch * net.steps * read_elements
    counts["inbuf"]["writes"] += batch * (net.length if input_kind(hw, 0) == "features"
                                          else net.length * net.steps)
    if "draws" in counts:  # rate coding: the draws of every row, as the sequence streams in
        counts["draws"]["reads"] += batch * net.length * net.steps
    counts["w_out"]["reads"] += int(np.count_nonzero(res.layers[-1].h[:, -read_elements:]))
    memories = {name: {**layout[name], **counts[name]} for name in layout}
    return {"sequences": int(batch), "memories": memories,
            "layer_events": [int(v) for v in events_per_layer],
            "counted": "words read/written by the datapath (see flows.energy.memory_reads)"}


def paper_count(net, stats: dict) -> dict | None:
    """The energy per inference as the cell's own paper counts it
    (:meth:`model.cells.Cell.paper_energy`), summed over the layers, from the golden
    model's h spikes; None for a cell whose paper gives no count."""
    cell, batch = net.cell_def(), int(stats["batch"])
    layers = [cell.paper_energy(net, l, ls["h_spikes"] / batch) for l, ls in enumerate(stats["layers"])]
    if any(p is None for p in layers):
        return None
    nj = sum((p["ac"] * p["e_ac_pj"] + p["mac"] * p["e_mac_pj"]) / 1000.0 for p in layers)
    return {"total_nj": nj, "formula": layers[0]["formula"], "source": layers[0]["source"],
            "ac": sum(p["ac"] for p in layers), "mac": sum(p["mac"] for p in layers),
            "note": "the recurrent layers alone, as the paper counts them: no readout, no memory"}


def _widths(hw: HardwareConfig) -> dict:
    net = hw.net
    return {"acc": [hw.acc_sum_bits(l) for l in range(net.layers)],
            "logit": hw.logit_sum_bits(), "u": net.u_bits, "c": net.c_bits,
            "mult": max(net.w_bits, net.x_bits)}


def operation_energy(hw: HardwareConfig, stats: dict, memory: dict | None = None) -> dict:
    """Energy per inference from operation counts (method (a)).

    ``stats`` is ``model.golden.run(...).stats`` for a batch; ``memory`` the result of
    :func:`memory_reads` for the same batch, or None (then memory is left out and the
    result says so). Counted, per sequence:

    * ``ac``: the golden model's accumulates (one per active spike per weight it
      touches), each an add at the hardware accumulator width
      (``hw.acc_sum_bits(layer)``; the readout's at ``hw.logit_sum_bits()``);
    * ``mac``: direct-input multiply-accumulates: a multiply at max(w_bits, x_bits) plus
      an add at the accumulator width;
    * ``comparison``: the threshold comparisons of the golden model (two per ternary
      neuron), each an add at u_bits;
    * ``neuron_update``: per cell and neuron, one add at u_bits per existing membrane,
      one more per membrane with a leak (u - (u >> s)), one subtract per spike (soft
      reset), and the c update (one add at c_bits);
    * ``memory``: every word of :func:`memory_reads`, at :func:`sram_pj` of its width
      and its memory's capacity, writes charged like reads.
    """
    net = hw.net
    batch = int(stats["batch"])
    if batch < 1:
        raise ValueError(f"stats cover {batch} sequences; need at least one")
    w = _widths(hw)
    items = []

    def item(category, name, count, pj_each, rule):
        items.append({"category": category, "name": name, "count": count / batch,
                      "pj_each": pj_each, "nj": count * pj_each / batch / 1000.0, "rule": rule})

    cells = batch * net.length * net.steps
    cell = net.cell_def()
    for l, ls in enumerate(stats["layers"]):
        item("ac", f"layer{l} accumulates", ls["acs"], add_pj(w["acc"][l]),
             f"add at {w['acc'][l]} bits")
        if ls.get("macs"):
            item("mac", f"layer{l} multiply-accumulates", ls["macs"],
                 mult_pj(w["mult"]) + add_pj(w["acc"][l]),
                 f"multiply at {w['mult']} bits + add at {w['acc'][l]} bits")
        item("comparison", f"layer{l} threshold comparisons", ls["comparisons"], add_pj(w["u"]),
             f"compare = add at {w['u']} bits")
        h = net.hidden[l]
        membranes = len(net.spiking_membranes)
        leaky = sum(1 for a, m in enumerate(cell.MEMBRANES)
                    if m in net.spiking_membranes and net.leak_shift[a] != 0)
        # every spike is one soft reset (a subtraction): the gates' and the c spikes
        spikes = sum(ls.get("gate_spikes", {}).values()) + ls.get("c_spikes", 0)
        item("neuron_update", f"layer{l} membrane adds, leaks and resets",
             cells * h * (membranes + leaky) + spikes, add_pj(w["u"]), f"add at {w['u']} bits")
        if ls.get("products"):  # a non-spiking cell's own products (the baseline: f*c, i*g, o*c)
            item("mac", f"layer{l} cell products", ls["products"], mult_pj(w["c"]),
                 f"multiply at {w['c']} bits")
        for name, bits in cell.CARRY:  # one add per carried value (Datta: c = f*c + i*g)
            width = cell.carry_bits(net, bits)
            item("neuron_update", f"layer{l} {name} updates", cells * h, add_pj(width),
                 f"add at {width} bits")
    item("ac", "readout accumulates", stats["readout_acs"], add_pj(w["logit"]),
         f"add at {w['logit']} bits")
    if stats.get("readout_macs"):  # a multi-bit h (the baseline LSTM)
        item("mac", "readout multiply-accumulates", stats["readout_macs"],
             mult_pj(w["mult"]) + add_pj(w["logit"]), f"multiply at {w['mult']} bits + add at {w['logit']} bits")
    if stats.get("readout_adds"):  # the integrator readout: its leak and its sum
        item("ac", "readout integrator adds", stats["readout_adds"], add_pj(w["logit"]),
             f"add at {w['logit']} bits")
    notes = []
    if memory is not None:
        if int(memory["sequences"]) != batch:
            raise ValueError(f"memory counts cover {memory['sequences']} sequences, stats {batch}")
        for name, mem in memory["memories"].items():
            pj = sram_pj(mem["word_bits"], mem["capacity_bits"])
            rule = (f"{mem['word_bits']}-bit word of a {mem['capacity_bits']}-bit array: "
                    f"{mem['word_bits']}/64 of the 64-bit read at that size")
            item("memory", f"{name} reads", mem["reads"], pj, rule)
            if mem.get("writes"):
                item("memory", f"{name} writes", mem["writes"], pj, rule + "; write = read (assumed)")
    else:
        notes.append("memory accesses not counted: no memory_reads for this run")
    breakdown = {}
    for it in items:
        breakdown[it["category"]] = breakdown.get(it["category"], 0.0) + it["nj"]
    return {"method": "operations x Horowitz ISSCC 2014 (45 nm) energies",
            "unit": "nJ per inference", "sequences": batch,
            "total_nj": sum(breakdown.values()), "breakdown_nj": breakdown,
            "items": items, "memory_included": memory is not None, "notes": notes,
            "paper_count": paper_count(net, stats),
            "width_rule": "E(w) = E8 * (w/8)**p through Horowitz's 8- and 32-bit points; "
                          "SRAM: word/64 of the 64-bit read of an array of that capacity, log-log "
                          "through 8 KB, 32 KB and 1 MB, extrapolated beyond them",
            "sources": [HOROWITZ]}


# ---- (b) FPGA activity ---------------------------------------------------------------------

def _scale(family: str, node0: str, vdd0: str) -> float:
    """Switched-capacitance scaling from a reference process: C ~ feature size, E ~ C V^2."""
    fam = FAMILIES[family]
    return (_c(fam["node"]) / _c(node0)) * (_c(fam["vdd"]) / _c(vdd0)) ** 2


def family_energies(family: str) -> dict:
    """Per-event energies of a family (pJ), derived from :data:`CONSTANTS`:

    * ``ff_toggle``: one transition of a flip-flop output: on ECP5 the figure measured on
      a ULX3S (0.25 pJ), elsewhere ``net_toggle``;
    * ``net_toggle``: one transition of a routed net (LUT or flip-flop output with its
      routing). Shang's 5.9 pJ per CLB per cycle, less the clock share, spread over the
      CLB's 16 output nets toggling at the typical rate, scaled from 150 nm / 1.5 V;
    * ``clock_per_ff``: the clock share per flip-flop per cycle, scaled the same way;
    * ``bram_bit``: one bit of a block-RAM port access, Horowitz's 8 KB SRAM read per
      bit scaled from 45 nm / 0.9 V (ECP5 EBRs are 18 Kb, 7-series BRAMs 18/36 Kb).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    shares = _c("virtex2_share_routing") + _c("virtex2_share_logic") + _c("virtex2_share_clock")
    clb = _c("virtex2_clb_dynamic")
    v2 = _scale(family, "virtex2_node", "virtex2_vdd")
    net = clb * (1 - _c("virtex2_share_clock") / shares) / (
        _c("virtex2_nets_per_clb") * _c("typical_toggle_rate")) * v2
    clock = clb * (_c("virtex2_share_clock") / shares) / _c("virtex2_ffs_per_clb") * v2
    bram = _c("sram_8kb_64b") / 64.0 * _scale(family, "horowitz_node", "horowitz_vdd")
    # a board measurement where one exists (ECP5 flip-flops); else the derived net toggle
    ff = _c("ecp5_ff_toggle_measured") if family == "ecp5" else net
    return {"net_toggle": net, "ff_toggle": ff, "clock_per_ff": clock, "bram_bit": bram,
            "rules": {
                "ff_toggle": ("measured on a ULX3S (ECP5 85F), 0.25 pJ" if family == "ecp5"
                              else "the net toggle (no board measurement for this family)"),
                "net_toggle": "5.9 pJ/CLB/cycle x (1 - 0.14/0.90) / (16 nets x 0.125) x (node/150 nm) x (V/1.5 V)^2",
                "clock_per_ff": "5.9 pJ/CLB/cycle x (0.14/0.90) / 8 FF x (node/150 nm) x (V/1.5 V)^2",
                "bram_bit": "10 pJ / 64 bit x (node/45 nm) x (V/0.9 V)^2"}}


def static_power_w(family: str, luts_available: float | None) -> tuple[float, str]:
    """Static power of the device (W) and how it was obtained.

    ECP5: the 85F core current times VCC, scaled by LUT count for other sizes.
    7-series: the XC7A200T reference scaled by LUT count. Without a LUT count the
    reference device's figure is used as it is.
    """
    if family == "ecp5":
        ref = _c("ecp5_icc_static_85f") * _c("ecp5_vcc")
        ref_luts = _c("ecp5_luts_85f")
        what = "ECP5 85F core current x 1.1 V"
    elif family == "xilinx":
        ref = _c("xc7_static_ref")
        ref_luts = _c("xc7_static_ref_luts")
        what = "XC7A200T Vivado static"
    else:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    if not luts_available:
        return ref, f"{what} ({ref:.3f} W), not scaled (no LUT count)"
    return ref * luts_available / ref_luts, f"{what} ({ref:.3f} W) x {luts_available:.0f} / {ref_luts:.0f} LUTs"


def activity_energy(activity: dict, family: str, clock_mhz: float, *,
                    luts_available: float | None = None, clock_note: str = "",
                    static_w: float | None = None) -> dict:
    """Energy per inference from simulated activity (method (b)).

    ``activity`` is :func:`flows.verilator_activity.measure_activity`'s (or
    :func:`flows.activity.measure_activity`'s) result. Dynamic energy: every register
    toggle at ``ff_toggle``, every combinational and memory-read-data net toggle at ``net_toggle``;
    the clock at ``clock_per_ff`` per register bit per cycle; every enabled port cycle
    of a memory classed as block RAM at ``bram_bit`` per bit of its word. Static
    energy: the device's static power (``static_w`` overrides :func:`static_power_w`)
    over the simulated cycles per sequence at ``clock_mhz``.
    """
    if clock_mhz is None or not clock_mhz > 0:
        raise ValueError(f"clock_mhz must be positive, got {clock_mhz!r}")
    seqs = int(activity["sequences"])
    if seqs < 1:
        raise ValueError("activity covers no sequence")
    e = family_energies(family)
    tog = activity["toggles"]
    items = []

    def item(category, name, count, pj_each, rule):
        items.append({"category": category, "name": name, "count": count / seqs,
                      "pj_each": pj_each, "nj": count * pj_each / seqs / 1000.0, "rule": rule})

    item("registers", "register bit toggles", tog["registers"], e["ff_toggle"], e["rules"]["ff_toggle"])
    item("logic", "combinational signal toggles", tog["combinational"], e["net_toggle"],
         f"net toggle ({activity.get('level', 'Amaranth-level signals')}: an upper estimate of "
         "LUT-output nets)")
    item("memory", "memory read-data toggles", tog["memory_read_data"], e["net_toggle"], "net toggle")
    item("clock", "clock tree", activity["cycles"] * activity["register_bits"], e["clock_per_ff"],
         "per register bit per cycle")
    for name, mem in activity["memories"].items():
        if mem["class"] != "block":
            continue
        accesses = mem["read_port_cycles"] + mem["write_cycles"]
        item("memory", f"{name} port accesses", accesses, e["bram_bit"] * mem["word_bits"],
             f"{mem['word_bits']} bits x bram_bit per enabled port cycle")
    if static_w is None:
        static_w, static_rule = static_power_w(family, luts_available)
    else:
        static_rule = "given"
    seconds = activity["cycles"] / seqs / (clock_mhz * 1e6)
    static_nj = static_w * seconds * 1e9
    breakdown = {}
    for it in items:
        breakdown[it["category"]] = breakdown.get(it["category"], 0.0) + it["nj"]
    dynamic = sum(breakdown.values())
    breakdown["static"] = static_nj
    return {"method": f"simulated toggles x {FAMILIES[family]['core']} per-event energies + static",
            "unit": "nJ per inference", "sequences": seqs, "family": family,
            "total_nj": dynamic + static_nj, "dynamic_nj": dynamic, "static_nj": static_nj,
            "breakdown_nj": breakdown, "items": items,
            "clock_mhz": clock_mhz, "clock_note": clock_note,
            "static_w": static_w, "static_rule": static_rule,
            "simulator": activity.get("simulator", "amaranth"),
            "level": activity.get("level", "Amaranth-level signals"),
            "seconds_per_inference": seconds, "energies_pj": e,
            "sources": [SHANG, VIRTEX2_DS, XPE_TOGGLE, HOROWITZ]
                       + [CONSTANTS[k].source for k in _FAMILY_CONSTANTS[family]]}


_FAMILY_CONSTANTS = {
    "ecp5": ("ecp5_node", "ecp5_vcc", "ecp5_icc_static_85f", "ecp5_luts_85f", "ecp5_ff_toggle_measured"),
    "xilinx": ("xc7_node", "xc7_vccint", "xc7_static_ref", "xc7_static_ref_luts"),
}

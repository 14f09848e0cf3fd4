"""Switching activity of the generated network on real inputs.

:func:`measure_activity` streams sequences through :class:`hw.network.SpikingLSTMNetwork`
in the Amaranth simulator and counts, without writing a VCD:

* bit toggles of every signal, classed as ``registers`` (driven from the ``sync``
  domain: flip-flops), ``combinational`` (driven from ``comb``), ``memory_read_data``
  (the registered data outputs of memory read ports) and ``ports`` (set by the test
  bench). Counts are glitch-free: a signal's value is compared once per simulation
  time step (after it settles), so zero-delay delta-cycle orderings do not count;
* per memory, the clock cycles in which each read port and each write port was
  enabled (a synchronous read port whose enable is constant 1, as all of ours are,
  reads every cycle), and the memory's class: ``block`` (deep enough that synthesis
  puts it in block RAM) or ``distributed`` (LUT RAM or flip-flops);
* the clock cycles simulated and the cycle count each sequence reported.

How. The simulator's change observer interface (the one its VCD writer uses) is
given a counter instead of a file. That interface is internal to Amaranth 0.5's
Python simulator (``Simulator._engine._vcd_writers``, ``Simulator._design``); it is
checked on use and an error names the version if it moved. Writing a VCD through
``hw.simulate.simulate_network(vcd_path=...)`` and parsing it gives the same counts
but took 3.4x longer and 250 MB for four ``digits`` sequences.

Cost (measured on a 2-core development machine shared with other jobs): ``tiny``
(L=2) 2-3 s to build and 0.3 s per sequence; the bundled ``digits`` model (L=4, P=16,
about 2000 cycles) 4 s plus 11 s per sequence; ``tmnist`` (L=8, P=16, 55011 cycles)
5 s plus 806 s per sequence. The time follows the cycle count; ``sequences`` limits
the batch (see ``docs/reports.md``).
"""

from __future__ import annotations

import time

import amaranth
import numpy as np
from amaranth.hdl import Const, Signal
from amaranth.hdl._ast import Assign, Concat, Operator, Slice
from amaranth.hdl._mem import MemoryInstance
from amaranth.sim import Simulator

from hw.config import HardwareConfig
from hw.lutram import fold_parts
from hw.network import SpikingLSTMNetwork, input_beats
from model.encoding import check_input

__all__ = ["measure_activity", "ToggleCounter", "CATEGORIES", "BLOCK_RAM_MIN_DEPTH", "CLOCK_PERIOD_S"]

#: Simulation clock period (any value works; counts are per cycle).
CLOCK_PERIOD_S = 1e-8
#: Memories at least this deep are counted as block RAM, shallower ones as LUT RAM or
#: flip-flops. Checked against yosys 0.64 on ``digits`` (L=4, P=16): synth_ecp5 put
#: only the 384-word weight ROM in DP16KD blocks; every memory of at most 32 words
#: (banks, c state, input buffer, readout weights) went to TRELLIS_DPR16X4 or logic.
BLOCK_RAM_MIN_DEPTH = 128

CATEGORIES = ("registers", "combinational", "memory_read_data", "ports", "wires")


def _is_wire(value) -> bool:
    """True for a value that synthesis turns into no logic: signals, constants, slices,
    concatenations and sign casts of them (a comb signal assigned only such values is
    another name for nets that exist anyway)."""
    if isinstance(value, (Signal, Const)):
        return True
    if isinstance(value, Slice):
        return _is_wire(value.value)
    if isinstance(value, Concat):
        return all(_is_wire(part) for part in value.parts)
    if isinstance(value, Operator) and value.operator in ("u", "s"):
        return _is_wire(value.operands[0])
    return False


def _internals(sim: Simulator):
    try:
        engine = sim._engine
        observers = engine._vcd_writers
        state = engine._state
        design = sim._design
        design.fragments  # noqa: B018  (checks the attribute exists)
    except AttributeError as err:  # pragma: no cover - depends on the Amaranth version
        raise RuntimeError(
            f"flows.activity needs the Python simulator internals of Amaranth 0.5 "
            f"(found amaranth {amaranth.__version__}): {err}") from None
    return engine, observers, state, design


class ToggleCounter:
    """Counts the activity of everything simulated by ``sim`` (build it after the
    simulator and before running it; call :meth:`result` after the run).

    It is an observer for the Python simulator engine: bit toggles per category are
    counted once per time step, the enabled cycles of every memory port at every
    rising edge of the ``sync`` clock (which the design must have).
    """

    fs_per_delta = 0

    def __init__(self, sim: Simulator):
        engine, observers, state, design = _internals(sim)
        self.engine, self.state = engine, state
        sync_lhs, comb_lhs, read_data, mem_info = {}, {}, {}, {}
        wire_ids, logic_ids = set(), set()
        for fragment, info in design.fragments.items():
            for domain, stmts in fragment.statements.items():
                target = comb_lhs if domain == "comb" else sync_lhs
                for stmt in stmts:
                    for sig in stmt._lhs_signals():
                        target[id(sig)] = sig
                    if domain == "comb":
                        wire = isinstance(stmt, Assign) and _is_wire(stmt.rhs)
                        (wire_ids if wire else logic_ids).update(id(s) for s in stmt._lhs_signals())
            if isinstance(fragment, MemoryInstance):
                name = ".".join(info.name[1:]) or "memory"
                mem = fragment._data
                ports_r = [p for p in fragment._read_ports]
                ports_w = [p for p in fragment._write_ports]
                for p in ports_r:
                    for sig in p._data._rhs_signals():
                        read_data[id(sig)] = sig
                mem_info[name] = {
                    "depth": mem.depth, "attrs": dict(fragment._attrs), "word_bits": len(ports_r[0]._data) if ports_r else len(ports_w[0]._data),
                    "read_en": [p._en for p in ports_r], "write_en": [p._en for p in ports_w]}
        if "sync" not in design.fragment.domains:  # pragma: no cover
            raise RuntimeError("the design has no sync clock domain")
        self.clk = design.fragment.domains["sync"].clk
        self.slot_of = {}
        self.last = {}
        self.cat_of = {}
        self.mask_of = {}
        self.register_bits = 0
        for sig_id, sig in {**comb_lhs, **sync_lhs, **read_data}.items():
            if sig_id in read_data:
                cat = 2
            elif sig_id in sync_lhs:
                cat = 0
                self.register_bits += len(sig)
            elif sig_id in wire_ids and sig_id not in logic_ids:
                cat = 4
            else:
                cat = 1
            self._track(sig, cat)
        self.memories = {}
        self._en_checks = []  # (mem name, key, value or signal slot, is_const)
        for name, info in mem_info.items():
            styles = {str(info["attrs"].get(k, "")) for k in ("ram_style", "rom_style")}
            block = "block" in styles or info["depth"] >= BLOCK_RAM_MIN_DEPTH
            rec = {"depth": info["depth"], "word_bits": info["word_bits"],
                   "class": "block" if block else "distributed",
                   "read_ports": len(info["read_en"]), "write_ports": len(info["write_en"]),
                   "read_port_cycles": 0, "write_cycles": 0}
            self.memories[name] = rec
            for key, ens in (("read_port_cycles", info["read_en"]), ("write_cycles", info["write_en"])):
                for en in ens:
                    self._en_checks.append((rec, key, en))
        self.toggles = [0] * len(CATEGORIES)
        self.cycles = 0
        self.dirty = set()
        self.settling = True
        self.clk_slot = self.state.slots[self.state.get_signal(self.clk)]
        observers.append(self)

    def _track(self, sig, cat):
        slot = self.state.slots[self.state.get_signal(sig)]
        self.slot_of[id(sig)] = slot
        self.cat_of[id(sig)] = cat
        self.mask_of[id(sig)] = (1 << len(sig)) - 1
        self.last[id(sig)] = slot.curr

    def _flush(self):
        if self.settling:
            # the end of the first time step: the design has settled from its initial
            # values; that settling is not switching activity
            for sig_id in self.dirty:
                self.last[sig_id] = self.slot_of[sig_id].curr
            self.dirty.clear()
            self.settling = False
            return
        toggles = self.toggles
        for sig_id in self.dirty:
            new = self.slot_of[sig_id].curr
            diff = (self.last[sig_id] ^ new) & self.mask_of[sig_id]
            if diff:
                toggles[self.cat_of[sig_id]] += diff.bit_count()
                self.last[sig_id] = new
        self.dirty.clear()

    def _edge(self):
        """A rising clock edge: the values now current are those the edge samples."""
        self.cycles += 1
        for rec, key, en in self._en_checks:
            if isinstance(en, Const):
                value = en.value
            else:
                value = self.engine.get_value(en)
            if value:
                rec[key] += 1

    # -- the observer interface of the Python simulator engine ----------------------------
    def update_signal(self, timestamp, signal):
        if signal is self.clk:
            # the clock changes alone, first, in its own time step: everything before
            # it belongs to the step that ended, so count that step now
            self._flush()
            if self.clk_slot.curr:
                self._edge()
            return
        sig_id = id(signal)
        if sig_id not in self.slot_of:
            self._track(signal, 3)
            self.last[sig_id] = signal.init  # its change is this one
        self.dirty.add(sig_id)

    def update_memory(self, timestamp, memory, addr):
        pass  # writes are counted from the write enables at each edge

    def close(self, timestamp=None):
        self._flush()

    def result(self) -> dict:
        """``cycles``, ``register_bits``, ``toggles`` per category, ``memories``."""
        self._flush()
        return {"cycles": self.cycles, "register_bits": self.register_bits,
                "toggles": dict(zip(CATEGORIES, self.toggles)),
                "memories": fold_parts({name: dict(rec) for name, rec in self.memories.items()})}


def measure_activity(hw: HardwareConfig, params, x, *, sequences: int | None = None) -> dict:
    """Simulate ``x`` (raw inputs, as for :func:`model.golden.run`) and count activity.

    Returns a JSON-able dict: ``sequences``, ``cycles`` (clock cycles simulated, from
    the first input beat to the last result, input loading included),
    ``cycles_reported`` (each sequence's compute cycle count from the hardware),
    ``logits``, ``register_bits``, ``toggles`` per category, ``memories`` (per memory:
    class, word bits, depth, enabled read-port cycles and write cycles) and ``wall_s``.
    """
    net = hw.net
    x = check_input(net, x)
    if sequences is not None:
        if sequences < 1:
            raise ValueError(f"sequences must be at least 1, got {sequences}")
        x = x[:sequences]
    started = time.perf_counter()
    dut = SpikingLSTMNetwork(hw, params)
    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD_S)
    counter = ToggleCounter(sim)
    built = time.perf_counter()
    reported, logits = [], []

    async def drive(ctx):
        for seq in x:
            for beat in input_beats(net, seq).astype(int).tolist():
                ctx.set(dut.i_stream.payload, beat)
                ctx.set(dut.i_stream.valid, 1)
                await ctx.tick().until(dut.i_stream.ready)
            ctx.set(dut.i_stream.valid, 0)

    async def collect(ctx):
        ctx.set(dut.o_stream.ready, 1)
        for _ in range(x.shape[0]):
            for _ in range(net.length - 1 if net.readout == "element" else 0):
                await ctx.tick().until(dut.o_stream.valid)  # the earlier elements' beats
            await ctx.tick().until(dut.o_stream.valid)
            payload = ctx.get(dut.o_stream.payload)
            reported.append(int(payload.cycles))
            logits.append([int(v) for v in payload.logits])
        ctx.set(dut.o_stream.ready, 0)

    sim.add_testbench(drive)
    sim.add_testbench(collect)
    sim.run()
    counts = counter.result()
    done = time.perf_counter()
    return {
        "sequences": int(x.shape[0]),
        "config": hw.to_dict(),
        **counts,
        "cycles_reported": reported,
        "logits": logits,
        "block_ram_min_depth": BLOCK_RAM_MIN_DEPTH,
        "simulator": "amaranth",
        "counting": ("glitch-free bit toggles once per simulation time step; memory port "
                     "cycles with the enable high at a rising edge"),
        "wall_s": {"build": round(built - started, 3), "simulate": round(done - built, 3)},
    }


def _main(argv=None) -> int:  # pragma: no cover - a measuring aid
    import argparse
    import json

    from model.config import preset
    from model.encoding import random_input
    from model.export import load_package
    from model.params import random_params

    ap = argparse.ArgumentParser(description="count switching activity of one configuration")
    ap.add_argument("--preset", default="digits")
    ap.add_argument("--package", help="a weights package (default: random weights)")
    ap.add_argument("--lanes", type=int)
    ap.add_argument("--par", type=int, default=16)
    ap.add_argument("--sequences", type=int, default=2)
    args = ap.parse_args(argv)
    if args.package:
        pkg = load_package(args.package)
        cfg, params, x = pkg.cfg, pkg.params, pkg.check_x[:args.sequences]
    else:
        cfg = preset(args.preset)
        params = random_params(cfg, 0, threshold_scale=0.4)
        x = random_input(cfg, args.sequences, np.random.default_rng(0))
    hw = HardwareConfig(cfg, lanes=args.lanes or cfg.steps, par=args.par)
    out = measure_activity(hw, params, x)
    out.pop("logits")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())

"""Switching activity of the generated network from a Verilator simulation (SAIF).

:func:`measure_activity` (the default of ``make synth``) runs the same cocotb bench as
``make cosim`` on the design's Verilog, built by Verilator with ``--trace-saif``, and
reads the toggle count (``TC``) of every bit of every net from the SAIF file Verilator
writes. The counts are glitch-free in the same sense as :mod:`flows.activity`'s: Verilator
dumps the settled values once per simulation time step. The result has the schema of
:func:`flows.activity.measure_activity`, so the energy model reads either.

Which net is what comes from the Verilog text (:func:`classify_verilog`), module by
module, counting every net once, in the module that drives it:

* ``registers``: targets of ``always @(posedge clk)`` blocks, except memory reads;
* ``memory_read_data``: the data of memory read ports (synchronous ``_N_ <= mem[a]``,
  or asynchronous ``assign d = mem[a]``);
* ``combinational``: outputs of operators (``assign n = a + b``) and of ``always @*``
  processes (the multiplexers in front of the registers);
* ``wires``: ``assign`` of a plain name, slice or concatenation (no logic);
* ``ports``: the design's inputs, which the bench drives.

Input ports of a module, and nets that a submodule's output drives, are counted where
they are driven. These are Yosys-level nets (one per operator), finer than
:mod:`flows.activity`'s Amaranth-level signals, so the ``combinational`` figures of the
two differ; registers and memory ports are the same flip-flops and the same accesses
(``tests/test_verilator_activity.py`` checks them against each other on a small case).

Memories: per memory, its depth, word width and class (the rule of
:data:`flows.activity.BLOCK_RAM_MIN_DEPTH`), the cycles each read port reads (all of
them, for a port without an enable) and the cycles a write enable was high, from the
enable net's time at 1 in the SAIF divided by the clock period.

Cost: one Verilator build with tracing (tens of seconds for ``digits``, minutes for
``tmnist``), then Verilator speed (hundreds of thousands of cycles per second) instead of
the Amaranth simulator's few thousand.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from hw.config import HardwareConfig
from hw.lutram import fold_parts

from .activity import BLOCK_RAM_MIN_DEPTH, CATEGORIES

__all__ = ["measure_activity", "classify_verilog", "read_saif", "count_activity", "VerilogModule"]

_ID = r"(?:\\\S+|[A-Za-z_][\w$]*)"
_MODULE_RE = re.compile(rf"^module ({_ID}) ?\(", re.M)
_DECL_RE = re.compile(rf"^\s*(input|output|inout|wire|reg)\s+(?:signed\s+)?(\[(\d+):(\d+)\]\s+)?({_ID})\s*"
                      rf"(\[(\d+):(\d+)\])?")
_ASSIGN_RE = re.compile(rf"^\s*assign\s+(.+?)\s*=\s*(.+);\s*$")
_STMT_RE = re.compile(rf"^\s*({_ID})\s*(\[.*?\])?\s*(<=|=)(?!=)\s*(.+?);\s*$")
_IF_RE = re.compile(r"^\s*if\s*\((.+)\)\s*(begin)?\s*$")
_INST_RE = re.compile(rf"^\s*({_ID})\s+({_ID})\s*\($")
_ATTR_RE = re.compile(r"\(\*.*?\*\)")
_WIRE_TOKEN = re.compile(rf"\s+|{_ID}|\[\d+(?::\d+)?\]|\d+'[shbdo]?[0-9a-fA-FxXzZ_]+|\d+|[{{}},]")
_NAMES = re.compile(_ID)
_STYLE_RE = re.compile(r'(ram_style|rom_style)\s*=\s*"([^"]*)"')


def _name(token: str) -> str:
    """A Verilog identifier as SAIF writes it (escaped names without the backslash)."""
    return token[1:] if token.startswith("\\") else token


def _is_wire(rhs: str) -> bool:
    rhs = _ATTR_RE.sub(" ", rhs)
    return _WIRE_TOKEN.sub("", rhs).strip() == ""


_LHS_TOKEN = re.compile(r"\\\S+|[A-Za-z_][\w$]*|\[[^\[\]]*\]")


def _lhs_names(lhs: str) -> list[str]:
    """The nets an assignment target names (bit and part selects dropped; an escaped
    name such as ``\\c_prev[0].c`` is one net)."""
    return [_name(t) for t in _LHS_TOKEN.findall(_ATTR_RE.sub(" ", lhs)) if not t.startswith("[")]


@dataclass
class VerilogModule:
    name: str
    widths: dict = field(default_factory=dict)          # net -> bits
    category: dict = field(default_factory=dict)        # net -> one of CATEGORIES
    inputs: set = field(default_factory=set)
    memories: dict = field(default_factory=dict)        # name -> {depth, word_bits, block, reads, writes}
    instances: dict = field(default_factory=dict)       # instance -> module name


def _memory_in(text: str, memories: dict) -> str | None:
    for name in _NAMES.findall(_ATTR_RE.sub(" ", text)):
        n = _name(name)
        if n in memories and re.search(rf"{re.escape(name)}\s*\[", text):
            return n
    return None


def classify_verilog(text: str) -> dict[str, VerilogModule]:
    """Every module of Yosys-written Verilog, its nets classified (see the module doc)."""
    modules: dict[str, VerilogModule] = {}
    bodies = []
    for m in _MODULE_RE.finditer(text):
        end = text.find("\nendmodule", m.end())
        if end < 0:
            raise ValueError(f"module {_name(m.group(1))} has no endmodule")
        bodies.append((_name(m.group(1)), text[m.end():end]))
    names = {n for n, _ in bodies}
    for mod_name, body in bodies:
        mod = modules[mod_name] = VerilogModule(mod_name)
        lines = body.split("\n")
        attrs = ""
        i = 0
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            i += 1
            if stripped.startswith("(*"):
                attrs += stripped
                continue
            decl = _DECL_RE.match(line)
            if decl and not stripped.startswith("assign"):
                kind, hi, lo, ident = decl.group(1), decl.group(3), decl.group(4), _name(decl.group(5))
                width = abs(int(hi) - int(lo)) + 1 if hi is not None else 1
                if decl.group(6):  # a memory: reg [w] name [d:0]
                    depth = abs(int(decl.group(7)) - int(decl.group(8))) + 1
                    styles = {v for _, v in _STYLE_RE.findall(attrs)}
                    mod.memories[ident] = {"depth": depth, "word_bits": width,
                                           "block": "block" in styles or depth >= BLOCK_RAM_MIN_DEPTH,
                                           "reads": [], "writes": []}
                else:
                    mod.widths.setdefault(ident, width)
                    if kind == "input":
                        mod.inputs.add(ident)
                attrs = ""
                continue
            attrs = ""
            inst = _INST_RE.match(line)
            if inst and _name(inst.group(1)) in names:
                mod.instances[_name(inst.group(2))] = _name(inst.group(1))
                continue
            assign = _ASSIGN_RE.match(line)
            if assign:
                lhs, rhs = assign.group(1), assign.group(2)
                mem = _memory_in(rhs, mod.memories)
                cat = ("memory_read_data" if mem else "wires" if _is_wire(rhs) else "combinational")
                if mem:
                    mod.memories[mem]["reads"].append(None)
                for n in _lhs_names(lhs):
                    mod.category[n] = cat
                continue
            if stripped.startswith("always @(posedge") or stripped.startswith("always @*") \
                    or stripped.startswith("always @(*)"):
                comb = "@*" in stripped or "@(*)" in stripped
                block = [stripped]
                depth = len(re.findall(r"\bbegin\b", stripped)) - len(re.findall(r"\bend\b", stripped))
                if depth == 0:  # a single statement (possibly after an if)
                    while i < len(lines):
                        block.append(lines[i].strip())
                        i += 1
                        if not _IF_RE.match(block[-1]):
                            break
                else:
                    while depth > 0 and i < len(lines):
                        s = lines[i].strip()
                        i += 1
                        block.append(s)
                        depth += len(re.findall(r"\bbegin\b", s)) - len(re.findall(r"\bend\b", s))
                _block(mod, block[1:], comb)
                continue
    return modules


def _block(mod: VerilogModule, lines: list[str], comb: bool) -> None:
    cond = None
    for s in lines:
        s = _ATTR_RE.sub(" ", s).strip()
        m_if = _IF_RE.match(s)
        if m_if:
            cond = m_if.group(1).strip()
            continue
        st = _STMT_RE.match(s)
        if st is None:
            continue
        target = _name(st.group(1))
        if not comb and target in mod.memories and re.match(rf"\s*{re.escape(st.group(1))}\s*\[", s):
            mod.memories[target]["writes"].append(cond)
            cond = None
            continue
        if comb:
            if "dump_module" not in target:
                mod.category[target] = "combinational"
        else:
            mem = _memory_in(st.group(4), mod.memories)
            if mem:
                mod.memories[mem]["reads"].append(cond)
                mod.category[target] = "memory_read_data"
            else:
                mod.category[target] = "registers"
        cond = None


_SAIF_NET = re.compile(r"^\s*\((\S+?)(?:\\\[(\d+)\\\])? \(T0 (\d+)\) \(T1 (\d+)\).*\(TC (\d+)\)\)\s*$")


def read_saif(path: Path) -> tuple[dict, int]:
    """``({instance path: {net: [(T1, TC) summed over bits, bits]}}, duration)`` of a
    Verilator SAIF file; instance paths are tuples of instance names."""
    nets: dict[tuple, dict] = {}
    stack: list[str] = []
    duration = None
    opened: list[bool] = []  # per open paren group: True for an INSTANCE
    with open(path) as fh:
        for line in fh:
            s = line.strip()
            if s.startswith("(INSTANCE "):
                stack.append(s.split()[1])
                opened.append(True)
                continue
            if s.startswith("(DURATION "):
                duration = int(s.split()[1].rstrip(")"))
                continue
            if s == "(NET":
                opened.append(False)
                continue
            m = _SAIF_NET.match(line)
            if m:
                rec = nets.setdefault(tuple(stack), {}).setdefault(m.group(1), {})
                rec[int(m.group(2) or 0)] = (int(m.group(4)), int(m.group(5)))
                continue
            if s and set(s) == {")"}:
                for _ in range(len(s)):
                    if opened and opened.pop():
                        stack.pop()
    if duration is None:
        raise ValueError(f"{path}: no DURATION; not a SAIF file written by Verilator?")
    return nets, duration


def _cond_cycles(cond: str | None, nets: dict, period: int, cycles: int) -> int:
    """Clock cycles with ``cond`` high: the enable net's time at 1 over the period."""
    if cond is None:
        return cycles
    m = re.fullmatch(rf"({_ID})\s*(?:\[(\d+)\])?", cond.strip())
    if m is None:
        raise ValueError(f"a memory port enable {cond!r} is an expression; flows.verilator_activity "
                         "reads only a net or one bit of a net")
    bits = nets.get(_name(m.group(1)))
    if bits is None:
        raise ValueError(f"the memory port enable {cond!r} is not in the SAIF file")
    t1 = bits[int(m.group(2) or 0)][0]
    return int(round(t1 / period))


def count_activity(modules: dict[str, VerilogModule], saif: dict, duration: int, *,
                   period: int, cycles: int | None = None, root: tuple = ("top", "dut"),
                   top_module: str = "dut") -> dict:
    """Toggles per category, register bits and memory accesses under instance ``root``.
    ``cycles`` (default: the SAIF duration over ``period``) is what a read port without
    an enable is charged."""
    toggles = dict.fromkeys(CATEGORIES, 0)
    register_bits = 0
    memories = {}
    missing = []
    if cycles is None:
        cycles = int(round(duration / period))

    def walk(path: tuple, module: str):
        nonlocal register_bits
        mod = modules[module]
        nets = saif.get(path, {})
        for net, cat in mod.category.items():
            if net in mod.inputs:
                continue
            bits = nets.get(net)
            if bits is None:
                missing.append("/".join(path + (net,)))
                continue
            toggles[cat] += sum(tc for _, tc in bits.values())
            if cat == "registers":
                register_bits += mod.widths.get(net, len(bits))
        if module == top_module:
            for net in mod.inputs - {"clk", "rst"}:
                toggles["ports"] += sum(tc for _, tc in nets.get(net, {}).values())
        prefix = ".".join(path[len(root):])
        for name, mem in mod.memories.items():
            memories[f"{prefix}.{name}" if prefix else name] = {
                "depth": mem["depth"], "word_bits": mem["word_bits"],
                "class": "block" if mem["block"] else "distributed",
                "read_ports": len(mem["reads"]), "write_ports": len(mem["writes"]),
                "read_port_cycles": sum(_cond_cycles(c, nets, period, cycles) for c in mem["reads"]),
                "write_cycles": sum(_cond_cycles(c, nets, period, cycles) for c in mem["writes"])}
        for inst, child in mod.instances.items():
            walk(path + (inst,), child)

    walk(root, top_module)
    return {"cycles": cycles, "register_bits": register_bits, "toggles": toggles,
            "memories": fold_parts(memories), "nets_not_traced": len(missing), "nets_not_traced_examples": missing[:5]}


def measure_activity(hw: HardwareConfig, params, x, *, folder: Path, sequences: int | None = None,
                     keep_saif: bool = False) -> dict:
    """Simulate ``x`` in Verilator (cocotb bench of ``make cosim``) in ``folder`` and count
    activity from the SAIF file. The same dict as :func:`flows.activity.measure_activity`,
    with ``simulator: verilator``; ``cycles`` are the simulated clock cycles after reset.

    The bench checks every result against the golden model and the analytic cycle model
    (``mismatch`` is its first disagreement, or None). A design that never answers fails
    the bench within its cycle budget; this function then raises.
    """
    from cosim.hdl import RESET_CYCLES
    from cosim.runner import write_case
    from cosim.simulators import build, run_bench
    from cosim.tb_network import CLOCK_NS
    from model.encoding import check_input

    x = check_input(hw.net, x)
    if sequences is not None:
        if sequences < 1:
            raise ValueError(f"sequences must be at least 1, got {sequences}")
        x = x[:sequences]
    folder = Path(folder)
    started = time.perf_counter()
    write_case(folder, hw, params, params, x, seed=0)
    for old in ("results.json", "dump.saif"):
        (folder / old).unlink(missing_ok=True)
    runner, build_dir, build_s = build("verilator", folder, waves=True, saif=True,
                                       cache_root=folder.parent)
    built = time.perf_counter()
    run_bench(runner, build_dir, folder, "verilator", waves=True)
    ran = time.perf_counter()
    results_file, saif_file = folder / "results.json", folder / "dump.saif"
    if not results_file.exists() or not saif_file.exists():
        raise RuntimeError(f"the Verilator bench wrote no results or no SAIF file; see "
                           f"{folder}/test_verilator.log")
    res = json.loads(results_file.read_text())
    # one result per sequence: with the per-element readout, each sequence's last beat
    per = hw.net.length if hw.net.readout == "element" else 1
    res["results"] = res["results"][per - 1::per]
    if len(res["results"]) < len(x):
        raise RuntimeError(f"the Verilator bench stopped after {len(res['results'])} of {len(x)} "
                           f"sequences: {res['mismatch']}")
    modules = classify_verilog((folder / "top.v").read_text())
    saif, duration = read_saif(saif_file)
    period = int(CLOCK_NS * 1000)  # the SAIF time unit is 1 ps
    counts = count_activity(modules, saif, duration, period=period, cycles=int(res["sim_cycles"]))
    if not keep_saif:
        saif_file.unlink()
    done = time.perf_counter()
    return {
        "sequences": int(x.shape[0]),
        "config": hw.to_dict(),
        **counts,
        "cycles_reported": [int(r["cycles"]) for r in res["results"]],
        "logits": [[int(v) for v in r["logits"]] for r in res["results"]],
        "mismatch": res["mismatch"],
        "reset_cycles": RESET_CYCLES,
        "block_ram_min_depth": BLOCK_RAM_MIN_DEPTH,
        "simulator": "verilator",
        "level": "Yosys-level nets of the generated Verilog",
        "counting": ("SAIF toggle counts (TC) from Verilator, once per simulation time step; "
                     "memory write cycles from the enable's time at 1 over the clock period"),
        "wall_s": {"build": round(build_s, 3), "simulate": round(ran - built, 3),
                   "count": round(done - ran, 3), "total": round(done - started, 3)},
    }

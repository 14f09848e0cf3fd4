"""The Verilog text that the simulators compile, and why it differs from ``hw.generate``'s.

Yosys (which Amaranth uses to write Verilog) writes every combinational process as an
``always @*`` block. Such a block runs only when one of the values it reads changes, so
at time zero it would hold X until its inputs move. Yosys therefore declares, per
module, a dummy register with a declaration initialiser::

    reg \\$auto$verilog_backend.cc:2355:dump_module$1  = 0;

and makes every ``always @*`` block read it (``if (<trigger>) begin end``). That works
only under the Verilog-2005 rule that a declaration initialiser is an assignment, i.e.
an event, at time zero. cocotb compiles for Icarus with ``-g2012``, and under the
SystemVerilog rule Icarus 11 applies the initialiser before time zero, without an event.
So under Icarus every combinational block of the design stayed X until an input
changed: the stream handshakes ``i_stream.ready`` and ``o_stream.valid`` (decoded from a
state register that starts at its reset value and does not change until the first
beat) were X, the test bench waited on ``ready`` while the design, which saw ``valid``,
took the same first beat again and again, and every result after that was shifted
(fewer cycles, wrong logits). Blocks that assign only a constant (the unused lanes'
h-bank read addresses) have no inputs at all and Yosys gives them no trigger; Icarus
warns "@* found no sensitivities so it will never trigger" and they stay X for ever.
Verilator evaluates all combinational logic at time zero and never showed either.

:func:`write_simulation_source` keeps the generator's text and changes only this:

* the trigger is declared without an initialiser and set by ``initial #0 trigger = 0``.
  The ``#0`` puts that assignment into the inactive region of time zero, after every
  ``always`` block has started and is waiting on its ``@*``, so X -> 0 is an event that
  each block sees, under either language rule and in any process order;
* each constant-only ``always @*`` block gets the same trigger.

Both simulators compile this one file (Verilator with ``--no-timing``, where ``#0`` is
moot because it settles combinational logic at time zero anyway).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["simulation_verilog", "write_simulation_source", "HDL_SOURCE"]

HDL_SOURCE = "top.v"

_TRIGGER_DECL = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+) += 0;$", re.M)
# a statement-only block: "always @*" and one assignment on the next line
_BARE_ALWAYS = re.compile(r"^(\s*)always @\*\n(\s*)([^\n;]*;)\n", re.M)
_MODULE = re.compile(r"^module .*?^endmodule\n?", re.M | re.S)


def _fix_module(text: str) -> str:
    decl = _TRIGGER_DECL.search(text)
    if decl is None:
        if _BARE_ALWAYS.search(text) or "always @*" in text:
            raise ValueError("a module has always @* blocks but no Yosys time-zero trigger; "
                             "the Yosys Verilog writer has changed, check cosim/hdl.py")
        return text
    indent, trigger = decl.group(1), decl.group(2)
    text = (text[:decl.start()]
            + f"{indent}reg {trigger} ;\n{indent}initial #0 {trigger} = 1'h0;"
            + text[decl.end():])
    return _BARE_ALWAYS.sub(
        lambda m: (f"{m.group(1)}always @* begin\n{m.group(2)}if ({trigger} ) begin end\n"
                   f"{m.group(2)}{m.group(3)}\n{m.group(1)}end\n"), text)


def simulation_verilog(verilog: str) -> str:
    """``verilog`` (Yosys ``write_verilog`` output) with a time-zero trigger that works in
    every simulator and language mode (see the module docstring)."""
    return _MODULE.sub(lambda m: _fix_module(m.group(0)), verilog)


def write_simulation_source(design, path: Path) -> Path:
    """Emit ``design`` (an Amaranth component) as module ``dut``, with the time-zero
    trigger fixed, and the :func:`harness` module ``top`` around it."""
    from amaranth.back import verilog
    path = Path(path)
    text = simulation_verilog(verilog.convert(design, name="dut"))
    path.write_text(text + "\n" + harness(text))
    return path


_PORT_DECL = re.compile(r"^\s*(input|output)\s+(\[[^\]]*\]\s*)?(\w+)\s*;", re.M)

#: reset cycles at the start of a simulation (the harness, not the bench, drives reset)
RESET_CYCLES = 2


def _ports(verilog: str, module: str) -> list[tuple[str, str, str]]:
    """``(direction, range, name)`` of each port of ``module``."""
    found = re.search(rf"^module {re.escape(module)}\(.*?^endmodule", verilog, re.M | re.S)
    if found is None:
        raise ValueError(f"no module {module} in the Verilog")
    return [(d, (r or "").strip(), n) for d, r, n in _PORT_DECL.findall(found.group(0))]


def harness(verilog: str, dut: str = "dut", top: str = "top") -> str:
    """A simulation top ``top`` around the design ``dut``: the same ports, less ``rst``,
    which the harness holds high for the first :data:`RESET_CYCLES` rising edges.

    Why reset is not an input: the Verilog that Amaranth emits computes the next value
    of every register in an ``always @*`` block ending in ``if (rst) next = init``. A
    top-level input that nearly all combinational logic reads puts that logic into
    Verilator's input-combinational (``ico``) phase, which runs on every evaluation
    (every clock edge and every write from the bench) on top of the evaluation after
    the clock edge. A register that only the clock changes keeps it out.
    """
    ports = [p for p in _ports(verilog, dut) if p[2] != "rst"]
    if not any(name == "clk" for _, _, name in ports):
        raise ValueError(f"module {dut} has no clk port")
    lines = [f"module {top}({', '.join(name for _, _, name in ports)});"]
    for direction, width, name in ports:
        lines.append(f"  {direction} {width + ' ' if width else ''}{name};")
    lines += [
        f"  reg [7:0] reset_left = 8'd{RESET_CYCLES};",
        "  wire rst = reset_left != 8'd0;",
        "  always @(posedge clk)",
        "    if (rst) reset_left <= reset_left - 8'd1;",
        f"  {dut} dut ({', '.join(f'.{n}({n})' for _, _, n in ports)}, .rst(rst));",
        "endmodule",
    ]
    return "\n".join(lines) + "\n"


def verilator_control(verilog: str, top: str = "top") -> str:
    """A Verilator control file that makes only the top module's ports visible to VPI.

    cocotb's runner passes ``--public-flat-rw``, which marks *every* signal as
    writable from outside. Verilator must then assume any of them may change between
    evaluations, so it re-evaluates all logic that reads them whenever an input (the
    clock included) changes: for the tmnist preset that was two thirds of the run time.
    The test bench touches only the ports; inputs are made writable, outputs readable.
    """
    lines = ["`verilator_config"]
    for direction, _, name in _ports(verilog, top):
        kind = "public_flat_rw" if direction == "input" else "public_flat_rd"
        lines.append(f'{kind} -module "{top}" -var "{name}"')
    return "\n".join(lines) + "\n"

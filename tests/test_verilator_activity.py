"""Activity from Verilator's SAIF trace (flows.verilator_activity).

The parser tests use Verilog and SAIF text written by hand in the shapes Yosys and
Verilator write; their expected counts are worked out in the comments. The simulation
test checks the Verilator counts against the Amaranth simulator's on the same design
and inputs, and the memory writes against the schedule's count (flows.energy).
"""

import re
from pathlib import Path

import numpy as np
import pytest

from flows import energy
from flows import verilator_activity as va
from hw.config import HardwareConfig
from model.config import preset
from model.encoding import random_input
from model.params import random_params
from conftest import param_load_writes

pytestmark = pytest.mark.flows

VERILOG = r"""
module dut(clk, rst, a, q);
  reg \$auto$verilog_backend.cc:2355:dump_module$1 ;
  wire [3:0] \$1 ;
  reg [3:0] \$2 ;
  input clk;
  wire clk;
  input rst;
  wire rst;
  input [3:0] a;
  wire [3:0] a;
  output [3:0] q;
  wire [3:0] q;
  reg [3:0] cnt = 4'h0;
  wire [3:0] \cnt[0].c ;
  wire [3:0] sum;
  (* ram_style = "block" *)
  reg [7:0] mem [255:0];
  reg [7:0] _0_;
  always @(posedge clk) begin
    if (wen)
      mem[{ cnt, a }] <= { cnt, a };
  end
  always @(posedge clk) begin
    _0_ <= mem[{ a, cnt }];
  end
  reg [3:0] small [3:0];
  always @(posedge clk) begin
    if (\sel$5 [1])
      small[cnt[1:0]] <= a;
  end
  assign rd = small[a[1:0]];
  assign \$1  = cnt + (* src = "x.py:1" *) 4'h1;
  (* src = "x.py:2" *)
  always @(posedge clk)
    cnt <= \$2 ;
  always @* begin
    if (\$auto$verilog_backend.cc:2355:dump_module$1 ) begin end
    \$2  = \$1 ;
    if (rst) begin
      \$2  = 4'h0;
    end
  end
  \dut.sub  sub (
    .clk(clk),
    .d(cnt),
    .q(q)
  );
  assign \cnt[0].c  = cnt;
  assign sum = { cnt[1:0], a[3:2] };
endmodule

module \dut.sub (clk, d, q);
  input clk;
  wire clk;
  input [3:0] d;
  wire [3:0] d;
  output [3:0] q;
  reg [3:0] q = 4'h0;
  always @(posedge clk)
    q <= d;
endmodule
"""


def test_verilog_nets_are_classified_where_they_are_driven():
    mods = va.classify_verilog(VERILOG)
    top, sub = mods["dut"], mods["dut.sub"]
    assert top.instances == {"sub": "dut.sub"}
    assert top.category["cnt"] == "registers"
    assert top.category["$1"] == "combinational"        # an adder's output
    assert top.category["$2"] == "combinational"        # the process in front of cnt
    assert top.category["_0_"] == "memory_read_data"    # a synchronous read port
    assert top.category["rd"] == "memory_read_data"     # an asynchronous one
    assert top.category["cnt[0].c"] == "wires"          # an escaped name with [ and .
    assert top.category["sum"] == "wires"               # a concatenation of slices
    assert "q" not in top.category                      # driven by the submodule
    assert "dump_module" not in " ".join(top.category)  # Yosys' time-zero trigger
    assert sub.category == {"q": "registers"} and sub.inputs == {"clk", "d"}
    assert top.memories["mem"] == {"depth": 256, "word_bits": 8, "block": True,
                                   "reads": [None], "writes": ["wen"]}
    assert top.memories["small"] == {"depth": 4, "word_bits": 4, "block": False,
                                     "reads": [None], "writes": ["\\sel$5 [1]"]}


def _net(name, t1, tc):
    return f"   ({name} (T0 {1000 - t1}) (T1 {t1}) (TZ 0) (TX 0) (TB 0) (TC {tc}))"


def _saif() -> str:
    lines = ['(SAIFILE', '(SAIFVERSION "2.0")', '(DIVIDER / )', '(TIMESCALE 1ps)', '(DURATION 1000)',
             ' (INSTANCE top', '  (NET', _net("clk", 500, 20), '  )',
             '  (INSTANCE dut', '   (NET',
             _net("a\\[0\\]", 100, 3), _net("a\\[1\\]", 100, 4), _net("clk", 500, 20),
             _net("cnt\\[0\\]", 500, 10), _net("cnt\\[1\\]", 500, 5), _net("cnt\\[2\\]", 0, 0),
             _net("cnt\\[3\\]", 0, 0), _net("$1\\[0\\]", 500, 10), _net("$2\\[0\\]", 500, 11),
             _net("_0_\\[0\\]", 300, 7), _net("rd\\[0\\]", 300, 2), _net("cnt[0].c\\[0\\]", 500, 10),
             _net("sum\\[0\\]", 500, 6), _net("wen", 300, 4), _net("sel$5\\[0\\]", 0, 0),
             _net("sel$5\\[1\\]", 200, 2), _net("q\\[0\\]", 500, 9),
             '   )',
             '   (INSTANCE sub', '    (NET', _net("d\\[0\\]", 500, 10), _net("q\\[0\\]", 500, 9),
             _net("q\\[1\\]", 500, 1), '    )', '   )',
             '  )', ' )', ')']
    return "\n".join(lines) + "\n"


def test_saif_counts_add_up_per_category(tmp_path):
    path = tmp_path / "dump.saif"
    path.write_text(_saif())
    saif, duration = va.read_saif(path)
    assert duration == 1000
    assert saif[("top", "dut", "sub")]["q"] == {0: (500, 9), 1: (500, 1)}
    got = va.count_activity(va.classify_verilog(VERILOG), saif, duration, period=100, cycles=9)
    # registers: cnt 10 + 5 + 0 + 0, sub.q 9 + 1 (dut.q is the same net, counted in sub)
    assert got["toggles"]["registers"] == 25
    assert got["register_bits"] == 4 + 4
    assert got["toggles"]["combinational"] == 10 + 11        # $1, $2
    assert got["toggles"]["memory_read_data"] == 7 + 2      # _0_, rd
    assert got["toggles"]["wires"] == 10 + 6                # cnt[0].c, sum
    assert got["toggles"]["ports"] == 3 + 4                 # the input a (clk, rst excluded)
    assert got["cycles"] == 9
    mem, small = got["memories"]["mem"], got["memories"]["small"]
    # reads without an enable: every cycle; writes: time at 1 over the 100 ps period
    assert (mem["class"], mem["read_port_cycles"], mem["write_cycles"]) == ("block", 9, 3)
    assert (small["class"], small["read_port_cycles"], small["write_cycles"]) == ("distributed", 9, 2)
    assert got["nets_not_traced"] == 0


def test_an_enable_that_is_an_expression_is_refused(tmp_path):
    text = VERILOG.replace("if (wen)", "if (wen & a[0])")
    path = tmp_path / "dump.saif"
    path.write_text(_saif())
    saif, duration = va.read_saif(path)
    with pytest.raises(ValueError, match="is an expression"):
        va.count_activity(va.classify_verilog(text), saif, duration, period=100)


def test_a_file_that_is_not_saif_is_refused(tmp_path):
    path = tmp_path / "dump.saif"
    path.write_text("(NET\n)\n")
    with pytest.raises(ValueError, match="no DURATION"):
        va.read_saif(path)


@pytest.mark.cosim
def test_verilator_counts_agree_with_the_amaranth_simulator(tmp_path):
    """Same design, same inputs: the flip-flops and the memory accesses are the same
    in both simulators; Yosys' nets are finer than Amaranth's signals, so the
    combinational count can only grow."""
    from flows.activity import measure_activity as amaranth_activity
    cfg = preset("tiny", encoding="level", hidden=(4, 8))
    hw = HardwareConfig(cfg, lanes=2, par=4)
    params = random_params(cfg, 3, threshold_scale=0.4)
    x = random_input(cfg, 2, np.random.default_rng(3))
    am = amaranth_activity(hw, params, x)
    ve = va.measure_activity(hw, params, x, folder=tmp_path / "va")
    assert ve["mismatch"] is None and ve["nets_not_traced"] == 0
    assert ve["cycles_reported"] == am["cycles_reported"] and ve["logits"] == am["logits"]
    assert ve["cycles"] == am["cycles"]
    assert ve["register_bits"] == am["register_bits"]
    for cat in ("registers", "memory_read_data"):
        assert ve["toggles"][cat] == pytest.approx(am["toggles"][cat], rel=2e-3), cat
    assert ve["toggles"]["combinational"] > am["toggles"]["combinational"]
    assert set(ve["memories"]) == set(am["memories"])
    for name, rec in am["memories"].items():
        mine = ve["memories"][name]
        for key in ("depth", "word_bits", "class", "read_ports", "write_ports",
                    "read_port_cycles", "write_cycles"):
            assert mine[key] == rec[key], (name, key)
    # and the writes are those the schedule counts (flows.energy.memory_reads)
    reads = energy.memory_reads(hw, params, x)
    written = {}
    for name, rec in ve["memories"].items():
        kind = re.sub(r"\.weights\.bank\d+$", ".weights", name)
        kind = re.sub(r"(acc|membranes|cstate|bank)\d+$", r"\1", kind)
        written[kind] = written.get(kind, 0) + rec["write_cycles"]
    load = param_load_writes(hw)  # once after reset (hw.param_rom)
    for name, rec in reads["memories"].items():
        assert written[name] == rec["writes"] + load.get(name, 0), name
    assert not (tmp_path / "va" / "dump.saif").exists()  # parsed, then removed
    # a second run of the same design reuses the simulator it built, and gives the same
    # counts; other weights (another top.v) rebuild it
    exe = tmp_path / "va" / "sim_verilator" / "top"
    built = exe.stat().st_mtime_ns
    again = va.measure_activity(hw, params, x, folder=tmp_path / "va")
    assert exe.stat().st_mtime_ns == built
    assert again["toggles"] == ve["toggles"] and again["logits"] == ve["logits"]
    # the same Verilog traced another way (a VCD, not SAIF) is another build
    from cosim.simulators import build
    runner, _, _ = build("verilator", tmp_path / "va", waves=True, saif=False)
    assert not runner.cached and exe.stat().st_mtime_ns != built
    built = exe.stat().st_mtime_ns
    other = random_params(cfg, 4, threshold_scale=0.4)
    va.measure_activity(hw, other, x, folder=tmp_path / "va")
    assert exe.stat().st_mtime_ns != built

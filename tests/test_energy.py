"""Energy models (flows.energy) and activity counting (flows.activity).

Expected values are worked out by hand in the comments from the published constants
(Horowitz ISSCC 2014; Shang et al. FPGA 2002), never taken from the code under test.
"""

import math
import re

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import memory
from amaranth.sim import Simulator

from flows import energy
from flows.activity import ToggleCounter, measure_activity
from hw.config import HardwareConfig
from model.config import NetworkConfig, preset
from model.encoding import random_input
from model.params import LayerParams, NetworkParams, random_params
from conftest import param_load_writes

# energy accounting is flow logic; the activity measurement below also runs the
# Amaranth simulator (hwsim)
pytestmark = pytest.mark.flows

# ---- per-operation energies --------------------------------------------------------------

def test_published_points_are_exact():
    assert energy.add_pj(8) == pytest.approx(0.03)
    assert energy.add_pj(32) == pytest.approx(0.1)
    assert energy.mult_pj(8) == pytest.approx(0.2)
    assert energy.mult_pj(32) == pytest.approx(3.1)


def test_width_rule_between_published_points():
    # 16 bits is the geometric middle of 8 and 32, so the power law gives the
    # geometric mean: sqrt(0.03 * 0.1) = sqrt(0.003) = 0.0547723 pJ,
    # sqrt(0.2 * 3.1) = sqrt(0.62) = 0.7874008 pJ
    assert energy.add_pj(16) == pytest.approx(0.0547723, rel=1e-6)
    assert energy.mult_pj(16) == pytest.approx(0.7874008, rel=1e-6)
    with pytest.raises(ValueError):
        energy.add_pj(0)


def test_sram_read_rule():
    kb = 8 * 1024
    assert energy.sram_pj(64, 8 * kb) == pytest.approx(10.0)       # published
    assert energy.sram_pj(32, 32 * kb) == pytest.approx(10.0)      # half of 20 pJ
    assert energy.sram_pj(64, 1024 * kb) == pytest.approx(100.0)   # published
    # 2 KB: a quarter of 8 KB, slope 0.5 below 8 KB: 10 * sqrt(1/4) = 5 pJ
    assert energy.sram_pj(64, 2 * kb) == pytest.approx(5.0)
    # 128 KB between 32 KB and 1 MB: slope log(5)/log(32); 20 * 4 ** slope
    assert energy.sram_pj(64, 128 * kb) == pytest.approx(20 * 4 ** (math.log(5) / math.log(32)))


# ---- (a) operation energy on a hand-computed case ------------------------------------------

def _wide_config(**changes):
    # acc_bits 31 and logit_bits 31 make the hardware accumulators 32 bits wide (an add
    # costs Horowitz's 0.1 pJ); u_bits = c_bits = 8 (0.03 pJ per add or compare)
    base = dict(inputs=2, hidden=(4,), steps=1, length=1, classes=2, encoding="spikes",
                w_bits=8, acc_bits=31, u_bits=8, c_bits=8, logit_bits=31)
    base.update(changes)
    return NetworkConfig(**base)


def _made_up_stats():
    return {"batch": 2, "readout_acs": 50, "saturations": {},
            "layers": [{"acs": 1000, "macs": 0, "comparisons": 300,
                        "gate_spikes": {"f": 10, "i": 20, "o": 30, "g": 40}, "c_spikes": 5,
                        "h_spikes": 7, "input_events": 3, "recurrent_events": 0}]}


def test_operation_energy_hand_computed():
    hw = HardwareConfig(_wide_config(), lanes=1, par=4)
    assert hw.acc_sum_bits(0) == 32 and hw.logit_sum_bits() == 32  # precondition of the case
    memory = {"sequences": 2, "memories": {
        "m": {"word_bits": 64, "capacity_bits": 8 * 1024 * 8, "reads": 4, "writes": 2}}}
    out = energy.operation_energy(hw, _made_up_stats(), memory)
    # over the batch of 2:
    #   accumulates 1000 x 0.1 = 100 pJ, readout 50 x 0.1 = 5 pJ           -> ac 105 pJ
    #   comparisons 300 x 0.03 = 9 pJ
    #   membranes: 2 cells x 4 neurons x 5 membranes = 40 adds, no leak,
    #   resets 10+20+30+40+5 = 105: 145 x 0.03 = 4.35 pJ; c: 8 x 0.03 = 0.24 pJ
    #                                                                   -> 4.59 pJ
    #   memory: (4 + 2) words x 10 pJ = 60 pJ
    # per inference: ac 52.5, comparison 4.5, neuron_update 2.295, memory 30 pJ
    b = out["breakdown_nj"]
    assert b["ac"] == pytest.approx(0.0525)
    assert b["comparison"] == pytest.approx(0.0045)
    assert b["neuron_update"] == pytest.approx(0.002295)
    assert b["memory"] == pytest.approx(0.030)
    assert out["total_nj"] == pytest.approx(0.089295)
    assert out["memory_included"]
    without = energy.operation_energy(hw, _made_up_stats(), None)
    assert without["total_nj"] == pytest.approx(0.059295)
    assert not without["memory_included"] and without["notes"]


def test_multiply_accumulates_of_direct_input():
    hw = HardwareConfig(_wide_config(encoding="direct", x_bits=8), lanes=1, par=4)
    assert hw.acc_sum_bits(0) == 32
    stats = _made_up_stats()
    stats["layers"][0]["macs"] = 100
    # each MAC: an 8-bit multiply 0.2 pJ + a 32-bit add 0.1 pJ; 100 x 0.3 / 2 sequences
    out = energy.operation_energy(hw, stats)
    assert out["breakdown_nj"]["mac"] == pytest.approx(0.015)


def test_leaks_are_charged():
    hw = HardwareConfig(_wide_config(leak_shift=(1, 0, 0, 0, 2)), lanes=1, par=4)
    out = energy.operation_energy(hw, _made_up_stats())
    # two leaky membranes: 2 cells x 4 neurons x 2 more adds = 16 x 0.03 pJ / 2 = 0.24 pJ more
    assert out["breakdown_nj"]["neuron_update"] == pytest.approx(0.002295 + 0.00024)


# ---- (b) activity energy on a hand-computed case -------------------------------------------

def test_activity_energy_hand_computed():
    activity = {
        "sequences": 2, "cycles": 1000, "register_bits": 100,
        "toggles": {"registers": 500, "combinational": 300, "memory_read_data": 200,
                    "ports": 7, "wires": 999},
        "memories": {
            "rom": {"class": "block", "word_bits": 64, "read_port_cycles": 1000, "write_cycles": 0},
            "lutram": {"class": "distributed", "word_bits": 8, "read_port_cycles": 1000, "write_cycles": 5}},
    }
    out = energy.activity_energy(activity, "xilinx", 100.0, static_w=0.2)
    # 7-series scaling from Virtex-II: (28 / 150) * (1.0 / 1.5) ** 2 = 0.0829630
    scale = (28 / 150) * (1.0 / 1.5) ** 2
    # net toggle: 5.9 pJ x (1 - 0.14/0.90) / (16 x 0.125) = 2.491111 pJ at 150 nm
    net = 5.9 * (1 - 0.14 / 0.90) / (16 * 0.125) * scale          # 0.206670 pJ
    clock = 5.9 * (0.14 / 0.90) / 8 * scale                          # 0.0095177 pJ
    bram_bit = 10 / 64 * (28 / 45) * (1.0 / 0.9) ** 2                # 0.120027 pJ
    assert out["energies_pj"]["net_toggle"] == pytest.approx(0.206670, rel=1e-5)
    assert out["energies_pj"]["clock_per_ff"] == pytest.approx(0.0095177, rel=1e-4)
    assert out["energies_pj"]["bram_bit"] == pytest.approx(0.120027, rel=1e-5)
    # per inference: (500 + 300 + 200) toggles (wires and ports are not charged),
    # 1000 cycles x 100 bits of clock, 1000 x 64 block-RAM bits, all over 2 sequences
    dynamic_pj = (1000 * net + 1000 * 100 * clock + 1000 * 64 * bram_bit) / 2   # 4420.07 pJ
    assert out["dynamic_nj"] == pytest.approx(dynamic_pj / 1000)
    assert out["dynamic_nj"] == pytest.approx(4.42007, rel=1e-5)
    # static: 0.2 W x 500 cycles per sequence / 100 MHz = 0.2 W x 5 us = 1000 nJ
    assert out["static_nj"] == pytest.approx(1000.0)
    assert out["total_nj"] == pytest.approx(1004.42007, rel=1e-7)
    assert sum(out["breakdown_nj"].values()) == pytest.approx(out["total_nj"])


def test_ecp5_register_toggles_use_the_board_measurement():
    activity = {"sequences": 1, "cycles": 10, "register_bits": 0,
                "toggles": {"registers": 1000, "combinational": 0, "memory_read_data": 0,
                            "ports": 0, "wires": 0}, "memories": {}}
    out = energy.activity_energy(activity, "ecp5", 100.0, static_w=0.0)
    # ULX3S: 25 uW at 100 MHz for one flip-flop toggling every cycle = 0.25 pJ per toggle;
    # 1000 toggles = 250 pJ = 0.25 nJ
    assert out["breakdown_nj"]["registers"] == pytest.approx(0.25)
    # the derived ECP5 net toggle is not what registers are charged:
    # 5.9 x (1 - 0.14/0.9) / 2 x (40/150) x (1.1/1.5)^2 = 0.35722 pJ
    assert out["energies_pj"]["net_toggle"] == pytest.approx(0.35722, rel=1e-4)


def test_static_power_scales_with_device_size():
    w85, _ = energy.static_power_w("ecp5", 83640)
    assert w85 == pytest.approx(0.212 * 1.1)          # 212 mA at 1.1 V
    w, _ = energy.static_power_w("xilinx", 203800)     # XC7K325T
    assert w == pytest.approx(0.163 * 203800 / 133800)
    with pytest.raises(ValueError):
        energy.static_power_w("ice40", 1000)
    with pytest.raises(ValueError):
        energy.activity_energy({"sequences": 1}, "ecp5", 0)


def test_every_constant_names_its_source():
    for row in energy.constants_table():
        assert row["source"] and row["unit"], row["name"]
        if row["assumed"]:
            assert "ASSUMED" in row["source"], row["name"]


# ---- memory reads from the schedule --------------------------------------------------------

def test_memory_reads_hand_counted():
    # one lane, one step, two elements, P = 4 so one chunk (4H / P = 1); the neuron
    # never fires (zero weights, largest thresholds), so every h is 0
    cfg = NetworkConfig(inputs=2, hidden=(1,), steps=1, length=2, classes=2, encoding="spikes")
    hw = HardwareConfig(cfg, lanes=1, par=4)
    top = 2 ** (cfg.u_bits - 1) - 1
    lp = LayerParams(w_x=np.zeros((4, 1, 2), np.int64), w_h=np.zeros((4, 1, 1), np.int64),
                     bias=np.zeros((4, 1), np.int64), u0=np.zeros((5, 1), np.int64),
                     theta_pos=np.full(5, top), theta_neg=np.full(5, top))
    params = NetworkParams([lp], w_out=np.ones((2, 1), np.int64), b_out=np.zeros(2, np.int64))
    x = np.array([[[[1, 0]], [[1, -1]]]])  # [B=1, N=2, T=1, M=2]
    out = energy.memory_reads(hw, params, x)
    mem = out["memories"]
    # rounds: (0,0) then (1,0); events: 1 (x of element 0), 2 (x of element 1) + 0 (h = 0)
    assert out["layer_events"] == [3]
    assert mem["layer0.weights"]["reads"] == 3            # E x C
    assert mem["layer0.bias"]["reads"] == 2               # C per round
    assert mem["layer0.u0"]["reads"] == 2                 # both rounds start a step 0
    assert (mem["layer0.acc"]["reads"], mem["layer0.acc"]["writes"]) == (5, 5)   # 3 + 2 x 1
    assert (mem["layer0.membranes"]["reads"], mem["layer0.membranes"]["writes"]) == (0, 2)
    assert (mem["layer0.cstate"]["reads"], mem["layer0.cstate"]["writes"]) == (1, 2)
    # bank: 2 writes; 1 recurrent read (element 1) + 1 readout read (T = 1)
    assert (mem["layer0.bank"]["reads"], mem["layer0.bank"]["writes"]) == (2, 2)
    assert (mem["inbuf"]["reads"], mem["inbuf"]["writes"]) == (2, 2)
    assert mem["w_out"]["reads"] == 0
    assert mem["layer0.weights"]["word_bits"] == 4 * 8
    # (M + H) columns << 1 chunk-address bit (hw.rom.bits_for gives at least one bit)
    assert mem["layer0.weights"]["depth"] == 6


# ---- activity counting ---------------------------------------------------------------------

def test_toggle_counter_on_a_hand_made_design():
    m = Module()
    cnt = Signal(3)
    parity, alias = Signal(), Signal(3)
    m.d.sync += cnt.eq(cnt + 1)
    m.d.comb += [parity.eq(cnt[0] ^ cnt[1]), alias.eq(cnt)]
    m.submodules.mem = mem = memory.Memory(shape=8, depth=4, init=[1, 2, 3, 4])
    rd, wr = mem.read_port(), mem.write_port()
    m.d.comb += [rd.addr.eq(cnt[:2]), wr.addr.eq(cnt[:2]), wr.data.eq(0xFF), wr.en.eq(cnt == 3)]
    sim = Simulator(m)
    sim.add_clock(1e-6)
    counter = ToggleCounter(sim)

    async def bench(ctx):
        for _ in range(8):
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    got = counter.result()
    assert got["cycles"] == 8
    assert got["register_bits"] == 3
    # cnt 0..7 then 0: bit 0 toggles 8 times, bit 1 4, bit 2 2
    assert got["toggles"]["registers"] == 14
    # parity over 0,1,2,3,4,5,6,7,0 is 0,1,1,0,0,1,1,0,0: 4 toggles; wr.en high at 3 only: 2
    assert got["toggles"]["combinational"] == 6
    # alias (14) and the two addresses cnt[:2] (12 each); the constant 0xFF on wr.data
    # settles before the first edge and is not counted
    assert got["toggles"]["wires"] == 38
    # read data 0 -> 1 -> 2 -> 3 -> 4 -> 1 -> 2 -> 3 -> 0xFF (address 3 was written 0xFF
    # at the fourth edge): 1 + 2 + 1 + 3 + 2 + 2 + 1 + 6 = 18 bit toggles
    assert got["toggles"]["memory_read_data"] == 18
    rec = got["memories"]["mem"]
    assert (rec["read_port_cycles"], rec["write_cycles"]) == (8, 1)
    assert rec["class"] == "distributed"


@pytest.mark.hwsim
def test_simulated_writes_match_the_schedule_counts():
    """flows.activity counts write enables in the simulated hardware; flows.energy
    derives the same writes from the schedule. The two must agree exactly."""
    cfg = preset("tiny", encoding="level", hidden=(4, 8))
    hw = HardwareConfig(cfg, lanes=2, par=4)
    params = random_params(cfg, 3, threshold_scale=0.4)
    x = random_input(cfg, 2, np.random.default_rng(3))
    act = measure_activity(hw, params, x)
    reads = energy.memory_reads(hw, params, x)
    assert act["sequences"] == reads["sequences"] == 2
    simulated = {}
    for name, rec in act["memories"].items():
        kind = re.sub(r"\.weights\.bank\d+$", ".weights", name)  # the weight ROM's banks
        kind = re.sub(r"(acc|membranes|cstate|bank)\d+$", r"\1", kind)  # one per lane
        simulated[kind] = simulated.get(kind, 0) + rec["write_cycles"]
    load = param_load_writes(hw)  # once after reset (hw.param_rom)
    for name, rec in reads["memories"].items():
        assert simulated[name] == rec["writes"] + load.get(name, 0), name
    assert act["toggles"]["registers"] > 0 and act["register_bits"] > 0
    assert len(act["cycles_reported"]) == 2
    # the pipelined design samples inputs and produces results within the window
    assert act["cycles"] > sum(act["cycles_reported"])

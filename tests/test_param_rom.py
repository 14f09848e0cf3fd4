"""The parameter ROM (hw.param_rom): every integer of a package in block RAM, so any
package of a configuration patches into a bitstream built for another (#17 part 3)."""

from __future__ import annotations

import difflib
import re

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from hw import param_rom as pr
from hw.config import HardwareConfig
from hw.latency import startup_cycles
from hw.network import SpikingLSTMNetwork
from model.cells import start_values
from model.config import preset
from model.params import random_params

pytestmark = pytest.mark.hwsim


def _decode(hw, words):
    """The image read back the way the loader does it, written here from the layout
    the module docstring gives: {target name: [packed word, ...]}."""
    width, tags = pr.rom_width(hw), pr.tag_bits(hw)
    dbits = width - tags
    names = [t.name for t in pr.targets(hw)]
    out = {n: [] for n in names}
    parts = []
    for w in words[:pr.used_words(hw)]:
        parts.append(w & ((1 << dbits) - 1))
        tag = w >> dbits
        if tag:
            out[names[tag - 1]].append(sum(p << (i * dbits) for i, p in enumerate(parts)))
            parts = []
    assert not parts, "parts after the last tagged word"
    return out


def _signed(value, bits):
    return value - (1 << bits) if value >> (bits - 1) else value


def _fields(packed, bits, count):
    return [_signed((packed >> (i * bits)) & ((1 << bits) - 1), bits) for i in range(count)]


@pytest.mark.parametrize("name,changes,par", [
    ("tiny", {}, 4), ("tiny", {"cell": "slstm"}, 8), ("tiny", {"cell": "if_neuron"}, 4),
    ("tiny", {"cell": "lstm", "encoding": "direct", "steps": 1, "c_bits": 14}, 4),
    ("digits", {}, 16)])
def test_the_image_holds_every_value_of_the_package(name, changes, par):
    net = preset(name, **changes)
    hw = HardwareConfig(net, lanes=1, par=par)
    params = random_params(net, 4)
    words = pr.image(hw, params)
    assert len(words) == pr.DEPTH and all(0 <= w < (1 << pr.rom_width(hw)) for w in words)
    assert pr.used_words(hw) <= pr.DEPTH - pr.FILLER
    got = _decode(hw, words)
    cell_def = net.cell_def()
    G, S = len(cell_def.GATES), len(cell_def.MEMBRANES)
    Q = hw.neurons_per_chunk
    for l, lp in enumerate(params.layers):
        zb = hw.acc_sum_bits(l)
        bias = np.asarray(lp.bias)  # [G, H]: chunk c holds neurons c*Q.., entry q*G + a
        for c, packed in enumerate(got[f"layer{l}.bias"]):
            want = [int(bias[e % G, c * Q + e // G]) for e in range(Q * G)]
            assert _fields(packed, zb, Q * G) == want
        if S:
            u0 = start_values(cell_def, net, l, lp)  # [S, H]
            for c, packed in enumerate(got[f"layer{l}.u0"]):
                want = [int(u0[e % S, c * Q + e // S]) for e in range(Q * S)]
                assert _fields(packed, net.u_bits, Q * S) == want
        consts = cell_def.by_role("constant")
        if consts:
            (packed,) = got[f"layer{l}.theta"]
            pos = 0
            for spec in consts:
                values = [int(v) for v in np.ravel(getattr(lp, spec.name))]
                bits = getattr(net, spec.bits)
                assert _fields(packed >> pos, bits, len(values)) == values
                pos += bits * len(values)
        else:
            assert f"layer{l}.theta" not in got
    (packed,) = got["b_out"]
    assert _fields(packed, net.logit_bits, net.classes) == [int(b) for b in params.b_out]


def test_images_of_two_packages_differ_only_in_their_parameter_words():
    net = preset("tiny")
    hw = HardwareConfig(net, lanes=2, par=4)
    a, b = pr.image(hw, random_params(net, 1)), pr.image(hw, random_params(net, 2))
    used = pr.used_words(hw)
    assert a[used:] == b[used:] and a[:used] != b[:used]
    # every bit column of the 512 words is non-zero and distinct (ecpbram finds each)
    for words in (a, b):
        cols = [tuple((w >> bit) & 1 for w in words) for bit in range(pr.rom_width(hw))]
        assert all(any(c) for c in cols) and len(set(cols)) == len(cols)


def test_the_netlist_depends_on_the_package_only_through_rom_contents():
    """Two packages of one configuration give the same RTLIL but for the memories' init
    data: the weight banks, W_out and the parameter ROM. So a bitstream built for one
    runs the other once its block RAMs are rewritten (flows.bram)."""
    net = preset("tiny")
    hw = HardwareConfig(net, lanes=2, par=4)
    a = rtlil.convert(SpikingLSTMNetwork(hw, random_params(net, 1)), name="top").splitlines()
    b = rtlil.convert(SpikingLSTMNetwork(hw, random_params(net, 2)), name="top").splitlines()
    assert len(a) == len(b)
    diff = [line for line in difflib.unified_diff(a, b, lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert diff, "two random packages gave the same netlist: the test lost its point"
    init = re.compile(r"^[+-]\s*connect \\DATA \d+'[01]+$")
    assert all(init.match(line) for line in diff), [l[:80] for l in diff if not init.match(l)]
    # one line each way per memory with an init: weight bank, W_out, parameter ROM
    assert len(diff) == 2 * 3


def test_after_reset_the_loader_fills_every_target_then_the_input_opens():
    net = preset("tiny")
    hw = HardwareConfig(net, lanes=2, par=4)
    params = random_params(net, 6)
    dut = SpikingLSTMNetwork(hw, params)
    seen = {}

    async def bench(ctx):
        cycle = 0
        while not ctx.get(dut.i_stream.ready):
            await ctx.tick()
            cycle += 1
            assert cycle < 10_000, "the input never opened"
        seen["ready_at"] = cycle
        layer = dut.layers[0]
        seen["bias"] = [[int(v) for v in ctx.get(layer.bias_mem.data[c])] for c in range(hw.chunks(0))]
        seen["acc"] = [layer.acc_mems[0].word(ctx, c) for c in range(hw.chunks(0))]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen["ready_at"] == startup_cycles(hw)
    # chunk c holds neurons c*Q .. c*Q + Q - 1, entry q*G + a (docs/hardware.md, hw.rom)
    bias, G, Q = np.asarray(params.layers[0].bias), len(net.cell_def().GATES), hw.neurons_per_chunk
    want = [[int(bias[e % G, c * Q + e // G]) for e in range(Q * G)] for c in range(hw.chunks(0))]
    assert seen["bias"] == want
    # the INIT pass restarted the accumulators from the loaded biases
    assert seen["acc"] == want

"""Board registry, the flows' step lists, fit checks, block RAM patching and one real
ECP5 build."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import wiring

from flows import boards, bram
from flows.boards import BOARDS, BoardError
from flows import synth
from flows.synth import KEEP_FANOUT, FitError, check_fit, default_hardware, default_par, ecp5_fit
from hw.board.top import BoardTop
from flows.yosys import synth_stat
from hw.config import HardwareConfig
from hw.fanout import copies
from hw.network import SpikingLSTMNetwork
from model.config import preset
from model.params import random_params

pytestmark = pytest.mark.flows

EXPECTED_BOARDS = {"ulx3s-12f", "ulx3s-25f", "ulx3s-45f", "ulx3s-85f", "orangecrab", "ecpix5-85",
                   "versa-ecp5", "kc705", "genesys2"}


def test_registry_has_the_required_boards():
    assert EXPECTED_BOARDS <= set(BOARDS)
    assert {BOARDS[b].family for b in EXPECTED_BOARDS} == {"ecp5", "xilinx"}
    assert BOARDS["kc705"].family == "xilinx" and BOARDS["ulx3s-12f"].family == "ecp5"


def test_nextpnr_places_with_the_seed_and_routes_with_timing_driven_ripup():
    args = synth.nextpnr_args(boards.board("ulx3s-85f"), 3)
    assert args[args.index("--seed") + 1] == "3"
    assert synth.NEXTPNR_TIMING_RIPUP and "--tmg-ripup" in args
    assert "--tmg-ripup" not in synth.nextpnr_args(boards.board("ulx3s-85f"), 3, timing_ripup=False)
    assert synth.FlowOptions("ulx3s-85f", "digits").timing_ripup is True


FAKE_NEXTPNR = """\
import json, sys, time
from pathlib import Path
args = sys.argv[1:]
with open("calls.txt", "a") as f:
    f.write(" ".join(args) + "\\n")
for i in range(1, (2000 if "--tmg-ripup" in args else 0) + 1):  # a stuck router, bounded
    print(f"Info:     iter={i} wires=100 overused=0 overuse=0 tmgfail=3 archfail=NA", flush=True)
    if i == SETTLE:
        break
    time.sleep(0.001)
Path(args[args.index("--report") + 1]).write_text(json.dumps({"fmax": {"clk": {"achieved": 99.0}}}))
Path(args[args.index("--textcfg") + 1]).write_text("config")
print("Info: Program finished normally.")
"""


@pytest.mark.parametrize("settle", [4, None], ids=["settles", "stuck"])
def test_ripup_that_does_not_settle_is_given_up_and_routed_again(tmp_path, monkeypatch, settle):
    """A router that keeps iterating with --tmg-ripup is stopped after
    NEXTPNR_RIPUP_ITERATIONS and the seed placed again without it; one that settles runs
    once."""
    import sys
    fake = tmp_path / "nextpnr"
    fake.write_text(f"#!{sys.executable}\nSETTLE = {settle}\n" + FAKE_NEXTPNR)
    fake.chmod(0o755)
    monkeypatch.setenv("NEXTPNR_ECP5", str(fake))
    monkeypatch.setattr(synth, "NEXTPNR_RIPUP_ITERATIONS", 20)
    (tmp_path / "nextpnr.ripup.log").write_text("an earlier build's")
    got = synth.run_nextpnr(boards.board("ulx3s-85f"), tmp_path, 2, "", "router2", True)
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert (tmp_path / "pnr.json").exists() and (tmp_path / "placeholder.config").exists()
    assert "Program finished" in (tmp_path / "nextpnr.log").read_text()
    if settle:
        assert got is None and len(calls) == 1 and "--tmg-ripup" in calls[0]
        assert not (tmp_path / "nextpnr.ripup.log").exists()
    else:
        assert got == 20 and len(calls) == 2
        assert "--tmg-ripup" in calls[0] and "--tmg-ripup" not in calls[1]
        assert "--seed 2" in calls[1]
        stopped = (tmp_path / "nextpnr.ripup.log").read_text()
        assert "iter=20 " in stopped and "iter=21 " not in stopped
        assert "did not settle in 20 router iterations" in stopped.splitlines()[-1]


def test_ripup_watch_counts_router2_iterations_only():
    watch = synth.RipupWatch(3)
    assert watch("Info:     at initial placer iter 7, wirelen = 11203") is None
    assert watch("Info:     iter=2 wires=1 overused=0 overuse=0 tmgfail=0 archfail=NA") is None
    assert watch.iterations == 2
    assert "3 router iterations" in watch("Info:     iter=3 wires=1 overused=0")


def test_ripup_watch_gives_up_a_router_that_stopped_improving():
    def line(i, overused, failing):
        return f"Info:     iter={i} wires=9 overused={overused} overuse=0 tmgfail={failing} archfail=NA"
    watch = synth.RipupWatch(300, patience=3, congestion=0.01)
    # congestion first (1000 -> 10 overused wires): tmgfail is not judged while it lasts
    assert all(watch(line(i, ov, 50)) is None for i, ov in enumerate([1000, 500, 200, 100, 11], 1))
    # then a new low (40) restarts the count; three iterations without one stop it
    assert all(watch(line(i, 0, f)) is None for i, f in zip(range(6, 11), [45, 44, 46, 40, 41]))
    assert watch(line(11, 2, 40)) is None
    assert "no fewer than 40 failing timing endpoints in 3 router iterations (at iteration 12)" \
        in watch(line(12, 0, 43))
    # a router whose failing endpoints reach zero is left to settle its congestion
    calm = synth.RipupWatch(300, patience=3)
    assert all(calm(line(i, ov, f)) is None
               for i, (ov, f) in enumerate([(1000, 9), (5, 2), (3, 0), (2, 0), (1, 0), (1, 0), (0, 0)], 1))
    # without patience only the iteration limit counts
    assert synth.RipupWatch(300)(line(12, 0, 43)) is None


def test_unknown_board_names_the_valid_ones():
    with pytest.raises(BoardError) as err:
        boards.board("ulx3s-99f")
    msg = str(err.value)
    assert "ulx3s-99f" in msg
    assert all(name in msg for name in EXPECTED_BOARDS)


def test_make_boards_lists_every_board(capsys):
    assert boards.main([]) == 0
    out = capsys.readouterr().out
    for name in BOARDS:
        assert name in out
    assert "LFE5U-85F" in out and "xc7k325t" in out


def test_constraint_changes_only_the_timing_target():
    b = boards.board("ulx3s-85f")
    assert b.platform(constrain_mhz=100).default_clk_frequency == 100e6
    assert b.clock_hz == 25e6  # the oscillator the UART divisor must use
    assert b.platform().default_clk_frequency == 25e6


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_board_elaborates_without_a_toolchain(name, tmp_path):
    b = boards.board(name)
    net = preset("tiny")
    hw = HardwareConfig(net, lanes=1, par=4)
    top = BoardTop(SpikingLSTMNetwork(hw, random_params(net, 0)), clk_hz=b.clock_hz)
    plan = b.platform().build(top, name="top", build_dir=str(tmp_path), do_build=False)
    plan.extract(str(tmp_path))
    files = {p.name for p in tmp_path.iterdir()}
    assert "top.il" in files or "top.v" in files
    if b.family == "ecp5":
        assert "top.lpf" in files
        lpf = (tmp_path / "top.lpf").read_text()
        assert "uart" in lpf  # the UART pins are placed
    else:
        assert "top.xdc" in files and "top.tcl" in files  # the Vivado project


def test_default_hardware_is_the_wavefront_with_p_16():
    hw = default_hardware(preset("tmnist"))
    assert (hw.lanes, hw.par) == (preset("tmnist").steps, 16)
    assert default_hardware(preset("tmnist"), lanes=1, par=32).lanes == 1


def test_default_par_is_the_largest_multiple_of_4_up_to_16_dividing_every_4h():
    tiny = preset("tiny")
    assert default_par(tiny) == 16                                   # H = 8: 4H = 32
    assert default_par(replace(tiny, hidden=(6,))) == 12             # 4H = 24
    assert default_par(replace(tiny, hidden=(6, 5))) == 4            # 24 and 20
    assert default_hardware(replace(tiny, hidden=(6,))).par == 12


def test_every_family_has_one_ordered_list_of_named_steps():
    assert set(synth.FLOWS) == {b.family for b in BOARDS.values()}
    for family, steps in synth.FLOWS.items():
        names = [s.name for s in steps]
        assert len(set(names)) == len(names), family
        assert names[0] == "load" and names[-1] == "report", family
        assert all(isinstance(s, synth.Step) for s in steps)
    assert [s.name for s in synth.ECP5_STEPS] == ["load", "generate_top", "synth", "place_and_route",
                                                  "measure", "report"]
    assert [s.name for s in synth.XILINX_STEPS][3] == "vivado_project"
    assert synth.flow_steps(boards.board("kc705")) is synth.XILINX_STEPS
    with pytest.raises(BoardError, match="no flow for family 'ice40'"):
        synth.flow_steps(replace(boards.board("ulx3s-85f"), family="ice40"))


class _Recording(synth.Step):
    def __init__(self, name, key):
        self.name, self.key = name, key

    def title(self, ctx):
        return f"do {self.name} for {ctx.options.model}"

    def run(self, ctx):
        ctx.flow[self.key] = len(ctx.steps)  # the steps done before this one
        ctx.tool("made-up-tool", "1.0")
        ctx.output("file", f"/x/{self.name}")
        ctx.figure("n", 7)


def test_run_flow_runs_the_family_list_in_order_and_records_each_step(monkeypatch, capsys):
    steps = (_Recording("first", "a"), _Recording("second", "b"))
    monkeypatch.setitem(synth.FLOWS, "ecp5", steps)
    flow = synth.run_flow("ulx3s-12f", "tiny")
    assert capsys.readouterr().out.splitlines() == ["[1/2] do first for tiny", "[2/2] do second for tiny"]
    assert (flow["a"], flow["b"]) == (0, 1)
    assert flow["tools"] == {"made-up-tool": "1.0"}
    assert "steps" not in flow  # only the report step writes the step entries into the record


def test_a_step_may_start_its_work_early_beside_the_steps_in_between(monkeypatch, capsys):
    """Step.early_after: the measure step's work starts when yosys is done and runs while
    place and route does; its result reaches its own step, and so does its error."""
    import threading
    started = threading.Event()

    class Synth(synth.Step):
        name = "synth"

        def run(self, ctx):
            pass

    class Pnr(synth.Step):
        name = "place_and_route"

        def run(self, ctx):
            # would time out if the measure step's work waited for this step to end
            ctx.flow["overlapped"] = started.wait(timeout=30)

    class Measure(synth.Step):
        name = "measure"
        early_after = "synth"

        def work(self, ctx):
            started.set()
            if ctx.options.model == "broken":
                raise RuntimeError("the simulation disagrees")
            return 42

        def run(self, ctx):
            ctx.flow["measured"] = ctx.background.pop(self.name).result()

    monkeypatch.setitem(synth.FLOWS, "ecp5", (Synth(), Pnr(), Measure()))
    flow = synth.run_flow("ulx3s-12f", "tiny")
    assert flow == {"overlapped": True, "measured": 42}
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "  starting step 'measure' early, in the background"
    assert out[3] == "[3/3] measure (started early, in the background)"
    started.clear()
    with pytest.raises(RuntimeError, match="the simulation disagrees"):
        synth.run_flow("ulx3s-12f", "broken")


def test_report_step_writes_the_records_of_the_steps_before_it(monkeypatch, tmp_path):
    class Load(synth.Step):
        name = "load"

        def run(self, ctx):
            ctx.build = tmp_path
            ctx.flow["model"] = "m"
            ctx.figure("n", 3)

    written = {}
    monkeypatch.setattr(synth, "_report", lambda flow, out: written.setdefault("out", out))
    monkeypatch.setitem(synth.FLOWS, "ecp5", (Load(), synth.WriteReport()))
    flow = synth.run_flow("ulx3s-12f", "tiny", reports_root=tmp_path / "r")
    saved = json.loads((tmp_path / "flow.json").read_text())
    assert saved == flow
    assert [(s["name"], s["title"], s["figures"]) for s in saved["steps"]] == [("load", "load", {"n": 3})]
    assert saved["steps"][0]["wall_s"] >= 0 and "total" in saved["wall_s"]
    assert written["out"] == tmp_path / "r" / "ulx3s-12f" / "m"


def test_a_rebuild_cut_short_leaves_no_finished_record(monkeypatch, tmp_path):
    # the build folder holds a finished flow.json and top.bit of an earlier design; the
    # rebuild stops (Ctrl-C) after loading: no flow.json may pair the old files with it
    build = tmp_path / "ulx3s-12f" / "tiny-random"
    build.mkdir(parents=True)
    (build / "flow.json").write_text('{"model": "tiny-random"}')
    (build / "top.bit").write_bytes(b"old")

    class Interrupt(synth.Step):
        name = "synth"

        def run(self, ctx):
            raise KeyboardInterrupt

    monkeypatch.setitem(synth.FLOWS, "ecp5", (synth.LoadPackage(), Interrupt(), synth.WriteReport()))
    with pytest.raises(KeyboardInterrupt):
        synth.run_flow("ulx3s-12f", "tiny", build_root=tmp_path, reports_root=tmp_path / "r")
    assert not (build / "flow.json").exists()
    assert not (tmp_path / "r").exists()


def test_board_hardware_does_not_import_the_flows():
    code = ("import sys, hw.board.top, hw.board.uart, hw.board.protocol; "
            "print(sorted(m for m in sys.modules if m == 'flows' or m.startswith('flows.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fit_check_stops_with_the_figures():
    cells = {"LUT4": 10000, "CCU2C": 2000, "TRELLIS_FF": 5000, "DP16KD": 40, "MULT18X18D": 0}
    usage = ecp5_fit(cells, boards.DEVICES["LFE5U-12F"])
    assert usage["LUT"] == (14000, 12096)  # a CCU2C counts as two LUT4s
    with pytest.raises(FitError) as err:
        check_fit(usage, "LFE5U-12F")
    msg = str(err.value)
    assert "LFE5U-12F" in msg and "LUT" in msg and "BRAM 40/32" in msg and "14000/12096" in msg
    check_fit(ecp5_fit(cells, boards.DEVICES["LFE5U-85F"]), "LFE5U-85F")  # fits: no error


def test_placeholders_are_a_random_package_with_distinct_nonzero_slices():
    net = preset("tiny")
    hw = HardwareConfig(net, lanes=1, par=4)
    params = random_params(net, 3)
    ph = bram.placeholder_params(hw, seed=5)
    ph.validate(net)
    cols = [c for rom in bram.patchable_roms(hw, ph) for c in rom.columns()]
    assert all(any(c) for c in cols) and len(set(cols)) == len(cols)
    assert [r.name for r in bram.patchable_roms(hw, ph)] == ["layer0.weights", "w_out", "params"]
    # the placeholder depends on the configuration and the seed alone: make weights
    # rebuilds the same words from roms.json's seed
    again = bram.placeholder_params(hw, seed=5)
    for a, b in zip(bram.patchable_roms(hw, ph), bram.patchable_roms(hw, again)):
        assert a.words == b.words, a.name
    assert not np.array_equal(ph.layers[0].w_x, params.layers[0].w_x)
    assert not np.array_equal(ph.layers[0].bias, params.layers[0].bias)


def test_find_slices_reads_a_hand_made_bram():
    # one block RAM in the 36-bit mode: word k holds data bit b at bit 36*k + b
    rng = np.random.default_rng(0)
    column = rng.integers(0, 2, size=512)
    bits = np.zeros(2048 * 9, dtype=np.int64)
    bits[np.arange(512) * 36 + 5] = column  # data bit 5 of every word
    words = [int(sum(int(bits[9 * i + j]) << j for j in range(9))) for i in range(2048)]
    text = ".device LFE5U-85F\n.bram_init 0\n" + "\n".join(
        " ".join(f"{w:03x}" for w in words[i:i + 8]) for i in range(0, 2048, 8)) + "\n"
    found = bram.find_slices(text)
    assert found.get(tuple(int(v) for v in column)) == 1


# ---- a real build -------------------------------------------------------------------------

def _unpacked_slices(bit: Path, tmp: Path) -> dict:
    from flows.tools import find_tool
    (tmp / "in.bit").write_bytes(bit.read_bytes())
    subprocess.run(find_tool("ecpunpack") + ["in.bit", "out.config"], cwd=tmp, check=True,
                   capture_output=True)
    return bram.find_slices((tmp / "out.config").read_text())


@pytest.mark.synth
def test_tiny_builds_to_a_bitstream_whose_brams_hold_the_weights(tmp_path, monkeypatch):
    from flows.synth import run_flow
    from flows.weights import patch_bitstream
    from hw.package import write_package
    flow = run_flow("ulx3s-85f", "tiny", lanes=1, par=4, sequences=2, build_root=tmp_path / "build",
                    reports_root=tmp_path / "reports", compare=False)
    build = tmp_path / "build" / "ulx3s-85f" / "tiny-random"
    bit = build / "top.bit"
    assert bit.stat().st_size > 100_000
    assert flow["resources"]["used"]["DP16KD"] >= 2  # weights and W_out in block RAM
    assert flow["resources"]["used"].get("MULT18X18D", 0) == 0
    assert flow["timing"]["measured"] and flow["timing"]["fmax_mhz"] > 25
    assert flow["sim"]["cycles_simulated"] == flow["sim"]["cycles_analytic"]
    saved = json.loads((build / "flow.json").read_text())
    assert saved["board"] == "ulx3s-85f"
    assert [s["name"] for s in saved["steps"]] == ["load", "generate_top", "synth", "place_and_route",
                                                   "measure"]
    assert saved["steps"][3]["outputs"]["bitstream"] == str(bit) == saved["bitstream"]
    assert saved["steps"][2]["tools"]["yosys"] == saved["tools"]["yosys"]
    # every tool's log says what happened: yosys's whole log, ecppack's command line
    assert "Printing statistics" in (build / "yosys.log").read_text()
    assert "ecppack" in (build / "ecppack.log").read_text()
    # the failing endpoints against the target, from nextpnr's detailed report
    paths = (build / "timing_paths.md").read_text()
    assert paths.startswith("# Failing endpoints at 10 ns (100.0 MHz)")
    assert saved["steps"][3]["outputs"]["timing_paths"] == str(build / "timing_paths.md")

    net = preset("tiny")
    hw = HardwareConfig(net, lanes=1, par=4)
    real = random_params(net, 1)  # the flow's preset weights (seed 1)
    placeholder = bram.placeholder_params(hw, seed=1)
    unpack = tmp_path / "unpack"
    unpack.mkdir()
    slices = _unpacked_slices(bit, unpack)
    for rom in bram.patchable_roms(hw, real):
        assert all(c in slices for c in rom.columns() if any(c)), rom.name
    real_cols = {c for rom in bram.patchable_roms(hw, real) for c in rom.columns()}
    for rom in bram.patchable_roms(hw, placeholder):
        # a shallow ROM's placeholder slice may equal a real one by chance; the others are gone
        left = [c for c in rom.columns() if c in slices and c not in real_cols]
        assert not left, rom.name

    # make weights: another package of the configuration, every integer of it different
    # (weights, biases, start membranes, thresholds, readout biases: all in block RAM)
    new_params = random_params(net, 2)
    for field in real.layers[0].names:
        assert not np.array_equal(getattr(real.layers[0], field), getattr(new_params.layers[0], field)), field
    assert not np.array_equal(real.b_out, new_params.b_out)
    pkg = write_package(tmp_path / "newpkg", net, new_params)
    # Ctrl-C while ecppack runs: no weights folder, finished or staged, is left behind
    from flows import weights as flow_weights

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(flow_weights, "run_tool", interrupted)
    with pytest.raises(KeyboardInterrupt):
        patch_bitstream(build, str(pkg))
    monkeypatch.undo()
    assert not (build / "weights").exists() or not any((build / "weights").iterdir())
    new_bit = patch_bitstream(build, str(pkg))
    assert new_bit.exists() and new_bit != bit
    unpack2 = tmp_path / "unpack2"
    unpack2.mkdir()
    slices = _unpacked_slices(new_bit, unpack2)
    for rom in bram.patchable_roms(hw, new_params):
        assert all(c in slices for c in rom.columns() if any(c)), rom.name
    # what those block RAMs compute: the netlist is the placeholder's whatever the package
    # (tests/test_param_rom.py), so the design of the new package, simulated, is the patched one
    from hw.simulate import simulate_network
    from model import golden
    from model.encoding import random_input
    x = random_input(net, 2, np.random.default_rng(4))
    want = golden.run(net, new_params, x)
    got = simulate_network(hw, new_params, x)
    assert [r.logits for r in got] == np.asarray(want.logits).tolist()
    # a second package of the same name (other weights) gets a bitstream of its own; the
    # first stays, and the same package again lands in the same folder
    other = replace(new_params, w_out=-np.asarray(new_params.w_out))
    pkg2 = write_package(tmp_path / "again" / pkg.name, net, other)
    assert json.loads((pkg2 / "manifest.json").read_text())["name"] == \
        json.loads((pkg / "manifest.json").read_text())["name"]
    bit2 = patch_bitstream(build, str(pkg2))
    assert bit2.parent != new_bit.parent and new_bit.exists() and bit2.exists()
    assert patch_bitstream(build, str(pkg)) == new_bit


def test_synth_cli_refuses_bad_input_with_one_line(tmp_path, capsys):
    from flows.synth import main
    assert main(["--board", "nope", "--build", str(tmp_path / "b"), "--reports", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "unknown board 'nope'" in err and "ulx3s-85f" in err
    assert main(["--model", "no-such-model", "--build", str(tmp_path / "b"),
                 "--reports", str(tmp_path / "r")]) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert main(["--model", "tiny", "--lanes", "9", "--build", str(tmp_path / "b"),
                 "--reports", str(tmp_path / "r")]) == 2
    assert "lanes" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad_router:
        main(["--router", "router3", "--build", str(tmp_path / "b"), "--reports", str(tmp_path / "r")])
    assert bad_router.value.code == 2 and "router1" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing written


def test_make_weights_rebuilds_the_random_weights_of_a_changed_preset():
    # make compare builds "tiny-direct-random": a preset changed by config fields
    from flows.weights import built_package
    from model.params import random_params
    pkg = synth.load_model("tiny", seed=3, changes={"encoding": "direct"})
    flow = {"model_source": "preset tiny, encoding=direct, random weights (seed 3)",
            "model": pkg.manifest["name"], "net": pkg.cfg.to_dict(), "random_seed": 3}
    built = built_package(flow, {"placeholder_seed": 3})
    assert pkg.manifest["name"] == "tiny-direct-random"
    assert built.cfg == preset("tiny", encoding="direct")
    want = random_params(preset("tiny", encoding="direct"), 3)
    assert all(np.array_equal(a, b) for a, b in zip(built.params.layers[0].w_x.ravel(),
                                                      want.layers[0].w_x.ravel()))
    assert np.array_equal(built.params.w_out, want.w_out)


def test_weights_cli_needs_an_existing_build(tmp_path, capsys):
    from flows.weights import main
    assert main(["--board", "ulx3s-85f", "--model", "digits", "--weights", "digits",
                 "--build", str(tmp_path)]) == 2
    assert "run 'make synth'" in capsys.readouterr().err


@pytest.mark.synth
def test_kintex_flow_gives_yosys_figures_a_vivado_project_and_no_fmax(tmp_path):
    from flows.report import validate_report
    from flows.synth import run_flow
    flow = run_flow("kc705", "tiny", lanes=1, par=4, sequences=2, build_root=tmp_path / "build",
                    reports_root=tmp_path / "reports", compare=False)
    build = tmp_path / "build" / "kc705" / "tiny-random"
    assert {"top.v", "top.tcl", "top.xdc", "build_top.sh"} <= {p.name for p in build.iterdir()}
    assert flow["timing"]["measured"] is False and flow["timing"]["fmax_mhz"] is None
    used = flow["resources"]["used"]
    assert used["LUT"] > 100 and used["DSP48E1"] == 0
    report = json.loads((tmp_path / "reports" / "kc705" / "tiny-random" / "report.json").read_text())
    validate_report(report)
    md = (tmp_path / "reports" / "kc705" / "tiny-random" / "report.md").read_text()
    assert "NOT measured" in md


class _Fanned(wiring.Component):
    """One input copied to eight registers (hw.fanout), each driving one output bit."""

    a: wiring.In(1)
    b: wiring.In(8)
    c: wiring.In(8)
    o: wiring.Out(8)

    def elaborate(self, platform):
        m = Module()
        sel = copies(m, "sel", self.a, 8)
        m.d.comb += self.o.eq(Cat(*[Mux(sel[i], self.b[i], self.c[i]) for i in range(8)]))
        return m


@pytest.mark.synth
def test_fanout_copies_survive_synthesis(tmp_path):
    """yosys merges identical flip-flops; the flow's keep_hierarchy on the copies stops it."""
    kept = synth_stat(_Fanned(), "ecp5", tmp_path / "kept", after_read=KEEP_FANOUT)["cells"]
    merged = synth_stat(_Fanned(), "ecp5", tmp_path / "merged")["cells"]
    assert kept.get("TRELLIS_FF") == 8
    assert merged.get("TRELLIS_FF") == 1


def test_a_package_that_fails_its_checks_is_not_replaced_by_random_weights(tmp_path, monkeypatch):
    # a corrupt package named like a preset used to build with random weights, silently
    import shutil
    from pathlib import Path
    from model import export
    from model.config import ConfigError
    root = Path(__file__).resolve().parent.parent
    shutil.copytree(root / "models" / "digits", tmp_path / "models" / "digits")
    manifest = tmp_path / "models" / "digits" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["weights_sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))
    monkeypatch.setattr(export, "REPO_ROOT", tmp_path)
    with pytest.raises(ConfigError, match="manifest.json was changed after the package was written"):
        synth.load_model("digits")
    # with no package of that name at all, a preset name still means random weights
    shutil.rmtree(tmp_path / "models" / "digits")
    assert synth.load_model("digits").manifest["name"] == "digits-random"


def test_make_test_keeps_not_slow_when_a_tier_is_chosen():
    # #18: PYTEST_ARGS="-m golden" replaced the default -m "not slow" (pytest keeps the last)
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    run = lambda *a: subprocess.run(["make", "-n", "-C", str(root), "test", *a], capture_output=True,  # noqa: E731
                                    text=True, check=True).stdout
    assert '-m "not slow and (golden)"' in run("MARK=golden")
    assert '-m "not slow"' in run()


def test_a_silent_tool_leaves_a_log_naming_the_command(tmp_path, monkeypatch, capsys):
    from flows import tools
    monkeypatch.setattr(tools, "find_tool", lambda name: [sys.executable, "-c", "pass"])
    tools.run_tool("ecppack", ["--input", "a b.config"], cwd=tmp_path, log=tmp_path / "x.log", label="x")
    text = (tmp_path / "x.log").read_text()
    assert "'a b.config'" in text and "exited with status 0" in text and "printing nothing" in text
    monkeypatch.setattr(tools, "find_tool", lambda name: [sys.executable, "-c", "print('hello')"])
    tools.run_tool("ecppack", [], cwd=tmp_path, log=tmp_path / "y.log", label="y")
    assert (tmp_path / "y.log").read_text() == "hello\n"


@pytest.mark.parametrize("target,var,flag", [("synth", "MODEL", "--model"), ("compare", "MODEL", "--model"),
                                             ("weights", "WEIGHTS", "--weights"),
                                             ("train", "DATASET", "--dataset"),
                                             ("export", "EXPORT_OUT", "--out")])
def test_make_passes_a_path_with_spaces_as_one_argument(target, var, flag):
    import shlex
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(["make", "-n", "-C", str(root), target, f"{var}=my models/pkg one"],
                         capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if flag in l)
    args = shlex.split(line)
    assert args[args.index(flag) + 1] == "my models/pkg one", line


def test_runs_write_reports_under_build_unless_asked_for_the_committed_ones():
    # #18: make synth / compare / train overwrote the committed reports/ without a word
    import shlex
    from flows import compare
    root = Path(__file__).resolve().parent.parent
    assert synth.REPORTS_ROOT == root / "build" / "reports"
    assert "synth.REPORTS_ROOT" in Path(compare.__file__).read_text()
    import inspect
    from model import train
    assert '"build" / "reports" / "training"' in inspect.getsource(train.run)

    def args(target, *extra):
        out = subprocess.run(["make", "-n", "-C", str(root), target, *extra], capture_output=True,
                             text=True, check=True).stdout
        return shlex.split(next(l for l in out.splitlines() if "-m flows." in l or "-m model.train" in l))
    for target, flag in (("synth", "--reports"), ("compare", "--out"), ("train", "--reports")):
        assert flag not in args(target), target
        given = args(target, "REPORTS=reports")
        assert given[given.index(flag) + 1].startswith("reports"), (target, given)


def test_wirelength_sums_half_perimeters_by_signal(tmp_path, capsys):
    from flows import wirelength
    cell = lambda x, y, **conn: {"type": "TRELLIS_FF", "attributes": {"NEXTPNR_BEL": f"X{x}/Y{y}/SLICEA"},  # noqa: E731
                                 "connections": conn}
    placed = {"modules": {"top": {
        "cells": {"a": cell(1, 1, Q=[2], D=[3]), "b": cell(4, 5, D=[2]), "c": cell(1, 3, D=[2], Q=[3]),
                  "d": cell(7, 1, D=[3]), "e": {"type": "X", "attributes": {}, "connections": {"A": [2]}}},
        "netnames": {"top.layer0.h[3]": {"bits": [2]}, "top.layer0.h_alias_long_name": {"bits": [2]},
                     "top.layer0.h[4]": {"bits": [3]}}}}}
    groups = wirelength.wire_by_group(placed)
    # bit 2: tiles (1,1), (4,5), (1,3): 3 + 4; bit 3: (1,1), (1,3), (7,1): 6 + 2; one group
    assert groups == {"top.layer#.h#": {"hpwl": 15, "nets": 2, "pins": 6}}
    path = tmp_path / "placed.json"
    path.write_text(json.dumps(placed))
    assert wirelength.main(["--placed", str(path)]) == 0
    assert "placed half-perimeter wire length 15 tiles" in capsys.readouterr().out
    assert wirelength.main(["--build", str(tmp_path / "none")]) == 2
    assert "placed.json is missing (add --place" in capsys.readouterr().err


def test_pnr_seeds_place_side_by_side_and_keep_the_best(tmp_path):
    """#14: --pnr-seeds 1,2 runs both placements, keeps the best Fmax, reports both."""
    from flows.report import report_from_flow
    flow = synth.run_flow("ulx3s-85f", "tiny", lanes=1, par=4, sequences=1, build_root=tmp_path / "b",
                          reports_root=tmp_path / "r", compare=False, simulate=False, pnr_seeds=(1, 2))
    pnr = flow["timing"]["pnr"]
    sweep = pnr["sweep_mhz"]
    assert set(sweep) == {"1", "2"} and all(f and f > 25 for f in sweep.values())
    assert flow["timing"]["fmax_mhz"] == max(sweep.values()) == sweep[str(pnr["seed"])]
    build = tmp_path / "b" / "ulx3s-85f" / "tiny-random"
    assert (build / "top.bit").is_file() and (build / "nextpnr.log").is_file()
    assert not list(build.glob("placeholder.seed*.config"))
    other = 3 - pnr["seed"]
    assert "Max frequency" in (build / f"nextpnr.seed{other}.log").read_text()  # the other one's log stays
    statement = report_from_flow(json.loads((build / "flow.json").read_text()))
    assert "best of seeds 1: " in json.dumps(statement)


def test_seed_list_parses_and_refuses():
    """--pnr-seeds (and make sweep's lists) take distinct non-negative integers."""
    import argparse
    from model.cli import int_list
    assert int_list("1,2,3") == (1, 2, 3)
    for bad in ("", "1,,2", "1,1", "-1", "a"):
        with pytest.raises(argparse.ArgumentTypeError):
            int_list(bad)

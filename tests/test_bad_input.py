"""Bad input, tried as a new user would (#18): one line naming the problem (and the valid
choices where there are some), exit status 2, no traceback, nothing written. The table
of every case, with the message it gives, is docs/bad-input.md."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model import export, golden
from model.config import ConfigError, NetworkConfig, preset
from model.data import DataError, load_npz
from model.params import random_params

pytestmark = pytest.mark.flows

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*argv):
    """``python -m <argv>`` from the repository root: (exit status, stdout, stderr)."""
    r = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, r.stdout, r.stderr


@pytest.mark.parametrize("argv, message", [
    (["flows.synth", "--target-mhz", "0"], "argument --target-mhz: must be a number above 0, got 0"),
    (["flows.synth", "--sequences", "-1"], "argument --sequences: must be at least 1, got -1"),
    (["cosim.runner", "--sequences", "0"], "argument --sequences: must be at least 1, got 0"),
    (["flows.host", "--model", "digits", "--port", "x", "--timeout", "-1"],
     "argument --timeout: must be a number above 0, got -1"),
    (["model.train", "--set", "bogus=1"], "'bogus' is not a configuration field"),
    (["model.train", "--set", "hidden=[6"], "'[6' is not a value"),
    (["model.train", "--dataset", "nope"], "unknown dataset 'nope'; choose one of digits, mnist1d, tmnist"),
    # a float size is refused by NetworkConfig itself, before any data is read
    (["model.train", "--set", "hidden=8.0"], "hidden must be an integer or a list of integers, got 8.0"),
])
def test_a_bad_option_is_one_line_and_status_2(argv, message):
    status, _, err = run_cli(*argv)
    assert status == 2, err
    assert message in err


def test_a_manifest_that_is_not_an_object_is_named(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps([1, 2, 3]))
    with pytest.raises(ConfigError, match="manifest.json holds a list, not a JSON object"):
        export.load_package(tmp_path)


# ---- 1. make synth: board, model, lanes, P, a design too large -----------------------------

@pytest.mark.parametrize("argv, message", [
    (["--board", "nope"], "unknown board 'nope'; valid boards: ulx3s-12f, ulx3s-25f"),
    (["--model", "nope"], "Or name a preset (random weights): tiny, digits, mnist1d, tmnist, gsc, uci"),
    (["--model", "tiny", "--lanes", "9"],
     "lanes must be from 1 to T=2, got 9 (tiny takes --lanes 1 to 2 and --par 4, 8, 16, 32)"),
    (["--model", "tiny", "--lanes", "0"], "lanes must be from 1 to T=2, got 0"),
    (["--model", "tiny", "--par", "3"],
     "par (P) must be a multiple of 4, got 3 (tiny takes --lanes 1 to 2 and --par 4, 8, 16, 32)"),
    (["--model", "tiny", "--par", "64"], "par=64 must divide 4H=32 of layer 0 (tiny takes"),
    (["--model", "tiny", "--par", "-4"], "par (P) must be a multiple of 4, got -4"),
    # the weight ROMs alone (665,600 bits) need 37 block RAMs of the 12F's 32, whatever L and P
    (["--board", "ulx3s-12f", "--model", "tmnist", "--lanes", "8"],
     "does not fit LFE5U-12F: its weight ROMs (layer0.weights, w_out: 665,600 bits) need at "
     "least 37 block RAMs of 18 kbit, the device has 32"),
    (["--board", "ulx3s-12f", "--model", "tmnist", "--lanes", "1", "--par", "4"],
     "need at least 37 block RAMs of 18 kbit, the device has 32"),
])
def test_synth_refuses_a_bad_choice_before_any_work(tmp_path, capsys, argv, message):
    from flows.synth import main
    status = main([*argv, "--build", str(tmp_path / "b"), "--reports", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("spikegate: ") and err.count("\n") == 1 and message in err, err
    assert sorted(os.listdir(tmp_path)) == []  # no build folder, no report


def test_the_block_ram_floor_refuses_nothing_that_fits():
    # the bundled digits design fits the 12F (3 block RAMs of weights); tmnist fits the 25F
    from flows.boards import board
    from flows.synth import LoadPackage, default_hardware
    for name, device in (("digits", "ulx3s-12f"), ("tmnist", "ulx3s-25f"), ("tmnist", "kc705")):
        LoadPackage.check_block_rams(default_hardware(preset(name), 1), board(device))


# ---- 2. model.train: datasets -----------------------------------------------------------------

def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


X = np.random.default_rng(0).random((40, 5, 4))
Y = np.arange(40) % 4


@pytest.mark.parametrize("arrays, message", [
    (dict(x=X, y=Y.astype(np.float64)), "y must hold integer class labels 0, 1, ..., got dtype float64"),
    (dict(x=X, y=np.r_[-1, Y[1:]]), "y holds the label -1; class labels start at 0"),
    (dict(x=X, y=np.array(["a", "b"] * 20)), "y must hold integer class labels"),
    (dict(x=X), "must hold arrays 'x' [n_samples, N, M] and 'y'; it holds x"),
    (dict(x=X, y=Y, x_test=X), "holds x_test without y_test: give both or neither"),
    (dict(x=X, y=Y, x_test=X, y_test=-Y), "y_test holds the label -3; class labels start at 0"),
    (dict(x=np.full_like(X, np.nan), y=Y), "x holds 800 NaN or infinite values"),
    (dict(x=X[:, :, 0], y=Y), "x must be [n_samples, N, M] and y [n_samples]; got x (40, 5)"),
])
def test_a_bad_npz_dataset_is_named(tmp_path, arrays, message):
    path = _npz(tmp_path / "data.npz", **arrays)
    with pytest.raises(DataError) as err:
        load_npz(path)
    assert message in str(err.value)


def test_a_file_that_is_not_an_npz_is_named(tmp_path):
    (tmp_path / "data.npz").write_bytes(os.urandom(64))
    with pytest.raises(DataError, match=r"data\.npz is not a \.npz archive"):
        load_npz(tmp_path / "data.npz")


def test_train_refuses_a_bad_dataset_with_one_line(tmp_path):
    path = _npz(tmp_path / "data.npz", x=X, y=Y.astype(np.float64))
    status, _, err = run_cli("model.train", "--dataset", str(path), "--steps", "1",
                             "--ann-epochs", "1", "--snn-epochs", "1", "--qat-epochs", "1", "--quiet",
                             "--out", str(tmp_path / "out"), "--reports", str(tmp_path / "rep"))
    assert status == 2 and err.startswith("error: ") and "got dtype float64" in err, err
    assert sorted(os.listdir(tmp_path)) == ["data.npz"]


# ---- 3. weights packages (more in tests/test_export.py) ------------------------------------------

@pytest.fixture
def package(tmp_path):
    from hw.package import write_package
    cfg = preset("tiny")
    return write_package(tmp_path / "pkg", cfg, random_params(cfg, 1)), cfg


def _rehash(path):
    """Record the files' real hashes, so that the load reaches the checks after them."""
    m = json.loads((path / "manifest.json").read_text())
    m["files"] = {f: export._sha256(path / f) for f in m["files"]}
    m["weights_sha256"] = m["files"]["weights.npz"]
    m["manifest_sha256"] = export.manifest_digest(m)
    (path / "manifest.json").write_text(json.dumps(m))


def _edit_arrays(path, change):
    with np.load(path / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    export._write_npz(path / "weights.npz", arrays)
    _rehash(path)


def _out_of_range(a):
    a["l0_w_x"] = a["l0_w_x"].astype(np.int64)
    a["l0_w_x"][0, 0, 0] = 1000


def _truncate(path):
    raw = (path / "weights.npz").read_bytes()
    (path / "weights.npz").write_bytes(raw[:len(raw) // 2])
    _rehash(path)


def _files_not_a_map(path):
    m = json.loads((path / "manifest.json").read_text())
    m["files"] = ["weights.npz"]
    m["manifest_sha256"] = export.manifest_digest(m)
    (path / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "manifest.json").write_text('{"format": '), "manifest.json is not valid JSON"),
    (lambda p: (p / "manifest.json").write_bytes(bytes(range(128, 256))), "manifest.json is not valid JSON"),
    (_truncate, "weights.npz cannot be read"),
    (_files_not_a_map, "the manifest's \"files\" is not a map of file names to SHA-256 hashes"),
    (lambda p: _edit_arrays(p, _out_of_range), "layer 0 w_x has values in [-127, 1000], outside the allowed [-128, 127]"),
    (lambda p: _edit_arrays(p, lambda a: a.update(l0_w_h=a["l0_w_h"][:, :, :3])),
     "layer 0 w_h has shape (4, 8, 3), config 'tiny' needs (4, 8, 8)"),
    # a float array was cast to integers (0.5 -> 0) before the check
    (lambda p: _edit_arrays(p, lambda a: a.update(w_out=a["w_out"] + 0.5)),
     "readout w_out must hold integers, got dtype float64"),
])
def test_a_damaged_package_is_named(package, damage, message):
    path, _ = package
    damage(path)
    with pytest.raises(ConfigError) as err:
        export.load_package(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_a_missing_package_folder_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no such folder"):
        export.load_package(tmp_path / "nowhere")


def test_synth_refuses_a_damaged_package_folder(package, capsys, tmp_path):
    from flows.synth import main
    path, _ = package
    (path / "manifest.json").write_bytes(os.urandom(256))
    assert main(["--model", str(path), "--build", str(tmp_path / "b"), "--reports", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spikegate: weights package") and "manifest.json is not valid JSON" in err
    assert not (tmp_path / "b").exists() and not (tmp_path / "r").exists()


# ---- 4. make weights: the build ----------------------------------------------------------------

BIT_HEAD = b"\xff\x00Part: LFE5U-85F-6CABGA381\x00\xff\xff\xff\xbd\xb3" + bytes(64)


def _fake_build(root, package, *, device="LFE5U-85F", config=None, bit=BIT_HEAD):
    """The files of a finished ECP5 build that ``make weights`` reads (no synthesis)."""
    build = root / "ulx3s-85f" / "tiny"
    build.mkdir(parents=True)
    (build / "flow.json").write_text(json.dumps({
        "board": "ulx3s-85f", "family": "ecp5", "device": device, "model": "tiny",
        "model_source": str(package)}))
    (build / "roms.json").write_text(json.dumps({"placeholder_seed": 1, "lanes": 1, "par": 4}))
    (build / "placeholder.config").write_bytes(config if config is not None else f".device {device}\n".encode())
    (build / "top.bit").write_bytes(bit)
    return build


@pytest.mark.parametrize("build_kw, message", [
    (dict(bit=os.urandom(4096)), "top.bit is not an ECP5 bitstream of LFE5U-85F"),
    (dict(bit=b""), "top.bit is not an ECP5 bitstream of LFE5U-85F"),
    (dict(config=os.urandom(4096)), "placeholder.config is not a textual ECP5 configuration of LFE5U-85F"),
])
def test_weights_refuses_a_damaged_build(tmp_path, package, capsys, build_kw, message):
    from flows.weights import main
    path, _ = package
    build = _fake_build(tmp_path / "synth", path, **build_kw)
    assert main(["--model", "tiny", "--weights", str(path), "--build", str(tmp_path / "synth")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spikegate: ") and message in err and "run 'make synth'" in err, err
    assert not (build / "weights").exists()


def test_weights_refuses_a_record_that_is_not_json(tmp_path, package, capsys):
    from flows.weights import main
    path, _ = package
    build = _fake_build(tmp_path / "synth", path)
    (build / "flow.json").write_bytes(os.urandom(64))
    assert main(["--model", "tiny", "--weights", str(path), "--build", str(tmp_path / "synth")]) == 2
    assert "flow.json is not valid JSON" in capsys.readouterr().err


def test_weights_refuses_a_package_of_another_design(tmp_path, package, capsys):
    from flows.weights import main
    from hw.package import write_package
    path, cfg = package
    other = cfg.replace(encoding="rate")
    other_path = write_package(tmp_path / "other", other, random_params(other, 2))
    build = _fake_build(tmp_path / "synth", path)
    assert main(["--model", "tiny", "--weights", str(other_path), "--build", str(tmp_path / "synth")]) == 2
    err = capsys.readouterr().err
    assert "has another configuration than the built design (encoding 'spikes' built, 'rate' in the package)" in err
    assert not (build / "weights").exists()


# ---- 5. golden.run and NetworkConfig -------------------------------------------------------------

TINY = preset("tiny")


@pytest.mark.parametrize("x, message", [
    (np.zeros((2, 5, 3, 4), np.int64), "'spikes' input needs shape [B, N=5, T=2, M=4], got [2, 5, 3, 4]"),
    (np.zeros((2, 5, 2, 4)), "inputs must be integers, got dtype float64"),
    (np.full((2, 5, 2, 4), np.nan), "inputs must be integers, got dtype float64"),
    (np.full((2, 5, 2, 4), 2), "'spikes' inputs must lie in [-1, 1], got values in [2, 2]"),
    # cast to int64 first, 2**64 - 1 read as the spike -1
    (np.full((2, 5, 2, 4), 2 ** 64 - 1, np.uint64),
     "'spikes' inputs must lie in [-1, 1], got values in [18446744073709551615, 18446744073709551615]"),
])
def test_golden_refuses_bad_inputs(x, message):
    with pytest.raises(ConfigError) as err:
        golden.run(TINY, random_params(TINY, 1), x)
    assert message in str(err.value)


def test_golden_refuses_a_uint64_feature_beyond_the_range():
    cfg = preset("tiny", encoding="rate")
    with pytest.raises(ConfigError, match=r"'rate' inputs must lie in \[0, 255\], got values in \[18446744073709551615"):
        golden.run(cfg, random_params(cfg, 1), np.full((1, 5, 4), 2 ** 64 - 1, np.uint64))


def test_numpy_integers_are_integers():
    cfg = NetworkConfig(inputs=np.int64(4), hidden=(np.int64(8),), steps=np.int32(2), length=5,
                        classes=4, x_bits=np.int64(8), leak_shift=np.zeros(5, np.int64))
    assert cfg == NetworkConfig(inputs=4, hidden=(8,), steps=2, length=5, classes=4)
    assert type(cfg.hidden[0]) is int and type(cfg.inputs) is int
    json.dumps(cfg.to_dict())  # plain Python numbers
    assert NetworkConfig(inputs=4, hidden=np.array([8, 4]), steps=2, length=5).hidden == (8, 4)


@pytest.mark.parametrize("changes, message", [
    (dict(hidden=8.0), "hidden must be an integer or a list of integers, got 8.0"),
    (dict(hidden=None), "hidden must be an integer or a list of integers, got None"),
    (dict(hidden="8"), "hidden must be an integer or a list of integers, got '8'"),
    (dict(leak_shift=2.0), "leak_shift must be an integer or a list of integers, got 2.0"),
    (dict(hidden=(10 ** 6,), length=10 ** 4),
     "sizes M=4, H=[1000000], T=2, N=10000 would need about 60,797 GiB for the golden model of one "
     "sequence; the limit is 8 GiB"),
    (dict(hidden=(10 ** 5,)), "H=[100000], T=2, N=5 would need about 596 GiB"),
])
def test_a_bad_size_is_a_config_error(changes, message):
    with pytest.raises(ConfigError) as err:
        NetworkConfig(**{**dict(inputs=4, hidden=(8,), steps=2, length=5, classes=4), **changes})
    assert message in str(err.value)


def test_the_golden_memory_limit_leaves_the_presets_alone():
    for name in ("tiny", "digits", "tmnist", "gsc", "uci"):
        assert preset(name).golden_bytes() < 2 ** 23
    NetworkConfig(inputs=32, hidden=(2000,) * 3, steps=8, length=1000)  # about 4 GiB: accepted


# ---- 6. an output folder that cannot be written ---------------------------------------------------

def _unwritable(tmp_path, kind):
    """A folder path that cannot be made: under a file, or under a read-only folder."""
    if kind == "under a file":
        (tmp_path / "afile").write_text("")
        return tmp_path / "afile" / "out", "afile is a file, not a folder"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        (ro / "probe").mkdir()
    except OSError:
        return ro / "out", "cannot write in"
    pytest.skip("a read-only folder is writable here (root)")


KINDS = ["under a file", "read-only"]
TRAIN_FAST = ["--dataset", "synthetic-bars", "--steps", "1", "--export-steps", "1",
              "--ann-epochs", "1", "--snn-epochs", "1", "--qat-epochs", "1", "--quiet"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("option", ["--out", "--reports"])
def test_train_refuses_an_unwritable_folder_before_training(tmp_path, kind, option):
    target, message = _unwritable(tmp_path, kind)
    other = "--reports" if option == "--out" else "--out"
    status, out, err = run_cli("model.train", *TRAIN_FAST, option, str(target), other, str(tmp_path / "x"))
    assert status == 2 and err.startswith(f"error: {option} {target}: ") and err.count("\n") == 1, err
    assert message in err and not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def training_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    status, _, err = run_cli("model.train", *TRAIN_FAST, "--out", str(root / "run"),
                             "--reports", str(root / "reports"))
    assert status == 0, err
    return root / "run"


@pytest.mark.parametrize("kind", KINDS)
def test_package_refuses_an_unwritable_folder(tmp_path, training_run, kind):
    target, message = _unwritable(tmp_path, kind)
    status, _, err = run_cli("hw.package", "--from", str(training_run), "--out", str(target))
    assert status == 2 and err.startswith(f"error: --out {target}: ") and message in err, err


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("option", ["--build", "--reports"])
def test_synth_refuses_an_unwritable_folder(tmp_path, capsys, kind, option):
    from flows.synth import main
    target, message = _unwritable(tmp_path, kind)
    other = "--reports" if option == "--build" else "--build"
    assert main(["--model", "tiny", option, str(target), other, str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"spikegate: {option} {target}: ") and message in err, err
    assert not (tmp_path / "x").exists()


# ---- 7. the help texts -----------------------------------------------------------------------------

def test_synth_and_weights_usage_lines_are_commands():
    for module in ("flows.synth", "flows.weights"):
        status, out, _ = run_cli(module, "--help")
        assert status == 0 and out.startswith(f"usage: python -m {module} "), out


def test_the_package_help_examples_run(tmp_path):
    _, out, _ = run_cli("hw.package", "--help")
    examples = [line.strip() for line in out.splitlines() if line.strip().startswith("python -m hw.package")]
    assert len(examples) == 2
    check = next(e for e in examples if "--check" in e)
    status, checked, err = run_cli(*check.split()[2:])
    assert status == 0 and "models/digits: OK" in checked, err
    # the other needs a training run; its options are those of the usage line
    export_line = next(e for e in examples if "--from" in e).split("#")[0]
    usage = out.split("\n\n")[0]
    assert set(re.findall(r"--[a-z-]+", export_line)) <= set(re.findall(r"--[a-z-]+", usage))


def test_model_export_says_where_its_commands_are():
    status, _, err = run_cli("model.export", "--help")
    assert status == 2 and "python -m hw.package" in err


def test_an_atomic_write_cut_short_keeps_the_old_file(tmp_path, monkeypatch):
    """model.cli.write_text_atomic writes flow.json, the Verilog and the cosim summary."""
    from model import cli
    path = tmp_path / "summary.md"
    path.write_text("old\n")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cli.write_text_atomic(path, "new\n")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]
    assert path.read_text() == "old\n"
    cli.write_text_atomic(path, "new\n")
    assert path.read_text() == "new\n"
    assert oct(path.stat().st_mode & 0o777) == "0o644"

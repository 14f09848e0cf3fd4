"""Weights packages (model.export, with the ROM images of hw.package): round trip, refusal of corrupted or mismatched packages, memory files."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import random_input
from hw import package as hwpkg
from hw.config import HardwareConfig
from model import cells, data, export, golden
from model.config import ConfigError, NetworkConfig, preset
from model.params import random_params

pytestmark = pytest.mark.golden

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def model():
    cfg = preset("tiny", encoding="rate", nonspiking="g", hidden=(8, 4), leak_shift=(1, 0, 2, 0, 3))
    return cfg, random_params(cfg, 3, threshold_scale=0.5)


@pytest.fixture
def package(tmp_path, model, rng):
    cfg, params = model
    x = random_input(cfg, 6, rng)
    path = hwpkg.write_package(tmp_path / "pkg", cfg, params, check_x=x,
                                meta={"training": {"command": "hand-made", "seed": 3}})
    return path, cfg, params


def test_round_trip_equals_the_in_memory_model(package, rng):
    path, cfg, params = package
    pkg = hwpkg.load_package(path, expect=cfg, verify=True)
    assert pkg.cfg == cfg and pkg.cfg.leak_shift == (1, 0, 2, 0, 3)
    for mine, theirs in zip(params.layers, pkg.params.layers):
        for name in ("w_x", "w_h", "bias", "u0", "theta_pos", "theta_neg"):
            assert np.array_equal(getattr(mine, name), getattr(theirs, name)), name
    x = random_input(cfg, 20, rng)
    a, b = golden.run(cfg, params, x), golden.run(pkg.cfg, pkg.params, x)
    assert np.array_equal(a.logits, b.logits)
    for ta, tb in zip(a.layers, b.layers):
        assert np.array_equal(ta.h, tb.h) and np.array_equal(ta.c, tb.c)
    assert pkg.manifest["training"] == {"command": "hand-made", "seed": 3}
    assert pkg.manifest["config"]["hidden"] == [8, 4]


def test_writing_is_reproducible(tmp_path, model):
    cfg, params = model
    a = hwpkg.write_package(tmp_path / "a", cfg, params)
    b = hwpkg.write_package(tmp_path / "b", cfg, params)
    assert (a / "weights.npz").read_bytes() == (b / "weights.npz").read_bytes()
    assert json.loads((a / "manifest.json").read_text())["weights_sha256"] == \
        json.loads((b / "manifest.json").read_text())["weights_sha256"]


def flip_byte(path: Path, offset: int):
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


def test_corrupted_weights_are_refused(package):
    path = package[0]
    flip_byte(path / "weights.npz", 100)
    with pytest.raises(ConfigError, match=r"weights\.npz is corrupted"):
        hwpkg.load_package(path)


def test_corrupted_memory_file_is_refused(package):
    path = package[0]
    hexfile = path / "mem" / "l0_bias.hex"
    hexfile.write_text(hexfile.read_text().replace("0", "1", 1))
    with pytest.raises(ConfigError, match=r"mem/l0_bias\.hex is corrupted"):
        hwpkg.load_package(path)


def test_missing_file_and_manifest_are_refused(package, tmp_path):
    path = package[0]
    os.remove(path / "mem" / "readout_weights.mem")
    with pytest.raises(ConfigError, match=r"readout_weights\.mem is missing"):
        hwpkg.load_package(path)
    with pytest.raises(ConfigError, match="no manifest.json"):
        hwpkg.load_package(tmp_path)


@pytest.mark.parametrize("field, value", [
    ("leak_shift", [3, 3, 3, 3, 3]),   # same arrays, other arithmetic: the hashes of the files hold
    ("lfsr_seed", 77),                 # the rate coder's draws: no array check looks at it
    ("hidden", [8, 5]),
])
def test_an_edited_manifest_is_refused(package, field, value):
    """#18 item 2: a manifest edited to another leak_shift used to load and build."""
    path = package[0]
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["config"][field] = value
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="manifest.json was changed after the package was written"):
        hwpkg.load_package(path)


def test_edited_manifest_config_is_refused(package):
    # edited and re-sealed (manifest_sha256 recomputed): the checks behind the hash still hold
    path = package[0]
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["config"]["hidden"] = [8, 5]
    manifest["manifest_sha256"] = export.manifest_digest(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=r"layer 1 w_x has shape \(4, 4, 8\).*needs \(4, 5, 8\)"):
        hwpkg.load_package(path)
    manifest["version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="version 99"):
        hwpkg.load_package(path)


def test_mismatched_configuration_is_refused(package):
    path, cfg, _ = package
    with pytest.raises(ConfigError, match=r"does not fit.*hidden is \(8, 4\) in the package, \(16, 4\)"):
        hwpkg.load_package(path, expect=cfg.replace(hidden=(16, 4)))
    with pytest.raises(ConfigError, match=r"encoding is 'rate' in the package, 'level' requested"):
        hwpkg.load_package(path, expect={"encoding": "level"})
    with pytest.raises(ConfigError, match="steps is 2 in the package, 4 requested"):
        hwpkg.load_package(path, expect=HardwareConfig(cfg.replace(steps=4), lanes=1, par=4))
    hwpkg.load_package(path, expect=HardwareConfig(cfg, lanes=2, par=16))  # fits
    hwpkg.load_package(path, expect={"encoding": "rate", "steps": 2})


def test_failed_write_leaves_nothing_behind(tmp_path, model, monkeypatch):
    cfg, params = model

    def broken(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(export, "_mem_files", broken)
    with pytest.raises(OSError, match="simulated"):
        hwpkg.write_package(tmp_path / "pkg", cfg, params)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_package(tmp_path, model, monkeypatch):
    cfg, params = model
    path = hwpkg.write_package(tmp_path / "pkg", cfg, params)
    before = (path / "manifest.json").read_text()
    other = random_params(cfg, 4)
    monkeypatch.setattr(export, "_sha256", lambda p: (_ for _ in ()).throw(OSError("simulated")))
    with pytest.raises(OSError, match="simulated"):
        hwpkg.write_package(path, cfg, other)
    monkeypatch.undo()
    assert (path / "manifest.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]
    hwpkg.load_package(path)


def test_ctrl_c_during_an_overwrite_keeps_the_old_package(tmp_path, model, monkeypatch):
    """A KeyboardInterrupt is not an Exception: the staging folder must still go."""
    cfg, params = model
    path = hwpkg.write_package(tmp_path / "pkg", cfg, params)
    before = (path / "manifest.json").read_text()
    other = random_params(cfg, 4)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "_mem_files", interrupted)
    with pytest.raises(KeyboardInterrupt):
        hwpkg.write_package(path, cfg, other)
    monkeypatch.undo()
    assert (path / "manifest.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]
    again = hwpkg.write_package(path, cfg, other)
    assert (again / "manifest.json").read_text() != before
    hwpkg.load_package(again)


def test_ctrl_c_between_the_two_renames_puts_the_old_package_back(tmp_path, model, monkeypatch):
    cfg, params = model
    path = hwpkg.write_package(tmp_path / "pkg", cfg, params)
    before = (path / "manifest.json").read_text()
    real_replace = os.replace
    calls = []

    def second_rename_interrupted(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(export.os, "replace", second_rename_interrupted)
    with pytest.raises(KeyboardInterrupt):
        hwpkg.write_package(path, cfg, random_params(cfg, 4))
    monkeypatch.undo()
    assert len(calls) == 3  # old aside, new in (interrupted), old back
    assert (path / "manifest.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


def test_invalid_parameters_are_not_written(tmp_path, model):
    cfg, params = model
    params.layers[0].w_x[0, 0, 0] = 200  # outside 8-bit
    with pytest.raises(ConfigError, match="w_x"):
        hwpkg.write_package(tmp_path / "pkg", cfg, params)
    assert not (tmp_path / "pkg").exists()


def test_memory_words_by_hand(tmp_path):
    """Tiny hand-made model; expected words packed by hand (entry 0 in the low bits)."""
    cfg = NetworkConfig(inputs=1, hidden=(1,), steps=1, length=1, classes=2, w_bits=4,
                        acc_bits=8, u_bits=8, logit_bits=8)
    params = random_params(cfg, 0)
    lp = params.layers[0]
    lp.w_x[:] = np.array([1, -1, 2, -8]).reshape(4, 1, 1)    # f, i, o, g
    lp.w_h[:] = np.array([7, 0, -2, 3]).reshape(4, 1, 1)
    lp.bias[:] = np.array([1, 2, 3, -1]).reshape(4, 1)
    lp.theta_pos[:] = [1, 2, 3, 4, 5]
    lp.theta_neg[:] = [6, 7, 8, 9, 10]
    params.w_out[:] = np.array([[3], [-3]])
    params.b_out[:] = [-1, 2]
    path = hwpkg.write_package(tmp_path / "pkg", cfg, params, par=4)

    def words(name):
        return [ln for ln in (path / "mem" / f"{name}.hex").read_text().splitlines()
                if not ln.startswith("//")]

    # weights: column 0 (x) = f 1, i -1 (f), o 2, g -8 (8) -> 0x82f1; one chunk, one
    # padding word per column; column 1 (h) = 7, 0, -2 (e), 3 -> 0x3e07
    assert words("l0_weights") == ["82f1", "0000", "3e07", "0000"]
    assert words("l0_bias") == ["ff030201"]
    assert words("l0_thresholds") == ["0504030201", "0a09080706"]
    assert words("readout_weights") == ["d3"]          # 3, -3 (d)
    assert words("readout_bias") == ["02ff"]           # -1 (ff), 2
    mem = [ln for ln in (path / "mem" / "readout_bias.mem").read_text().splitlines()
           if not ln.startswith("//")]
    assert mem == ["0000001011111111"]
    entry = next(m for m in json.loads((path / "manifest.json").read_text())["memories"]
                 if m["name"] == "l0_weights")
    assert (entry["width"], entry["depth"], entry["entry_bits"]) == (16, 4, 4)


def test_export_cli_check(package, capsys):
    path, cfg, _ = package
    assert hwpkg.main(["--check", str(path)]) == 0
    assert "OK" in capsys.readouterr().out
    assert hwpkg.main(["--check", str(path), "--set", "encoding=direct"]) == 2
    assert "encoding is 'rate' in the package, 'direct' requested" in capsys.readouterr().err
    flip_byte(path / "weights.npz", 60)
    assert hwpkg.main(["--check", str(path)]) == 2
    assert "corrupted" in capsys.readouterr().err


def test_bundled_digits_package():
    """models/digits loads, fits preset digits, and its recorded golden accuracy is what
    the golden model measures on the digits test split."""
    path = REPO / "models" / "digits"
    if not (path / "manifest.json").exists():
        pytest.skip("no bundled package")
    pkg = hwpkg.load_package(path, expect={"inputs": 8, "hidden": [32], "steps": 4,
                                            "length": 8, "classes": 10}, verify=True)
    m = pkg.manifest
    assert m["training"]["seed"] is not None and m["training"]["command"].startswith("python -m model.train")
    assert (path / "weights.npz").stat().st_size < 100_000
    ds = data.load_digits()
    x = data.to_integers(pkg.cfg, ds.x_test)
    acc = float(np.mean(golden.run(pkg.cfg, pkg.params, x).predicted == ds.y_test))
    assert acc == pytest.approx(m["accuracy"]["golden"])
    assert acc > 0.9
    assert m["accuracy"]["golden_vs_fake_quant_agreement"] == 1.0


@pytest.mark.parametrize("cell_name", cells.names())
def test_a_package_of_every_cell_round_trips(tmp_path, cell_name):
    # the package arrays and ROM images follow the cell's parameter spec: no u0 or
    # thresholds for a cell without them, the cell's own names for the others
    cell = cells.get(cell_name)
    cfg = cell.random_config(preset("tiny", encoding="direct"), np.random.default_rng(0))
    params = random_params(cfg, 3)
    x = random_input(cfg, 5, np.random.default_rng(3))
    path = hwpkg.write_package(tmp_path / "pkg", cfg, params, check_x=x, par=cell.gates * 2)
    pkg = hwpkg.load_package(path, expect=cfg, verify=True)
    assert pkg.cfg.cell == cell_name
    for a, b in zip(pkg.params.layers, params.layers):
        assert a.names == b.names == tuple(s.name for s in cell.params)
        assert all(np.array_equal(getattr(a, n), getattr(b, n)) for n in a.names)
    names = [m["name"] for m in pkg.manifest["memories"]]
    assert ("l0_thresholds" in names) == bool(cell.by_role("constant"))
    assert ("l0_u0" in names) == bool(cell.by_role("start"))
    assert np.array_equal(golden.run(cfg, pkg.params, x).logits, pkg.check_logits)


# --- the input preparation a package carries (#16) -----------------------------------------

def _rewrite_manifest(path: Path, change):
    """Edit a package's manifest and give it a consistent manifest_sha256 again (what a
    careless tool would write), so that the content checks are what is tested."""
    m = json.loads((path / "manifest.json").read_text())
    change(m)
    m["manifest_sha256"] = export.manifest_digest(m)
    (path / "manifest.json").write_text(json.dumps(m, indent=1))


@pytest.mark.parametrize("name", ["digits", "digits-direct", "digits-rate", "digits-lstm", "digits-slstm", "digits-idsnn", "mnist1d"])
def test_bundled_packages_code_their_dataset_from_the_manifest(name):
    # the whole test split, coded by the package's own preparation, gives the accuracy
    # the training measured on the integers it coded itself
    pkg = hwpkg.load_package(REPO / "models" / name)
    ev = export.evaluate_package(pkg)
    assert ev["accuracy"] == pkg.manifest["accuracy"]["golden"]
    if name == "mnist1d":  # signed: centred and scaled by the training split's statistics
        assert pkg.prep.signed and pkg.prep.scale.lo.shape == (1,) and ev["samples"] == 1000
        assert pkg.cfg.encoding == "direct" and pkg.cfg.x_bits == 6 and ev["accuracy"] > 0.9
    else:
        assert pkg.prep == data.InputPrep(signed=False, scale=None, test_seed=1)
        assert ev["samples"] == 450


def test_a_signed_package_scales_new_features_as_the_training_did(tmp_path):
    ds = data.load("mnist1d")
    cfg = preset("mnist1d", encoding="direct", hidden=(8,))
    params = random_params(cfg, 1)
    prep = data.InputPrep.fit(ds, seed=0)
    path = hwpkg.write_package(tmp_path / "m", cfg, params, meta={
        "dataset": {**ds.summary(), "fingerprint": data.fingerprint(ds)}, "input": prep.to_dict()})
    pkg = hwpkg.load_package(path)
    x = pkg.inputs(ds.x_test[:5])
    # by hand: centre on the training median, divide by the 99.5th percentile of |x - median|
    mid = np.median(ds.x_train, axis=(0, 1))
    span = np.percentile(np.abs(ds.x_train - mid), 99.5, axis=(0, 1))
    want = np.clip(np.rint((ds.x_test[:5] - mid) / span * 127), -127, 127)
    assert np.array_equal(x, want) and x.min() < -50 and x.max() > 50
    from flows.host import sample_inputs
    xs, labels = sample_inputs(pkg, 5)
    assert np.array_equal(xs, want) and np.array_equal(labels, ds.y_test[:5])
    # without the scale the same features would be coded differently
    assert not np.array_equal(data.to_integers(cfg, ds.x_test[:5], signed=True), want)


def test_a_wrong_or_missing_input_preparation_is_named(tmp_path):
    src = REPO / "models" / "digits"
    import shutil
    bad = tmp_path / "digits"
    shutil.copytree(src, bad)
    _rewrite_manifest(bad, lambda m: m["input"].update(signed=True, scale={"lo": [0.2] * 8, "span": [0.5] * 8}))
    with pytest.raises(ConfigError, match="manifest records 97.78%: the package's input preparation"):
        export.evaluate_package(hwpkg.load_package(bad))
    _rewrite_manifest(bad, lambda m: m["input"].update(scale={"lo": [0.0], "span": [0.0]}))
    with pytest.raises(ConfigError, match="span finite and > 0"):
        hwpkg.load_package(bad)
    _rewrite_manifest(bad, lambda m: m["input"].update(scale=None))
    with pytest.raises(ConfigError, match="signed features need a scale"):
        hwpkg.load_package(bad)
    _rewrite_manifest(bad, lambda m: m.pop("input"))
    pkg = hwpkg.load_package(bad)
    with pytest.raises(ConfigError, match="records no input preparation"):
        export.evaluate_package(pkg)
    from flows.host import sample_inputs
    with pytest.raises(ConfigError, match="records no input preparation"):
        sample_inputs(pkg, 3)


def test_check_evaluate_cli(capsys):
    assert hwpkg.main(["--check", str(REPO / "models" / "digits"), "--evaluate"]) == 0
    out = capsys.readouterr().out
    assert "on the 450 test sequences of digits, coded from the package: 97.78% (the manifest records 97.78%)" in out

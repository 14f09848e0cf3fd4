"""Direct training of a cell (model/train_cell.py): the integers it reads out give the
golden model exactly the fake-quantized logits, it learns digits, its run folder
packages like a converted run's, and bad settings are refused with one clear error."""

import numpy as np
import pytest

from hw import package as hwpkg
from model import golden, train_cell
from model.export import export_trained

pytestmark = pytest.mark.golden


@pytest.fixture(scope="module", params=["slstm", "if_neuron"])
def short_run(request):
    settings = train_cell.CellSettings(cell=request.param, dataset="digits", epochs=3, qat_epochs=1, seed=1)
    return settings, train_cell.train(settings, quiet=True)


def test_golden_equals_fake_quant_and_it_learns(short_run):
    settings, r = short_run
    cfg = r["cfg"]
    assert cfg.cell == settings.cell and cfg.steps == 4 and cfg.encoding == "level"
    assert cfg.name == f"digits-{settings.cell}" and cfg.level_shift == 5  # digits' input config
    assert r["exact"]  # every logit of every test sample
    assert np.array_equal(golden.run(cfg, r["params"], r["x_test"]).logits, r["fq_logits"])
    assert r["golden_acc"] > 0.4  # 10 classes: chance is 0.1; 3 epochs
    assert [h["phase"] for h in r["history"]] == ["float"] * 3 + ["qat"]
    assert r["history"][-1]["loss"] < r["history"][0]["loss"]


def test_the_run_folder_packages(short_run, tmp_path):
    settings, r = short_run
    name = f"digits-{settings.cell}"
    run = train_cell.write_run(r, settings, tmp_path / name, "test")
    assert not list(tmp_path.glob(f".{name}.*"))  # the temporary folder is gone
    res = export_trained(run, tmp_path / "pkg", par=8, memories=hwpkg.memories)
    assert res["agreement"] == 1.0 and res["golden_acc"] == pytest.approx(r["golden_acc"])
    pkg = hwpkg.load_package(tmp_path / "pkg", verify=True)
    assert pkg.cfg.cell == settings.cell
    assert pkg.manifest["accuracy"]["golden"] == pytest.approx(r["golden_acc"])


def test_bad_settings_are_one_clear_error(capsys, tmp_path):
    assert train_cell.main(["--cell", "gru", "--out", str(tmp_path / "x")]) == 2
    assert "unknown cell 'gru'; choose one of" in capsys.readouterr().err
    assert train_cell.main(["--cell", "slstm", "--set", "c_bits=2", "--out", str(tmp_path / "x")]) == 2
    assert "c_bits must be 3 or more" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_zero_holds_a_parameter_at_zero(capsys, tmp_path):
    # the improved-dynamics neuron's version 1: no recurrent weights
    settings = train_cell.CellSettings(cell="idsnn", dataset="digits", epochs=2, qat_epochs=1,
                                       zero=("w_h",), name="digits-idsnn-v1", seed=1)
    r = train_cell.train(settings, quiet=True)
    assert r["cfg"].name == "digits-idsnn-v1" and r["exact"]
    assert all(not np.any(lp.w_h) for lp in r["params"].layers)
    assert any(np.any(lp.w_x) for lp in r["params"].layers) and r["golden_acc"] > 0.2
    assert train_cell.main(["--cell", "slstm", "--zero", "w_q", "--out", str(tmp_path / "x")]) == 2
    assert "the slstm cell has no parameter 'w_q'" in capsys.readouterr().err
    assert train_cell.main(["--cell", "slstm", "--zero", "theta", "--out", str(tmp_path / "x")]) == 2
    assert "--zero theta: a threshold cannot be zero" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

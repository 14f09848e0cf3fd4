"""Training of the baseline LSTM (model/baseline.py): the integers it reads out give
the golden model exactly the fake-quantized logits, it learns digits, and its run
folder packages like a spiking run's."""

import numpy as np
import pytest

from hw import package as hwpkg
from model import baseline, golden
from model.export import export_trained

pytestmark = pytest.mark.golden


@pytest.fixture(scope="module")
def short_run():
    settings = baseline.BaselineSettings(dataset="digits", epochs=2, qat_epochs=1, seed=1)
    return settings, baseline.train(settings, quiet=True)


def test_golden_equals_fake_quant_and_it_learns(short_run):
    _, r = short_run
    assert r["cfg"].cell == "lstm" and r["cfg"].steps == 1 and r["cfg"].encoding == "direct"
    assert r["exact"]  # every logit of every test sample
    assert np.array_equal(golden.run(r["cfg"], r["params"], r["x_test"]).logits, r["fq_logits"])
    assert r["golden_acc"] > 0.5  # 10 classes: chance is 0.1
    assert [h["phase"] for h in r["history"]] == ["float", "float", "qat"]


def test_the_run_folder_packages(short_run, tmp_path):
    settings, r = short_run
    run = baseline.write_run(r, settings, tmp_path / "digits-lstm", "test")
    assert not list(tmp_path.glob(".digits-lstm.*"))  # the temporary folder is gone
    res = export_trained(run, tmp_path / "pkg", par=8, memories=hwpkg.memories)
    assert res["agreement"] == 1.0 and res["golden_acc"] == pytest.approx(r["golden_acc"])
    pkg = hwpkg.load_package(tmp_path / "pkg", verify=True)
    assert pkg.cfg.cell == "lstm" and pkg.manifest["accuracy"]["golden"] == pytest.approx(r["golden_acc"])

"""Training of the baseline LSTM (model/baseline.py): the integers it reads out give
the golden model exactly the fake-quantized logits, it learns digits, and its run
folder packages like a spiking run's."""

import numpy as np
import pytest
import torch

from hw import package as hwpkg
from model import baseline, golden
from model.ann import HardLSTM
from model.config import ConfigError
from model.export import export_trained

pytestmark = pytest.mark.golden


@pytest.fixture(scope="module")
def short_run():
    settings = baseline.BaselineSettings(dataset="digits", epochs=2, qat_epochs=1, ann_epochs=3, seed=1)
    return settings, baseline.train(settings, quiet=True)


def test_golden_equals_fake_quant_and_it_learns(short_run):
    _, r = short_run
    assert r["cfg"].cell == "lstm" and r["cfg"].steps == 1 and r["cfg"].encoding == "direct"
    assert r["exact"]  # every logit of every test sample
    assert np.array_equal(golden.run(r["cfg"], r["params"], r["x_test"]).logits, r["fq_logits"])
    assert r["golden_acc"] > 0.5  # 10 classes: chance is 0.1
    assert [h["phase"] for h in r["history"]] == ["float", "float", "qat"]
    assert r["init"]["kind"] == "ann" and r["init"]["c_thresholds"] == [[1.0, 1.0]]


def test_the_run_folder_packages(short_run, tmp_path):
    settings, r = short_run
    run = baseline.write_run(r, settings, tmp_path / "digits-lstm", "test")
    assert not list(tmp_path.glob(".digits-lstm.*"))  # the temporary folder is gone
    res = export_trained(run, tmp_path / "pkg", par=8, memories=hwpkg.memories)
    assert res["agreement"] == 1.0 and res["golden_acc"] == pytest.approx(r["golden_acc"])
    pkg = hwpkg.load_package(tmp_path / "pkg", verify=True)
    assert pkg.cfg.cell == "lstm" and pkg.manifest["accuracy"]["golden"] == pytest.approx(r["golden_acc"])


# --- --init ann: the float HardLSTM mapped into the baseline's integer units -----------

def _tiny_ann(frac_bits=6, ns_shift=2, length=2):
    """A one-neuron baseline and a HardLSTM with made-up weights; c thresholds 1."""
    cfg = baseline.baseline_config("tiny", inputs=1, hidden=(1,), length=length, classes=2,
                                   frac_bits=frac_bits, ns_shift=ns_shift)
    ann = HardLSTM(baseline.ann_config(cfg))
    with torch.no_grad():
        layer = ann.layers[0]                                   # gates f, i, o, g
        layer.w_x.copy_(torch.tensor([0.5, 0.25, 1.0, 0.75]).view(4, 1, 1))
        layer.w_h.copy_(torch.tensor([0.5, -0.5, 0.25, 1.0]).view(4, 1, 1))
        layer.bias.copy_(torch.tensor([[0.0], [0.5], [0.0], [-0.25]]))
        layer.theta_pos.copy_(torch.tensor([0.5, 2.0, 1.0, 1.5, 1.0]))   # f, i, o, g, c
        layer.theta_neg.copy_(torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0]))
        ann.w_out.copy_(torch.tensor([[2.0], [-0.5]]))
        ann.b_out.copy_(torch.tensor([0.25, -1.0]))
    return cfg, ann


def test_ann_mapping_by_hand():
    # ns_shift 2, F 6: one ANN unit of z at threshold theta is 2**8 / theta integer units;
    # the input unit of direct x_bits 8 is 1/128; h_int = 64 h; + 2**(ns_shift-1) = 2 in
    # every bias turns the floor of z >> 2 into a rounding
    cfg, ann = _tiny_ann()
    m = baseline.map_ann(ann, cfg)
    p = m.model.layers[0]
    s = [256 / 0.5, 256 / 2.0, 256 / 1.0, 256 / 1.5]
    assert m.gate_scales[0] == pytest.approx(s)
    assert p.w_x.detach().flatten().tolist() == pytest.approx([2.0, 0.25, 2.0, 1.0])  # w * s / 128
    assert p.w_h.detach().flatten().tolist() == pytest.approx([4.0, -1.0, 1.0, 4 / 1.5 * 1.0])
    # (b - theta/2) * s + 2 for f, i, o (centre of the hard sigmoid); b * s + 2 for g
    assert p.bias.detach().flatten().tolist() == pytest.approx(
        [-0.25 * 512 + 2, -0.5 * 128 + 2, -0.5 * 256 + 2, -0.25 * 256 / 1.5 + 2], rel=1e-6)
    # readout: the largest |w_out| (2.0) becomes 127; b_out is in h's unit 64 as well
    assert m.readout_scale == pytest.approx(127 / 2)
    assert m.model.w_out.detach().flatten().tolist() == pytest.approx([127.0, -127 / 4])
    assert m.model.b_out.detach().tolist() == pytest.approx([0.25 * 63.5 * 64, -63.5 * 64])
    assert m.logit_temperature == pytest.approx(1 / (63.5 * 64))
    assert m.c_thresholds == [[1.0, 1.0]]

    # element 0 with x_int = 64 (x = 0.5), h = c = 0. ANN: f = clip(0.25 / 0.5) = 0.5,
    # i = clip(0.625 / 2) = 0.3125, o = clip(0.5 / 1) = 0.5, g = clip(0.125 / 1.5) = 1/12.
    # Integers: z_f = 2*64 - 126 = 2, f = (2 >> 2) + 32 = 32; z_i = 16 - 62 = -46,
    # i = (-46 >> 2) + 32 = 20; z_o = 2, o = 32; z_g = 64 - 40.67 = 23.33, g = 23.33 >> 2 = 5
    # (64/12 = 5.33); c = (20 * 5) >> 6 = 1 (ANN: 64 * 0.3125 / 12 = 1.67), h = (32 * 1) >> 6 = 0
    x = torch.tensor([[[64.0], [0.0]]])
    out = m.model(x)["layers"][0]
    assert out["gates"][0, 0, 0, :, 0].tolist() == [32, 20, 32, 5]
    assert out["c"][0, 0, 0, 0].item() == 1 and out["h"][0, 0, 0, 0].item() == 0
    ann_gates = ann(x / 128)["layers"][0]["gates"][0, 0, :, 0]
    assert (64 * ann_gates).tolist() == pytest.approx([32, 20, 32, 64 / 12])


def test_ann_mapping_reproduces_the_ann_gates_and_logits():
    """On many inputs: the first element's gates within the rounding of z >> ns_shift
    (half a unit), and with F = 10 the logits close enough that the class order holds."""
    cfg, ann = _tiny_ann(frac_bits=10, ns_shift=3, length=4)
    m = baseline.map_ann(ann, cfg)
    x_int = torch.randint(-128, 128, (256, 4, 1)).float()
    out, ref = m.model(x_int), ann(x_int / 128)
    first = out["layers"][0]["gates"][:, 0, 0] / 1024.0
    assert torch.max(torch.abs(first - ref["layers"][0]["gates"][:, 0])).item() <= 0.5 / 1024 + 1e-6
    logits = out["logits"] * m.logit_temperature
    err = torch.max(torch.abs(logits - ref["logits"])).item()
    assert err < 0.05  # floors of c and h over 4 elements; w_out 2.0: about 4 units of 2**-10
    margin = torch.abs(ref["logits"][:, 0] - ref["logits"][:, 1])
    clear = margin > 2 * err
    assert clear.sum() > 200
    assert torch.equal(logits[clear].argmax(1), ref["logits"][clear].argmax(1))


def test_ann_mapping_refuses_a_split_g():
    cfg, _ = _tiny_ann()
    with pytest.raises(ConfigError, match="nonspiking='g'"):
        baseline.map_ann(HardLSTM(baseline.ann_config(cfg).replace(nonspiking="none")), cfg)


def test_bad_init_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        baseline.main(["--init", "pretrained"])
    assert exc.value.code == 2
    assert "--init: invalid choice: 'pretrained'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="init must be one of random, ann"):
        baseline.BaselineSettings(init="pretrained")

"""Conversion, quantization-aware training and the training loop.

The surrogate gradient against its formula is tested in test_float_twin.py.
"""

import numpy as np
import pytest
import torch

from conftest import random_input
from model import golden
from model.ann import HardLSTM, ann_inputs
from model.config import ConfigError, NetworkConfig, preset
from model.convert import bias_shifts, convert
from model.encoding import encode
from model.train import (ScaledSpikingLSTM, TrainSettings, integer_params, leak_to_shift,
                         load_trained, quantize_model, run)

pytestmark = pytest.mark.golden

# Thresholds of the hand-built ANN below, membranes f, i, o, g, c.
THETA_POS = [0.8, 0.6, 0.4, 0.5, 1.5]
THETA_NEG = [1.0, 1.0, 1.0, 0.7, 1.2]


def hand_ann(cfg, peak=0.5):
    """An ANN whose every gate has largest |weight| ``peak`` (so its scale is 127 / peak)."""
    ann = HardLSTM(cfg, seed=3)
    with torch.no_grad():
        layer = ann.layers[0]
        layer.w_x.uniform_(-peak / 2, peak / 2)
        layer.w_h.uniform_(-peak / 2, peak / 2)
        layer.w_x[:, 0, 0] = peak  # every gate reaches the peak once
        layer.theta_pos.copy_(torch.tensor(THETA_POS))
        layer.theta_neg.copy_(torch.tensor(THETA_NEG))
        # neurons 0, 1 get a positive g bias, 2, 3 a negative one
        layer.bias.copy_(torch.tensor([[0.10, 0.20, 0.30, 0.40],
                                       [-0.1, 0.00, 0.10, 0.20],
                                       [0.05, 0.05, 0.05, 0.05],
                                       [0.30, 0.10, -0.2, -0.4]]))
    return ann


def cfg_for(steps, **kw):
    return NetworkConfig(inputs=3, hidden=(4,), steps=steps, length=2, classes=2,
                         encoding="spikes", **kw)


@pytest.mark.parametrize("steps", [1, 2, 4, 8])
def test_conversion_bias_shifts_in_bias(steps):
    cfg = cfg_for(steps)
    ann = hand_ann(cfg)
    conv = convert(ann, cfg)  # no calibration data: g takes the side of its bias sign
    p = conv.model.layers[0]
    s = 127 / 0.5
    b = ann.layers[0].bias.detach().double().numpy()
    bias = p.bias.detach().double().numpy()
    # sigmoid gates f, i, o: V_th / 2T
    for a in range(3):
        assert bias[a] == pytest.approx(s * (b[a] + THETA_POS[a] / (2 * steps)), rel=1e-5)
    # tanh gate g: +V_th+ / 2T where the input is positive, -V_th- / 2T where negative
    assert bias[3, :2] == pytest.approx(s * (b[3, :2] + 0.5 / (2 * steps)), rel=1e-5)
    assert bias[3, 2:] == pytest.approx(s * (b[3, 2:] - 0.7 / (2 * steps)), rel=1e-5)
    # the c neuron has no bias: its shift (T steps of V_th,c+ / 2T) is its start value
    assert p.u0.detach()[4].tolist() == pytest.approx([1.5 / 2] * 4)
    assert p.u0.detach()[:4].abs().max() == 0
    # thresholds scale with the weights; c thresholds are in units of c (1 per spike pair)
    assert p.theta_pos.detach().tolist() == pytest.approx([s * t for t in THETA_POS[:4]] + [1.5])
    assert p.theta_neg.detach()[3:].tolist() == pytest.approx([s * 0.7, 1.2])
    assert p.w_x.detach().abs().amax(dim=(1, 2)).tolist() == pytest.approx([127.0] * 4)


def test_conversion_shift_in_u0_and_without_shift():
    steps = 4
    cfg = cfg_for(steps)
    ann = hand_ann(cfg)
    s = 127 / 0.5
    b = ann.layers[0].bias.detach().double().numpy()
    p = convert(ann, cfg, shift_in="u0").model.layers[0]
    assert p.bias.detach().double().numpy() == pytest.approx(s * b, rel=1e-5)
    u0 = p.u0.detach().double().numpy()
    for a in range(3):  # T * V_th / 2T = V_th / 2
        assert u0[a] == pytest.approx([s * THETA_POS[a] / 2] * 4, rel=1e-5)
    assert u0[3] == pytest.approx([s * 0.5 / 2] * 2 + [-s * 0.7 / 2] * 2, rel=1e-5)
    p0 = convert(ann, cfg, shift=False).model.layers[0]
    assert p0.bias.detach().double().numpy() == pytest.approx(s * b, rel=1e-5)
    assert p0.u0.detach().abs().max() == 0


def test_bias_shift_sides_follow_calibration_sign():
    sh = bias_shifts(THETA_POS, THETA_NEG, 4, sign_g=[1, -1, 0], sign_c=[-1, 1, 1])
    assert sh["gate"][0].tolist() == pytest.approx([0.1] * 3)      # 0.8 / 8
    assert sh["gate"][2].tolist() == pytest.approx([0.05] * 3)     # 0.4 / 8
    assert sh["gate"][3].tolist() == pytest.approx([0.0625, -0.0875, 0.0625])
    assert sh["c"].tolist() == pytest.approx([-0.6, 0.75, 0.75])


def test_bias_shift_turns_floor_into_rounding():
    """A converted IF neuron with constant input z fires round(T z / V_th) times over T
    steps; without the shift it fires floor(T z / V_th) times."""
    steps = 4
    cfg = cfg_for(steps)
    ann = HardLSTM(cfg, seed=0)
    with torch.no_grad():
        for name in ("w_x", "w_h", "bias"):
            getattr(ann.layers[0], name).zero_()
        # f gate of neuron j gets z = 0.1 * (j + 1) from input channel 0
        ann.layers[0].w_x[0, :, 0] = torch.tensor([0.1, 0.2, 0.3, 0.4])
        ann.layers[0].theta_pos[0] = 1.0
    x = torch.zeros(1, cfg.length, steps, cfg.inputs)
    x[..., 0] = 1.0
    counts = {}
    for shift in (True, False):
        out = convert(ann, cfg, shift=shift).model(x)
        counts[shift] = out["layers"][0]["gates"][0, 0, :, 0, :].sum(dim=0).tolist()
    # T z / V_th = 0.4, 0.8, 1.2, 1.6
    assert counts[True] == [0, 1, 1, 2]    # rounded
    assert counts[False] == [0, 0, 1, 1]   # floored


def test_nonspiking_gate_scale_follows_the_quantized_function():
    cfg = cfg_for(4, nonspiking="i", ns_bits=4, ns_shift=2)
    ann = hand_ann(cfg)
    conv = convert(ann, cfg)
    # i = clip(z / 0.6 + 1/2, 0, 1) maps to clamp((z_int >> 2) + 8, 0, 15) / 15:
    # z_int = 4 * 15 / 0.6 * z = 100 z
    assert conv.gate_scales[0][1] == pytest.approx(100.0)
    b = ann.layers[0].bias.detach()[1]
    assert conv.model.layers[0].bias.detach()[1].tolist() == pytest.approx((100 * b).tolist(), rel=1e-5)
    assert conv.c_unit == 15
    assert conv.model.layers[0].theta_pos.detach()[4] == pytest.approx(15 * 1.5)


def test_conversion_refuses_a_different_shape():
    ann = HardLSTM(cfg_for(4), seed=0)
    with pytest.raises(ConfigError, match="hidden"):
        convert(ann, cfg_for(4).replace(hidden=(5,)))


def test_leak_to_shift_rounds_to_nearest_shift_form():
    # options: s=0 -> 1.0 (IF), 1 -> 0.5, 2 -> 0.75, 3 -> 0.875, 4 -> 0.9375, 5 -> 0.96875
    assert leak_to_shift(1.0) == 0
    assert leak_to_shift(0.5) == 1
    assert leak_to_shift(0.8) == 2      # 0.05 from 0.75, 0.075 from 0.875
    assert leak_to_shift(0.9) == 3      # 0.025 from 0.875, 0.0375 from 0.9375
    assert leak_to_shift(0.97) == 5
    assert leak_to_shift(0.999) == 10   # 1 - 2**-10 = 0.99902; 2**-9: 0.99805, 2**-11: 0.99951
    assert leak_to_shift(0.99, u_bits=4) == 0  # shifts up to 3 only: 1.0 beats 0.875


@pytest.mark.parametrize("encoding,nonspiking", [("rate", "none"), ("level", "g"),
                                                 ("direct", "i"), ("spikes", "g")])
def test_fake_quant_model_is_the_golden_model(encoding, nonspiking, rng):
    """The integers read out of the fake-quantized model give the golden model exactly
    the fake-quant model's logits, spikes and cell states."""
    cfg = preset("tiny", encoding=encoding, nonspiking=nonspiking, hidden=(6, 5),
                 leak_shift=(0, 1, 0, 2, 1), u_bits=12, c_bits=8)
    ann = HardLSTM(cfg, seed=5)
    x = random_input(cfg, 12, rng)
    calib = torch.as_tensor(ann_inputs(cfg, x), dtype=torch.float32)
    model = ScaledSpikingLSTM(convert(ann, cfg, calib=calib))
    with torch.no_grad():  # move every parameter off the integer grid
        for p in model.parameters():
            p.mul_(1.013).add_(0.0071)
    quantize_model(model)
    with torch.no_grad():
        out = model(torch.as_tensor(encode(cfg, x), dtype=torch.float32))
    ref = golden.run(model.cfg, integer_params(model), x)
    assert np.array_equal(out["logits"].numpy(), ref.logits)
    for l, tr in enumerate(ref.layers):
        assert np.array_equal(out["layers"][l]["h"].numpy(), tr.h)
        assert np.array_equal(out["layers"][l]["c"].numpy(), tr.c)
    assert ref.stats["layers"][0]["h_spikes"] > 0  # a silent network would prove little


def test_trained_leak_is_rounded_into_the_config(rng):
    cfg = preset("tiny", encoding="rate")
    ann = HardLSTM(cfg, seed=1)
    model = ScaledSpikingLSTM(convert(ann, cfg))
    model.enable_trainable_leak([0.51, 0.9, 1.0, 0.74, 0.97])
    x = torch.as_tensor(encode(cfg, random_input(cfg, 4, rng)), dtype=torch.float32)
    model(x)["logits"].sum().backward()
    assert model.leak_factor.grad is not None
    shifts = quantize_model(model)
    assert shifts == [1, 3, 0, 2, 5]
    assert model.cfg.leak_shift == (1, 3, 0, 2, 5)
    assert model.leak_factor is None


def short_settings(tmp_path, **kw):
    base = dict(dataset="synthetic-bars", preset="tiny", encoding="rate", nonspiking="none",
                steps=(2,), seed=7, batch=32, ann_epochs=8, ann_lr=2e-2, snn_epochs=3,
                qat_epochs=1, out=str(tmp_path / "run"), reports=str(tmp_path / "rep"), quiet=True)
    base.update(kw)
    return TrainSettings(**base)


def test_short_training_on_synthetic_data_beats_chance(tmp_path):
    summary = run(short_settings(tmp_path), command="test")
    row = summary["results"][0]
    assert summary["dataset"]["classes"] == 4
    assert row["golden_acc"] > 0.6          # chance is 0.25
    assert row["agreement"] == 1.0
    assert row["logits_equal"] == 1.0
    assert (tmp_path / "rep" / "accuracy_vs_T.png").stat().st_size > 1000
    assert (tmp_path / "rep" / "spike_rates.png").stat().st_size > 1000
    cfg, params, meta = load_trained(tmp_path / "run" / "T2")
    assert cfg.steps == 2 and meta["row"]["golden_acc"] == row["golden_acc"]
    with np.load(tmp_path / "run" / "T2" / "params.npz") as z:
        res = golden.run(cfg, params, z["test_x"])
        assert np.mean(res.predicted == z["test_y"]) == pytest.approx(row["golden_acc"])


def test_training_is_reproducible(tmp_path):
    a = run(short_settings(tmp_path / "a", ann_epochs=2, snn_epochs=1), command="a")
    b = run(short_settings(tmp_path / "b", ann_epochs=2, snn_epochs=1), command="b")
    for key in ("fine_tuned_acc", "fake_quant_acc", "golden_acc"):
        assert a["results"][0][key] == b["results"][0][key]
    _, pa, _ = load_trained(tmp_path / "a" / "run" / "T2")
    _, pb, _ = load_trained(tmp_path / "b" / "run" / "T2")
    assert np.array_equal(pa.layers[0].w_h, pb.layers[0].w_h)
    assert np.array_equal(pa.w_out, pb.w_out)


def test_an_interrupted_run_leaves_the_old_run_as_it_was(tmp_path, monkeypatch):
    # #18 item 3: a run interrupted after its first T wrote that T beside the older
    # run's summary, and an export paired the two; now a run publishes its folder whole
    import model.train as train_mod
    first = run(short_settings(tmp_path, steps=(2,), ann_epochs=1, snn_epochs=1), command="first")
    before = (tmp_path / "run" / "summary.json").read_text()
    real_save, calls = train_mod._save_trained, []

    def save_then_stop(*args, **kw):
        calls.append(1)
        real_save(*args, **kw)
        raise KeyboardInterrupt  # Ctrl-C right after the first T was written

    monkeypatch.setattr(train_mod, "_save_trained", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run(short_settings(tmp_path, steps=(1, 2), ann_epochs=1, snn_epochs=1), command="second")
    assert calls == [1]
    assert (tmp_path / "run" / "summary.json").read_text() == before
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["T2", "summary.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.")]  # no partial folder
    assert first["command"] == "first"


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_during_training_leaves_no_run_and_a_rerun_works(tmp_path, signame):
    """#18: SIGINT (Ctrl-C) or SIGTERM (kill) in the middle of make train: no run folder,
    no staged leftovers, no report; the same command then runs to the end."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out, rep = tmp_path / "run", tmp_path / "rep"
    cmd = [sys.executable, "-m", "model.train", "--dataset", "digits", "--steps", "2",
           "--ann-epochs", "400", "--snn-epochs", "1", "--qat-epochs", "1", "--threads", "1",
           "--out", str(out), "--reports", str(rep)]
    # A shell that starts a job in the background without job control hands it SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler: give the child the
    # default disposition so that the test means the same under any CI launcher.
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    deadline = time.monotonic() + 240
    for line in proc.stdout:  # interrupt once the float model is training
        seen.append(line)
        if "epoch" in line.lower() or time.monotonic() > deadline:
            break
    proc.send_signal(getattr(signal, signame))
    rest, _ = proc.communicate(timeout=120)
    # the signal unwound the stack (status 130 or 143), it did not kill the process outright
    assert proc.returncode == {"SIGINT": 130, "SIGTERM": 143}[signame], "".join(seen) + rest
    if signame == "SIGINT":
        assert "spikegate: interrupted; finished outputs were kept" in rest, rest
        assert "Traceback" not in rest, rest
    assert not out.exists() and not rep.exists()
    assert [p.name for p in tmp_path.iterdir()] == [], list(tmp_path.iterdir())
    short = [a if a != "400" else "2" for a in cmd]
    done = subprocess.run(short, cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (out / "summary.json").is_file() and rep.is_dir()


def test_the_source_lstm_start_is_set_per_dataset():
    """#16: MNIST-1D's long one-channel sequences need f near 1 and larger input weights
    at the start; every other dataset keeps the start it had."""
    from model.train import TrainSettings
    cfg = preset("mnist1d", encoding="direct")
    plain, tuned = HardLSTM(cfg, seed=2), HardLSTM(cfg, seed=2, forget_bias=0.95, input_gain=4.0)
    assert torch.all(plain.layers[0].bias[0] == 0.75) and torch.all(tuned.layers[0].bias[0] == 0.95)
    assert torch.equal(tuned.layers[0].w_x, 4.0 * plain.layers[0].w_x)
    assert torch.equal(tuned.layers[0].w_h, plain.layers[0].w_h)
    assert TrainSettings(dataset="mnist1d").ann_init() == {"forget_bias": 0.95, "input_gain": 4.0}
    assert TrainSettings(dataset="digits").ann_init() == {"forget_bias": 0.75, "input_gain": 1.0}
    assert TrainSettings(dataset="mnist1d", input_gain=2.0).ann_init()["input_gain"] == 2.0


def test_command_line_defaults_follow_the_dataset():
    """#16: mnist1d trains direct-coded at T = 2 and 4 unless told otherwise; digits keeps
    its defaults; an option on the command line wins over the dataset's default."""
    from model.train import parse_args
    m = parse_args(["--dataset", "mnist1d"])
    assert (m.encoding, m.steps, m.snn_epochs) == ("direct", (2, 4), 80)
    assert m.base_config().encoding == "direct"
    d = parse_args(["--dataset", "digits"])
    assert (d.encoding, d.steps, d.snn_epochs) == ("level", (1, 2, 4, 8), 24)
    o = parse_args(["--dataset", "mnist1d", "--encoding", "rate", "--steps", "4", "--snn-epochs", "3"])
    assert (o.encoding, o.steps, o.snn_epochs) == ("rate", (4,), 3)


def test_gradient_clipping_limits_every_step_and_is_logged(rng):
    """--clip: each step's gradient norm is at most the limit when the optimizer steps,
    and the history records the median norm before clipping and the clipped share."""
    from model.train import _fit
    cfg = preset("tiny", encoding="rate")
    model = ScaledSpikingLSTM(convert(HardLSTM(cfg, seed=1), cfg))
    x = torch.as_tensor(encode(cfg, random_input(cfg, 16, rng)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, cfg.classes, 16))
    seen = []

    def after_step():
        grads = [p.grad.norm() for p in model.parameters() if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack(grads))))

    limit = 1e-3
    hist = _fit(model, model.parameters(), x, y, epochs=2, lr=1e-3, batch=8, seed=0,
                temperature=model.logit_temperature, desc="t", quiet=True,
                after_step=after_step, clip=limit)
    assert len(seen) == 4 and max(seen) <= limit * (1 + 1e-4)
    assert all(row["grad_norm_median"] > limit for row in hist)  # this model's are larger
    assert all(row["clipped"] == 1.0 for row in hist)
    free = _fit(model, model.parameters(), x, y, epochs=1, lr=1e-3, batch=8, seed=0,
                temperature=model.logit_temperature, desc="t", quiet=True)
    assert "grad_norm_median" not in free[0]

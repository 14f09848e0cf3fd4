"""Training: hard-activation LSTM -> conversion -> SNN fine-tuning -> quantization-aware
fine-tuning -> integer parameters that the golden model evaluates.

    python -m model.train --dataset digits            # the defaults below, ~4 min on 2 cores
    python -m hw.package --from build/train/digits --out build/models/digits

Stages, for each T in ``--steps`` (default 1, 2, 4, 8):

1. ``ann``: the non-spiking LSTM with hard activations (``model.ann``), trained once.
2. ``converted``: ANN-to-SNN conversion with bias shifts (``model.convert``), no training.
3. ``fine-tuned``: the spiking model trained with surrogate gradients (BPTT through the
   float twin), trainable thresholds and (``--train-leak``) a trainable leak factor per
   membrane.
4. ``fake-quant``: each leak factor is rounded to the nearest ``U - (U >> s)`` form and
   the parameters are fake-quantized (round to integers, clamp to their widths, with
   straight-through gradients) and trained a few more epochs. Membranes, c and sums are
   then integers by construction (floor shifts, saturation), so this *is* the integer
   model, computed in floats.
5. ``golden``: the integers of stage 4 run through ``model.golden``; the share of test
   samples on which golden and fake-quant float predict the same class is reported
   (it must be 100%).

The trainable model keeps its parameters in ANN units; ``param_hook`` multiplies them by
the per-gate scales of the conversion (and rounds and clamps them in stage 4), so one
learning rate suits every tensor. Everything is seeded; runs use one thread so that
results repeat exactly. Defaults (level coding with 8 levels, g non-spiking, IF neurons)
and the figures they give are in ``docs/training.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import data as data_mod
from . import golden
from . import numerics as nr
from .cli import check_writable
from .ann import START as ann_start, HardLSTM, ann_inputs, input_unit
from .config import NetworkConfig, PRESETS, preset
from .convert import Conversion, convert
from .encoding import encode
from .export import swap_into_place
from .runs import jsonable, load_trained, save_trained as _save_trained
from .float_twin import FloatSpikingLSTM
from .params import NetworkParams, param_ranges

__all__ = ["TrainSettings", "ScaledSpikingLSTM", "leak_to_shift", "train_ann", "fine_tune",
           "integer_params", "evaluate_float", "evaluate_golden", "spike_rates", "run", "main"]

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class TrainSettings:
    dataset: str = "digits"
    preset: str = "digits"
    encoding: str = "level"
    nonspiking: str = "g"
    data_path: str | None = None
    steps: tuple[int, ...] = (1, 2, 4, 8)
    export_steps: int | None = None   # default: the preset's T
    seed: int = 0
    batch: int = 64
    ann_epochs: int = 40
    ann_lr: float = 1e-2
    forget_bias: float | None = None  # the source LSTM's start: None takes DATASET_INIT
    input_gain: float | None = None
    snn_epochs: int = 24
    snn_lr: float = 1e-2
    qat_epochs: int = 10
    qat_lr: float = 1e-3
    gamma: float = 1.0
    distill: float = 0.0
    clip: float = 0.0                 # gradient-norm limit of the spiking model's steps (0: none)
    trainable_leak: bool = False
    shift_in: str = "bias"
    threads: int = 1
    out: str | None = None        # default build/train/<dataset>
    reports: str | None = None    # default build/reports/training/<dataset>
    quiet: bool = False
    config_changes: dict = field(default_factory=dict)

    def ann_init(self) -> dict:
        """``HardLSTM`` start values: the given ones, else the dataset's, else the defaults."""
        init = {**ann_start, **DATASET_INIT.get(self.dataset, {})}
        return {k: init[k] if getattr(self, k) is None else getattr(self, k) for k in init}

    def base_config(self) -> NetworkConfig:
        changes = {"encoding": self.encoding, "nonspiking": self.nonspiking,
                   **DATASET_CONFIG.get(self.dataset, {}), **self.config_changes}
        return preset(self.preset, **changes)


#: Configuration changes a dataset gets by default (``--set`` overrides them). Digits
#: pixels (0..16, scaled to 8 bits) are level-coded with 8 levels (x >> 5), so that T = 4
#: steps can follow most row-to-row changes. MNIST-1D is direct-coded with 6-bit features:
#: with 8 bits a full-scale feature is 127 accumulator units against a recurrent spike's
#: one weight, so the shared gate scale left the input weights 5 values (-2..2) and g's
#: input weights all 0; 6 bits give them 4x more steps and the float LSTM loses nothing.
DATASET_CONFIG = {"digits": {"level_shift": 5}, "mnist1d": {"x_bits": 6}}

#: Command-line defaults per dataset (``python -m model.train --dataset <name>``; an
#: option given on the command line wins; ``TrainSettings()`` keeps the generic ones).
#: MNIST-1D is signed and changes fast: level coding sees only its changes, at most T
#: levels per element, so it is direct-coded (docs/training.md). Its spiking model is
#: still under-fitted after 40 SNN epochs: 80 gave 94.10% golden at T = 4 (40: 91.70%).
DATASET_DEFAULTS = {"mnist1d": {"encoding": "direct", "steps": "2,4", "snn_epochs": 80}}

#: How the source LSTM starts (``HardLSTM``'s forget_bias, input_gain), per dataset.
#: MNIST-1D (N = 40 elements of one channel): with f starting at 0.75 c forgets an
#: element after a few more, and one input channel behind weights of 1/sqrt(H) barely
#: moves the gates; the float LSTM then reached 52% after 12 epochs (direct coding),
#: 82.5% with these values, 96.3% after 40 epochs (docs/training.md).
DATASET_INIT = {"mnist1d": {"forget_bias": 0.95, "input_gain": 4.0}}


# --- the trainable spiking model ------------------------------------------------------

def _ste_round(t: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer (ties to even, like ``np.rint``); gradient passes straight."""
    return t + (torch.round(t) - t).detach()


class ScaledSpikingLSTM(FloatSpikingLSTM):
    """The float twin with parameters stored in ANN units.

    ``scales[name]`` (broadcastable to the parameter) turns a stored value into integer
    units; with ``quantize`` set the result is also rounded and clamped to its width
    (fake quantization with straight-through gradients), so the forward pass is the
    integer model. :func:`integer_params` reads the same values out.
    """

    def __init__(self, conv: Conversion):
        src = conv.model
        super().__init__(src.cfg, gamma=src.gamma)
        cfg = src.cfg
        self.scales: dict[str, torch.Tensor] = {}
        for l in range(cfg.layers):
            s = torch.tensor(conv.gate_scales[l], dtype=torch.float32)
            membrane = torch.cat([s, torch.tensor([float(conv.c_unit)])])
            for a, gate in enumerate(nr.GATES):  # the non-spiking gate has no membrane
                if gate == cfg.nonspiking:
                    membrane[a] = 1.0
            x_scale = s * (input_unit(cfg) if l == 0 else 1.0)
            self.scales.update({
                f"layers.{l}.w_x": x_scale[:, None, None], f"layers.{l}.w_h": s[:, None, None],
                f"layers.{l}.bias": s[:, None], f"layers.{l}.u0": membrane[:, None],
                f"layers.{l}.theta_pos": membrane, f"layers.{l}.theta_neg": membrane})
        self.scales["w_out"] = torch.tensor(conv.readout_scale, dtype=torch.float32)
        self.scales["b_out"] = torch.tensor(conv.readout_scale * cfg.steps, dtype=torch.float32)
        self.logit_temperature = conv.logit_temperature
        self.ranges = param_ranges(cfg)
        self.quantize = False
        with torch.no_grad():
            for name, p in src.named_parameters():
                dict(self.named_parameters())[name].copy_(p / self.scales[name])
        self.param_hook = self._to_integer_units

    def _to_integer_units(self, name: str, value: torch.Tensor) -> torch.Tensor:
        v = value * self.scales[name]
        if not self.quantize:
            return v
        lo, hi = self.ranges[name.rsplit(".", 1)[-1]]
        return torch.clamp(_ste_round(v), lo, hi)

    def integer_units(self) -> dict[str, torch.Tensor]:
        """Every parameter as the forward pass reads it."""
        with torch.no_grad():
            return {name: self._to_integer_units(name, p) for name, p in self.named_parameters()
                    if name in self.scales}

    @torch.no_grad()
    def keep_valid(self):
        """Keep thresholds at one integer unit or more and leak factors in [1/2, 1]."""
        for l, layer in enumerate(self.layers):
            for name in ("theta_pos", "theta_neg"):
                p = getattr(layer, name)
                p.copy_(torch.maximum(p, 1.0 / self.scales[f"layers.{l}.{name}"]))
        if self.leak_factor is not None:
            self.leak_factor.clamp_(0.5, 1.0)


def leak_to_shift(factor: float, u_bits: int = 16) -> int:
    """The shift s whose leak ``U - (U >> s)`` (factor ``1 - 2**-s``; s = 0: factor 1, IF)
    is nearest to ``factor``; ties go to the smaller s."""
    options = [(abs(factor - (1.0 if s == 0 else 1.0 - 2.0 ** -s)), s) for s in range(u_bits)]
    best = min(d for d, _ in options)
    return min(s for d, s in options if d <= best + 1e-12)


def integer_params(model: ScaledSpikingLSTM) -> NetworkParams:
    """The integers that the fake-quantized forward pass uses, as NetworkParams."""
    if not model.quantize:
        raise ValueError("integer_params needs the fake-quantized model (quantize=True)")
    return model.read_params()


# --- loops ---------------------------------------------------------------------------

def _batches(n: int, batch: int, gen: torch.Generator | None):
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    return [order[j:j + batch] for j in range(0, n, batch)]


def _log(settings_quiet: bool, msg: str):
    if not settings_quiet:
        tqdm.write(msg)


@torch.no_grad()
def _predict(model, x: torch.Tensor, batch: int = 512, temperature: float = 1.0):
    logits = torch.cat([model(x[j:j + batch])["logits"] for j in range(0, len(x), batch)])
    return logits * temperature


def accuracy(logits: torch.Tensor | np.ndarray, y) -> float:
    """Share of samples whose largest logit (ties to the lowest index) is the label."""
    pred = nr.argmax_first(np.asarray(logits.detach() if torch.is_tensor(logits) else logits))
    return float(np.mean(pred == np.asarray(y)))


def _fit(model, params, x, y, *, epochs, lr, batch, seed, temperature, desc, quiet,
         x_test=None, y_test=None, after_step=None, teacher=None, distill=0.0,
         distill_temp=2.0, clip=0.0) -> list[dict]:
    params = list(params)
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
    gen = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(epochs):
        model.train()
        total, correct, seen, norms = 0.0, 0, 0, []
        bar = tqdm(_batches(len(x), batch, gen), desc=f"{desc} {epoch + 1}/{epochs}",
                   leave=False, disable=quiet, unit="batch")
        for idx in bar:
            logits = model(x[idx])["logits"] * temperature
            loss = F.cross_entropy(logits, y[idx])
            if teacher is not None and distill > 0:
                soft = F.kl_div(F.log_softmax(logits / distill_temp, dim=1),
                                F.log_softmax(teacher[idx] / distill_temp, dim=1),
                                reduction="batchmean", log_target=True)
                loss = (1 - distill) * loss + distill * distill_temp ** 2 * soft
            opt.zero_grad()
            loss.backward()
            if clip > 0:
                # the gradient's norm before the limit (BPTT through N x T steps can
                # burst: one batch's step would otherwise undo several epochs)
                norms.append(float(torch.nn.utils.clip_grad_norm_(params, clip)))
            opt.step()
            if after_step is not None:
                after_step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.4f}")
        sched.step()
        model.eval()
        row = {"epoch": epoch + 1, "loss": total / seen, "train_acc": correct / seen}
        if norms:
            row["grad_norm_median"] = float(np.median(norms))
            row["clipped"] = sum(n > clip for n in norms) / len(norms)
        if x_test is not None:
            row["test_acc"] = accuracy(_predict(model, x_test), y_test)
        history.append(row)
        _log(quiet, f"  {desc} epoch {epoch + 1}/{epochs}: loss {row['loss']:.4f}, "
                    f"train {100 * row['train_acc']:.2f}%"
                    + (f", test {100 * row['test_acc']:.2f}%" if "test_acc" in row else "")
                    + (f", gradient norm {row['grad_norm_median']:.3g} (median), "
                       f"{100 * row['clipped']:.0f}% clipped" if norms else ""))
    return history


def train_ann(ann: HardLSTM, x, y, *, epochs, lr, batch, seed, quiet=False, x_test=None,
              y_test=None) -> list[dict]:
    return _fit(ann, ann.parameters(), x, y, epochs=epochs, lr=lr, batch=batch, seed=seed,
                temperature=1.0, desc="ann", quiet=quiet, x_test=x_test, y_test=y_test)


def fine_tune(model: ScaledSpikingLSTM, x, y, *, epochs, lr, batch, seed, desc, quiet=False,
              x_test=None, y_test=None, teacher=None, distill=0.0, clip=0.0) -> list[dict]:
    """Surrogate-gradient BPTT on every parameter (and the leak factors, if enabled).

    ``teacher``: the ANN's logits on ``x``; with ``distill`` > 0 the loss mixes in the
    KL divergence to them (knowledge distillation, temperature 2). ``clip`` > 0 limits
    each step's gradient to that norm."""
    return _fit(model, model.parameters(), x, y, epochs=epochs, lr=lr, batch=batch, seed=seed,
                temperature=model.logit_temperature, desc=desc, quiet=quiet, x_test=x_test,
                y_test=y_test, after_step=model.keep_valid, teacher=teacher, distill=distill,
                clip=clip)


def quantize_model(model: ScaledSpikingLSTM) -> list[int]:
    """Round the leak factors to shifts (into the model's config) and switch fake quant on."""
    shifts = list(model.cfg.leak_shift)
    if model.leak_factor is not None:
        shifts = [leak_to_shift(float(f), model.cfg.u_bits) for f in model.leak_factor.detach()]
        model.leak_factor = None
    model.cfg = model.cfg.replace(leak_shift=tuple(shifts))
    model.quantize = True
    return shifts


# --- evaluation ----------------------------------------------------------------------

def _encoded(cfg: NetworkConfig, x_int: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(encode(cfg, x_int), dtype=torch.float32)


def evaluate_float(model, x: torch.Tensor, y) -> tuple[float, np.ndarray]:
    """Accuracy and integer-unit logits of a spiking float model."""
    model.eval()
    logits = _predict(model, x)
    return accuracy(logits, y), logits.numpy()


def spike_rates(cfg: NetworkConfig, result: golden.GoldenResult) -> list[dict]:
    """Spikes per neuron per step, per gate (f, i, o, g), of c's LIF and of h, per layer.

    The non-spiking gate sends a multi-bit value every step; its entry is the share of
    non-zero values, under the key ``"<gate>_nonzero"``."""
    stats = result.stats
    rates = []
    for l, st in enumerate(stats["layers"]):
        cells = stats["batch"] * cfg.length * cfg.steps * cfg.hidden[l]
        r = {g: st["gate_spikes"][g] / cells for g in st["gate_spikes"]}
        if cfg.nonspiking != "none":
            a = nr.GATES.index(cfg.nonspiking)
            r[f"{cfg.nonspiking}_nonzero"] = float(np.mean(result.layers[l].gates[..., a, :] != 0))
        if "c_spikes" in st:  # the Datta cell's LIF on c
            r["c"] = st["c_spikes"] / cells
        r["h"] = st["h_spikes"] / cells
        rates.append(r)
    return rates


def evaluate_golden(cfg: NetworkConfig, params: NetworkParams, x_int: np.ndarray, y,
                    float_logits: np.ndarray | None = None) -> dict:
    """Golden-model accuracy, spike rates, and agreement with the fake-quant float model."""
    res = golden.run(cfg, params, x_int)
    out = {"accuracy": float(np.mean(res.predicted == np.asarray(y))),
           "spike_rates": spike_rates(cfg, res), "saturations": res.stats["saturations"],
           "acs_per_sample": res.stats["acs"] / res.stats["batch"]}
    if float_logits is not None:
        out["agreement"] = float(np.mean(nr.argmax_first(float_logits) == res.predicted))
        out["logits_equal"] = float(np.mean(np.all(float_logits == res.logits, axis=1)))
    out["predicted"] = res.predicted
    out["logits"] = res.logits
    return out


# --- the whole run -------------------------------------------------------------------

def _seed_all(seed: int):
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))


def prepare_data(settings: TrainSettings, cfg: NetworkConfig):
    return data_mod.integer_splits(cfg, settings.dataset, settings.data_path, settings.seed)


def run(settings: TrainSettings, command: str | None = None) -> dict:
    """Train, convert, fine-tune and quantize for every T; write results and reports."""
    t_start = time.time()
    torch.set_num_threads(settings.threads)
    _seed_all(settings.seed)
    base = settings.base_config()
    export_steps = settings.export_steps or base.steps
    steps_list = sorted(set(settings.steps) | {export_steps})
    key = Path(settings.dataset).stem if settings.dataset.endswith(".npz") else settings.dataset
    out_dir = Path(settings.out or REPO_ROOT / "build" / "train" / key)
    # under build/ unless asked: a run never overwrites the committed reports/ silently
    rep_dir = Path(settings.reports or REPO_ROOT / "build" / "reports" / "training" / key)
    quiet = settings.quiet
    # both folders are written only after the training: refuse an unwritable one now
    check_writable(out_dir.parent, f"--out {out_dir}")
    check_writable(rep_dir, f"--reports {rep_dir}")

    # the run is staged in a fresh folder beside out_dir and published whole at the end:
    # an interrupted run leaves no mix of new weights and an old summary (#18)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    final_dir, out_dir = out_dir, Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial",
                                                      dir=out_dir.parent))
    try:
        return _run(settings, command, base, export_steps, steps_list, out_dir, final_dir, rep_dir, quiet, t_start)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)  # published (renamed) or abandoned


def _run(settings, command, base, export_steps, steps_list, out_dir, final_dir, rep_dir, quiet, t_start):
    ds, x_tr_int, x_te_int = prepare_data(settings, base)
    y_tr, y_te = torch.as_tensor(ds.y_train), torch.as_tensor(ds.y_test)
    _log(quiet, f"dataset {ds.name}: {len(y_tr)} train, {len(y_te)} test, N={base.length}, "
                f"M={base.inputs}, encoding {base.encoding}")

    # 1. the non-spiking source model
    ann = HardLSTM(base, seed=settings.seed, **settings.ann_init())
    a_tr = torch.as_tensor(ann_inputs(base, x_tr_int), dtype=torch.float32)
    a_te = torch.as_tensor(ann_inputs(base, x_te_int), dtype=torch.float32)
    ann_hist = train_ann(ann, a_tr, y_tr, epochs=settings.ann_epochs, lr=settings.ann_lr,
                         batch=settings.batch, seed=settings.seed, quiet=quiet,
                         x_test=a_te, y_test=y_te)
    ann.eval()
    ann_acc = accuracy(_predict(ann, a_te), y_te)
    teacher = _predict(ann, a_tr) if settings.distill > 0 else None
    _log(quiet, f"ANN (hard sigmoid / split hard tanh) on the encoded input rates: test "
                f"accuracy {100 * ann_acc:.2f}%")
    # For reference: the same LSTM on the features themselves (no input coding).
    raw_tr, raw_te = _raw_features(ds, base)
    ann_raw = HardLSTM(base.replace(encoding="rate"), seed=settings.seed, **settings.ann_init())
    train_ann(ann_raw, raw_tr, y_tr, epochs=settings.ann_epochs, lr=settings.ann_lr,
              batch=settings.batch, seed=settings.seed, quiet=True)
    ann_raw.eval()
    ann_raw_acc = accuracy(_predict(ann_raw, raw_te), y_te)
    _log(quiet, f"ANN on the raw features (no input coding): test accuracy {100 * ann_raw_acc:.2f}%")

    results = []
    for T in steps_list:
        cfg = base.replace(steps=T)
        if cfg.encoding == "spikes":  # given spikes have a T axis: draw them for this T
            _, x_tr_int, x_te_int = prepare_data(settings, cfg)
        x_tr, x_te = _encoded(cfg, x_tr_int), _encoded(cfg, x_te_int)
        conv = convert(ann, cfg, calib=a_tr, shift_in=settings.shift_in, gamma=settings.gamma)
        conv_acc, _ = evaluate_float(conv.model, x_te, y_te)
        conv_noshift = convert(ann, cfg, calib=a_tr, shift=False, gamma=settings.gamma)
        noshift_acc, _ = evaluate_float(conv_noshift.model, x_te, y_te)
        _log(quiet, f"T={T}: converted {100 * conv_acc:.2f}% (without bias shifts "
                    f"{100 * noshift_acc:.2f}%)")

        model = ScaledSpikingLSTM(conv)
        if settings.trainable_leak:
            model.enable_trainable_leak()
        seed_t = settings.seed * 1000 + T
        torch.manual_seed(seed_t)
        ft_hist = fine_tune(model, x_tr, y_tr, epochs=settings.snn_epochs, lr=settings.snn_lr,
                            batch=settings.batch, seed=seed_t, desc=f"T={T} snn", quiet=quiet,
                            x_test=x_te, y_test=y_te, teacher=teacher, distill=settings.distill,
                            clip=settings.clip)
        ft_acc, _ = evaluate_float(model, x_te, y_te)
        leak_factors = (model.leak_factor.detach().tolist() if model.leak_factor is not None
                        else None)
        shifts = quantize_model(model)
        q_before, _ = evaluate_float(model, x_te, y_te)
        qat_hist = fine_tune(model, x_tr, y_tr, epochs=settings.qat_epochs, lr=settings.qat_lr,
                             batch=settings.batch, seed=seed_t + 1, desc=f"T={T} qat",
                             quiet=quiet, x_test=x_te, y_test=y_te, teacher=teacher,
                             distill=settings.distill, clip=settings.clip)
        fq_acc, fq_logits = evaluate_float(model, x_te, y_te)
        params = integer_params(model)
        gold = evaluate_golden(model.cfg, params, x_te_int, ds.y_test, fq_logits)
        _log(quiet, f"T={T}: fine-tuned {100 * ft_acc:.2f}%, leak shifts {shifts}, "
                    f"fake-quant {100 * fq_acc:.2f}% (before QAT {100 * q_before:.2f}%), "
                    f"golden {100 * gold['accuracy']:.2f}%, golden = fake-quant on "
                    f"{100 * gold['agreement']:.2f}% of test samples")
        row = {"T": T, "converted_acc": conv_acc, "converted_no_shift_acc": noshift_acc,
               "fine_tuned_acc": ft_acc, "leak_factors": leak_factors, "leak_shift": shifts,
               "quantized_before_qat_acc": q_before, "fake_quant_acc": fq_acc,
               "golden_acc": gold["accuracy"], "agreement": gold["agreement"],
               "logits_equal": gold["logits_equal"], "spike_rates": gold["spike_rates"],
               "saturations": gold["saturations"], "acs_per_sample": gold["acs_per_sample"],
               "history": {"snn": ft_hist, "qat": qat_hist}}
        results.append(row)
        _save_trained(out_dir / f"T{T}", model.cfg, params, {
            "conversion": conv.to_dict(), "row": {k: v for k, v in row.items() if k != "history"}},
            test_fake_quant_logits=fq_logits.astype(np.int64), test_x=x_te_int, test_y=ds.y_test)

    summary = {
        "dataset": ds.summary(), "dataset_fingerprint": data_mod.fingerprint(ds),
        "input": data_mod.InputPrep.fit(ds, settings.seed).to_dict(),
        "settings": _settings_dict(settings), "seed": settings.seed, "command": command,
        "config": base.to_dict(), "export_steps": export_steps,
        "ann_acc": ann_acc, "ann_raw_features_acc": ann_raw_acc, "ann_history": ann_hist,
        "results": results, "seconds": round(time.time() - t_start, 1),
        "torch": torch.__version__, "numpy": np.__version__,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=jsonable))
    swap_into_place(out_dir, final_dir)
    _write_reports(rep_dir, summary)
    _log(quiet, _table(summary))
    _log(quiet, f"trained models in {final_dir}/T*/ ; reports in {rep_dir}/ ; "
                f"{summary['seconds']} s. Export with: python -m hw.package --from {final_dir}")
    return summary


def _raw_features(ds, cfg: NetworkConfig):
    """The dataset's float features shaped [n, N, M] (scaled like to_integers scales them)."""
    out = []
    scale = data_mod.InputPrep.fit(ds).scale
    for x in (ds.x_train, ds.x_test):
        x = data_mod.fit_shape(np.asarray(x, np.float64), cfg.length, cfg.inputs)
        out.append(torch.as_tensor(scale(x) if scale is not None else x, dtype=torch.float32))
    return out


def _settings_dict(settings: TrainSettings) -> dict:
    d = asdict(settings)
    d["steps"] = list(settings.steps)
    d.update(settings.ann_init())  # the start values in use, not None
    return d


def _table(summary: dict) -> str:
    lines = [f"ANN (float, hard activations) on the encoded input: {100 * summary['ann_acc']:.2f}%; "
             f"on the raw features: {100 * summary['ann_raw_features_acc']:.2f}%",
             " T | converted | fine-tuned | fake-quant | golden | agree  | leak shifts",
             "---+-----------+------------+------------+--------+--------+------------"]
    for r in summary["results"]:
        lines.append(f"{r['T']:2d} | {100 * r['converted_acc']:8.2f}% | {100 * r['fine_tuned_acc']:9.2f}% "
                     f"| {100 * r['fake_quant_acc']:9.2f}% | {100 * r['golden_acc']:5.2f}% "
                     f"| {100 * r['agreement']:5.1f}% | {r['leak_shift']}")
    return "\n".join(lines)


def _write_reports(folder: Path, summary: dict):
    """accuracy_vs_T.png, spike_rates.png and summary.json (no histories, small)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    res = summary["results"]
    ts = [r["T"] for r in res]
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=100)
    ax.axhline(100 * summary["ann_acc"], color="k", ls="--", lw=1,
               label=f"ANN on coded input (T={summary['config']['steps']})")
    ax.axhline(100 * summary["ann_raw_features_acc"], color="grey", ls=":", lw=1,
               label="ANN on raw features")
    for key, label, style in (("converted_acc", "converted", "o-"),
                              ("fine_tuned_acc", "fine-tuned (float)", "s-"),
                              ("fake_quant_acc", "fake-quant", "^-"),
                              ("golden_acc", "integer golden", "x--")):
        ax.plot(ts, [100 * r[key] for r in res], style, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ts, [str(t) for t in ts])
    ax.set_xlabel("spike steps per element T")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{summary['dataset']['name']}: accuracy vs T ({summary['config']['encoding']} coding)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "accuracy_vs_T.png")
    plt.close(fig)

    ns = summary["config"]["nonspiking"]
    keys = [g if g != ns else f"{g}_nonzero" for g in nr.GATES] + ["c", "h"]
    names = [g if g != ns else f"{g} (multi-bit,\nshare non-zero)" for g in nr.GATES] + \
        ["c (LIF on c)", "h"]
    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=100)
    width = 0.8 / len(res)
    for j, r in enumerate(res):
        rates = r["spike_rates"][-1]
        ax.bar(np.arange(len(keys)) + j * width, [rates.get(k, 0.0) for k in keys], width,
               label=f"T={r['T']}")
    ax.set_xticks(np.arange(len(keys)) + width * (len(res) - 1) / 2, names, fontsize=8)
    ax.set_ylabel("spikes per neuron per step")
    ax.set_title(f"{summary['dataset']['name']}: spike rates of the integer model (test set)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "spike_rates.png")
    plt.close(fig)

    small = {k: v for k, v in summary.items() if k not in ("ann_history",)}
    small["results"] = [{k: v for k, v in r.items() if k != "history"} for r in res]
    (folder / "summary.json").write_text(json.dumps(small, indent=1, default=jsonable) + "\n")


# --- command line --------------------------------------------------------------------

def parse_args(argv=None) -> TrainSettings:
    d = TrainSettings()
    ap = argparse.ArgumentParser(prog="python -m model.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default=d.dataset,
                    help=f"{', '.join(data_mod.DATASETS)}, synthetic-bars, synthetic-order or a .npz path")
    ap.add_argument("--data-path", default=None, help="folder (or .npz) of the dataset's files")
    ap.add_argument("--preset", default=None, choices=sorted(PRESETS),
                    help="network preset (default: the dataset's name if it is a preset, else tiny)")
    ap.add_argument("--encoding", default=d.encoding, choices=["rate", "level", "direct", "spikes"])
    ap.add_argument("--nonspiking", default=d.nonspiking, choices=["none", "i", "g"])
    ap.add_argument("--steps", default=",".join(map(str, d.steps)),
                    help="comma-separated T values to convert and fine-tune for")
    ap.add_argument("--export-steps", type=int, default=None, help="T of the model to export")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--batch", type=int, default=d.batch)
    ap.add_argument("--ann-epochs", type=int, default=d.ann_epochs)
    ap.add_argument("--ann-lr", type=float, default=d.ann_lr)
    ap.add_argument("--forget-bias", type=float, default=None,
                    help="start value of the source LSTM's f bias (default 0.75; mnist1d 0.95)")
    ap.add_argument("--input-gain", type=float, default=None,
                    help="factor on the source LSTM's first input weights at the start "
                         "(default 1; mnist1d 4)")
    ap.add_argument("--snn-epochs", type=int, default=d.snn_epochs)
    ap.add_argument("--snn-lr", type=float, default=d.snn_lr)
    ap.add_argument("--qat-epochs", type=int, default=d.qat_epochs)
    ap.add_argument("--qat-lr", type=float, default=d.qat_lr)
    ap.add_argument("--gamma", type=float, default=d.gamma, help="surrogate gradient height")
    ap.add_argument("--distill", type=float, default=d.distill,
                    help="weight of the distillation loss to the ANN (0: plain cross-entropy)")
    ap.add_argument("--clip", type=float, default=d.clip,
                    help="limit the spiking model's gradient norm per step (0: no limit)")
    ap.add_argument("--train-leak", action="store_true",
                    help="train a leak factor per membrane and round it to U - (U >> s) "
                         "(default: IF neurons)")
    ap.add_argument("--shift-in", default=d.shift_in, choices=["bias", "u0"])
    ap.add_argument("--threads", type=int, default=d.threads)
    ap.add_argument("--out", default=None, help="output folder (default build/train/<dataset>)")
    ap.add_argument("--reports", default=None, help="report folder (default build/reports/training/<dataset>; reports/training/<dataset> refreshes the committed one)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="change a config field, e.g. --set hidden=64 --set ns_bits=5")
    ap.add_argument("--quiet", action="store_true")
    first, _ = ap.parse_known_args(argv)
    ap.set_defaults(**DATASET_DEFAULTS.get(first.dataset, {}))  # then the command line wins
    a = ap.parse_args(argv)
    changes = {}
    known = {f.name for f in dataclasses.fields(NetworkConfig)}
    for item in a.set:
        key, _, value = item.partition("=")
        if key not in known:
            ap.error(f"--set {item}: {key!r} is not a configuration field; choose one of "
                     + ", ".join(sorted(known - {"name"})))
        try:
            changes[key] = json.loads(value) if not value.isidentifier() else value
        except json.JSONDecodeError:
            ap.error(f"--set {item}: {value!r} is not a value (a number, a list like [64], or a word)")
        if key in ("hidden", "leak_shift") and isinstance(changes[key], int):
            changes[key] = (changes[key],)
    name = a.dataset if a.dataset in PRESETS else "tiny"
    return TrainSettings(
        dataset=a.dataset, preset=a.preset or name, encoding=a.encoding,
        nonspiking=a.nonspiking, data_path=a.data_path,
        steps=tuple(int(s) for s in a.steps.split(",") if s), export_steps=a.export_steps,
        seed=a.seed, batch=a.batch, ann_epochs=a.ann_epochs, ann_lr=a.ann_lr,
        forget_bias=a.forget_bias, input_gain=a.input_gain,
        snn_epochs=a.snn_epochs, snn_lr=a.snn_lr, qat_epochs=a.qat_epochs, qat_lr=a.qat_lr,
        gamma=a.gamma, distill=a.distill, clip=a.clip, trainable_leak=a.train_leak, shift_in=a.shift_in,
        threads=a.threads, out=a.out, reports=a.reports, quiet=a.quiet, config_changes=changes)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        settings = parse_args(argv)
        run(settings, command=shlex.join(["python", "-m", "model.train", *argv]))
    except data_mod.DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # ConfigError included
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)

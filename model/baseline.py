"""Training of the non-spiking baseline (cell ``lstm``, :mod:`model.cells.lstm`).

The baseline is trained as the integer model it is: the float twin of the ``lstm`` cell
(:class:`model.float_twin.FloatSpikingLSTM`, its floors with straight-through gradients)
with parameters in integer units, first in floats, then with every parameter rounded
and clamped to its width on the forward pass (fake quantization). The integers read
out at the end give the golden model exactly the fake-quantized logits; the run checks
it on the whole test split. Inputs are ``direct`` features of the dataset (T = 1).

Start (``--init``): ``random`` integer-unit weights, or ``ann`` (the default): the float
hard-activation LSTM that the spiking models are converted from (:class:`model.ann.HardLSTM`,
g kept as the symmetric hard tanh) is trained on the same direct features and its
weights are mapped into the baseline's integer units (:func:`map_ann`). Per gate a with
threshold theta_a, one ANN unit of z is ``2**(ns_shift + F) / theta_a`` integer units
(F = frac_bits), so that ``hard_sigmoid_unit`` / ``hard_tanh_unit`` compute the ANN's
``clip(z / theta_a, 0, 1)`` / ``clip(z / theta_a, -1, 1)`` on the unit ``2**F``::

    W_x_int = W_x * 2**(ns_shift+F) / theta_a * input_unit      (x_int = x / input_unit)
    W_h_int = W_h * 2**ns_shift / theta_a                       (h_int = h * 2**F)
    b_int   = (b - theta_a / 2) * 2**(ns_shift+F) / theta_a + 2**(ns_shift-1)

(``- theta_a / 2`` for the gates whose ANN shape is ``clip(z / theta, 0, 1)``, the hard
sigmoid with its centre in the bias; ``+ 2**(ns_shift-1)`` makes the floor of
``z >> ns_shift`` a rounding). The ANN's ``h = o * split_tanh(c, theta_c+, theta_c-)``
is the baseline's ``o * clamp(c, -1, 1)`` only when both c thresholds are 1, so they are
held at 1 while the ANN trains. The readout gets the scale that puts the largest
``|W_out|`` at the largest integer weight.

    python -m model.baseline --dataset digits            # build/train/digits-lstm
    python -m hw.package --from build/train/digits-lstm --out build/models/digits-lstm

The run folder has the layout ``model.train`` writes (``summary.json``, ``T1/``), so
``hw.package`` (``make export``) packages it the same way.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import data as data_mod
from . import golden
from . import numerics as nr
from .ann import HardLSTM, ann_inputs, input_unit
from .cells.lstm import baseline_config
from .cli import config_changes
from .config import DEFAULT_CELL, ConfigError, NetworkConfig
from .float_twin import FloatSpikingLSTM
from .params import param_ranges
from .runs import jsonable, save_trained

__all__ = ["BaselineSettings", "AnnMapping", "INITS", "ann_config", "map_ann", "baseline_config",
           "train", "main"]

REPO_ROOT = Path(__file__).resolve().parent.parent

#: where the baseline's weights start: random integer units, or the float ANN mapped
INITS = ("random", "ann")
#: integer logits times this go into the loss after a random start
RANDOM_TEMPERATURE = 1 / 64


@dataclass(frozen=True)
class BaselineSettings:
    dataset: str = "digits"
    data_path: str | None = None
    seed: int = 0
    batch: int = 64
    epochs: int = 40          # float phase
    lr: float = 0.02
    qat_epochs: int = 20      # fake-quantized phase
    qat_lr: float = 0.002
    init: str = "ann"         # one of INITS; "ann" measured better on digits (docs/training.md)
    init_std: float = 0.5     # init "random": weights at start, in integer units
    ann_epochs: int = 40      # init "ann": the float HardLSTM, as model.train trains it
    ann_lr: float = 1e-2
    #: logits (integer units) times this go into the loss; None: RANDOM_TEMPERATURE after
    #: a random start, the ANN's logit per integer logit after init "ann"
    temperature: float | None = None
    config_changes: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")


def ann_config(cfg: NetworkConfig) -> NetworkConfig:
    """The :class:`model.ann.HardLSTM` configuration for the baseline ``cfg``: the same
    shape and direct inputs, g non-spiking (its symmetric hard tanh is the baseline's)."""
    return cfg.replace(cell=DEFAULT_CELL, nonspiking="g")


@dataclass
class AnnMapping:
    """The float twin with the ANN's weights in the baseline's integer units (not rounded)."""

    model: FloatSpikingLSTM
    gate_scales: list[list[float]]   # per layer, per gate: integer units of z per ANN unit
    readout_scale: float             # integer units of w_out per ANN unit
    logit_temperature: float         # integer logits times this are the ANN's logits
    c_thresholds: list[list[float]]  # per layer (theta_c+, theta_c-): both 1 -> c path exact

    def to_dict(self) -> dict:
        return {"gate_scales": self.gate_scales, "readout_scale": self.readout_scale,
                "logit_temperature": self.logit_temperature, "c_thresholds": self.c_thresholds}


@torch.no_grad()
def map_ann(ann: HardLSTM, cfg: NetworkConfig) -> AnnMapping:
    """Map ``ann`` (g non-spiking) onto the baseline ``cfg`` (module docstring, ``--init ann``).

    Exact but for the floors and saturations of the integer rules and, where a c threshold
    is not 1, the ANN's ``split_tanh(c)`` against the baseline's ``clamp(c, -1, 1)``."""
    if ann.cfg.nonspiking != "g":
        raise ConfigError(f"map_ann needs an ANN with nonspiking='g' (the symmetric hard "
                          f"tanh of the baseline), got {ann.cfg.nonspiking!r}")
    if cfg.cell != "lstm":
        raise ConfigError(f"map_ann maps onto the baseline cell 'lstm', got {cfg.cell!r}")
    for name in ("inputs", "hidden", "length", "classes"):
        if getattr(ann.cfg, name) != getattr(cfg, name):
            raise ConfigError(f"cannot map: {name} differs (ANN {getattr(ann.cfg, name)!r}, "
                              f"baseline {getattr(cfg, name)!r})")
    frac, shift = cfg.frac_bits, cfg.ns_shift
    z_unit = float(1 << (shift + frac))        # integer z per ANN z at threshold 1
    rounding = (1 << shift) >> 1               # 2**(ns_shift-1): floor -> rounding
    h_unit = float(nr.unit(frac))
    model = FloatSpikingLSTM(cfg)
    gate_scales, c_thresholds = [], []
    c_index = nr.MEMBRANES.index("c")
    for l, (src, dst) in enumerate(zip(ann.layers, model.layers)):
        tp, tn = (t.double() for t in ann.thresholds(l))
        x_unit = input_unit(ann.cfg) if l == 0 else 1.0 / h_unit
        scales = []
        for a, gate in enumerate(nr.GATES):
            s = z_unit / float(tp[a])
            centred = gate == "g" or gate == ann.cfg.nonspiking
            centre = 0.0 if centred else float(tp[a]) / 2
            dst.w_x[a] = (src.w_x[a].double() * s * x_unit).to(dst.w_x.dtype)
            dst.w_h[a] = (src.w_h[a].double() * s / h_unit).to(dst.w_h.dtype)
            dst.bias[a] = ((src.bias[a].double() - centre) * s + rounding).to(dst.bias.dtype)
            scales.append(s)
        gate_scales.append(scales)
        c_thresholds.append([float(tp[c_index]), float(tn[c_index])])
    w_out = ann.w_out.double()
    peak = float(w_out.abs().max())
    s_out = nr.signed_range(cfg.w_bits)[1] / peak if peak > 0 else 1.0
    model.w_out.copy_(w_out * s_out)
    model.b_out.copy_(ann.b_out.double() * s_out * h_unit)
    return AnnMapping(model, gate_scales, s_out, 1.0 / (s_out * h_unit), c_thresholds)


def hold_c_thresholds(ann: HardLSTM) -> None:
    """Keep the ANN's c thresholds at their start value 1 while it trains (their gradient
    is zeroed; Adam then leaves them): the baseline's ``clamp(c, -1, 1)`` has none."""
    mask = torch.ones(len(nr.MEMBRANES))
    mask[nr.MEMBRANES.index("c")] = 0.0
    for layer in ann.layers:
        for p in (layer.theta_pos, layer.theta_neg):
            p.register_hook(lambda grad: grad * mask)


def _train_ann(settings: BaselineSettings, cfg: NetworkConfig, x_tr, y_tr, x_te, y_te, quiet):
    """The float HardLSTM on the direct features, trained by model.train's loop."""
    from .train import accuracy, train_ann
    a_cfg = ann_config(cfg)
    ann = HardLSTM(a_cfg, seed=settings.seed)
    hold_c_thresholds(ann)
    a_tr = torch.as_tensor(ann_inputs(a_cfg, x_tr), dtype=torch.float32)
    a_te = torch.as_tensor(ann_inputs(a_cfg, x_te), dtype=torch.float32)
    train_ann(ann, a_tr, y_tr, epochs=settings.ann_epochs, lr=settings.ann_lr,
              batch=settings.batch, seed=settings.seed, quiet=True, x_test=a_te, y_test=y_te)
    ann.eval()
    with torch.no_grad():
        acc = accuracy(ann(a_te)["logits"], y_te)
    if not quiet:
        print(f"  ANN (HardLSTM, g non-spiking) on the direct features: test {100 * acc:.2f}%",
              flush=True)
    return ann, acc


def _fake_quant(cfg: NetworkConfig, model: FloatSpikingLSTM):
    """The param_hook: clamp to each parameter's range and, with ``state["on"]``, round
    (straight-through)."""
    ranges = param_ranges(cfg)
    state = {"on": False}

    def hook(name, value):
        lo, hi = ranges[name.rsplit(".", 1)[-1]]
        value = torch.clamp(value, lo, hi)
        return value + (torch.round(value) - value).detach() if state["on"] else value

    model.param_hook = hook
    return state


def _accuracy(model, x: torch.Tensor, y: np.ndarray) -> float:
    with torch.no_grad():
        return float(np.mean(nr.argmax_first(model(x)["logits"].numpy()) == y))


def train(settings: BaselineSettings, *, quiet: bool = False) -> dict:
    """Train and quantize; returns the config, the integers, accuracies and the test split."""
    torch.manual_seed(settings.seed)
    cfg = baseline_config(settings.dataset, **settings.config_changes)
    ds, x_tr, x_te = data_mod.integer_splits(cfg, settings.dataset, settings.data_path, settings.seed)
    y_tr, y_te = torch.as_tensor(ds.y_train), np.asarray(ds.y_test)
    xt, xe = torch.as_tensor(x_tr, dtype=torch.float32), torch.as_tensor(x_te, dtype=torch.float32)

    started = time.perf_counter()
    gen = torch.Generator().manual_seed(settings.seed)
    init = {"kind": settings.init}
    if settings.init == "ann":
        ann, init["ann_acc"] = _train_ann(settings, cfg, x_tr, y_tr, x_te, y_te, quiet)
        mapping = map_ann(ann, cfg)
        model, temperature = mapping.model, mapping.logit_temperature
        init.update(mapping.to_dict())
    else:
        model, temperature = FloatSpikingLSTM(cfg), RANDOM_TEMPERATURE
        with torch.no_grad():
            for layer in model.layers:
                for name in ("w_x", "w_h"):
                    w = getattr(layer, name)
                    w.copy_(torch.randn(w.shape, generator=gen) * settings.init_std)
            model.w_out.copy_(torch.randn(model.w_out.shape, generator=gen) * settings.init_std)
    if settings.temperature is not None:
        temperature = settings.temperature
    quant = _fake_quant(cfg, model)
    init["start_float_acc"] = _accuracy(model, xe, y_te)   # clamped to the ranges, not rounded
    quant["on"] = True
    init["start_integer_acc"] = _accuracy(model, xe, y_te)
    if not quiet:
        print(f"  start ({settings.init}): float {100 * init['start_float_acc']:.2f}%, "
              f"rounded {100 * init['start_integer_acc']:.2f}%", flush=True)
    history = []
    for phase, epochs, lr in (("float", settings.epochs, settings.lr), ("qat", settings.qat_epochs, settings.qat_lr)):
        quant["on"] = phase == "qat"
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
        for epoch in range(epochs):
            order = torch.randperm(len(xt), generator=gen)
            total = 0.0
            for j in range(0, len(xt), settings.batch):
                idx = order[j:j + settings.batch]
                loss = F.cross_entropy(model(xt[idx])["logits"] * temperature, y_tr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            sched.step()
            row = {"phase": phase, "epoch": epoch + 1, "loss": total / len(xt),
                   "test_acc": _accuracy(model, xe, y_te)}
            history.append(row)
            if not quiet:
                print(f"  {phase} {epoch + 1}/{epochs}: loss {row['loss']:.4f}, "
                      f"test {100 * row['test_acc']:.2f}%", flush=True)
        if phase == "float":
            float_acc = history[-1]["test_acc"] if history else _accuracy(model, xe, y_te)
    params = model.read_params()
    with torch.no_grad():
        fq_logits = model(xe)["logits"].numpy().astype(np.int64)
    res = golden.run(cfg, params, x_te)
    return {"cfg": cfg, "params": params, "float_acc": float_acc,
            "fake_quant_acc": _accuracy(model, xe, y_te),
            "golden_acc": float(np.mean(res.predicted == y_te)),
            "exact": bool(np.array_equal(res.logits, fq_logits)),
            "x_test": x_te, "y_test": y_te, "fq_logits": fq_logits, "history": history,
            "init": init,
            "seconds": time.perf_counter() - started, "dataset": ds}


def write_run(result: dict, settings: BaselineSettings, out: Path, command: str) -> Path:
    """The run folder in ``model.train``'s layout (``summary.json``, ``T1/``), written to a
    fresh folder beside ``out`` and swapped into place whole."""
    from .export import write_run_folder
    return write_run_folder(out, lambda tmp: _write_run(result, settings, tmp, command))


def _write_run(result: dict, settings: BaselineSettings, out: Path, command: str) -> None:
    cfg, ds = result["cfg"], result["dataset"]
    row = {"converted_acc": None, "fine_tuned_acc": result["float_acc"],
           "fake_quant_acc": result["fake_quant_acc"], "spike_rates": []}
    save_trained(out / "T1", cfg, result["params"], {"row": row, "conversion": {"kind": "none: trained as integers"}},
                 test_x=result["x_test"], test_y=result["y_test"],
                 test_fake_quant_logits=result["fq_logits"])
    summary = {"dataset": ds.summary(), "dataset_fingerprint": data_mod.fingerprint(ds),
               "input": data_mod.InputPrep.fit(ds, settings.seed).to_dict(),
               "export_steps": 1, "ann_acc": result["init"].get("ann_acc", result["float_acc"]),
               "ann_raw_features_acc": None, "init": result["init"],
               "command": command, "seed": settings.seed, "settings": asdict(settings),
               "seconds": round(result["seconds"], 1), "torch": torch.__version__,
               "numpy": np.__version__, "cell": "lstm", "golden_acc": result["golden_acc"],
               "history": result["history"]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=jsonable))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m model.baseline", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--data-path")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=BaselineSettings.epochs)
    ap.add_argument("--qat-epochs", type=int, default=BaselineSettings.qat_epochs)
    ap.add_argument("--init", default=BaselineSettings.init, choices=INITS,
                    help="random integer-unit weights, or the float HardLSTM trained on the "
                         "same features and mapped into integer units (default %(default)s)")
    ap.add_argument("--ann-epochs", type=int, default=BaselineSettings.ann_epochs,
                    help="epochs of the float ANN (--init ann)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="change a config field, e.g. --set ns_shift=6 --set acc_bits=20")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, help="run folder (default build/train/<dataset>-lstm)")
    a = ap.parse_args(argv)
    changes = config_changes(ap, a.set)
    settings = BaselineSettings(dataset=a.dataset, data_path=a.data_path, seed=a.seed,
                                epochs=a.epochs, qat_epochs=a.qat_epochs, init=a.init,
                                ann_epochs=a.ann_epochs, config_changes=changes)
    torch.set_num_threads(a.threads)
    try:
        result = train(settings)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except data_mod.DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not result["exact"]:
        print("error: the golden model's logits differ from the fake-quantized model's", file=sys.stderr)
        return 1
    out = a.out or REPO_ROOT / "build" / "train" / f"{a.dataset}-lstm"
    write_run(result, settings, out, shlex.join(["python", "-m", "model.baseline", *argv]))
    init = result["init"]
    if "ann_acc" in init:
        print(f"ANN {100 * init['ann_acc']:.2f}%, mapped float {100 * init['start_float_acc']:.2f}%, "
              f"mapped and rounded {100 * init['start_integer_acc']:.2f}%")
    print(f"wrote {out}: float {100 * result['float_acc']:.2f}%, fake-quant / golden "
          f"{100 * result['golden_acc']:.2f}% (golden = fake-quant on every test sample), "
          f"{result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)

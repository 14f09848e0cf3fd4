"""Direct training of any cell: surrogate gradients from a random start, then
quantization-aware epochs, with no conversion from an ANN.

``model.train`` converts the float hard-activation LSTM into the Datta cell; a cell with
other equations (the spiking LSTM unit ``slstm``, the integrate-and-fire ``if_neuron``)
has no such mapping, so it is trained here as the integer model it is: the float twin
(:class:`model.float_twin.FloatSpikingLSTM`, which runs the cell's own ``step`` with
the surrogate gradient the cell names) with every parameter in integer units times one
scale, ``theta0 = 2**(w_bits - 3)`` (32 for 8-bit weights): a trainable value of 1.0 is
one start threshold. Weights start normal with a standard deviation of
``2 / sqrt(fan-in)`` thresholds, biases at half a threshold, thresholds at one, start
values at zero; the readout weights at ``1 / sqrt(H)`` and its logits go into the loss
divided by ``theta0``.

Two phases: ``--epochs`` in floats (parameters clamped to their widths), then
``--qat-epochs`` with every parameter rounded on the forward pass (straight-through).
The integers read out at the end give the golden model exactly the fake-quantized
logits; the run checks it on the whole test split and fails if not.

    python -m model.train_cell --cell slstm --dataset digits     # build/train/digits-slstm
    python -m hw.package --from build/train/digits-slstm --out build/models/digits-slstm

The run folder has ``model.train``'s layout (``summary.json``, ``T<steps>/``), so
``hw.package`` packages it the same way.
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
from .cells import names as cell_names
from .config import ConfigError, NetworkConfig, preset
from .encoding import encode
from .float_twin import FloatSpikingLSTM
from .params import param_ranges
from .runs import jsonable, save_trained

__all__ = ["CellSettings", "cell_config", "train", "write_run", "main"]

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class CellSettings:
    cell: str = "slstm"
    dataset: str = "digits"
    data_path: str | None = None
    encoding: str = "level"
    steps: int = 4
    seed: int = 0
    batch: int = 64
    epochs: int = 40          # float phase
    lr: float = 0.02          # measured best of 0.005, 0.01, 0.02, 0.04 for slstm on digits
    qat_epochs: int = 10      # fake-quantized phase
    qat_lr: float = 0.001
    gamma: float = 0.5        # surrogate height (see model.float_twin)
    #: layer parameters held at zero (``("w_h",)``: no recurrent weights, e.g. the
    #: improved-dynamics neuron's version 1)
    zero: tuple[str, ...] = ()
    name: str | None = None   # the network's name (default <dataset>-<cell>)
    config_changes: dict = field(default_factory=dict)


def cell_config(settings: CellSettings) -> NetworkConfig:
    """The network of the dataset's preset (``tiny`` for an unknown dataset) with the
    settings' cell, encoding and steps, nothing kept non-spiking, named
    ``<dataset>-<cell>`` unless the settings name it."""
    from .config import PRESETS
    from .train import DATASET_CONFIG
    base = settings.dataset if settings.dataset in PRESETS else "tiny"
    changes = {"nonspiking": "none", "leak_shift": None,  # the cell's default leaks
               **DATASET_CONFIG.get(settings.dataset, {}), **settings.config_changes}
    cfg = preset(base, cell=settings.cell, encoding=settings.encoding, steps=settings.steps, **changes)
    return cfg.replace(name=settings.name or f"{settings.dataset}-{settings.cell}")


def theta0(cfg: NetworkConfig) -> float:
    """The integer units of one trainable unit (a start threshold)."""
    return float(1 << max(0, cfg.w_bits - 3))


class _Scaled:
    """The param_hook: trainable value x scale, clamped to the width, rounded with
    ``on`` (straight-through)."""

    def __init__(self, cfg: NetworkConfig):
        self.ranges = param_ranges(cfg)
        self.scale = theta0(cfg)
        self.on = False

    def __call__(self, name, value):
        lo, hi = self.ranges[name.rsplit(".", 1)[-1]]
        value = torch.clamp(value * self.scale, lo, hi)
        return value + (torch.round(value) - value).detach() if self.on else value


def _init(model: FloatSpikingLSTM, cfg: NetworkConfig, gen: torch.Generator) -> None:
    cell = cfg.cell_def()
    with torch.no_grad():
        for l, layer in enumerate(model.layers):
            for spec in cell.params:
                p = getattr(layer, spec.name)
                if spec.role in ("x_weights", "h_weights"):
                    fan_in = p.shape[-1]
                    p.copy_(torch.randn(p.shape, generator=gen) * 2.0 / np.sqrt(fan_in))
                elif spec.role == "bias":
                    p.fill_(0.5)
                elif spec.role == "constant":
                    p.fill_(1.0)
                else:  # start values
                    p.zero_()
        model.w_out.copy_(torch.randn(model.w_out.shape, generator=gen) / np.sqrt(cfg.hidden[-1]))
        model.b_out.zero_()


def _keep_valid(model: FloatSpikingLSTM, cfg: NetworkConfig, hook: _Scaled, zero=()):
    """Hold every constant (threshold) at or above its lowest integer, in trainable units,
    and the ``zero`` parameters at zero."""
    specs = [s for s in cfg.cell_def().params if s.role == "constant"]

    @torch.no_grad()
    def keep():
        for layer in model.layers:
            for s in specs:
                lo = s.range(cfg)[0]
                getattr(layer, s.name).clamp_(min=lo / hook.scale)
            for name in zero:
                getattr(layer, name).zero_()
    return keep


def train(settings: CellSettings, *, quiet: bool = False) -> dict:
    """Train and quantize; returns the config, the integers, accuracies and the test split."""
    from .train import _predict, accuracy
    if settings.cell not in cell_names():
        raise ConfigError(f"unknown cell {settings.cell!r}; choose one of {', '.join(cell_names())}")
    torch.manual_seed(settings.seed)
    cfg = cell_config(settings)
    known = [s.name for s in cfg.cell_def().params]
    constants = [s.name for s in cfg.cell_def().params if s.role == "constant"]
    for name in settings.zero:
        if name not in known:
            raise ConfigError(f"--zero {name}: the {cfg.cell} cell has no parameter {name!r}; "
                              f"it has {', '.join(known)}")
        if name in constants:
            raise ConfigError(f"--zero {name}: a threshold cannot be zero (it is at least 1)")
    ds, x_tr, x_te = data_mod.integer_splits(cfg, settings.dataset, settings.data_path, settings.seed)
    y_tr, y_te = torch.as_tensor(ds.y_train), np.asarray(ds.y_test)
    xt = torch.as_tensor(encode(cfg, x_tr), dtype=torch.float32)
    xe = torch.as_tensor(encode(cfg, x_te), dtype=torch.float32)

    started = time.perf_counter()
    gen = torch.Generator().manual_seed(settings.seed)
    model = FloatSpikingLSTM(cfg, gamma=settings.gamma)
    _init(model, cfg, gen)
    hook = _Scaled(cfg)
    model.param_hook = hook
    keep = _keep_valid(model, cfg, hook, settings.zero)
    keep()
    # the loss sees one element's readout at the scale of one threshold (an integrator
    # readout sums many: NetworkConfig.readout_gain)
    temperature = 1.0 / (hook.scale * cfg.readout_gain())
    history = []
    float_acc = None
    for phase, epochs, lr in (("float", settings.epochs, settings.lr),
                              ("qat", settings.qat_epochs, settings.qat_lr)):
        hook.on = phase == "qat"
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(len(xt), generator=gen)
            total, correct = 0.0, 0
            for j in range(0, len(xt), settings.batch):
                idx = order[j:j + settings.batch]
                logits = model(xt[idx])["logits"] * temperature
                loss = F.cross_entropy(logits, y_tr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                keep()
                total += loss.item() * len(idx)
                correct += int((logits.argmax(1) == y_tr[idx]).sum())
            sched.step()
            model.eval()
            row = {"phase": phase, "epoch": epoch + 1, "loss": total / len(xt),
                   "train_acc": correct / len(xt), "test_acc": accuracy(_predict(model, xe), y_te)}
            history.append(row)
            if not quiet:
                print(f"  {phase} {epoch + 1}/{epochs}: loss {row['loss']:.4f}, train "
                      f"{100 * row['train_acc']:.2f}%, test {100 * row['test_acc']:.2f}%", flush=True)
        if phase == "float":
            float_acc = history[-1]["test_acc"] if history else accuracy(_predict(model, xe), y_te)
    hook.on = True
    params = model.read_params()
    fq_logits = _predict(model, xe).numpy().astype(np.int64)
    res = golden.run(cfg, params, x_te)
    return {"cfg": cfg, "params": params, "float_acc": float_acc,
            "fake_quant_acc": float(np.mean(nr.argmax_first(fq_logits) == y_te)),
            "golden_acc": float(np.mean(res.predicted == y_te)),
            "same_class": float(np.mean(res.predicted == nr.argmax_first(fq_logits))),
            "exact": bool(np.array_equal(res.logits, fq_logits)),
            "x_test": x_te, "y_test": y_te, "fq_logits": fq_logits, "history": history,
            "result": res, "seconds": time.perf_counter() - started, "dataset": ds}


def write_run(result: dict, settings: CellSettings, out: Path, command: str) -> Path:
    """The run folder in ``model.train``'s layout, written beside ``out`` and swapped
    into place whole."""
    from .export import write_run_folder
    return write_run_folder(out, lambda tmp: _write_run(result, settings, tmp, command))


def _write_run(result: dict, settings: CellSettings, out: Path, command: str) -> None:
    from .train import spike_rates
    cfg, ds = result["cfg"], result["dataset"]
    row = {"converted_acc": None, "fine_tuned_acc": result["float_acc"],
           "fake_quant_acc": result["fake_quant_acc"],
           "spike_rates": spike_rates(cfg, result["result"])}
    save_trained(out / f"T{cfg.steps}", cfg, result["params"],
                 {"row": row, "conversion": {"kind": "none: trained directly (model.train_cell)"}},
                 test_x=result["x_test"], test_y=result["y_test"],
                 test_fake_quant_logits=result["fq_logits"])
    summary = {"dataset": ds.summary(), "dataset_fingerprint": data_mod.fingerprint(ds),
               "input": data_mod.InputPrep.fit(ds, settings.seed).to_dict(),
               "export_steps": cfg.steps, "ann_acc": None, "ann_raw_features_acc": None,
               "command": command, "seed": settings.seed, "settings": asdict(settings),
               "seconds": round(result["seconds"], 1), "torch": torch.__version__,
               "numpy": np.__version__, "cell": cfg.cell, "golden_acc": result["golden_acc"],
               "history": result["history"]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=jsonable))


def main(argv=None) -> int:
    from .cli import config_changes
    argv = sys.argv[1:] if argv is None else argv
    d = CellSettings()
    ap = argparse.ArgumentParser(prog="python -m model.train_cell", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cell", default=d.cell, help=f"one of {', '.join(cell_names())} (default %(default)s)")
    ap.add_argument("--dataset", default=d.dataset)
    ap.add_argument("--data-path")
    ap.add_argument("--encoding", default=d.encoding, choices=["rate", "level", "direct", "spikes"])
    ap.add_argument("--steps", type=int, default=d.steps, help="T (default %(default)s)")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--epochs", type=int, default=d.epochs)
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--qat-epochs", type=int, default=d.qat_epochs)
    ap.add_argument("--gamma", type=float, default=d.gamma)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="change a config field, e.g. --set acc_bits=20")
    ap.add_argument("--zero", action="append", default=[], metavar="PARAM",
                    help="hold a layer parameter at zero, e.g. --zero w_h (no recurrent weights)")
    ap.add_argument("--name", help="the run's network name (default <dataset>-<cell>)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--out", type=Path, help="run folder (default build/train/<name>)")
    a = ap.parse_args(argv)
    settings = CellSettings(cell=a.cell, dataset=a.dataset, data_path=a.data_path,
                            encoding=a.encoding, steps=a.steps, seed=a.seed, epochs=a.epochs,
                            lr=a.lr, qat_epochs=a.qat_epochs, gamma=a.gamma, zero=tuple(a.zero),
                            name=a.name, config_changes=config_changes(ap, a.set))
    torch.set_num_threads(a.threads)
    try:
        result = train(settings, quiet=a.quiet)
    except (ConfigError, data_mod.DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not result["exact"]:
        print("error: the golden model's logits differ from the fake-quantized model's "
              f"(same class on {100 * result['same_class']:.2f}% of the test split)", file=sys.stderr)
        return 1
    out = a.out or REPO_ROOT / "build" / "train" / result["cfg"].name
    write_run(result, settings, out, shlex.join(["python", "-m", "model.train_cell", *argv]))
    print(f"wrote {out}: float {100 * result['float_acc']:.2f}%, fake-quant / golden "
          f"{100 * result['golden_acc']:.2f}% (golden = fake-quant on every test sample), "
          f"{result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    from model.cli import run_command
    run_command(main)

"""Training of the non-spiking baseline (cell ``lstm``, :mod:`model.cells.lstm`).

The baseline is trained as the integer model it is: the float twin of the ``lstm`` cell
(:class:`model.float_twin.FloatSpikingLSTM`, its floors with straight-through gradients)
with parameters in integer units, first in floats, then with every parameter rounded
and clamped to its width on the forward pass (fake quantization). The integers read
out at the end give the golden model exactly the fake-quantized logits; the run checks
it on the whole test split. Inputs are ``direct`` features of the dataset (T = 1).

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
from .cells.lstm import baseline_config
from .config import NetworkConfig
from .float_twin import FloatSpikingLSTM
from .params import LayerParams, NetworkParams
from .runs import jsonable, save_trained

__all__ = ["BaselineSettings", "baseline_config", "train", "main"]

REPO_ROOT = Path(__file__).resolve().parent.parent


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
    init_std: float = 0.5     # weights at start, in integer units
    temperature: float = 1 / 64  # logits (integer units) times this go into the loss
    config_changes: dict = field(default_factory=dict)


def _fake_quant(cfg: NetworkConfig, model: FloatSpikingLSTM):
    """The param_hook: clamp to each parameter's range and, with ``state["on"]``, round
    (straight-through)."""
    ranges = {s.name: s.range(cfg) for s in cfg.cell_def().params}
    ranges["w_out"] = ranges["w_x"]
    ranges["b_out"] = nr.signed_range(cfg.logit_bits)
    state = {"on": False}

    def hook(name, value):
        lo, hi = ranges[name.rsplit(".", 1)[-1]]
        value = torch.clamp(value, lo, hi)
        return value + (torch.round(value) - value).detach() if state["on"] else value

    model.param_hook = hook
    return state


def _integers(cfg: NetworkConfig, model: FloatSpikingLSTM) -> NetworkParams:
    with torch.no_grad():
        ints = {name: model._param(name, p).numpy().astype(np.int64) for name, p in
                model.named_parameters() if name not in ("leak_factor",)}
    layers = [LayerParams(**{s.name: ints[f"layers.{l}.{s.name}"] for s in cfg.cell_def().params})
              for l in range(cfg.layers)]
    return NetworkParams(layers, ints["w_out"], ints["b_out"]).validate(cfg)


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

    model = FloatSpikingLSTM(cfg)
    gen = torch.Generator().manual_seed(settings.seed)
    with torch.no_grad():
        for layer in model.layers:
            for name in ("w_x", "w_h"):
                w = getattr(layer, name)
                w.copy_(torch.randn(w.shape, generator=gen) * settings.init_std)
        model.w_out.copy_(torch.randn(model.w_out.shape, generator=gen) * settings.init_std)
    quant = _fake_quant(cfg, model)
    history, started = [], time.perf_counter()
    for phase, epochs, lr in (("float", settings.epochs, settings.lr), ("qat", settings.qat_epochs, settings.qat_lr)):
        quant["on"] = phase == "qat"
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
        for epoch in range(epochs):
            order = torch.randperm(len(xt), generator=gen)
            total = 0.0
            for j in range(0, len(xt), settings.batch):
                idx = order[j:j + settings.batch]
                loss = F.cross_entropy(model(xt[idx])["logits"] * settings.temperature, y_tr[idx])
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
    params = _integers(cfg, model)
    with torch.no_grad():
        fq_logits = model(xe)["logits"].numpy().astype(np.int64)
    res = golden.run(cfg, params, x_te)
    return {"cfg": cfg, "params": params, "float_acc": float_acc,
            "fake_quant_acc": _accuracy(model, xe, y_te),
            "golden_acc": float(np.mean(res.predicted == y_te)),
            "exact": bool(np.array_equal(res.logits, fq_logits)),
            "x_test": x_te, "y_test": y_te, "fq_logits": fq_logits, "history": history,
            "seconds": time.perf_counter() - started, "dataset": ds}


def write_run(result: dict, settings: BaselineSettings, out: Path, command: str) -> Path:
    """The run folder in ``model.train``'s layout (``summary.json``, ``T1/``), written to a
    fresh folder beside ``out`` and swapped into place whole."""
    import tempfile
    from .export import swap_into_place
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _write_run(result, settings, tmp, command)
        swap_into_place(tmp, out)
    except BaseException:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write_run(result: dict, settings: BaselineSettings, out: Path, command: str) -> None:
    cfg, ds = result["cfg"], result["dataset"]
    row = {"converted_acc": None, "fine_tuned_acc": result["float_acc"],
           "fake_quant_acc": result["fake_quant_acc"], "spike_rates": []}
    save_trained(out / "T1", cfg, result["params"], {"row": row, "conversion": {"kind": "none: trained as integers"}},
                 test_x=result["x_test"], test_y=result["y_test"],
                 test_fake_quant_logits=result["fq_logits"])
    summary = {"dataset": ds.summary(), "dataset_fingerprint": data_mod.fingerprint(ds),
               "export_steps": 1, "ann_acc": result["float_acc"], "ann_raw_features_acc": None,
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
    ap.add_argument("--out", type=Path, help="run folder (default build/train/<dataset>-lstm)")
    a = ap.parse_args(argv)
    settings = BaselineSettings(dataset=a.dataset, data_path=a.data_path, seed=a.seed,
                                epochs=a.epochs, qat_epochs=a.qat_epochs)
    try:
        result = train(settings)
    except data_mod.DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not result["exact"]:
        print("error: the golden model's logits differ from the fake-quantized model's", file=sys.stderr)
        return 1
    out = a.out or REPO_ROOT / "build" / "train" / f"{a.dataset}-lstm"
    write_run(result, settings, out, shlex.join(["python", "-m", "model.baseline", *argv]))
    print(f"wrote {out}: float {100 * result['float_acc']:.2f}%, fake-quant / golden "
          f"{100 * result['golden_acc']:.2f}% (golden = fake-quant on every test sample), "
          f"{result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

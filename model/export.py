"""Weights packages: the integer model the hardware generator loads, in one folder.

A package is a directory::

    manifest.json        configuration (NetworkConfig.to_dict()), widths, scales, dataset,
                         accuracies, spike rates, the training and export commands and seed,
                         the memory map, the SHA-256 of every other file, and
                         manifest_sha256: the hash of its own content (manifest_digest),
                         so that an edited manifest is refused like an edited file
    weights.npz          the integer arrays (l<layer>_w_x, ..., w_out, b_out) plus check
                         vectors: check_x (raw test inputs) and check_logits (their golden
                         logits)
    mem/<memory>.hex     one word per line for $readmemh, entry 0 in the low bits
    mem/<memory>.mem     the same words in binary for $readmemb

Memories follow the ROM layout of :func:`hw.rom.memories` for the recorded ``par`` (P
weights per word): per layer ``l<l>_weights`` (word ``{j, c}``: chunk c of input column
j), ``l<l>_bias``, ``l<l>_u0`` (the cell's start values), ``l<l>_thresholds`` (one word
per constant of the cell; Datta: word 0 theta_pos of f, i, o, g, c, word 1 theta_neg),
then ``readout_weights`` (word j: W_out[:, j]) and ``readout_bias``. This module stores
them and checks their hashes; it does not compute them (``model/`` never imports
``hw/``): :mod:`hw.package` writes complete packages.

:func:`load_package` checks the hashes, the configuration and the arrays and raises
:class:`model.config.ConfigError` naming the problem; with ``expect`` it also refuses a
package built for another configuration. :func:`write_package` writes a temporary
folder next to the target and renames it into place, so a failure leaves nothing behind.

    python -m hw.package --check models/digits --set encoding=level
    python -m hw.package --from build/train/digits --out build/models/digits   # after make train
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shlex
import shutil
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data, golden
from . import numerics as nr
from .cli import OutputError, check_writable
from .config import ConfigError, NetworkConfig, PRESETS, preset
from .data import DataError, InputPrep
from .params import LayerParams, NetworkParams
from .runs import jsonable, load_trained

__all__ = ["FORMAT", "VERSION", "Package", "write_package", "load_package", "verify_package",
           "evaluate_package", "sample_inputs",
           "swap_into_place", "write_run_folder", "jsonable",
           "resolve_package", "memories", "main"]

FORMAT = "spikegate-weights"
VERSION = 2  # 2: the manifest carries manifest_sha256, the hash of its own content
REPO_ROOT = Path(__file__).resolve().parent.parent
_CHECK_SAMPLES = 16


@dataclass
class Package:
    path: Path
    cfg: NetworkConfig
    params: NetworkParams
    manifest: dict
    check_x: np.ndarray | None = None
    check_logits: np.ndarray | None = None
    #: how the training coded its dataset's features (manifest ``input``); None for a
    #: package of random or hand-made weights
    prep: InputPrep | None = None

    def input_prep(self) -> InputPrep:
        """:attr:`prep`, or ConfigError when the package records none."""
        if self.prep is None:
            raise ConfigError(f"weights package {self.path} records no input preparation "
                              f"(manifest key 'input'): it was not exported from a training run "
                              f"of this version; export it again with python -m hw.package --from <run>")
        return self.prep

    def inputs(self, x: np.ndarray, seed: int | None = None) -> np.ndarray:
        """Float features of the package's dataset -> the model's raw integer input, coded
        as the training coded its test split (:class:`model.data.InputPrep`)."""
        return self.input_prep()(self.cfg, x, seed)


def manifest_digest(manifest: dict) -> str:
    """SHA-256 of a manifest's content without its own ``manifest_sha256`` field: the
    JSON with sorted keys and no spaces, so that it does not depend on indentation."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=jsonable)
    return hashlib.sha256(text.encode()).hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _int_dtype(bits: int):
    return np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32 if bits <= 32 else np.int64


def _arrays(cfg: NetworkConfig, params: NetworkParams) -> dict[str, np.ndarray]:
    out = {}
    for l, lp in enumerate(params.layers):
        for spec in cfg.cell_def().params:
            out[f"l{l}_{spec.name}"] = np.asarray(getattr(lp, spec.name)).astype(
                _int_dtype(getattr(cfg, spec.bits)))
    out["w_out"] = np.asarray(params.w_out).astype(_int_dtype(cfg.w_bits))
    out["b_out"] = np.asarray(params.b_out).astype(_int_dtype(cfg.logit_bits))
    return out


def _write_npz(path: Path, arrays: dict[str, np.ndarray]):
    """A byte-for-byte reproducible .npz (fixed timestamps, sorted names)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            # (np.ascontiguousarray would turn a 0-d array into a 1-d one)
            np.lib.format.write_array(buf, np.array(arrays[name], order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


# --- memories (the ROM images are hw.rom.memories; a package only stores them) ----------

def _mem_files(folder: Path, mems: list[dict]) -> dict:
    files = {}
    for m in mems:
        head = (f"// spikegate {m['name']}: {m['depth']} words x {m['width']} bits, "
                f"{m['entries']} entries of {m['entry_bits']} bits, entry 0 in the low bits\n")
        digits = max(1, -(-m["width"] // 4))
        (folder / f"{m['name']}.hex").write_text(
            head + "".join(f"{w:0{digits}x}\n" for w in m["words"]))
        (folder / f"{m['name']}.mem").write_text(
            head + "".join(f"{w:0{m['width']}b}\n" for w in m["words"]))
        files[m["name"]] = {"hex": f"mem/{m['name']}.hex", "mem": f"mem/{m['name']}.mem"}
    return files


# --- writing -----------------------------------------------------------------------------

def write_package(path: str | os.PathLike, cfg: NetworkConfig, params: NetworkParams, *,
                  meta: dict | None = None, check_x: np.ndarray | None = None,
                  par: int = 4, memories=None) -> Path:
    """Write a package atomically: everything goes to a temporary folder beside ``path``,
    which then replaces ``path``. ``check_x``: raw inputs whose golden logits are stored
    so that a loader can confirm the arrays still give the same answers.

    ``memories(cfg, params, par)`` gives the ROM images to store under ``mem/`` (the
    hardware's layout, :func:`hw.rom.memories`; :func:`hw.package.write_package` passes
    it); without it the package holds the arrays alone."""
    params.validate(cfg)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; a package is an ordinary folder
    try:
        arrays = _arrays(cfg, params)
        if check_x is not None:
            check_x = np.asarray(check_x)[:_CHECK_SAMPLES].astype(np.int64)
            arrays["check_x"] = check_x
            arrays["check_logits"] = golden.run(cfg, params, check_x).logits.astype(np.int64)
        _write_npz(tmp / "weights.npz", arrays)
        (tmp / "mem").mkdir()
        mems = memories(cfg, params, par) if memories is not None else []
        mem_files = _mem_files(tmp / "mem", mems)
        manifest = {
            "format": FORMAT, "version": VERSION,
            "name": cfg.name,
            "config": cfg.to_dict(),
            "widths": {k: getattr(cfg, k) for k in
                       ("w_bits", "acc_bits", "u_bits", "c_bits", "logit_bits", "x_bits", "ns_bits")},
            "par": par,
            "memories": [{**{k: v for k, v in m.items() if k != "words"}, **mem_files[m["name"]]}
                         for m in mems],
            **(meta or {}),
        }
        files = ["weights.npz"] + sorted(f"mem/{p.name}" for p in (tmp / "mem").iterdir())
        manifest["weights_sha256"] = _sha256(tmp / "weights.npz")
        manifest["files"] = {f: _sha256(tmp / f) for f in files}
        manifest = json.loads(json.dumps(manifest, default=jsonable))  # as a reader will see it
        manifest["manifest_sha256"] = manifest_digest(manifest)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def swap_into_place(tmp: Path, path: Path):
    """Replace the folder ``path`` by ``tmp`` (a finished sibling folder) in two renames;
    the old contents come back if the second rename fails."""
    if not path.exists():
        os.replace(tmp, path)
        return
    old = path.parent / f".{path.name}.old-{os.getpid()}"
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --- loading -----------------------------------------------------------------------------

def resolve_package(name_or_path: str | os.PathLike) -> Path:
    """A package folder: the path itself, else ``models/<name>``, else ``build/models/<name>``."""
    p = Path(name_or_path)
    candidates = [p] if (p.is_absolute() or os.sep in str(name_or_path)) else \
        [p, REPO_ROOT / "models" / p, REPO_ROOT / "build" / "models" / p]
    for c in candidates:
        if (c / "manifest.json").exists():
            return c
    raise ConfigError(f"no weights package {str(name_or_path)!r}: looked for manifest.json in "
                      + ", ".join(str(c) for c in candidates)
                      + ". Train and export one (make train DATASET=digits; make export).")


def _differences(have: NetworkConfig, want) -> list[str]:
    want_d = want.to_dict() if isinstance(want, NetworkConfig) else dict(want)
    have_d = have.to_dict()
    unknown = sorted(set(want_d) - set(have_d))
    if unknown:
        raise ConfigError(f"unknown configuration fields requested: {', '.join(unknown)}")
    out = []
    norm = lambda v: tuple(v) if isinstance(v, (tuple, list)) else v
    for key, value in want_d.items():
        if key == "name":
            continue
        if norm(have_d[key]) != norm(value):
            out.append(f"{key} is {norm(have_d[key])!r} in the package, {norm(value)!r} requested")
    return out


def load_package(path: str | os.PathLike, expect=None, *, verify: bool = False,
                 memories=None) -> Package:
    """Load and check a package; raise ConfigError naming what is wrong.

    Checks: the manifest's format and version, its own hash (``manifest_sha256``), the
    SHA-256 of every listed file, the configuration, the shape and range of every array
    (``NetworkParams.validate``).
    ``expect`` (a NetworkConfig, a HardwareConfig, or a dict of config fields) must match
    the package's configuration field by field. ``verify`` also reruns the golden model
    on the stored check inputs and, with ``memories``, rebuilds the memory files (see
    :func:`verify_package`).
    """
    path = Path(path)
    where = f"weights package {path}"
    manifest_path = path / "manifest.json"
    if not path.is_dir():
        raise ConfigError(f"{where}: no such folder")
    if not manifest_path.is_file():
        raise ConfigError(f"{where}: no manifest.json (not a weights package, or incomplete)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{where}: manifest.json is not valid JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise ConfigError(f"{where}: manifest.json holds a {type(manifest).__name__}, not a JSON object")
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ConfigError(f"{where}: format {manifest.get('format')!r} version "
                          f"{manifest.get('version')!r}, expected {FORMAT!r} version {VERSION}")
    if manifest.get("manifest_sha256") != manifest_digest(manifest):
        raise ConfigError(f"{where}: manifest.json was changed after the package was written (its "
                          "content no longer matches its manifest_sha256); a package is not edited "
                          "by hand: write it again with python -m hw.package --from <training run>")
    files = manifest.get("files", {})
    if not (isinstance(files, dict) and all(isinstance(v, str) for v in files.values())):
        raise ConfigError(f"{where}: the manifest's \"files\" is not a map of file names to SHA-256 hashes")
    if files.get("weights.npz") != manifest.get("weights_sha256"):
        raise ConfigError(f"{where}: manifest lists no consistent hash for weights.npz")
    for name, digest in files.items():
        f = path / name
        if not f.is_file():
            raise ConfigError(f"{where}: {name} is missing")
        actual = _sha256(f)
        if actual != digest:
            raise ConfigError(f"{where}: {name} is corrupted or was changed: its SHA-256 is "
                              f"{actual[:16]}..., the manifest records {digest[:16]}...")
    try:
        cfg = NetworkConfig.from_dict({**manifest["config"], "hidden": tuple(manifest["config"]["hidden"]),
                                       "leak_shift": tuple(manifest["config"]["leak_shift"])})
    except (KeyError, TypeError) as err:
        raise ConfigError(f"{where}: manifest has no usable configuration ({err})") from None
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    try:  # as stored: NetworkParams.validate refuses float arrays, a cast would hide them
        with np.load(path / "weights.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise ConfigError(f"{where}: weights.npz cannot be read ({err})") from None
    names = [spec.name for spec in cfg.cell_def().params]
    need = [f"l{l}_{n}" for l in range(cfg.layers) for n in names] + ["w_out", "b_out"]
    missing = [k for k in need if k not in arrays]
    if missing:
        raise ConfigError(f"{where}: weights.npz lacks {', '.join(missing)}")
    params = NetworkParams(
        [LayerParams(**{n: arrays[f"l{l}_{n}"] for n in names}) for l in range(cfg.layers)],
        arrays["w_out"], arrays["b_out"])
    try:
        params.validate(cfg)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    arrays = {k: v.astype(np.int64) for k, v in arrays.items()}
    params = NetworkParams(
        [LayerParams(**{n: arrays[f"l{l}_{n}"] for n in names}) for l in range(cfg.layers)],
        arrays["w_out"], arrays["b_out"])
    if expect is not None:
        net = getattr(expect, "net", expect)  # a HardwareConfig carries its NetworkConfig
        diff = _differences(cfg, net)
        if diff:
            raise ConfigError(f"{where} does not fit the requested configuration: " + "; ".join(diff))
    prep = None
    if manifest.get("input") is not None:
        try:
            prep = InputPrep.from_dict(manifest["input"], "the manifest's \"input\"")
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from None
    pkg = Package(path, cfg, params, manifest, arrays.get("check_x"), arrays.get("check_logits"), prep)
    if verify:
        verify_package(pkg, memories)
    return pkg


def verify_package(pkg: Package, memories=None) -> dict:
    """Rerun the golden model on the check inputs and, with ``memories`` (as in
    :func:`write_package`), rebuild the memory files; raise ConfigError on any
    difference. Returns a short report."""
    where = f"weights package {pkg.path}"
    report = {"check_samples": 0, "memories": 0}
    if pkg.check_x is not None and pkg.check_logits is not None:
        logits = golden.run(pkg.cfg, pkg.params, pkg.check_x).logits
        if not np.array_equal(logits, pkg.check_logits):
            bad = int(np.sum(np.any(logits != pkg.check_logits, axis=1)))
            raise ConfigError(f"{where}: the golden model gives different logits on {bad} of "
                              f"{len(logits)} stored check inputs")
        report["check_samples"] = int(len(logits))
    for m in (memories(pkg.cfg, pkg.params, int(pkg.manifest.get("par", 4))) if memories else []):
        entry = next((e for e in pkg.manifest["memories"] if e["name"] == m["name"]), None)
        if entry is None:
            raise ConfigError(f"{where}: memory {m['name']} is not in the manifest")
        lines = [ln for ln in (pkg.path / entry["hex"]).read_text().splitlines()
                 if ln and not ln.startswith("//")]
        if [int(ln, 16) for ln in lines] != m["words"]:
            raise ConfigError(f"{where}: {entry['hex']} does not hold the words of the weights")
        report["memories"] += 1
    return report


def sample_inputs(pkg: Package, samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, labels)``: the first ``samples`` test sequences of the package's dataset when
    the project generates that dataset (digits, mnist1d), coded by the package's own
    input preparation (:meth:`Package.inputs`); otherwise ``samples`` random inputs of
    the model's encoding (seeded ``seed``) and no labels. The board host script, the
    simulated sequences of ``make synth`` and cosim's ``--package`` cases use it."""
    from .encoding import random_input
    dataset = (pkg.manifest.get("dataset") or {}).get("name")
    if dataset in data.GENERATED:
        ds = data.load(dataset)
        n = min(samples, len(ds.y_test))
        return pkg.inputs(ds.x_test[:n]), ds.y_test[:n]
    return random_input(pkg.cfg, samples, np.random.default_rng(seed)), None


def evaluate_package(pkg: Package, samples: int | None = None) -> dict:
    """Run the golden model on the test split of the package's dataset, coded by the
    package's own input preparation. On the whole split the accuracy must be the one the
    manifest records (``accuracy.golden``): the same integers give the same answers.
    Raises ConfigError (no preparation recorded, another dataset under that name, a
    different accuracy) or :class:`model.data.DataError` (dataset files absent)."""
    where = f"weights package {pkg.path}"
    info = pkg.manifest.get("dataset") or {}
    name = info.get("name")
    if not name:
        raise ConfigError(f"{where} records no dataset (random or hand-made weights)")
    pkg.input_prep()
    ds = data.load(name)
    if info.get("fingerprint") and data.fingerprint(ds) != info["fingerprint"]:
        raise ConfigError(f"{where}: dataset {name!r} here (fingerprint {data.fingerprint(ds)}) is "
                          f"not the one it was trained on ({info['fingerprint']})")
    n = len(ds.y_test) if samples is None else min(int(samples), len(ds.y_test))
    x = pkg.inputs(ds.x_test[:n])
    pred = golden.run(pkg.cfg, pkg.params, x).predicted
    acc = float(np.mean(pred == ds.y_test[:n]))
    recorded = (pkg.manifest.get("accuracy") or {}).get("golden")
    if n == len(ds.y_test) and recorded is not None and abs(acc - recorded) > 1e-12:
        raise ConfigError(f"{where}: the golden model gives {100 * acc:.2f}% on the {n} test "
                          f"sequences of {name}, the manifest records {100 * recorded:.2f}%: the "
                          f"package's input preparation does not code the features as the training did")
    return {"dataset": name, "samples": n, "accuracy": acc, "recorded": recorded}


# --- from a training run ------------------------------------------------------------------

def _relative(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def export_trained(train_dir: str | os.PathLike, out: str | os.PathLike, *, steps: int | None = None,
                   par: int = 4, name: str | None = None, command: str | None = None,
                   memories=None) -> dict:
    """Package the integer model that ``model.train`` evaluated, after checking that the
    golden model still gives the recorded predictions on the whole test split."""
    train_dir = Path(train_dir)
    summary_path = train_dir / "summary.json"
    if not summary_path.exists():
        raise ConfigError(f"{train_dir} holds no training run (summary.json missing); "
                          f"run python -m model.train first")
    summary = json.loads(summary_path.read_text())
    if "input" not in summary:
        raise ConfigError(f"{train_dir} was trained before runs recorded their input preparation "
                          f"(summary.json has no 'input'); train it again")
    steps = steps or summary["export_steps"]
    folder = train_dir / f"T{steps}"
    if not (folder / "params.npz").exists():
        raise ConfigError(f"{train_dir} has no model for T={steps}; it has "
                          + ", ".join(p.name for p in sorted(train_dir.glob("T*"))))
    cfg, params, meta = load_trained(folder)
    if name:
        cfg = cfg.replace(name=name)
    with np.load(folder / "params.npz") as z:
        x_test, y_test, fq_logits = z["test_x"], z["test_y"], z["test_fake_quant_logits"]
    res = golden.run(cfg, params, x_test)
    agreement = float(np.mean(res.predicted == nr.argmax_first(fq_logits)))
    acc = float(np.mean(res.predicted == y_test))
    if agreement < 1.0 or not np.array_equal(res.logits, fq_logits):
        raise ConfigError(f"the golden model disagrees with the fake-quant model on "
                          f"{100 * (1 - agreement):.2f}% of test samples: not exporting")
    row = meta["row"]
    ann_acc = summary["ann_acc"]
    manifest_meta = {
        "dataset": {**summary["dataset"], "fingerprint": summary["dataset_fingerprint"]},
        "accuracy": {"ann": ann_acc, "ann_raw_features": summary.get("ann_raw_features_acc"),
                     "converted": row["converted_acc"],
                     "fine_tuned": row["fine_tuned_acc"], "fake_quant": row["fake_quant_acc"],
                     "golden": acc, "golden_vs_fake_quant_agreement": agreement,
                     "test_samples": int(len(y_test))},
        "input": summary["input"],
        "spike_rates": row["spike_rates"],
        "scales": meta["conversion"],
        "training": {"command": summary["command"], "seed": summary["seed"],
                     "settings": summary["settings"], "seconds": summary["seconds"],
                     "torch": summary.get("torch"), "numpy": summary.get("numpy")},
        "export": {"command": command, "from": _relative(folder)},
    }
    write_package(out, cfg, params, meta=manifest_meta, check_x=x_test, par=par, memories=memories)
    return {"path": str(out), "golden_acc": acc, "agreement": agreement, "steps": steps}


# --- command line --------------------------------------------------------------------------

def main(argv=None, *, memories=None, prog: str = "python -m hw.package") -> int:
    """The command line of :mod:`hw.package` (which passes the ROM images, ``memories``)."""
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog=prog, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="train_dir", help="a training run folder (build/train/<dataset>)")
    ap.add_argument("--out", help="package folder to write (default build/models/<dataset>)")
    ap.add_argument("--steps", type=int, help="T of the model to export (default: the run's)")
    ap.add_argument("--par", type=int, default=4, help="P of the ROM layout of the .hex/.mem files")
    ap.add_argument("--name", help="model name recorded in the configuration")
    ap.add_argument("--check", metavar="PACKAGE", help="load and verify a package instead")
    ap.add_argument("--evaluate", action="store_true",
                    help="with --check: also run the golden model on the test split of the "
                         "package's dataset, coded by the package's input preparation")
    ap.add_argument("--preset", choices=sorted(PRESETS), help="with --check: the expected preset")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="with --check: an expected configuration field, e.g. --set encoding=rate")
    a = ap.parse_args(argv)
    try:
        if a.check:
            expect = None
            fields = {}
            for item in a.set:
                key, _, value = item.partition("=")
                try:
                    fields[key] = json.loads(value)
                except json.JSONDecodeError:
                    fields[key] = value
            if a.preset:
                expect = {**preset(a.preset, **{k: v for k, v in fields.items()
                                                if k not in ("hidden", "leak_shift")}).to_dict(),
                          **fields}
                if "leak_shift" not in fields:
                    expect.pop("leak_shift")  # trained leaks differ from the preset's IF default
            elif fields:
                expect = fields
            pkg = load_package(resolve_package(a.check), expect)
            rep = verify_package(pkg, memories)
            acc = pkg.manifest.get("accuracy", {})
            print(f"{pkg.path}: OK ({pkg.cfg.name}, T={pkg.cfg.steps}, encoding {pkg.cfg.encoding}, "
                  f"{rep['memories']} memories, {rep['check_samples']} check samples"
                  + (f", golden accuracy {100 * acc['golden']:.2f}%" if "golden" in acc else "") + ")")
            if a.evaluate:
                ev = evaluate_package(pkg)
                rec = ev["recorded"]
                print(f"{pkg.path}: golden model on the {ev['samples']} test sequences of "
                      f"{ev['dataset']}, coded from the package: {100 * ev['accuracy']:.2f}%"
                      + (f" (the manifest records {100 * rec:.2f}%)" if rec is not None else ""))
            return 0
        if not a.train_dir:
            ap.error("give --from <training run> (or --check <package>)")
        dataset = json.loads((Path(a.train_dir) / "summary.json").read_text())["dataset"]["name"] \
            if (Path(a.train_dir) / "summary.json").exists() else Path(a.train_dir).name
        out = a.out or str(REPO_ROOT / "build" / "models" / dataset)
        check_writable(Path(out).parent, f"--out {out}")  # before the golden check of the test split
        res = export_trained(a.train_dir, out, steps=a.steps, par=a.par, name=a.name,
                             command=shlex.join([*prog.split(), *argv]), memories=memories)
        print(f"wrote {res['path']} (T={res['steps']}): golden accuracy "
              f"{100 * res['golden_acc']:.2f}%, golden = fake-quant on "
              f"{100 * res['agreement']:.2f}% of the test split")
        return 0
    except (ConfigError, OutputError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def write_run_folder(out, fill) -> Path:
    """A run folder written whole: ``fill(tmp)`` writes into a fresh folder beside
    ``out``, which then replaces ``out``; on any error the fresh folder is removed and
    ``out`` stays as it was."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        fill(tmp)
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


if __name__ == "__main__":
    # the commands of this format live in hw.package, which adds the ROM images (model/
    # never imports hw/); say so rather than do nothing
    print("spikegate: weights packages are written and checked by python -m hw.package "
          "(see python -m hw.package --help); model.export holds the format only", file=sys.stderr)
    sys.exit(2)


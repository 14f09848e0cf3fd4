"""Datasets for training: sequences ``x[n_samples, N, M]`` of features and labels ``y``.

Every loader returns a :class:`Dataset` of float features (not yet quantized) with a
fixed train/test split. :func:`to_integers` turns features into the integer inputs of
a configuration's encoding (``model.encoding``), with the scaling fitted on the
training split only.

* ``digits``: scikit-learn's bundled 8x8 digits, read row by row (N = 8 elements of
  M = 8 pixels), split 75/25, stratified, with a fixed seed. Always available.
* ``mnist1d``: MNIST-1D (Greydanus), generated offline by the ``mnist1d`` package from
  its digit templates with the package's published arguments (seed 42): 4,000 train and
  1,000 test sequences of N = 40 signed samples, M = 1, 10 classes. Always available.
* ``tmnist``: temporal MNIST, row by row, from the four IDX files (gzip or not) in
  ``<data>/mnist/``; rows and columns are padded with zeros to the preset's 32 x 32.
* ``gsc``: Google Speech Commands (v0.01 or v0.02 folder layout) in
  ``<data>/speech_commands/``; 20 log-mel bands, 81 frames of 1 s at 16 kHz, 12
  classes (ten words, unknown, silence).
* ``uci``: UCI HAR ("Human Activity Recognition Using Smartphones") in
  ``<data>/UCI HAR Dataset/``: the nine inertial signals, windows of 128 samples.
* ``npz``: any ``.npz`` holding ``x[n_samples, N, M]`` and ``y`` (optionally
  ``x_test``, ``y_test``; otherwise the same stratified split as digits).
* :func:`synthetic`: small generated tasks for tests.

``<data>`` is ``$SPIKEGATE_DATA`` or ``data/`` at the top of the repository. Nothing is
downloaded: a missing file raises :class:`DataError` that says what to place where.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import numerics as nr
from .config import NetworkConfig

__all__ = ["DataError", "Dataset", "DATASETS", "data_root", "load", "load_digits",
           "load_mnist1d", "load_tmnist", "load_gsc", "load_uci_har", "load_npz", "synthetic",
           "read_idx", "log_mel", "fit_shape", "FeatureScale", "InputPrep", "to_integers",
           "integer_splits"]

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Seed of every fixed split (digits, npz without a test split, GSC subsampling).
SPLIT_SEED = 0


class DataError(FileNotFoundError):
    """A dataset whose files are missing or malformed; the message says what to do."""


@dataclass
class Dataset:
    """Float features ``[n, N, M]`` and integer labels, split once and for all."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    signed: bool = False   # features may be negative (affects the direct scaling only)
    note: str = ""

    @property
    def length(self) -> int:
        return self.x_train.shape[1]

    @property
    def inputs(self) -> int:
        return self.x_train.shape[2]

    def summary(self) -> dict:
        return {"name": self.name, "train": int(len(self.y_train)), "test": int(len(self.y_test)),
                "length": self.length, "inputs": self.inputs, "classes": self.classes,
                "note": self.note}


def data_root() -> Path:
    return Path(os.environ.get("SPIKEGATE_DATA", REPO_ROOT / "data"))


def _stratified_split(x, y, test_fraction=0.25, seed=SPLIT_SEED):
    from sklearn.model_selection import train_test_split
    return train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)


# --- digits -------------------------------------------------------------------------

def load_digits(seed: int = SPLIT_SEED) -> Dataset:
    """scikit-learn's 8x8 digits, row n of the image is element n (pixel values 0..16)."""
    from sklearn.datasets import load_digits as sk_digits
    d = sk_digits()
    x = d.images.astype(np.float64) / 16.0
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = _stratified_split(x, y, seed=seed)
    return Dataset("digits", x_tr, y_tr, x_te, y_te, classes=10,
                   note=f"sklearn digits, rows as elements, stratified 75/25 split, seed {seed}")


# --- MNIST-1D -----------------------------------------------------------------------

def load_mnist1d() -> Dataset:
    """MNIST-1D as the ``mnist1d`` package generates it (``make_dataset`` with
    ``get_dataset_args()``: 5,000 sequences, 80/20 split, seed 42); nothing is
    downloaded. The generator seeds NumPy's and Python's global random state, which is
    put back afterwards."""
    import random
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:  # pragma: no cover - the package is pinned in requirements.lock
        raise DataError(f"MNIST-1D needs the mnist1d package (pinned in requirements.lock; "
                        f"run make venv): {err}") from None
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return Dataset("mnist1d", np.asarray(d["x"], np.float64)[:, :, None], np.asarray(d["y"], np.int64),
                   np.asarray(d["x_test"], np.float64)[:, :, None], np.asarray(d["y_test"], np.int64),
                   classes=10, signed=True,
                   note="MNIST-1D from the mnist1d package's templates (its default arguments, "
                        "seed 42), 4,000 / 1,000 split as published")


# --- temporal MNIST -----------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    count = int(np.prod(shape)) if shape else 1
    body = raw[4 + 4 * ndim:]
    if len(body) != count * dtype.itemsize:
        raise DataError(f"{path}: header says shape {shape} ({count * dtype.itemsize} bytes), "
                        f"file holds {len(body)} bytes")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).exists():
            return folder / name
    return None


def load_tmnist(root: str | os.PathLike | None = None) -> Dataset:
    """Temporal MNIST: each 28x28 image read row by row (28 elements of 28 pixels)."""
    folder = Path(root) if root is not None else data_root() / "mnist"
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    found = [_find(folder, s) for s in stems]
    missing = [s for s, f in zip(stems, found) if f is None]
    if missing:
        raise DataError(
            f"temporal MNIST needs the four MNIST IDX files in {folder}/ (plain or .gz); "
            f"missing: {', '.join(missing)}. Place them there (or set SPIKEGATE_DATA to the "
            f"folder that holds mnist/); nothing is downloaded.")
    x_tr, y_tr, x_te, y_te = (read_idx(f) for f in found)
    if x_tr.ndim != 3 or x_te.ndim != 3 or len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
        raise DataError(f"MNIST files in {folder} have inconsistent shapes "
                        f"{x_tr.shape}, {y_tr.shape}, {x_te.shape}, {y_te.shape}")
    return Dataset("tmnist", x_tr / 255.0, y_tr.astype(np.int64), x_te / 255.0,
                   y_te.astype(np.int64), classes=10, note=f"MNIST IDX files from {folder}")


# --- Google Speech Commands -----------------------------------------------------------

GSC_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
GSC_CLASSES = GSC_WORDS + ("_unknown_", "_silence_")


def _mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 20.0, fmax: float | None = None):
    fmax = fmax or sr / 2
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)
    points = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    bank = np.zeros((n_mels, freqs.size))
    for j in range(n_mels):
        lo, mid, hi = points[j], points[j + 1], points[j + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        bank[j] = np.clip(np.minimum(up, down), 0, None)
    return bank


def log_mel(audio: np.ndarray, sr: int = 16000, n_mels: int = 20, n_fft: int = 400,
            hop: int = 200, frames: int = 81) -> np.ndarray:
    """Log-mel features ``[frames, n_mels]``: Hann window ``n_fft``, hop ``hop``, centred
    frames (1 s at 16 kHz gives 81 frames), power spectrum, triangular mel bands,
    ``log(energy + 1e-6)``. The clip is zero-padded or cut to 1 s first."""
    audio = np.asarray(audio, dtype=np.float64)
    want = (frames - 1) * hop
    audio = np.pad(audio[:want], (0, max(0, want - audio.size)))
    padded = np.pad(audio, n_fft // 2, mode="reflect")
    idx = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None, :]
    spec = np.abs(np.fft.rfft(padded[idx] * np.hanning(n_fft), axis=1)) ** 2
    return np.log(spec @ _mel_filterbank(sr, n_fft, n_mels).T + 1e-6)


def _read_wav(path: Path) -> np.ndarray:
    from scipy.io import wavfile
    sr, data = wavfile.read(path)
    if sr != 16000:
        raise DataError(f"{path}: expected 16 kHz audio, got {sr} Hz")
    if data.ndim > 1:
        data = data[:, 0]
    if np.issubdtype(data.dtype, np.integer):
        data = data / float(np.iinfo(data.dtype).max)
    return data.astype(np.float64)


def load_gsc(root: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
             seed: int = SPLIT_SEED) -> Dataset:
    """Google Speech Commands as log-mel sequences (81 frames x 20 bands, 12 classes).

    The folder holds one sub-folder of 16 kHz ``.wav`` clips per word, the official
    ``validation_list.txt`` and ``testing_list.txt``, and ``_background_noise_/``.
    Training uses every clip in neither list. ``_unknown_`` is a seeded sample of the
    other words (as many as the average keyword); ``_silence_`` is 1 s cuts of the
    background noise (one ninth of each split). Features are cached in ``cache``
    (default ``build/data/gsc_logmel.npz``) because reading 100k clips takes minutes.
    """
    folder = Path(root) if root is not None else data_root() / "speech_commands"
    needed = [folder / "testing_list.txt", folder / "validation_list.txt"] + \
             [folder / w for w in GSC_WORDS] + [folder / "_background_noise_"]
    missing = [str(p.relative_to(folder)) for p in needed if not p.exists()]
    if missing:
        raise DataError(
            f"Google Speech Commands needs the extracted speech_commands_v0.0x archive in "
            f"{folder}/ (one folder of .wav clips per word, testing_list.txt, "
            f"validation_list.txt, _background_noise_/); missing: {', '.join(missing[:6])}"
            f"{' ...' if len(missing) > 6 else ''}. Nothing is downloaded.")
    cache = Path(cache) if cache is not None else REPO_ROOT / "build" / "data" / "gsc_logmel.npz"
    if cache.exists():
        with np.load(cache) as z:
            if str(z["source"]) == str(folder.resolve()):
                return Dataset("gsc", z["x_train"], z["y_train"], z["x_test"], z["y_test"],
                               classes=len(GSC_CLASSES), signed=True,
                               note=f"GSC log-mel from {folder} (cached in {cache})")
    rng = np.random.default_rng(seed)
    test_set = set((folder / "testing_list.txt").read_text().split())
    held_out = test_set | set((folder / "validation_list.txt").read_text().split())
    splits = {"train": ([], []), "test": ([], [])}
    unknown = {"train": [], "test": []}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for wav in sorted(sub.glob("*.wav")):
            rel = f"{sub.name}/{wav.name}"
            split = "test" if rel in test_set else ("train" if rel not in held_out else None)
            if split is None:
                continue
            if sub.name in GSC_WORDS:
                splits[split][0].append(wav)
                splits[split][1].append(GSC_WORDS.index(sub.name))
            else:
                unknown[split].append(wav)
    noise = [_read_wav(p) for p in sorted((folder / "_background_noise_").glob("*.wav"))]
    out = {}
    for split, (files, labels) in splits.items():
        per_word = max(1, len(files) // len(GSC_WORDS))
        pick = rng.permutation(len(unknown[split]))[:per_word]
        files = files + [unknown[split][j] for j in sorted(pick)]
        labels = labels + [GSC_CLASSES.index("_unknown_")] * len(pick)
        feats = [log_mel(_read_wav(f)) for f in files]
        n_sil = max(1, len(files) // 9)
        for _ in range(n_sil):
            clip = noise[rng.integers(len(noise))] if noise else np.zeros(16000)
            start = rng.integers(0, max(1, clip.size - 16000))
            feats.append(log_mel(clip[start:start + 16000] * rng.uniform(0, 1)))
            labels.append(GSC_CLASSES.index("_silence_"))
        out[split] = (np.stack(feats), np.asarray(labels, dtype=np.int64))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, source=str(folder.resolve()), x_train=out["train"][0], y_train=out["train"][1],
             x_test=out["test"][0], y_test=out["test"][1])
    return Dataset("gsc", *out["train"], *out["test"], classes=len(GSC_CLASSES), signed=True,
                   note=f"GSC log-mel from {folder}")


# --- UCI HAR ---------------------------------------------------------------------------

HAR_SIGNALS = ("body_acc_x", "body_acc_y", "body_acc_z", "body_gyro_x", "body_gyro_y",
               "body_gyro_z", "total_acc_x", "total_acc_y", "total_acc_z")


def load_uci_har(root: str | os.PathLike | None = None) -> Dataset:
    """UCI HAR windows: 128 samples (2.56 s at 50 Hz) of the 9 inertial signals, 6 classes."""
    folder = Path(root) if root is not None else data_root() / "UCI HAR Dataset"
    needed = []
    for split in ("train", "test"):
        needed.append(folder / split / f"y_{split}.txt")
        needed += [folder / split / "Inertial Signals" / f"{s}_{split}.txt" for s in HAR_SIGNALS]
    missing = [str(p.relative_to(folder)) for p in needed if not p.exists()]
    if missing:
        raise DataError(
            f"UCI HAR needs the extracted 'UCI HAR Dataset' folder at {folder}/ "
            f"(train/ and test/ with y_*.txt and 'Inertial Signals/*.txt'); missing: "
            f"{', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}. Nothing is downloaded.")
    parts = {}
    for split in ("train", "test"):
        sig = [np.loadtxt(folder / split / "Inertial Signals" / f"{s}_{split}.txt", ndmin=2)
               for s in HAR_SIGNALS]
        x = np.stack(sig, axis=-1)  # [n, 128, 9]
        y = np.loadtxt(folder / split / f"y_{split}.txt", dtype=np.int64, ndmin=1) - 1
        if len(x) != len(y):
            raise DataError(f"UCI HAR {split}: {len(x)} windows but {len(y)} labels")
        parts[split] = (x, y)
    return Dataset("uci", *parts["train"], *parts["test"], classes=6, signed=True,
                   note=f"UCI HAR inertial signals from {folder}")


# --- generic npz -------------------------------------------------------------------------

def load_npz(path: str | os.PathLike, seed: int = SPLIT_SEED) -> Dataset:
    """A ``.npz`` with ``x[n_samples, N, M]`` and ``y`` (and optionally ``x_test``, ``y_test``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist: place a .npz there holding x[n_samples, N, M] "
                        f"and y[n_samples] (optionally x_test and y_test)")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not a .npz archive (a zip of .npy arrays, as np.savez "
                        f"writes it)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"{path} cannot be read as a .npz archive ({err})") from None
    if "x" not in arrays or "y" not in arrays:
        raise DataError(f"{path} must hold arrays 'x' [n_samples, N, M] and 'y'; "
                        f"it holds {', '.join(arrays) or 'nothing'}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{path} holds {'x_test' if 'x_test' in arrays else 'y_test'} without "
                        f"{'y_test' if 'x_test' in arrays else 'x_test'}: give both or neither")
    x, y = _npz_split(path, arrays, "x", "y")
    test = _npz_split(path, arrays, "x_test", "y_test") if "x_test" in arrays else None
    if test is None:
        x_tr, x_te, y_tr, y_te = _stratified_split(x, y, seed=seed)
    else:
        (x_te, y_te), x_tr, y_tr = test, x, y
        if x_te.shape[1:] != x.shape[1:]:
            raise DataError(f"{path}: x_test has elements {x_te.shape[1:]}, x has {x.shape[1:]}")
    classes = int(max(y_tr.max(), y_te.max())) + 1
    return Dataset(path.stem, x_tr, y_tr, x_te, y_te, classes=classes,
                   signed=bool(min(x_tr.min(), x_te.min()) < 0), note=f"npz from {path}")


def _npz_split(path: Path, arrays: dict, x_name: str, y_name: str):
    """Features ``[n, N, M]`` (finite numbers) and labels ``[n]`` (integers from 0) of one
    split of a .npz, as float64 and int64; a DataError names what is wrong."""
    x, y = arrays[x_name], arrays[y_name]
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or np.iscomplexobj(x):
        raise DataError(f"{path}: {x_name} must hold real numbers, got dtype {x.dtype}")
    if x.ndim != 3 or y.shape != (len(x),):
        raise DataError(f"{path}: {x_name} must be [n_samples, N, M] and {y_name} [n_samples]; "
                        f"got {x_name} {x.shape}, {y_name} {y.shape}")
    if len(x) == 0:
        raise DataError(f"{path}: {x_name} holds no samples")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: {x_name} holds {int(np.sum(~np.isfinite(x)))} NaN or infinite values")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: {y_name} must hold integer class labels 0, 1, ..., got dtype "
                        f"{y.dtype} (save them with y.astype(int))")
    if y.min() < 0:
        raise DataError(f"{path}: {y_name} holds the label {y.min()}; class labels start at 0")
    return x, y.astype(np.int64)


# --- synthetic tasks -------------------------------------------------------------------

def synthetic(task: str = "bars", samples: int = 400, length: int = 5, inputs: int = 4,
              classes: int = 4, seed: int = 0, noise: float = 0.1) -> Dataset:
    """Small generated tasks for tests (features in [0, 1]).

    * ``bars``: class c lights input channel ``c % M`` for the whole sequence (a
      static pattern; any working network learns it);
    * ``order``: two pulses on channels 0 and 1; the class says which came first (needs
      the recurrence).
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, noise, (samples, length, inputs))
    if task == "bars":
        y = rng.integers(0, classes, samples)
        x[np.arange(samples), :, y % inputs] += 0.8
    elif task == "order":
        if inputs < 2 or length < 2:
            raise ValueError("the 'order' task needs at least 2 inputs and 2 elements")
        classes = 2
        y = rng.integers(0, 2, samples)
        for j in range(samples):
            t0, t1 = sorted(rng.choice(length, 2, replace=False))
            first, second = (0, 1) if y[j] == 0 else (1, 0)
            x[j, t0, first] += 0.9
            x[j, t1, second] += 0.9
    else:
        raise ValueError(f"unknown synthetic task {task!r}; choose 'bars' or 'order'")
    x = np.clip(x, 0, 1)
    cut = samples * 3 // 4
    return Dataset(f"synthetic-{task}", x[:cut], y[:cut], x[cut:], y[cut:], classes=classes,
                   note=f"synthetic {task}, seed {seed}")


# --- registry, shapes, integers -------------------------------------------------------

DATASETS = {"digits": load_digits, "mnist1d": load_mnist1d, "tmnist": load_tmnist,
            "gsc": load_gsc, "uci": load_uci_har}


#: Datasets that need no files: ``--data-path`` does not apply to them.
GENERATED = ("digits", "mnist1d")


def load(name: str, path: str | os.PathLike | None = None) -> Dataset:
    """A dataset by name (``digits``, ``mnist1d``, ``tmnist``, ``gsc``, ``uci``, ``synthetic-bars``,
    ``synthetic-order``) or the path of a ``.npz``."""
    if name.endswith(".npz") or name == "npz":
        return load_npz(path if name == "npz" else name)
    if name.startswith("synthetic-"):
        return synthetic(name.split("-", 1)[1])
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, "
                        f"synthetic-bars, synthetic-order, or give a .npz path")
    return DATASETS[name]() if path is None or name in GENERATED else DATASETS[name](path)


def fit_shape(x: np.ndarray, length: int, inputs: int) -> np.ndarray:
    """Zero-pad (centred) or centre-crop ``x[n, N', M']`` to ``[n, length, inputs]``."""
    out = x
    for axis, want in ((1, length), (2, inputs)):
        have = out.shape[axis]
        if have > want:
            lo = (have - want) // 2
            out = np.take(out, np.arange(lo, lo + want), axis=axis)
        elif have < want:
            pad = [(0, 0)] * out.ndim
            pad[axis] = ((want - have) // 2, want - have - (want - have) // 2)
            out = np.pad(out, pad)
    return out


@dataclass(frozen=True)
class FeatureScale:
    """Per-channel affine map fitted on the training split: ``(x - lo) / span``."""
    lo: np.ndarray
    span: np.ndarray

    @classmethod
    def fit(cls, x_train: np.ndarray, signed: bool) -> "FeatureScale":
        if signed:  # centre and scale by the 99.5th percentile of |x|, keep the sign
            mid = np.median(x_train, axis=(0, 1))
            span = np.percentile(np.abs(x_train - mid), 99.5, axis=(0, 1))
            return cls(mid, np.where(span > 0, span, 1.0))
        lo = x_train.min(axis=(0, 1))
        span = x_train.max(axis=(0, 1)) - lo
        return cls(lo, np.where(span > 0, span, 1.0))

    def __call__(self, x):
        return (x - self.lo) / self.span


def to_integers(cfg: NetworkConfig, x: np.ndarray, *, signed: bool = False,
                scale: FeatureScale | None = None, seed: int = 0) -> np.ndarray:
    """Float features -> the raw integer input that ``cfg.encoding`` takes.

    Unsigned features in [0, 1] (digits, MNIST) are used as they are; other data is first
    mapped by ``scale`` (fit it on the training split with :class:`FeatureScale`).
    ``rate`` / ``level``: ``round(x * (2**x_bits - 1))`` clipped to [0, 2**x_bits - 1]
    (signed data is first moved to [0, 1] by ``(x + 1) / 2``). ``direct``:
    ``round(x * (2**(x_bits-1) - 1))``, signed. ``spikes``: Bernoulli spikes of
    probability x (seeded with ``seed``), shape ``[n, N, T, M]``.
    """
    x = fit_shape(np.asarray(x, np.float64), cfg.length, cfg.inputs)
    if scale is not None:
        x = scale(x)
    if signed and cfg.encoding != "direct":
        x = (np.clip(x, -1, 1) + 1) / 2
    if cfg.encoding == "direct":
        top = nr.signed_range(cfg.x_bits)[1]
        return np.clip(np.rint(x * top), -top, top).astype(np.int64)
    x = np.clip(x, 0, 1)
    if cfg.encoding == "spikes":
        rng = np.random.default_rng(seed)
        p = np.broadcast_to(x[:, :, None, :], (x.shape[0], cfg.length, cfg.steps, cfg.inputs))
        return (rng.random(p.shape) < p).astype(np.int64)
    return np.rint(x * nr.unsigned_max(cfg.x_bits)).astype(np.int64)


@dataclass(frozen=True)
class InputPrep:
    """What turns a dataset's float features into a model's raw integer input, besides
    the configuration's own coding fields (``encoding``, ``x_bits``, N and M): whether
    the features are signed, the :class:`FeatureScale` fitted on the training split
    (signed data only) and the seed of the test split's spike draws (``spikes`` coding).
    A weights package records it (manifest key ``input``) so that everything running
    the package on new features codes them as the training did."""
    signed: bool = False
    scale: FeatureScale | None = None
    test_seed: int = 1

    @classmethod
    def fit(cls, ds: "Dataset", seed: int = 0) -> "InputPrep":
        """The preparation ``model.train`` uses: scale fitted on ``ds``'s training split;
        spike draws seeded ``seed`` (train) and ``seed + 1`` (test)."""
        scale = FeatureScale.fit(ds.x_train, ds.signed) if ds.signed else None
        return cls(bool(ds.signed), scale, seed + 1)

    def __call__(self, cfg: NetworkConfig, x: np.ndarray, seed: int | None = None) -> np.ndarray:
        """Float features ``[n, N', M']`` -> raw integer input of ``cfg``."""
        return to_integers(cfg, x, signed=self.signed, scale=self.scale,
                           seed=self.test_seed if seed is None else seed)

    def to_dict(self) -> dict:
        return {"signed": self.signed, "test_seed": self.test_seed,
                "scale": None if self.scale is None else
                {"lo": [float(v) for v in np.ravel(self.scale.lo)],
                 "span": [float(v) for v in np.ravel(self.scale.span)]}}

    @classmethod
    def from_dict(cls, d, where: str = "input preparation") -> "InputPrep":
        """Read :meth:`to_dict`'s form back; raises ValueError naming the first problem."""
        if not isinstance(d, dict) or set(d) != {"signed", "test_seed", "scale"}:
            raise ValueError(f"{where}: expected the keys signed, test_seed, scale")
        if not isinstance(d["signed"], bool) or not isinstance(d["test_seed"], int) \
                or isinstance(d["test_seed"], bool):
            raise ValueError(f"{where}: signed must be true/false and test_seed an integer")
        scale = d["scale"]
        if scale is not None:
            if not isinstance(scale, dict) or set(scale) != {"lo", "span"}:
                raise ValueError(f"{where}: scale must hold lo and span")
            try:
                lo, span = (np.asarray(scale[k], np.float64) for k in ("lo", "span"))
            except (TypeError, ValueError):
                raise ValueError(f"{where}: scale lo and span must be lists of numbers") from None
            if lo.ndim != 1 or lo.shape != span.shape or lo.size == 0:
                raise ValueError(f"{where}: scale lo and span must be lists of one value per "
                                 f"input channel, of the same length")
            if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(span)) and np.all(span > 0)):
                raise ValueError(f"{where}: scale lo must be finite and span finite and > 0")
            scale = FeatureScale(lo, span)
        elif d["signed"]:
            raise ValueError(f"{where}: signed features need a scale")
        return cls(d["signed"], scale, d["test_seed"])


def integer_splits(cfg: NetworkConfig, dataset: str, data_path=None, seed: int = 0):
    """``(dataset, x_train, x_test)``: the dataset loaded and both splits turned into the
    raw integer input of ``cfg`` by :meth:`InputPrep.fit` (signed data scaled by a
    :class:`FeatureScale` fit on the training split; spike draws seeded ``seed`` and
    ``seed + 1``)."""
    ds = load(dataset, data_path)
    if ds.classes > cfg.classes:
        raise DataError(f"dataset {ds.name} has {ds.classes} classes, config "
                        f"{cfg.name!r} reads out {cfg.classes}")
    prep = InputPrep.fit(ds, seed)
    return ds, prep(cfg, ds.x_train, seed=seed), prep(cfg, ds.x_test)


def fingerprint(ds: Dataset) -> str:
    """A short hash of a dataset's arrays (recorded in the weights package)."""
    h = hashlib.sha256()
    for arr in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        a = np.ascontiguousarray(arr)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]

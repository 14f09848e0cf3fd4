"""Dataset loaders (with small hand-made files), feature scaling and synthetic tasks."""

import gzip
import struct

import numpy as np
import pytest

from model import data
from model.config import preset

pytestmark = pytest.mark.golden


def test_digits_split_is_fixed_and_stratified():
    a, b = data.load_digits(), data.load_digits()
    assert a.x_train.shape == (1347, 8, 8) and a.x_test.shape == (450, 8, 8)
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    assert a.x_train.min() == 0.0 and a.x_train.max() == 1.0
    counts = np.bincount(a.y_test, minlength=10)
    assert counts.min() >= 43 and counts.max() <= 47   # 1797 samples, 25 % of each class
    # rows are elements: row 0 of a sklearn digit image is element 0
    from sklearn.datasets import load_digits
    images = load_digits().images
    first = a.x_train[0] * 16
    assert any(np.array_equal(first, img) for img in images)


def test_to_integers_ranges_by_hand():
    x = np.array([[[0.0, 0.5, 1.0, 1.7]]])            # one sample, one element, 4 features
    rate = preset("tiny", encoding="rate", length=1)   # x_bits = 8
    assert data.to_integers(rate, x).tolist() == [[[0, 128, 255, 255]]]  # 127.5 rounds to even
    direct = preset("tiny", encoding="direct", length=1)
    assert data.to_integers(direct, x).tolist() == [[[0, 64, 127, 127]]]
    signed = np.array([[[-1.0, 0.0, 1.0, -2.0]]])
    assert data.to_integers(direct, signed, signed=True).tolist() == [[[-127, 0, 127, -127]]]
    assert data.to_integers(rate, signed, signed=True).tolist() == [[[0, 128, 255, 0]]]


def test_to_integers_spikes_are_seeded_bernoulli():
    cfg = preset("tiny", encoding="spikes", length=2, steps=3)
    x = np.tile([0.0, 1.0, 0.5, 0.5], (50, 2, 1))
    a = data.to_integers(cfg, x, seed=1)
    assert a.shape == (50, 2, 3, 4)
    assert np.array_equal(a, data.to_integers(cfg, x, seed=1))
    assert a[..., 0].max() == 0 and a[..., 1].min() == 1
    assert 0.35 < a[..., 2].mean() < 0.65


def test_fit_shape_pads_and_crops_centred():
    x = np.ones((1, 28, 28))
    y = data.fit_shape(x, 32, 32)
    assert y.shape == (1, 32, 32)
    assert y[0, :2].sum() == 0 and y[0, 30:].sum() == 0 and y[0, :, :2].sum() == 0
    assert y[0, 2:30, 2:30].min() == 1
    z = data.fit_shape(np.arange(10.0).reshape(1, 10, 1), 4, 1)
    assert z.ravel().tolist() == [3.0, 4.0, 5.0, 6.0]


def idx_bytes(arr: np.ndarray, code=0x08) -> bytes:
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def test_read_idx(tmp_path):
    img = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(idx_bytes(img))
    (tmp_path / "b.gz").write_bytes(gzip.compress(idx_bytes(img)))
    assert np.array_equal(data.read_idx(tmp_path / "a"), img)
    assert np.array_equal(data.read_idx(tmp_path / "b.gz"), img)
    (tmp_path / "c").write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(data.DataError, match="not an IDX file"):
        data.read_idx(tmp_path / "c")
    (tmp_path / "d").write_bytes(idx_bytes(img)[:-3])
    with pytest.raises(data.DataError, match="header says shape"):
        data.read_idx(tmp_path / "d")


def test_tmnist_missing_and_present(tmp_path):
    with pytest.raises(data.DataError, match=r"mnist/.*train-images-idx3-ubyte.*nothing is downloaded"):
        data.load_tmnist(tmp_path / "mnist")
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 5), ("t10k", 3)):
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))))
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(n, dtype=np.uint8)))
    ds = data.load_tmnist(folder)
    assert ds.x_train.shape == (5, 28, 28) and ds.x_test.shape == (3, 28, 28)
    assert ds.y_test.tolist() == [0, 1, 2] and ds.x_train.max() <= 1.0
    x = data.to_integers(preset("tmnist", encoding="rate"), ds.x_train)
    assert x.shape == (5, 32, 32)


def test_uci_har_missing_and_present(tmp_path):
    with pytest.raises(data.DataError, match="UCI HAR Dataset"):
        data.load_uci_har(tmp_path / "UCI HAR Dataset")
    root = tmp_path / "UCI HAR Dataset"
    for split, n in (("train", 4), ("test", 2)):
        sig = root / split / "Inertial Signals"
        sig.mkdir(parents=True)
        for j, name in enumerate(data.HAR_SIGNALS):
            np.savetxt(sig / f"{name}_{split}.txt", np.full((n, 128), j + 0.5))
        np.savetxt(root / split / f"y_{split}.txt", np.arange(1, n + 1), fmt="%d")
    ds = data.load_uci_har(root)
    assert ds.x_train.shape == (4, 128, 9) and ds.y_train.tolist() == [0, 1, 2, 3]
    assert ds.x_test[0, 5].tolist() == [j + 0.5 for j in range(9)]
    assert ds.signed and ds.classes == 6


def test_log_mel_of_a_tone_peaks_at_its_band():
    sr, freq = 16000, 1000.0
    t = np.arange(sr) / sr
    feats = data.log_mel(np.sin(2 * np.pi * freq * t))
    assert feats.shape == (81, 20)
    # band centres: 22 points evenly spaced in mel from 20 Hz to 8 kHz, centres are 1..20
    mel = lambda f: 2595 * np.log10(1 + f / 700)
    centres_mel = np.linspace(mel(20), mel(8000), 22)[1:-1]
    expected = int(np.argmin(np.abs(centres_mel - mel(freq))))
    assert int(np.argmax(feats[40])) == expected


def test_gsc_missing_and_present(tmp_path):
    from scipy.io import wavfile
    with pytest.raises(data.DataError, match=r"testing_list\.txt.*Nothing is downloaded"):
        data.load_gsc(tmp_path / "speech_commands", cache=tmp_path / "cache.npz")
    root = tmp_path / "speech_commands"
    rng = np.random.default_rng(0)
    test_list = []
    for word in data.GSC_WORDS + ("bed", "cat"):
        (root / word).mkdir(parents=True)
        for j in range(2):
            wavfile.write(root / word / f"{j}.wav", 16000,
                          (rng.normal(0, 3000, 8000)).astype(np.int16))  # half a second
        test_list.append(f"{word}/1.wav")
    (root / "testing_list.txt").write_text("\n".join(test_list) + "\n")
    (root / "validation_list.txt").write_text("")
    (root / "_background_noise_").mkdir()
    wavfile.write(root / "_background_noise_" / "noise.wav", 16000,
                  rng.normal(0, 1000, 40000).astype(np.int16))
    ds = data.load_gsc(root, cache=tmp_path / "cache.npz")
    assert ds.x_train.shape[1:] == (81, 20)
    # 10 keywords + 1 unknown (one per keyword on average) + 1 silence (a ninth) per split
    assert sorted(ds.y_train.tolist()) == list(range(12))
    assert sorted(ds.y_test.tolist()) == list(range(12))
    assert ds.y_train[-2:].tolist() == [10, 11]  # unknown, then silence
    again = data.load_gsc(root, cache=tmp_path / "cache.npz")  # from the cache
    assert np.array_equal(again.x_test, ds.x_test)


def test_npz_loader(tmp_path):
    with pytest.raises(data.DataError, match=r"x\[n_samples, N, M\]"):
        data.load_npz(tmp_path / "none.npz")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", x=rng.random((40, 3, 2)), y=np.arange(40) % 2)
    ds = data.load("" + str(tmp_path / "a.npz"))
    assert ds.x_train.shape == (30, 3, 2) and ds.x_test.shape == (10, 3, 2) and ds.classes == 2
    np.savez(tmp_path / "b.npz", x=rng.random((4, 3, 2)), y=np.arange(4),
             x_test=rng.random((2, 3, 2)), y_test=np.array([0, 1]))
    ds = data.load_npz(tmp_path / "b.npz")
    assert len(ds.y_train) == 4 and ds.y_test.tolist() == [0, 1]
    np.savez(tmp_path / "c.npz", x=rng.random((4, 6)), y=np.arange(4))
    with pytest.raises(data.DataError, match="must be"):
        data.load_npz(tmp_path / "c.npz")
    np.savez(tmp_path / "d.npz", features=rng.random((4, 3, 2)))
    with pytest.raises(data.DataError, match="holds features"):
        data.load_npz(tmp_path / "d.npz")


def test_mnist1d_is_generated_offline_as_published():
    import random
    np.random.seed(123)
    random.seed(123)
    before = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(123)
    ds = data.load("mnist1d")
    assert (np.random.random(), random.random()) == before  # the generator's seeding is undone
    assert ds.x_train.shape == (4000, 40, 1) and ds.x_test.shape == (1000, 40, 1)
    assert ds.classes == 10 and ds.signed and ds.x_train.min() < 0 < ds.x_train.max()
    assert sorted(set(ds.y_train.tolist())) == list(range(10))
    assert 380 <= np.bincount(ds.y_train).min() and np.bincount(ds.y_train).max() <= 420
    # the same arrays every time (seed 42 of the package's published arguments)
    again = data.load("mnist1d")
    assert data.fingerprint(ds) == data.fingerprint(again)
    # whitened as the package does it: the whole set has mean 0 and standard deviation 1
    whole = np.concatenate([ds.x_train, ds.x_test]).ravel()
    assert abs(whole.mean()) < 1e-9 and abs(whole.std() - 1) < 1e-9


def test_unknown_dataset_names_the_choices():
    with pytest.raises(data.DataError, match="digits, mnist1d, tmnist, gsc, uci"):
        data.load("imagenet")


def test_synthetic_tasks():
    bars = data.synthetic("bars", samples=80, length=5, inputs=4, classes=4, seed=2)
    assert bars.x_train.shape == (60, 5, 4) and bars.classes == 4
    # the labelled channel is the brightest in every element
    assert np.all(bars.x_train.argmax(axis=2) == (bars.y_train % 4)[:, None])
    order = data.synthetic("order", samples=40, length=6, inputs=3, seed=2)
    first = np.array([np.argmax(s[:, 0] > 0.5) < np.argmax(s[:, 1] > 0.5) for s in order.x_train])
    assert np.array_equal(first, order.y_train == 0)
    with pytest.raises(ValueError, match="unknown synthetic task"):
        data.synthetic("xor")

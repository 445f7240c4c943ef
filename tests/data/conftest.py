"""Fixtures for the data tests: tiny IDX and CIFAR files, and an isolated, offline setting."""

from __future__ import annotations

import gzip
import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bnnas.data import download, fashion_mnist, locations

REAL_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """The IDX encoding of ``array`` (big-endian values after the header)."""
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def _write_bytes(path: Path, data: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach the network: the real downloader is replaced by one that fails."""

    def refuse(url: str, dest: Path) -> None:
        raise OSError(f"network disabled in tests (asked for {url})")

    monkeypatch.setattr(download, "download_file", refuse)


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No $BNNAS_DATA, an empty user cache and an empty 'system' folder; returns the cache root."""
    monkeypatch.delenv(locations.DATA_ENV, raising=False)
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "no-system-data")
    return cache


def _tiny_fashion_arrays(per_class_train: int = 4, per_class_test: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = {}
    for stem, per_class in (("train", per_class_train), ("t10k", per_class_test)):
        labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
        rng.shuffle(labels)
        images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
        out[f"{stem}-images-idx3-ubyte"] = images
        out[f"{stem}-labels-idx1-ubyte"] = labels
    return out


@pytest.fixture
def make_fashion_dir() -> Callable[..., tuple[Path, dict[str, str], dict[str, np.ndarray]]]:
    """Writes a tiny Fashion-MNIST (4 train / 2 test images per class) into a folder.

    Returns (folder, MD5 table of the decompressed files, the arrays written).
    """

    def make(folder: Path, gz: bool = True) -> tuple[Path, dict[str, str], dict[str, np.ndarray]]:
        arrays = _tiny_fashion_arrays()
        md5 = {}
        for stem, array in arrays.items():
            data = _idx_bytes(array)
            md5[stem] = hashlib.md5(data).hexdigest()
            _write_bytes(folder / (stem + (".gz" if gz else "")), data, gz)
        return folder, md5, arrays

    return make


def _cifar_batch(n: int, num_classes: int, seed: int, label_key: str) -> dict:
    rng = np.random.default_rng(seed)
    batch = {
        "batch_label": f"batch {seed}",
        "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        label_key: [int(v) for v in rng.integers(0, num_classes, size=n)],
        "filenames": [f"img_{seed}_{i}.png" for i in range(n)],
    }
    if label_key == "fine_labels":
        batch["coarse_labels"] = [int(v) % 20 for v in batch[label_key]]
    return batch


def _write_pickle(path: Path, obj: object, protocol: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


@pytest.fixture
def cifar10_dir(tmp_path: Path) -> Path:
    """A CIFAR-10 python folder with five batches of 20 images and a test batch of 20."""
    folder = tmp_path / "cifar-10-batches-py"
    for i in range(1, 6):
        _write_pickle(folder / f"data_batch_{i}", _cifar_batch(20, 10, i, "labels"))
    _write_pickle(folder / "test_batch", _cifar_batch(20, 10, 99, "labels"))
    names = ["airplane", "automobile", "bird", "cat", "deer"]
    names += ["dog", "frog", "horse", "ship", "truck"]
    _write_pickle(folder / "batches.meta", {"label_names": names, "num_vis": 3072})
    return folder


@pytest.fixture
def cifar100_dir(tmp_path: Path) -> Path:
    """A CIFAR-100 python folder: train of 30 images, test of 10, fine and coarse labels."""
    folder = tmp_path / "cifar-100-python"
    _write_pickle(folder / "train", _cifar_batch(30, 100, 1, "fine_labels"))
    _write_pickle(folder / "test", _cifar_batch(10, 100, 2, "fine_labels"))
    meta = {
        "fine_label_names": [f"fine{i}" for i in range(100)],
        "coarse_label_names": [f"coarse{i}" for i in range(20)],
    }
    _write_pickle(folder / "meta", meta)
    return folder


# Helpers handed out as fixtures, so test modules need not import this conftest.


@pytest.fixture
def idx_bytes() -> Callable[..., bytes]:
    """``idx_bytes(array, code=0x08)``: the IDX encoding of an array."""
    return _idx_bytes


@pytest.fixture
def write_bytes() -> Callable[..., Path]:
    """``write_bytes(path, data, gz)``: write data, gzip-compressed if ``gz``."""
    return _write_bytes


@pytest.fixture
def write_pickle() -> Callable[..., Path]:
    """``write_pickle(path, obj, protocol=2)``."""
    return _write_pickle


@pytest.fixture
def cifar_batch() -> Callable[..., dict]:
    """``cifar_batch(n, num_classes, seed, label_key)``: a CIFAR-style batch dict."""
    return _cifar_batch

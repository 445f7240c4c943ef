import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bnnas.data import bundled, load_dataset
from bnnas.data.fashion_mnist import FILES, load_fashion_mnist_folder
from bnnas.data.make_bundled_subset import balanced_indices, build_subset, write_npz
from bnnas.data.tensors import ImageTensors
from bnnas.errors import DataError

REAL = Path("/usr/share/datasets/fashion-mnist")
HAVE_REAL = all((REAL / f"{stem}.gz").is_file() for stem in FILES)


def test_bundled_subset_counts_balance_shapes(isolated):
    # `isolated` hides every other data source: the bundled set needs none.
    dataset = load_dataset("fashion-mnist-small", download=False)
    assert dataset.name == "fashion-mnist-small"
    assert dataset.num_classes == 10 and dataset.input_shape == (1, 28, 28)
    for source, per_class in ((dataset.train, 600), (dataset.test, 100)):
        assert source.images.shape == (10 * per_class, 1, 28, 28)
        assert source.images.dtype == torch.uint8 and source.labels.dtype == torch.int64
        assert torch.bincount(source.labels, minlength=10).tolist() == [per_class] * 10
        assert int(source.images.max()) == 255 and int(source.images.min()) == 0
    assert dataset.mean == (0.2860,) and dataset.std == (0.3530,)


def test_bundled_file_is_pinned_by_sha256():
    data = bundled.bundled_path().read_bytes()
    assert hashlib.sha256(data).hexdigest() == bundled.SMALL_SHA256
    assert 2_000_000 < len(data) < 5_000_000
    license_text = bundled.bundled_path("LICENSE-fashion-mnist.txt").read_text()
    assert "Copyright (c) 2017 Zalando SE" in license_text and "MIT" in license_text


def test_changed_bundled_file_is_refused(tmp_path):
    copy = tmp_path / "small.npz"
    shutil.copy(bundled.bundled_path(), copy)
    with copy.open("r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(DataError, match=r"small.npz has SHA256 .*damaged or was changed"):
        bundled.load_fashion_mnist_small(copy)


def test_missing_bundled_file_says_how_to_fix(tmp_path):
    with pytest.raises(DataError, match="cannot read the bundled subset.*reinstall bnnas"):
        bundled.load_fashion_mnist_small(tmp_path / "absent.npz")


def _tiny_sets():
    rng = np.random.default_rng(1)
    train_labels = np.repeat(np.arange(10), 7)
    test_labels = np.repeat(np.arange(10), 3)
    rng.shuffle(train_labels)
    train = ImageTensors.from_numpy(
        rng.integers(0, 256, (70, 28, 28), dtype=np.uint8), train_labels
    )
    test = ImageTensors.from_numpy(rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), test_labels)
    return train, test


def test_build_subset_is_balanced_ordered_and_deterministic():
    train, test = _tiny_sets()
    arrays = build_subset(train, test, train_per_class=5, test_per_class=2, seed=3)
    assert np.bincount(arrays["y_train"]).tolist() == [5] * 10
    assert np.bincount(arrays["y_test"]).tolist() == [2] * 10
    assert arrays["x_train"].shape == (50, 28, 28) and arrays["y_train"].dtype == np.uint8
    # Every chosen image is the original one with its own label, in original order.
    rows = {train.images[i, 0].numpy().tobytes(): i for i in range(len(train))}
    index = [rows[img.tobytes()] for img in arrays["x_train"]]
    assert index == sorted(index)
    assert arrays["y_train"].tolist() == train.labels[index].tolist()
    again = build_subset(train, test, train_per_class=5, test_per_class=2, seed=3)
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)
    other = build_subset(train, test, train_per_class=5, test_per_class=2, seed=4)
    assert not np.array_equal(arrays["x_train"], other["x_train"])


def test_balanced_indices_refuses_too_small_class():
    labels = np.array([0, 0, 0, 1])
    with pytest.raises(DataError, match="class 1 has 1 samples, fewer than 2"):
        balanced_indices(labels, 2, np.random.default_rng(0))


def test_write_npz_is_byte_reproducible_and_loadable(tmp_path):
    train, test = _tiny_sets()
    arrays = build_subset(train, test, train_per_class=2, test_per_class=1)
    write_npz(tmp_path / "a.npz", arrays)
    write_npz(tmp_path / "b.npz", arrays)
    a = (tmp_path / "a.npz").read_bytes()
    assert a == (tmp_path / "b.npz").read_bytes()
    with np.load(io.BytesIO(a)) as npz:
        assert all(np.array_equal(npz[k], arrays[k]) for k in arrays)
    small_train, small_test = bundled.load_fashion_mnist_small(tmp_path / "a.npz", None)
    assert len(small_train) == 20 and len(small_test) == 10


@pytest.mark.skipif(not HAVE_REAL, reason="Debian package dataset-fashion-mnist not installed")
def test_bundled_subset_is_what_the_script_builds_from_the_real_files():
    train, test = load_fashion_mnist_folder(REAL)
    rebuilt = build_subset(train, test)
    small_train, small_test = bundled.load_fashion_mnist_small()
    assert torch.equal(small_train.images[:, 0], torch.from_numpy(rebuilt["x_train"]))
    assert small_train.labels.tolist() == rebuilt["y_train"].tolist()
    assert torch.equal(small_test.images[:, 0], torch.from_numpy(rebuilt["x_test"]))
    assert small_test.labels.tolist() == rebuilt["y_test"].tolist()

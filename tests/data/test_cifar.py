import os
import pickle

import numpy as np
import pytest
import torch

from bnnas.data import cifar, load_dataset
from bnnas.data.safe_pickle import load_pickle
from bnnas.errors import DataError


def _expected(folder, names, label_key="labels"):
    datas, labels = [], []
    for name in names:
        with (folder / name).open("rb") as f:
            batch = pickle.load(f)
        datas.append(batch["data"])
        labels += batch[label_key]
    return np.concatenate(datas), labels


@pytest.mark.parametrize("use_parent", [False, True])
def test_cifar10_loads_from_folder_or_parent(cifar10_dir, use_parent):
    dataset = load_dataset("cifar10", cifar10_dir.parent if use_parent else cifar10_dir)
    assert len(dataset.train) == 100 and len(dataset.test) == 20
    assert dataset.train.images.shape == (100, 3, 32, 32)
    assert dataset.train.images.dtype == torch.uint8 and dataset.train.labels.dtype == torch.int64
    assert dataset.classes[0] == "airplane" and dataset.classes[9] == "truck"
    assert dataset.mean == (0.4914, 0.4822, 0.4465) and dataset.std == (0.2470, 0.2435, 0.2616)
    data, labels = _expected(cifar10_dir, [f"data_batch_{i}" for i in range(1, 6)])
    assert dataset.train.labels.tolist() == labels
    # Row layout: 1024 red values, then green, then blue, each row-major 32 x 32.
    img = dataset.train.images[37]
    assert int(img[0, 0, 0]) == data[37, 0]
    assert int(img[1, 0, 5]) == data[37, 1024 + 5]
    assert int(img[2, 3, 7]) == data[37, 2048 + 3 * 32 + 7]


def test_cifar100_uses_fine_labels(cifar100_dir):
    dataset = load_dataset("cifar100", cifar100_dir.parent)
    _, fine = _expected(cifar100_dir, ["train"], "fine_labels")
    assert dataset.train.labels.tolist() == fine
    assert dataset.num_classes == 100 and dataset.classes[5] == "fine5"
    assert len(dataset.test) == 10
    assert dataset.mean == (0.5071, 0.4865, 0.4409) and dataset.std == (0.2673, 0.2564, 0.2762)


def test_numpy1_module_names_and_newer_protocols_load(tmp_path, write_pickle):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    old = pickle.dumps({"data": arr}, protocol=2).replace(
        b"numpy._core.multiarray", b"numpy.core.multiarray"
    )
    assert b"numpy.core.multiarray" in old
    (tmp_path / "old").write_bytes(old)
    assert np.array_equal(load_pickle(tmp_path / "old")["data"], arr)
    for protocol in (4, 5):
        path = write_pickle(tmp_path / f"p{protocol}", {b"data": arr, b"labels": [1]}, protocol)
        assert np.array_equal(load_pickle(path)[b"data"], arr)


def test_python3_bytes_keys_are_accepted(cifar10_dir, write_pickle, cifar_batch):
    batch = cifar_batch(20, 10, 1, "labels")
    write_pickle(cifar10_dir / "data_batch_1", {k.encode(): v for k, v in batch.items()})
    dataset = load_dataset("cifar10", cifar10_dir)
    assert dataset.train.labels[:20].tolist() == batch["labels"]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(cifar10_dir, tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"data": _Evil(marker), "labels": []}, protocol=2)
    (cifar10_dir / "data_batch_3").write_bytes(payload)
    with pytest.raises(DataError, match=r"data_batch_3 is not a plain data pickle.*refused"):
        load_dataset("cifar10", cifar10_dir)
    assert not marker.exists()


@pytest.mark.parametrize(
    "name",
    [("builtins", "eval"), ("subprocess", "Popen"), ("numpy", "load"), ("_codecs", "decode")],
)
def test_only_listed_globals_resolve(tmp_path, name):
    module, attr = name
    path = tmp_path / "p"
    path.write_bytes(b"\x80\x02c" + f"{module}\n{attr}\n".encode() + b".")
    with pytest.raises(DataError, match=f"refused to load {module}.{attr}"):
        load_pickle(path)


def test_non_latin1_codec_is_refused(tmp_path):
    path = tmp_path / "p"
    # _codecs.encode('x', 'rot13'): the allowed name with an unexpected codec.
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(DataError, match="refused codec 'rot13'"):
        load_pickle(path)


def test_garbage_file_is_a_data_error(cifar10_dir):
    (cifar10_dir / "test_batch").write_bytes(b"\x80\x02}q\x00(X")
    with pytest.raises(DataError, match="test_batch is not a valid CIFAR pickle"):
        load_dataset("cifar10", cifar10_dir)


def test_wrong_row_size(cifar10_dir, write_pickle, cifar_batch):
    batch = cifar_batch(20, 10, 1, "labels")
    batch["data"] = batch["data"][:, :3000]
    write_pickle(cifar10_dir / "data_batch_2", batch)
    with pytest.raises(DataError, match=r"data_batch_2: 'data' rows hold 3000 values"):
        load_dataset("cifar10", cifar10_dir)


def test_wrong_dtype(cifar10_dir, write_pickle, cifar_batch):
    batch = cifar_batch(20, 10, 1, "labels")
    batch["data"] = batch["data"].astype(np.float32)
    write_pickle(cifar10_dir / "data_batch_2", batch)
    with pytest.raises(DataError, match="must be a uint8 array"):
        load_dataset("cifar10", cifar10_dir)


def test_label_out_of_range(cifar10_dir, write_pickle, cifar_batch):
    batch = cifar_batch(20, 10, 1, "labels")
    batch["labels"][4] = 10
    write_pickle(cifar10_dir / "test_batch", batch)
    with pytest.raises(DataError, match=r"test_batch: labels span 0..10, outside 0..9"):
        load_dataset("cifar10", cifar10_dir)


def test_label_count_mismatch(cifar10_dir, write_pickle, cifar_batch):
    batch = cifar_batch(20, 10, 1, "labels")
    batch["labels"] = batch["labels"][:19]
    write_pickle(cifar10_dir / "data_batch_5", batch)
    with pytest.raises(DataError, match=r"data_batch_5: 20 images but labels of shape \(19,\)"):
        load_dataset("cifar10", cifar10_dir)


def test_cifar100_file_in_cifar10_folder(cifar10_dir, write_pickle, cifar_batch):
    write_pickle(cifar10_dir / "data_batch_1", cifar_batch(20, 100, 1, "fine_labels"))
    with pytest.raises(DataError, match="has no 'labels' entry"):
        load_dataset("cifar10", cifar10_dir)


def test_missing_batch_is_named(cifar10_dir):
    (cifar10_dir / "data_batch_4").unlink()
    with pytest.raises(DataError, match="missing data_batch_4 in .*cifar-10-batches-py"):
        load_dataset("cifar10", cifar10_dir.parent)


def test_not_found_explains_where_to_get_it(isolated, tmp_path, cifar10_dir, monkeypatch):
    with pytest.raises(DataError, match=r"CIFAR-10 not found in .*cifar-10-python.tar.gz"):
        load_dataset("cifar10")
    monkeypatch.setenv("BNNAS_DATA", str(cifar10_dir.parent))
    assert len(load_dataset("cifar10").train) == 100
    assert cifar.locate_cifar(cifar.CIFAR10) == cifar10_dir

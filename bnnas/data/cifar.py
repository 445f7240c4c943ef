"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) from their "python version" folders.

CIFAR-10 lives in ``cifar-10-batches-py/`` (``data_batch_1`` .. ``data_batch_5``,
``test_batch``, ``batches.meta``), CIFAR-100 in ``cifar-100-python/`` (``train``, ``test``,
``meta``; the 100 fine labels are used). ``data_dir`` may be that folder or its parent; with
no ``data_dir`` the usual places are searched (``$BNNAS_DATA``, the user cache). Nothing is
downloaded: the upstream archive is a tarball to unpack, which the error message explains.

Pickles are read with :mod:`bnnas.data.safe_pickle`, and every array is checked (N x 3072
uint8 rows, labels in range) before it becomes an :class:`ImageTensors`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bnnas.data.locations import default_dirs, describe
from bnnas.data.safe_pickle import load_pickle
from bnnas.data.tensors import ImageTensors
from bnnas.errors import DataError

ROW_BYTES = 3 * 32 * 32


@dataclass(frozen=True)
class CifarLayout:
    """File names and keys that distinguish the two CIFAR variants."""

    title: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: str
    names_key: str
    num_classes: int
    archive: str


CIFAR10 = CifarLayout(
    title="CIFAR-10",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_file="test_batch",
    meta_file="batches.meta",
    label_key="labels",
    names_key="label_names",
    num_classes=10,
    archive="cifar-10-python.tar.gz",
)
CIFAR100 = CifarLayout(
    title="CIFAR-100",
    folder="cifar-100-python",
    train_files=("train",),
    test_file="test",
    meta_file="meta",
    label_key="fine_labels",
    names_key="fine_label_names",
    num_classes=100,
    archive="cifar-100-python.tar.gz",
)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


def _is_complete(folder: Path, layout: CifarLayout) -> bool:
    names = (*layout.train_files, layout.test_file, layout.meta_file)
    return all((folder / name).is_file() for name in names)


def locate_cifar(layout: CifarLayout, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding every file of ``layout``; ``data_dir`` may be it or its parent."""
    if data_dir is not None:
        for folder in (Path(data_dir), Path(data_dir) / layout.folder):
            if _is_complete(folder, layout):
                return folder
        inner = Path(data_dir) / layout.folder
        folder = inner if inner.is_dir() else Path(data_dir)
        names = (*layout.train_files, layout.test_file, layout.meta_file)
        missing = [n for n in names if not (folder / n).is_file()]
        raise DataError(
            f"{layout.title} files not found in --data-dir {data_dir} (nor in its "
            f"{layout.folder}/ subfolder): missing {', '.join(missing)} in {folder}; unpack "
            f"{layout.archive} there"
        )
    searched = default_dirs(layout.folder)
    for folder in searched:
        if _is_complete(folder, layout):
            return folder
    raise DataError(
        f"{layout.title} not found in {describe(searched)}; download {layout.archive} from "
        f"https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass --data-dir"
    )


def _field(batch: Any, key: str, path: Path) -> Any:
    """``batch[key]`` of a pickled dict whose keys may be str or (Python 3 made) bytes."""
    if not isinstance(batch, dict):
        raise DataError(f"{path} holds a {type(batch).__name__}, expected a dict")
    for candidate in (key, key.encode()):
        if candidate in batch:
            return batch[candidate]
    raise DataError(f"{path} has no {key!r} entry: is it a file of another CIFAR variant?")


def _read_batch(path: Path, layout: CifarLayout) -> tuple[np.ndarray, np.ndarray]:
    batch = load_pickle(path)
    data = _field(batch, "data", path)
    labels = np.asarray(_field(batch, layout.label_key, path))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataError(f"{path}: 'data' must be a uint8 array of shape (N, {ROW_BYTES})")
    if data.shape[1] != ROW_BYTES:
        raise DataError(
            f"{path}: 'data' rows hold {data.shape[1]} values, expected {ROW_BYTES} "
            f"(3 x 32 x 32); the file is damaged or not from {layout.title}"
        )
    if labels.ndim != 1 or len(labels) != len(data) or labels.dtype.kind not in "iu":
        raise DataError(
            f"{path}: {len(data)} images but labels of shape {labels.shape} ({labels.dtype})"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= layout.num_classes):
        raise DataError(
            f"{path}: labels span {labels.min()}..{labels.max()}, outside "
            f"0..{layout.num_classes - 1}; is it a file of another CIFAR variant?"
        )
    return data, labels


def _to_tensors(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> ImageTensors:
    data = np.concatenate([d for d, _ in parts])
    labels = np.concatenate([lab for _, lab in parts])
    # Each row is the red plane, then green, then blue, each 32 x 32 in row-major order.
    return ImageTensors.from_numpy(data.reshape(-1, 3, 32, 32), labels)


def read_class_names(path: Path, layout: CifarLayout) -> tuple[str, ...]:
    """The class names in ``meta`` / ``batches.meta``, checked against the class count."""
    names = _field(load_pickle(path), layout.names_key, path)
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    if len(names) != layout.num_classes:
        raise DataError(f"{path} names {len(names)} classes, expected {layout.num_classes}")
    return names


def load_cifar(
    layout: CifarLayout, data_dir: str | os.PathLike | None = None
) -> tuple[ImageTensors, ImageTensors, tuple[str, ...]]:
    """Train set, test set and class names of a CIFAR variant."""
    folder = locate_cifar(layout, data_dir)
    train = _to_tensors([_read_batch(folder / name, layout) for name in layout.train_files])
    test = _to_tensors([_read_batch(folder / layout.test_file, layout)])
    classes = read_class_names(folder / layout.meta_file, layout)
    return train, test, classes

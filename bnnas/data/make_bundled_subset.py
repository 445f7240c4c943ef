"""Build ``bnnas/data/bundled/fashion-mnist-small.npz`` from the full Fashion-MNIST.

Run ``python -m bnnas.data.make_bundled_subset [--data-dir DIR] [--output FILE]``. It takes
600 training and 100 test images per class, drawn with a fixed seed from the real files
(Debian's ``dataset-fashion-mnist`` by default; any folder the Fashion-MNIST loader accepts
works), keeps them in their original order, and writes a zip whose entries carry a fixed
timestamp, so the same input gives the same bytes. It prints the file's SHA256, which
:data:`bnnas.data.bundled.SMALL_SHA256` must then hold.
"""

from __future__ import annotations

import argparse
import io
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bnnas.data.bundled import (
    ARRAYS,
    TEST_PER_CLASS,
    TRAIN_PER_CLASS,
    bundled_path,
    sha256_hex,
)
from bnnas.data.fashion_mnist import load_fashion_mnist
from bnnas.data.tensors import ImageTensors
from bnnas.errors import DataError

SEED = 2017
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def balanced_indices(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` random positions of every class in ``labels``, sorted ascending."""
    chosen = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        if len(members) < per_class:
            raise DataError(f"class {cls} has {len(members)} samples, fewer than {per_class}")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def build_subset(
    train: ImageTensors,
    test: ImageTensors,
    *,
    train_per_class: int = TRAIN_PER_CLASS,
    test_per_class: int = TEST_PER_CLASS,
    seed: int = SEED,
) -> dict[str, np.ndarray]:
    """The subset's arrays: ``x_*`` uint8 (N, H, W) and ``y_*`` uint8 (N,)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, source, per_class in (
        ("train", train, train_per_class),
        ("test", test, test_per_class),
    ):
        labels = source.labels.numpy()
        index = balanced_indices(labels, per_class, rng)
        arrays[f"x_{split}"] = source.images.numpy()[index, 0]
        arrays[f"y_{split}"] = labels[index].astype(np.uint8)
    return arrays


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write an ``.npz`` that ``np.load`` reads, byte-identical for identical arrays.

    ``np.savez_compressed`` stamps each entry with the current time; here every entry gets
    a fixed timestamp and the entries a fixed order. Written to a temporary name first.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in ARRAYS:
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue())
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the subset file and print its size and SHA256."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder with the four Fashion-MNIST IDX files")
    parser.add_argument("--output", default=str(bundled_path()), help="file to write")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    train, test = load_fashion_mnist(args.data_dir, download=False)
    write_npz(args.output, build_subset(train, test, seed=args.seed))
    data = Path(args.output).read_bytes()
    print(f"wrote {args.output}: {len(data)} bytes, SHA256 {sha256_hex(data)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

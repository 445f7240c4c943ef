"""``fashion-mnist-small``: a class-balanced Fashion-MNIST subset shipped inside the package.

6,000 training images (600 per class) and 1,000 test images (100 per class), stored as a
compressed ``.npz`` in ``bnnas/data/bundled/``. It needs no network and no system data, so the
demo, the tests and a first run work anywhere. :mod:`bnnas.data.make_bundled_subset` builds it
from the full set; the SHA256 below pins the exact file and is checked on every load.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from bnnas.data.tensors import ImageTensors
from bnnas.errors import DataError

SMALL_FILE = "fashion-mnist-small.npz"
SMALL_SHA256 = "01c4ca9f69d6d003b0882b923e3c695ecf6db12e31977c0fdd3d03801fd330e8"
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100


def bundled_path(name: str = SMALL_FILE) -> Path:
    """The path of a file in the package's ``bundled/`` folder."""
    return Path(__file__).resolve().parent / "bundled" / name


def sha256_hex(data: bytes) -> str:
    """SHA256 of ``data`` as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def load_fashion_mnist_small(
    path: str | os.PathLike | None = None, expected_sha256: str | None = SMALL_SHA256
) -> tuple[ImageTensors, ImageTensors]:
    """Train and test sets of the bundled subset, after checking the file's SHA256."""
    path = Path(path) if path is not None else bundled_path()
    reinstall = "reinstall bnnas, or rebuild it with `python -m bnnas.data.make_bundled_subset`"
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(
            f"cannot read the bundled subset {path}: {err.strerror}; {reinstall}"
        ) from None
    if expected_sha256 is not None and sha256_hex(data) != expected_sha256:
        raise DataError(
            f"the bundled subset {path} has SHA256 {sha256_hex(data)}, expected "
            f"{expected_sha256}: the file is damaged or was changed; {reinstall}"
        )
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ARRAYS}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"the bundled subset {path} cannot be read ({err}); {reinstall}") from None
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.dtype != np.uint8 or images.ndim != 3 or labels.shape != images.shape[:1]:
            raise DataError(
                f"the bundled subset {path} holds malformed {split} arrays; {reinstall}"
            )
    train = ImageTensors.from_numpy(arrays["x_train"], arrays["y_train"])
    test = ImageTensors.from_numpy(arrays["x_test"], arrays["y_test"])
    return train, test

"""Fashion-MNIST (Xiao et al. 2017) from its four IDX files.

Search order when no folder is given: ``$BNNAS_DATA`` (or its ``fashion-mnist/``
subfolder), Debian's ``dataset-fashion-mnist`` package in ``/usr/share/datasets``, the user
cache; then, if allowed, a download into the cache. A folder given explicitly is the only
place looked at, so a typo in ``--data-dir`` is reported instead of being papered over by a
copy found elsewhere.

Every file is checked against the MD5 of its decompressed IDX bytes: Debian recompressed the
upstream ``.gz`` files, so only the decompressed content has one checksum everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from bnnas.data import download as _download
from bnnas.data.download import Downloader
from bnnas.data.idx import check_md5, read_idx_bytes, read_idx_pair
from bnnas.data.locations import cache_dir, default_dirs, describe, with_subfolder
from bnnas.data.tensors import ImageTensors
from bnnas.errors import DataError

NAME = "fashion-mnist"
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

# MD5 of the decompressed IDX bytes, read off the Debian files. The upstream .gz MD5s do not
# match Debian's recompressed files, so only these identify the data everywhere.
FASHION_MNIST_MD5: Mapping[str, str] = {
    TRAIN_IMAGES: "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    TRAIN_LABELS: "9018921c3c673c538a1fc5bad174d6f9",
    TEST_IMAGES: "8181f5470baa50b63fa0f6fddb340f0a",
    TEST_LABELS: "15d484375f8d13e6eb1aabb0c3f46965",
}

CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MEAN = (0.2860,)
STD = (0.3530,)

INSTALL_HINT = (
    "install it with `apt-get install dataset-fashion-mnist`, or put the four IDX files "
    f"({', '.join(f + '.gz' for f in FILES)}) in a folder and pass --data-dir"
)


def find_file(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz`` or ``folder/stem``, whichever exists (gz first), else None."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def missing_files(folder: Path) -> list[str]:
    """The IDX files (by stem) absent from ``folder``."""
    return [stem for stem in FILES if find_file(folder, stem) is None]


def load_fashion_mnist_folder(
    folder: str | os.PathLike,
    expected_md5: Mapping[str, str] | None = FASHION_MNIST_MD5,
) -> tuple[ImageTensors, ImageTensors]:
    """Train and test sets from the four IDX files in ``folder``.

    ``expected_md5`` maps a file stem to the MD5 of its decompressed bytes; tests pass the
    checksums of their own tiny files, and None skips the check.
    """
    folder = Path(folder)
    missing = missing_files(folder)
    if missing:
        raise DataError(
            f"Fashion-MNIST files missing in {folder}: {', '.join(missing)}; put all four IDX "
            f"files (gz or raw) there"
        )
    md5 = expected_md5 or {}
    paths = {stem: find_file(folder, stem) for stem in FILES}
    train = read_idx_pair(
        paths[TRAIN_IMAGES],
        paths[TRAIN_LABELS],
        len(CLASSES),
        images_md5=md5.get(TRAIN_IMAGES),
        labels_md5=md5.get(TRAIN_LABELS),
    )
    test = read_idx_pair(
        paths[TEST_IMAGES],
        paths[TEST_LABELS],
        len(CLASSES),
        images_md5=md5.get(TEST_IMAGES),
        labels_md5=md5.get(TEST_LABELS),
    )
    return train, test


def download_fashion_mnist(
    folder: Path,
    *,
    expected_md5: Mapping[str, str] | None = FASHION_MNIST_MD5,
    downloader: Downloader | None = None,
    url: str = URL,
) -> None:
    """Download the IDX files missing from ``folder``, checking each before it is kept.

    Each file lands under a temporary name and is renamed only once its checksum passes, so
    an interrupted or corrupted download is never found later as if it were complete.
    """
    fetch = downloader or _download.download_file
    folder.mkdir(parents=True, exist_ok=True)
    for stem in missing_files(folder):
        final = folder / f"{stem}.gz"
        part = folder / f"{stem}.gz.part"
        try:
            fetch(url + final.name, part)
            if expected_md5 and stem in expected_md5:
                check_md5(read_idx_bytes(part), expected_md5[stem], url + final.name)
            os.replace(part, final)
        finally:
            if part.exists():
                part.unlink()


def locate_fashion_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    expected_md5: Mapping[str, str] | None = FASHION_MNIST_MD5,
    downloader: Downloader | None = None,
) -> Path:
    """The folder holding all four files, searched and if needed downloaded as described above.

    Raises one DataError that lists every place searched (and why a download failed) and how
    to install the data.
    """
    if data_dir is not None:
        candidates = with_subfolder(data_dir, NAME)
        for folder in candidates:
            if not missing_files(folder):
                return folder
        raise DataError(
            f"Fashion-MNIST files not found in --data-dir {data_dir} (nor in its {NAME}/ "
            f"subfolder): missing {', '.join(missing_files(candidates[0]))}; put the four "
            f"IDX files there (gz or raw), or leave out --data-dir to search the default places"
        )
    searched = default_dirs(NAME, [SYSTEM_DIR])
    for folder in searched:
        if not missing_files(folder):
            return folder
    why = "downloading is turned off"
    if download:
        cache = cache_dir(NAME)
        try:
            download_fashion_mnist(cache, expected_md5=expected_md5, downloader=downloader)
            return cache
        except (DataError, OSError) as err:
            why = f"download failed: {err}"
    raise DataError(f"Fashion-MNIST not found in {describe(searched)} ({why}); {INSTALL_HINT}")


def load_fashion_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    expected_md5: Mapping[str, str] | None = FASHION_MNIST_MD5,
    downloader: Downloader | None = None,
) -> tuple[ImageTensors, ImageTensors]:
    """Locate (and if needed download) Fashion-MNIST, then load and verify it."""
    folder = locate_fashion_mnist(
        data_dir, download=download, expected_md5=expected_md5, downloader=downloader
    )
    return load_fashion_mnist_folder(folder, expected_md5)

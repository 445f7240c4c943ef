"""Reading IDX files, the format of MNIST and Fashion-MNIST, raw or gzip-compressed.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian ``uint32`` size per dimension, then the values in C order. Every
check below turns a corrupt or wrong file into one line that names the file, the problem and
the fix, because a silently mis-parsed dataset trains to a plausible but wrong accuracy.

Checksums are taken over the *decompressed* bytes: Debian ships the same IDX content
recompressed, so the upstream ``.gz`` checksums do not match its files.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from bnnas.data.tensors import ImageTensors
from bnnas.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> big-endian numpy dtype.
IDX_DTYPES: Mapping[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

REFETCH = "re-download it or delete it"


def read_idx_bytes(path: str | os.PathLike) -> bytes:
    """The decompressed content of an IDX file; gzip is detected by content, not name."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read IDX file {path}: {err.strerror or err}") from None
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"IDX file {path} is a broken gzip file ({err}); {REFETCH}") from None


def md5_hex(data: bytes) -> str:
    """MD5 of ``data`` as lowercase hex (a corruption check, not a security measure)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def check_md5(data: bytes, expected: str, path: str | os.PathLike) -> None:
    """Raise a DataError naming ``path`` when the MD5 of ``data`` is not ``expected``."""
    actual = md5_hex(data)
    if actual != expected.lower():
        raise DataError(
            f"IDX file {path} has MD5 {actual} (of its decompressed bytes), expected "
            f"{expected.lower()}: it is corrupt or a different file; {REFETCH}"
        )


def parse_idx(data: bytes, path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Decode the IDX bytes ``data`` (read from ``path``, named in errors) to a numpy array.

    ``ndim`` is the number of dimensions the caller expects (3 for images, 1 for labels).
    The result is a writable array in native byte order.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        head = data[:4].hex() or "empty"
        raise DataError(
            f"{path} is not an IDX file (magic bytes {head}, expected 0000 then type and "
            f"dimension count); {REFETCH}"
        )
    code, dims = data[2], data[3]
    if code not in IDX_DTYPES:
        raise DataError(f"{path} has unknown IDX type code 0x{code:02x}; {REFETCH}")
    if ndim is not None and dims != ndim:
        raise DataError(
            f"{path} has {dims} dimensions, expected {ndim}: is it the images file in place "
            f"of the labels file or the other way round? Check the file names"
        )
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its header; {REFETCH}")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=dims, offset=4))
    dtype = np.dtype(IDX_DTYPES[code])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) < expected:
        raise DataError(
            f"{path} is truncated: {len(data)} bytes, expected {expected} for shape {shape}; "
            f"{REFETCH}"
        )
    if len(data) > expected:
        raise DataError(
            f"{path} has {len(data) - expected} bytes after the data of shape {shape}; {REFETCH}"
        )
    values = np.frombuffer(data, dtype, offset=header).reshape(shape)
    # A copy: frombuffer's view is read-only, and torch refuses to share read-only memory.
    return values.astype(dtype.newbyteorder("="))


def read_idx(
    path: str | os.PathLike, *, ndim: int | None = None, expected_md5: str | None = None
) -> np.ndarray:
    """Read, optionally checksum, and decode one IDX file (raw or gzip)."""
    data = read_idx_bytes(path)
    if expected_md5 is not None:
        check_md5(data, expected_md5, path)
    return parse_idx(data, path, ndim)


def read_idx_pair(
    images_path: str | os.PathLike,
    labels_path: str | os.PathLike,
    num_classes: int,
    *,
    images_md5: str | None = None,
    labels_md5: str | None = None,
) -> ImageTensors:
    """Read an images file (N, H, W) and its labels file (N,) into an :class:`ImageTensors`.

    Refuses a pair whose counts differ or whose labels fall outside ``0..num_classes-1``:
    both mean the two files do not belong together or one is damaged.
    """
    images = read_idx(images_path, ndim=3, expected_md5=images_md5)
    labels = read_idx(labels_path, ndim=1, expected_md5=labels_md5)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DataError(
            f"{images_path} and {labels_path} must hold unsigned bytes (IDX type 0x08), got "
            f"{images.dtype} and {labels.dtype}; {REFETCH}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels: the files do not belong together; {REFETCH}"
        )
    if len(labels) and int(labels.max()) >= num_classes:
        raise DataError(
            f"{labels_path} holds label {int(labels.max())}, outside 0..{num_classes - 1}: "
            f"it is not a labels file of this dataset; {REFETCH}"
        )
    return ImageTensors.from_numpy(images, labels)

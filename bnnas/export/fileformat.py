"""The packed model file (``.bnn``): one versioned, checksummed container of arrays.

Layout (all integers little-endian)::

    magic      8 bytes   b"BNNASPK\\0"
    version    uint32    FORMAT_VERSION
    meta_len   uint64    length of the JSON metadata
    meta       meta_len  UTF-8 JSON: the model description and the array table
    data       ...       the arrays, back to back, in the order of the table
    sha256     32 bytes  over every byte before it

An array is either ``"bits"`` (sign bits of a binary weight, ``numpy.packbits`` of the whole
flattened array, so at most 7 padding bits per array) or ``"float32"``. The table gives each
array's name, dtype, shape, byte offset within ``data`` and size; nothing else is stored, so
the file is the model's memory figure (1 bit per binary weight, 32 per real value) plus the
header (see :func:`size_breakdown`). Reading checks the magic, the version and the checksum
before it trusts a single length, and bounds the metadata so a foreign file cannot make it
allocate much.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bnnas.errors import ExportError

MAGIC = b"BNNASPK\0"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sIQ")
DIGEST_BYTES = 32
MAX_META_BYTES = 64 << 20
DTYPES = ("bits", "float32")


@dataclass
class ArrayEntry:
    """One stored array: ``counted`` says whether the profile's memory figure includes it
    (parameters do; statistics of an affine-free BN, which the profile leaves out, do not)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    counted: bool = True

    @property
    def count(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return -(-self.count // 8) if self.dtype == "bits" else 4 * self.count

    @property
    def padding_bits(self) -> int:
        """Bits ``packbits`` adds to fill the last byte of a bit array."""
        return 8 * self.nbytes - self.count if self.dtype == "bits" else 0


@dataclass
class PackedFile:
    """The decoded content: metadata (JSON-ready) and arrays by name.

    A ``"bits"`` array is kept packed (uint8, as ``numpy.packbits`` wrote it), a
    ``"float32"`` one as a float32 array of its shape.
    """

    meta: dict[str, Any]
    entries: list[ArrayEntry] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    _index: dict[str, ArrayEntry] = field(default_factory=dict, repr=False, compare=False)

    def add(self, entry: ArrayEntry, data: np.ndarray) -> None:
        if entry.name in self.arrays:
            raise ValueError(f"array {entry.name!r} is added twice")
        if entry.dtype not in DTYPES:
            raise ValueError(f"unknown array dtype {entry.dtype!r}")
        self.entries.append(entry)
        self.arrays[entry.name] = data
        self._index[entry.name] = entry

    def entry(self, name: str) -> ArrayEntry:
        if not isinstance(name, str) or name not in self._index:
            raise ExportError(f"the model file has no array {name!r}; export the model again")
        return self._index[name]


def _payload(entry: ArrayEntry, data: np.ndarray) -> bytes:
    if entry.dtype == "bits":
        raw = np.ascontiguousarray(data, dtype=np.uint8).ravel()
    else:
        raw = np.ascontiguousarray(data, dtype="<f4").ravel()
    blob = raw.tobytes()
    if len(blob) != entry.nbytes:
        raise ValueError(f"array {entry.name!r} holds {len(blob)} bytes, expected {entry.nbytes}")
    return blob


def encode(packed: PackedFile) -> bytes:
    """The file content of ``packed``."""
    table, offset, chunks = [], 0, []
    for entry in packed.entries:
        chunks.append(_payload(entry, packed.arrays[entry.name]))
        table.append({"name": entry.name, "dtype": entry.dtype, "shape": list(entry.shape),
                      "offset": offset, "nbytes": entry.nbytes, "counted": entry.counted})
        offset += entry.nbytes
    meta = json.dumps({**packed.meta, "arrays": table}, separators=(",", ":")).encode()
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(meta)) + meta + b"".join(chunks)
    return body + hashlib.sha256(body).digest()


def write_packed(path: str | Path, packed: PackedFile, *, overwrite: bool = False) -> int:
    """Write ``packed`` to ``path`` atomically (temporary file, then rename); returns bytes.

    An existing ``path`` is an error unless ``overwrite``.
    """
    path = Path(path)
    check_output_path(path, overwrite=overwrite)
    content = encode(packed)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        raise ExportError(f"cannot write {str(path)!r} ({error.strerror or error}); choose a "
                          "writable --out") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(content)


def check_output_path(path: str | Path, *, overwrite: bool) -> None:
    """Refuse an existing output file (without ``overwrite``), a folder, or a missing parent."""
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"output {str(path)!r} is a folder; give a file name with --out")
    if path.exists() and not overwrite:
        raise ExportError(f"output file {str(path)!r} already exists; pass --overwrite to "
                          "replace it, or choose another --out")
    if not path.absolute().parent.is_dir():
        raise ExportError(f"the folder of --out {str(path)!r} does not exist; create it first")


def read_packed(path: str | Path) -> PackedFile:
    """Read and verify a ``.bnn`` file; every problem is a one-line ExportError."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a folder, or a device such as /dev/zero
        raise ExportError(f"model file {str(path)!r} is not a regular file; give a .bnn file")
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ExportError(f"model file {str(path)!r} not found; check the path") from None
    except OSError as error:
        raise ExportError(f"cannot read model file {str(path)!r} ({error.strerror})") from None
    return decode(content, str(path))


def decode(content: bytes, where: str = "model file") -> PackedFile:
    """Verify and decode the bytes of a ``.bnn`` file (see the module docstring)."""
    truncated = ExportError(f"{where!r} is truncated or corrupt (sha256 checksum mismatch); "
                            "export the model again")
    if content[: len(MAGIC)] != MAGIC:
        if content and MAGIC.startswith(content):
            raise truncated
        raise ExportError(f"{where!r} is not a bnnas packed model (wrong magic bytes); export "
                          "one with `bnnas export ... --format packed`")
    if len(content) < _PREFIX.size + DIGEST_BYTES:
        raise truncated
    _, version, meta_len = _PREFIX.unpack_from(content)
    if version != FORMAT_VERSION:
        raise ExportError(f"{where!r} has packed format version {version}; this bnnas reads "
                          f"version {FORMAT_VERSION}: re-export the model with this bnnas or "
                          "use the bnnas version that wrote it")
    body, digest = content[:-DIGEST_BYTES], content[-DIGEST_BYTES:]
    if hashlib.sha256(body).digest() != digest:
        raise truncated
    if meta_len > min(MAX_META_BYTES, len(body) - _PREFIX.size):
        raise ExportError(f"{where!r} has a metadata length beyond the file; export it again")
    start = _PREFIX.size + meta_len
    try:
        meta = json.loads(body[_PREFIX.size : start].decode("utf-8"))
        table = meta.pop("arrays")
        packed = PackedFile(meta)
        for row in table:
            entry = ArrayEntry(str(row["name"]), str(row["dtype"]),
                               tuple(int(d) for d in row["shape"]), bool(row["counted"]))
            begin = start + int(row["offset"])
            valid = entry.dtype in DTYPES and min(entry.shape, default=0) >= 0
            if not valid or int(row["nbytes"]) != entry.nbytes:
                raise ValueError(f"bad entry {entry.name}")
            if begin < start or begin + entry.nbytes > len(body):
                raise ValueError(f"array {entry.name} lies outside the file")
            raw = np.frombuffer(body, np.uint8, entry.nbytes, begin)
            data = raw.copy() if entry.dtype == "bits" else raw.view("<f4").reshape(entry.shape)
            packed.add(entry, data.astype(np.float32) if entry.dtype == "float32" else data)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError,
            RecursionError) as error:
        raise ExportError(f"{where!r} has malformed metadata ({error}); export it again") from None
    return packed


@dataclass(frozen=True)
class SizeBreakdown:
    """Where the bytes of a packed file go: ``total == header + counted + uncounted``,
    ``counted * 8 == counted_bits + padding_bits`` (``counted_bits`` is the profile's memory
    figure: 1 per binary weight, 32 per real parameter)."""

    total: int
    header: int
    counted: int
    counted_bits: int
    padding_bits: int
    uncounted: int


def size_breakdown(packed: PackedFile, total: int) -> SizeBreakdown:
    """Split a file of ``total`` bytes holding ``packed`` into header, counted and uncounted
    array bytes."""
    counted = sum(e.nbytes for e in packed.entries if e.counted)
    uncounted = sum(e.nbytes for e in packed.entries if not e.counted)
    counted_bits = sum(e.count * (1 if e.dtype == "bits" else 32)
                       for e in packed.entries if e.counted)
    padding = sum(e.padding_bits for e in packed.entries if e.counted)
    return SizeBreakdown(total, total - counted - uncounted, counted, counted_bits, padding,
                         uncounted)

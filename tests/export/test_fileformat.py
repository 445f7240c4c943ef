"""The .bnn container: round trip, atomic writes, and every way a file can be broken."""

import hashlib
import struct

import numpy as np
import pytest

from bnnas.errors import ExportError
from bnnas.export.bits import pack_signs
from bnnas.export.fileformat import (
    DIGEST_BYTES,
    FORMAT_VERSION,
    MAGIC,
    ArrayEntry,
    PackedFile,
    decode,
    encode,
    read_packed,
    size_breakdown,
    write_packed,
)


def sample() -> PackedFile:
    rng = np.random.default_rng(0)
    packed = PackedFile({"format": "bnnas-packed", "input_shape": [1, 4, 4], "note": "é"})
    weights = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    packed.add(ArrayEntry("conv.weight", "bits", weights.shape), pack_signs(weights))
    packed.add(ArrayEntry("conv.scale", "float32", (3,)), rng.random(3).astype(np.float32))
    packed.add(ArrayEntry("pool.bn.scale", "float32", (2,), counted=False),
               np.array([1.5, -2.0], np.float32))
    return packed


def test_round_trip_gives_the_same_metadata_and_arrays(tmp_path):
    packed = sample()
    size = write_packed(tmp_path / "m.bnn", packed)
    back = read_packed(tmp_path / "m.bnn")
    assert size == (tmp_path / "m.bnn").stat().st_size
    assert {k: v for k, v in back.meta.items()} == packed.meta
    assert back.entries == packed.entries
    for name, data in packed.arrays.items():
        np.testing.assert_array_equal(back.arrays[name], data)
        assert back.arrays[name].dtype == data.dtype


def test_sizes_add_up():
    packed = sample()
    content = encode(packed)
    s = size_breakdown(packed, len(content))
    assert s.counted == 7 + 12 and s.uncounted == 8  # 54 bits -> 7 bytes; 3 floats; 2 floats
    assert s.counted_bits == 54 + 3 * 32 and s.padding_bits == 2
    assert s.header == len(content) - 27 and content.endswith(
        hashlib.sha256(content[:-DIGEST_BYTES]).digest())


def test_an_existing_file_is_kept_unless_overwrite(tmp_path):
    path = tmp_path / "m.bnn"
    path.write_bytes(b"precious")
    with pytest.raises(ExportError, match="already exists; pass --overwrite"):
        write_packed(path, sample())
    assert path.read_bytes() == b"precious"
    write_packed(path, sample(), overwrite=True)
    assert read_packed(path).meta["note"] == "é"
    assert [p.name for p in tmp_path.iterdir()] == ["m.bnn"]  # no temporary file left


@pytest.mark.parametrize("cut", [5, 15, 40, -1])
def test_truncated_files_are_refused(cut):
    content = encode(sample())
    with pytest.raises(ExportError, match="truncated or corrupt"):
        decode(content[:cut])


def test_a_flipped_bit_is_refused():
    content = bytearray(encode(sample()))
    content[len(content) // 2] ^= 0x10
    with pytest.raises(ExportError, match="checksum mismatch"):
        decode(bytes(content))


def test_wrong_magic_and_version_are_named():
    content = encode(sample())
    with pytest.raises(ExportError, match="not a bnnas packed model"):
        decode(b"PK\x03\x04" + content[4:])
    body = MAGIC + struct.pack("<I", FORMAT_VERSION + 1) + content[12:-DIGEST_BYTES]
    with pytest.raises(ExportError, match=f"version {FORMAT_VERSION + 1}; this bnnas reads"):
        decode(body + hashlib.sha256(body).digest())


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ExportError, match="not found"):
        read_packed(tmp_path / "nothing.bnn")

"""Property tests of the packed ``.bnn`` reader: random bytes, damaged files and, the hard
case, hostile metadata behind a correct checksum, all either decode or raise ExportError (a
BnnasError); the reader never crashes nor reads outside the file."""

import hashlib
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnnas.errors import BnnasError
from bnnas.export.bits import pack_signs
from bnnas.export.engine import Engine
from bnnas.export.fileformat import (
    _PREFIX,
    FORMAT_VERSION,
    MAGIC,
    ArrayEntry,
    PackedFile,
    decode,
    encode,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sample() -> bytes:
    rng = np.random.default_rng(0)
    packed = PackedFile({"format": "bnnas-packed", "input_shape": [1, 4, 4]})
    weights = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    packed.add(ArrayEntry("conv.weight", "bits", weights.shape), pack_signs(weights))
    packed.add(ArrayEntry("conv.scale", "float32", (3,)), rng.random(3).astype(np.float32))
    return encode(packed)


VALID = _sample()
_, _, META_LEN = _PREFIX.unpack_from(VALID)
META = json.loads(VALID[_PREFIX.size:_PREFIX.size + META_LEN])
PAYLOAD = VALID[_PREFIX.size + META_LEN:-32]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=16,
)


def _sealed(meta: bytes, payload: bytes = PAYLOAD, meta_len: int | None = None) -> bytes:
    """A file with ``meta`` and a correct checksum: only the reader's checks stand between it
    and the arrays."""
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(meta) if meta_len is None else meta_len)
    body += meta + payload
    return body + hashlib.sha256(body).digest()


@st.composite
def hostile_files(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "damaged", "meta", "row", "length"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "damaged":
        content = bytearray(VALID)
        for _ in range(draw(st.integers(1, 4))):
            position = draw(st.integers(0, len(content) - 1))
            content[position] = draw(st.integers(0, 255))
        return bytes(content[: draw(st.integers(0, len(content)))])
    if kind == "meta":
        return _sealed(json.dumps(draw(JSON)).encode())
    if kind == "length":
        return _sealed(json.dumps(META).encode(), meta_len=draw(st.integers(0, 2**64 - 1)))
    meta = json.loads(json.dumps(META))
    row = meta["arrays"][draw(st.integers(0, len(meta["arrays"]) - 1))]
    row[draw(st.sampled_from(sorted(row)))] = draw(JSON)
    return _sealed(json.dumps(meta).encode())


def _decodes_or_refuses(content: bytes) -> None:
    try:
        packed = decode(content, "fuzz.bnn")
    except BnnasError:
        return
    for entry in packed.entries:
        assert packed.arrays[entry.name].nbytes == entry.nbytes or entry.dtype == "float32"


def test_the_unchanged_sample_decodes():
    assert decode(VALID).entry("conv.scale").shape == (3,)


@FAST
@given(hostile_files())
def test_hostile_packed_files_decode_or_raise_bnnas_errors(content):
    _decodes_or_refuses(content)


@pytest.mark.slow
@LONG
@given(hostile_files())
def test_hostile_packed_files_long(content):
    _decodes_or_refuses(content)


@FAST
@given(st.binary(max_size=200))
def test_the_engine_refuses_random_files_with_bnnas_errors(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("fuzz") / "m.bnn"
    path.write_bytes(content)
    with pytest.raises(BnnasError):
        Engine.load(path)

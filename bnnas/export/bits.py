"""Sign bits: packing ±1 values into bits and their dot products by XNOR and popcount.

A ±1 vector of length ``n`` is stored as ``n`` bits (1 for +1, 0 for -1; ``sign(0) = +1``, as
in training). For two such vectors, the positions where they differ are the set bits of
``a XOR w``, each contributing -1 to the dot product and every other position +1, so

    a . w = n - 2 * popcount(a XOR w)

exactly, in integers (XNOR-Net, Rastegari et al., ECCV 2016). Rows are padded with zero bits
to whole 64-bit words; padding bits are equal in both operands and add nothing to the
popcount. numpy >= 2's ``bitwise_count`` does the popcount: slow next to a real kernel, but
bit-exact, which is what a reference engine is for.
"""

from __future__ import annotations

import numpy as np

WORD_BITS = 64
_CHUNK_ELEMENTS = 1 << 22  # XOR temporaries per chunk (32 MiB of uint64)


def sign_bits(values: np.ndarray) -> np.ndarray:
    """``values >= 0`` as a bool array: the bit of ``sign(values)`` with ``sign(0) = +1``.

    ``-0.0 >= 0`` holds, so both zeros give +1, as the training sign does.
    """
    return np.asarray(values) >= 0


def pack_signs(values: np.ndarray) -> np.ndarray:
    """The sign bits of ``values``, flattened in C order and packed 8 to a byte."""
    return np.packbits(sign_bits(values).ravel())


def unpack_bits(packed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`pack_signs`: a bool array of ``shape`` (True for +1)."""
    count = int(np.prod(shape, dtype=np.int64))
    return np.unpackbits(packed, count=count).astype(bool).reshape(shape)


def bits_to_pm1(bits: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Bool bits as ±1 values of ``dtype``."""
    return np.where(bits, 1, -1).astype(dtype)


def pack_rows(bits: np.ndarray) -> np.ndarray:
    """A 2-D bool array ``(rows, n)`` as ``(rows, ceil(n / 64))`` uint64 words, zero-padded."""
    rows, n = bits.shape
    words = -(-n // WORD_BITS)
    padded = np.zeros((rows, words * WORD_BITS), dtype=bool)
    padded[:, :n] = bits
    return np.packbits(padded, axis=1).view(np.uint64)


def xnor_matmul(a_words: np.ndarray, w_words: np.ndarray, n: int) -> np.ndarray:
    """``A @ W.T`` for ±1 matrices given as packed words: ``(M, words) x (O, words) -> (M, O)``.

    Each entry is ``n - 2 * popcount(a XOR w)`` (int32). The XOR runs on chunks of rows so
    that its ``chunk x O x words`` temporary stays bounded.
    """
    m, words = a_words.shape
    o = w_words.shape[0]
    out = np.empty((m, o), dtype=np.int32)
    step = max(1, _CHUNK_ELEMENTS // max(1, o * words))
    for start in range(0, m, step):
        block = a_words[start : start + step, None, :] ^ w_words[None, :, :]
        mismatches = np.bitwise_count(block).sum(axis=-1, dtype=np.int32)
        out[start : start + step] = n - 2 * mismatches
    return out

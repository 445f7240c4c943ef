"""Sign bits and XNOR/popcount dot products against plain ±1 arithmetic."""

import numpy as np
import pytest

from bnnas.export.bits import (
    bits_to_pm1,
    pack_rows,
    pack_signs,
    sign_bits,
    unpack_bits,
    xnor_matmul,
)


def test_sign_of_zero_is_plus_one_for_both_zeros():
    values = np.array([-1.5, -0.0, 0.0, 2.0, -1e-30], np.float32)
    np.testing.assert_array_equal(sign_bits(values), [False, True, True, True, False])


@pytest.mark.parametrize("shape", [(3, 5, 3, 3), (7,), (1, 1, 1, 1), (4, 9)])
def test_pack_then_unpack_gives_the_signs(shape):
    values = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    packed = pack_signs(values)
    assert packed.dtype == np.uint8 and packed.size == -(-values.size // 8)
    np.testing.assert_array_equal(bits_to_pm1(unpack_bits(packed, shape)), np.sign(values))


@pytest.mark.parametrize("n", [1, 7, 64, 65, 200])
def test_xnor_popcount_equals_the_pm1_matmul(n):
    rng = np.random.default_rng(n)
    a = rng.random((9, n)) < 0.5
    w = rng.random((4, n)) < 0.5
    got = xnor_matmul(pack_rows(a), pack_rows(w), n)
    expected = bits_to_pm1(a, np.int64) @ bits_to_pm1(w, np.int64).T
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)


def test_pack_rows_pads_to_whole_words_with_zero_bits():
    words = pack_rows(np.ones((2, 70), bool))
    assert words.shape == (2, 2) and words.dtype == np.uint64
    assert int(np.bitwise_count(words).sum()) == 140

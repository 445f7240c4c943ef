"""The compiled few-tap real convolution against the reference's tap-by-tap sum."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bnnas.export import kernels as K
from bnnas.export.packed import pack

pytest.importorskip("numba", reason="the fast engine needs bnnas[fast] (pip install numba)")

from bnnas.export import fast_real_conv  # noqa: E402
from bnnas.export.fast import FastEngine  # noqa: E402

# (images, channels, size, out channels, kernel, stride, padding, dilation, groups)
GEOMETRIES = [
    (64, 1, 28, 32, 3, 2, 1, 1, 1),  # a grey strided stem: 9 taps
    (2, 3, 13, 16, 3, 1, 1, 1, 1),  # an RGB stem: 27 taps, the most summed tap by tap
    (3, 4, 13, 8, 3, 2, 2, 2, 2),  # dilated, grouped, wider padding than the kernel needs
    (2, 8, 9, 16, 1, 2, 0, 1, 1),  # a strided 1x1 conv: gathered
    (2, 16, 9, 16, 1, 1, 0, 1, 1),  # a 1x1 conv at stride 1: the pixels are the taps
    (1, 2, 10, 4, 5, 3, 0, 1, 2),  # valid padding, stride 3
    (2, 2, 5, 4, 3, 2, 4, 1, 1),  # padding wider than the input: whole rows in the border
    (1, 1, 6, 3, 3, 3, 2, 3, 1),  # stride and dilation 3
]


def _arrays(n, c, size, o, k, groups, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c, size, size)) * 3).astype(np.float32)
    w = rng.standard_normal((o, c // groups, k, k)).astype(np.float32)
    return x, w


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_gathered_taps_are_the_windows_of_the_padded_input(geometry):
    n, c, size, o, k, s, p, d, groups = geometry
    x, _ = _arrays(n, c, size, o, k, groups)
    out = K.out_size(size, k, s, p, d)
    cols = np.full((n, c * k * k, out * out), np.nan, np.float32)
    fast_real_conv.gather_taps_into(x, k, k, s, s, p, p, d, d, -1.5, cols)
    windows = K.windows(K.pad_hw(x, p, p, p, p, -1.5), (k, k), (s, s), (d, d), (out, out))
    expected = windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * k * k, out * out)
    np.testing.assert_array_equal(cols, expected)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_compiled_conv_equals_the_reference_bit_for_bit(make_zoo_source, geometry):
    """The fast engine's real conv of few taps gives the reference's float32 values exactly
    (a fused multiply-add, or any other order, would round differently somewhere in these
    thousands of values), and both are a convolution (torch, to float tolerance)."""
    n, c, size, o, k, s, p, d, groups = geometry
    assert c // groups * k * k <= K.SMALL_TAPS
    x, w = _arrays(n, c, size, o, k, groups)
    engine = FastEngine(pack(make_zoo_source("bresnet_small", (1, 28, 28))))
    got = engine.real_conv(x, w, (s, s), (p, p), (d, d), groups)
    expected = K.conv2d(x, w, (s, s), (p, p), (d, d), groups)
    np.testing.assert_array_equal(got, expected)
    direct = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, s, p, d, groups).numpy()
    np.testing.assert_allclose(got, direct, rtol=1e-5, atol=1e-4)


def test_the_reference_sums_few_taps_in_the_weights_order():
    """A 9-tap conv's value is the float32 sum of its products taken from the first tap on,
    each product rounded before it is added; one more channel (18 taps, still few) too."""
    for c in (1, 2):
        x, w = _arrays(1, c, 5, 3, 3, 1, seed=c)
        got = K.conv2d(x, w, (1, 1), (0, 0), (1, 1))
        taps = K.windows(x, (3, 3), (1, 1), (1, 1), (3, 3))
        for o in range(3):
            total = np.zeros((3, 3), np.float32)
            for ch in range(c):
                for i in range(3):
                    for j in range(3):
                        total = total + w[o, ch, i, j] * taps[0, ch, :, :, i, j]
            np.testing.assert_array_equal(got[0, o], total)


def test_convs_with_more_taps_stay_blas_products(make_zoo_source):
    """Above SMALL_TAPS the fast engine hands the conv to the reference's BLAS tiles: the
    same values as the reference, not the tap-by-tap kernel's."""
    x, w = _arrays(2, 4, 9, 8, 3, 1, seed=3)  # 36 taps
    assert K.SMALL_TAPS < 4 * 9
    engine = FastEngine(pack(make_zoo_source("bresnet_small", (1, 28, 28))))
    np.testing.assert_array_equal(engine.real_conv(x, w, (1, 1), (1, 1), (1, 1), 1),
                                  K.conv2d(x, w, (1, 1), (1, 1), (1, 1)))

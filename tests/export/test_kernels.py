"""numpy layers of the reference engine against torch.nn.functional."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bnnas.export import kernels as K
from bnnas.export.bits import pack_rows


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 1, 1, 1), (2, 2, 2, 1),
                                                            (2, 0, 1, 2), (1, 2, 2, 4)])
def test_real_conv_matches_torch(stride, padding, dilation, groups):
    x, w = rand(2, 4, 9, 11), rand(8, 4 // groups, 3, 3, seed=1)
    expected = F.conv2d(x, w, None, stride, padding, dilation, groups).numpy()
    got = K.conv2d(x.numpy(), w.numpy(), (stride,) * 2, (padding,) * 2, (dilation,) * 2, groups)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_pointwise_conv_takes_the_matmul_path_and_matches_torch(stride):
    x, w = rand(2, 4, 9, 11), rand(6, 4, 1, 1, seed=1)
    expected = F.conv2d(x, w, None, stride).numpy()
    got = K.conv2d(x.numpy(), w.numpy(), (stride,) * 2, (0, 0), (1, 1))
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pad_value", [-1.0, 1.0])
@pytest.mark.parametrize("kernel,stride,dilation", [(3, 1, 1), (5, 2, 1), (3, 1, 2), (1, 2, 1)])
def test_binary_conv_is_the_exact_pm1_conv_with_its_border(kernel, stride, dilation, pad_value):
    x, w = torch.sign(rand(2, 5, 9, 8)), torch.sign(rand(6, 5, kernel, kernel, seed=1))
    padding = dilation * (kernel - 1) // 2
    padded = F.pad(x, (padding,) * 4, value=pad_value)
    expected = F.conv2d(padded, w, None, stride, 0, dilation).numpy()
    words = [pack_rows(w.numpy().reshape(6, -1) >= 0)]
    got = K.binary_conv2d(x.numpy() >= 0, words, (kernel,) * 2, (stride,) * 2, (padding,) * 2,
                          (dilation,) * 2, pad_bit=pad_value > 0)
    np.testing.assert_array_equal(got, expected.astype(np.int32))


@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("kind,kernel,stride,padding,ceil_mode,include_pad", [
    ("max", 3, 1, 1, False, False), ("max", 3, 2, 1, False, False), ("max", 3, 2, 1, True, False),
    ("avg", 3, 2, 1, False, False), ("avg", 3, 1, 1, False, True), ("avg", 2, 2, 0, True, False),
    ("avg", 3, 2, 1, True, True),
])
def test_pools_match_torch(size, kind, kernel, stride, padding, ceil_mode, include_pad):
    x = rand(2, 3, size, size + 1)
    if kind == "max":
        expected = F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode)
    else:
        expected = F.avg_pool2d(x, kernel, stride, padding, ceil_mode, include_pad)
    got = K.pool2d(x.numpy(), kind, (kernel,) * 2, (stride,) * 2, (padding,) * 2, ceil_mode,
                   include_pad)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_rprelu_matches_the_layer():
    from bnnas.binary import RPReLU

    layer = RPReLU(3)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(rand(*p.shape, seed=2))
    x = rand(2, 3, 4, 4)
    got = K.rprelu(x.numpy(), *(p.detach().numpy() for p in
                               (layer.shift_in, layer.slope, layer.shift_out)))
    np.testing.assert_allclose(got, layer(x).detach().numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kernel,stride,padding,groups", [(7, 2, 3, 1), (3, 1, 1, 2), (1, 2, 0, 1)])
def test_real_conv_equals_a_direct_convolution(kernel, stride, padding, groups):
    """conv2d matches a float64 convolution (bands of a 147-tap stem, grouped, strided 1x1)."""
    rng = np.random.default_rng(kernel)
    x = rng.standard_normal((5, 4, 11, 9)).astype(np.float32)
    weight = rng.standard_normal((6, 4 // groups, kernel, kernel)).astype(np.float32)
    got = K.conv2d(x, weight, (stride,) * 2, (padding,) * 2, (1, 1), groups)
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    expected = np.zeros(got.shape)
    for o in range(6):
        g = o // (6 // groups)
        for i in range(kernel):
            for j in range(kernel):
                taps = padded[:, g * (4 // groups) : (g + 1) * (4 // groups),
                              i : i + stride * got.shape[2] : stride,
                              j : j + stride * got.shape[3] : stride]
                expected[:, o] += np.einsum("nchw,c->nhw", taps, weight[o, :, i, j])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_real_conv_sums_its_taps_in_the_weights_order():
    """Each output is the float32 sum of its products taken from the first tap on, in the
    weight's (c, i, j) order, each product rounded before it is added: the order a compiled
    kernel reproduces (a BLAS product or numpy's pairwise sums would round differently)."""
    for c in (1, 3):
        rng = np.random.default_rng(c)
        x = (rng.standard_normal((2, c, 5, 6)) * 3).astype(np.float32)
        w = rng.standard_normal((3, c, 3, 3)).astype(np.float32)
        got = K.conv2d(x, w, (1, 1), (1, 1), (1, 1))
        taps = K.windows(K.pad_hw(x, 1, 1, 1, 1, 0.0), (3, 3), (1, 1), (1, 1), (5, 6))
        for o in range(3):
            total = w[o, 0, 0, 0] * taps[:, 0, :, :, 0, 0]
            for t in range(1, c * 9):
                ch, i, j = t // 9, t // 3 % 3, t % 3
                total = total + w[o, ch, i, j] * taps[:, ch, :, :, i, j]
            np.testing.assert_array_equal(got[:, o], total)


@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_sums_its_inputs_in_order_then_adds_the_bias(with_bias):
    """``x @ W.T + b`` as the float32 sum of each output's products from the first input on,
    each rounded before it is added, then the bias: a fixed order a compiled kernel
    reproduces, close to torch's (BLAS) result."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3, 40)) * 3).astype(np.float32)
    w = rng.standard_normal((7, 40)).astype(np.float32)
    b = rng.standard_normal(7).astype(np.float32) if with_bias else None
    got = K.linear(x, w, b)
    total = x[:, :1] * w[:, 0]
    for k in range(1, 40):
        total = total + x[:, k : k + 1] * w[:, k]
    np.testing.assert_array_equal(got, total if b is None else total + b)
    direct = F.linear(torch.from_numpy(x), torch.from_numpy(w),
                      None if b is None else torch.from_numpy(b))
    np.testing.assert_allclose(got, direct.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (1, 5, 7, 7), (3, 2, 1, 1), (2, 4, 14, 9)])
def test_global_avg_pool_is_the_mean_summed_in_row_major_order(shape):
    x = rand(*shape, seed=4) * 3
    got = K.global_avg_pool(x.numpy())
    np.testing.assert_allclose(got, x.mean((2, 3), keepdim=True).numpy(), rtol=1e-6, atol=1e-6)
    total = np.zeros(shape[:2], np.float32)
    for value in x.numpy().reshape(*shape[:2], -1).transpose(2, 0, 1):
        total = total + value
    np.testing.assert_array_equal(got[:, :, 0, 0], total / np.float32(shape[2] * shape[3]))


@pytest.mark.parametrize("pads", [(1, 1, 1, 1), (0, 2, 3, 0), (3, 0, 0, 1), (0, 0, 0, 0)])
@pytest.mark.parametrize("dtype,value", [(np.float32, -np.inf), (np.float32, 0.5), (bool, True)])
def test_pad_hw_equals_np_pad(pads, dtype, value):
    x = (rand(2, 3, 4, 5).numpy() > 0) if dtype is bool else rand(2, 3, 4, 5).numpy()
    top, bottom, left, right = pads
    expected = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)
    got = K.pad_hw(x, top, bottom, left, right, value)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, expected)

"""The compiled real convolution against the reference's tap-by-tap sum."""

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
    (2, 3, 30, 16, 7, 2, 3, 1, 1),  # an RGB 7x7 stem: 147 taps, bands of 64 positions
    (64, 1, 28, 32, 3, 2, 1, 1, 1),  # a grey strided stem: 9 taps
    (3, 4, 13, 8, 3, 2, 2, 2, 2),  # dilated, grouped, wider padding than the kernel needs
    (2, 8, 9, 16, 1, 2, 0, 1, 1),  # a strided 1x1 conv
    (2, 64, 7, 21, 1, 1, 0, 1, 1),  # a 1x1 shortcut: 49 positions, 21 channels (5 unpaneled)
    (1, 2, 10, 4, 5, 3, 0, 1, 2),  # valid padding, stride 3
    (2, 2, 5, 4, 3, 2, 4, 1, 1),  # padding wider than the input: whole rows in the border
    (1, 1, 6, 3, 3, 3, 2, 3, 1),  # stride and dilation 3
    (1, 3, 40, 9, 3, 1, 1, 1, 1),  # 1600 positions: several bands of whole rows
]


def _arrays(n, c, size, o, k, groups, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c, size, size)) * 3).astype(np.float32)
    w = rng.standard_normal((o, c // groups, k, k)).astype(np.float32)
    return x, w


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("pad_value", [0.0, -1.5])
def test_compiled_conv_equals_the_reference_bit_for_bit(make_zoo_source, geometry, pad_value):
    """The fast engine's real conv gives the reference's float32 values exactly, in panels,
    leftover positions and leftover channels alike (a fused multiply-add, or any other
    order, would round differently somewhere in these thousands of values); both are a
    convolution (torch, to float tolerance, where the border is zero)."""
    n, c, size, o, k, s, p, d, groups = geometry
    x, w = _arrays(n, c, size, o, k, groups)
    engine = FastEngine(pack(make_zoo_source("bresnet_small", (1, 28, 28))))
    got = engine.real_conv(x, w, (s, s), (p, p), (d, d), groups, pad_value)
    np.testing.assert_array_equal(got, K.conv2d(x, w, (s, s), (p, p), (d, d), groups, pad_value))
    if pad_value == 0.0:
        direct = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, s, p, d, groups)
        np.testing.assert_allclose(got, direct.numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2, 7])
@pytest.mark.parametrize("channels,groups", [(13, 1), (64, 1), (42, 2)])
def test_every_output_is_written_in_any_split(channels, groups, threads):
    """One band of 81 positions per image and group, its channels split into parts for more
    threads (whole panels of 8, the last part shorter): every output is written (none keeps
    what the array held; the engine hands out kept arrays), with the reference's value."""
    x, w = _arrays(1, 6, 9, channels, 3, groups, seed=2)
    out = np.full((1, channels, 81), np.nan, np.float32)
    identity = np.array([[-0.0], [1.0], [-0.0]], np.float32).repeat(channels, axis=1)
    fast_real_conv.conv_into(x, np.ascontiguousarray(w.reshape(channels, -1).T), groups, 3, 3,
                             1, 1, 1, 1, 1, 1, 0.0, identity, out, threads)
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out.reshape(1, channels, 9, 9),
                                  K.conv2d(x, w, (1, 1), (1, 1), (1, 1), groups))


def test_conv_bias_and_bn_are_written_in_the_references_order(make_zoo_source):
    """A conv2d node (with a bias) followed by a BN affine in a sequential: the fast engine
    writes ``((sum + bias) * scale) + shift`` in one pass, the reference's values bit for
    bit; a negative scale, a missing bias and a missing scale alike."""
    from bnnas.export.engine import Engine

    rng = np.random.default_rng(7)
    x, w = _arrays(2, 3, 9, 12, 3, 1, seed=7)
    engine = FastEngine(pack(make_zoo_source("bresnet_small", (1, 28, 28))))
    reference = Engine(pack(make_zoo_source("bresnet_small", (1, 28, 28))))
    bias, scale, shift = (rng.standard_normal(12).astype(np.float32) for _ in range(3))
    scale[:4] *= -1
    for conv_bias, bn_scale in [(bias, scale), (None, scale), (bias, None)]:
        arrays = {"w": w, "b": conv_bias, "s": bn_scale, "t": shift}
        for e in (engine, reference):
            e.array = lambda ref, arrays=arrays: None if ref is None else arrays[ref]
        conv = {"type": "conv2d", "weight": "w", "bias": None if conv_bias is None else "b",
                "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1], "dilation": [1, 1],
                "groups": 1}
        affine = {"type": "affine", "scale": None if bn_scale is None else "s", "bias": "t"}
        sequence = {"type": "sequential", "layers": [conv, affine]}
        expected = reference.run(sequence, x)
        np.testing.assert_array_equal(engine.run(sequence, x), expected)
        alone = reference.run(conv, x)
        np.testing.assert_array_equal(engine.run(conv, x), alone)

"""The numba engine against the reference engine: the same integers, the same logits."""

import numpy as np
import pytest

from bnnas.export import kernels as K
from bnnas.export.bits import pack_rows
from bnnas.export.engine import Engine
from bnnas.export.packed import pack

pytest.importorskip("numba", reason="the fast engine needs bnnas[fast] (pip install numba)")

from bnnas.export import fast_kernels  # noqa: E402
from bnnas.export.fast import FastEngine  # noqa: E402


@pytest.mark.parametrize("channels", [4, 24, 64, 130])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("kernel,stride,dilation,pad_bit", [(3, 1, 1, False), (5, 2, 1, True),
                                                            (3, 1, 2, False), (1, 2, 1, False)])
def test_packed_conv_equals_the_reference_conv(channels, groups, kernel, stride, dilation,
                                               pad_bit):
    """Sign, pack, im2col and popcount GEMM with its epilogue against the reference integer
    conv followed by scale and bias: the same float32 values, bit for bit."""
    rng = np.random.default_rng(channels + kernel)
    x = rng.standard_normal((2, channels, 9, 7)).astype(np.float32)
    threshold = (rng.standard_normal(channels) * 0.3).astype(np.float32)
    weight = rng.random((40, channels // groups, kernel, kernel)) < 0.5
    scale = rng.random(40).astype(np.float32) + 0.5
    bias = rng.standard_normal(40).astype(np.float32)
    padding = dilation * (kernel - 1) // 2
    geometry = ((kernel,) * 2, (stride,) * 2, (padding,) * 2, (dilation,) * 2)
    per_group = np.split(weight, groups)
    bits = x - threshold.reshape(1, -1, 1, 1) >= 0
    integers = K.binary_conv2d(bits, [pack_rows(w.reshape(len(w), -1)) for w in per_group],
                               *geometry, pad_bit)
    expected = K.channel_affine(integers.astype(np.float32), scale, bias)
    oh, ow = integers.shape[2:]
    got = np.empty_like(expected)
    cg, og = channels // groups, 40 // groups
    for g, w in enumerate(per_group):
        px = fast_kernels.sign_pack(np.ascontiguousarray(x[:, g * cg : (g + 1) * cg]),
                                    threshold[g * cg : (g + 1) * cg].copy())
        cols = fast_kernels.im2col_bits(px, fast_kernels.pad_words(cg, pad_bit), cg, kernel,
                                        kernel, stride, stride, padding, padding, dilation,
                                        dilation, oh, ow)
        weights_t = fast_kernels.pack_weights(w)
        assert cols.shape[1] == weights_t.shape[0] == fast_kernels.words_per_row(cg, kernel,
                                                                                 kernel)
        fast_kernels.conv_gemm(cols, weights_t, cg * kernel * kernel,
                               scale[g * og : (g + 1) * og].copy(),
                               bias[g * og : (g + 1) * og].copy(), True, True, got, g * og)
    np.testing.assert_array_equal(got, expected)


def test_narrow_inputs_pack_their_taps_end_to_end():
    """24 channels x 9 taps = 216 bits: 4 words per row, not one word per tap."""
    assert fast_kernels.words_per_row(24, 3, 3) == 4
    assert fast_kernels.words_per_row(64, 3, 3) == 9
    assert fast_kernels.words_per_row(130, 3, 3) == 27


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("kernel,stride,padding,ceil_mode,include_pad",
                         [(3, 1, 1, False, False), (3, 2, 1, False, True), (2, 2, 0, True, True),
                          (3, 2, 1, True, False), (3, 3, 0, True, True)])
def test_compiled_pools_equal_the_reference_pools(kind, kernel, stride, padding, ceil_mode,
                                                   include_pad):
    x = np.random.default_rng(kernel + stride).standard_normal((2, 3, 8, 9)).astype(np.float32)
    expected = K.pool2d(x, kind, (kernel,) * 2, (stride,) * 2, (padding,) * 2, ceil_mode,
                        include_pad)
    oh = K.out_size(8, kernel, stride, padding, ceil_mode=ceil_mode)
    ow = K.out_size(9, kernel, stride, padding, ceil_mode=ceil_mode)
    got = fast_kernels.pool2d(x, kind == "max", kernel, kernel, stride, stride, padding, padding,
                              oh, ow, include_pad)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("has_scale,has_bias", [(True, True), (True, False), (False, True)])
def test_compiled_affine_equals_the_reference_affine(has_scale, has_bias):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    scale, bias = rng.standard_normal((2, 5)).astype(np.float32)
    expected = K.channel_affine(x, scale if has_scale else None, bias if has_bias else None)
    got = fast_kernels.channel_affine(x, scale, bias, has_scale, has_bias)
    np.testing.assert_array_equal(got, expected)


def test_fast_engine_gives_the_reference_logits(make_zoo_source, make_genotype_source,
                                                genotypes):
    x28 = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    x13 = x28[:, :, :13, :13].copy()
    for packed, x in ((pack(make_zoo_source("bresnet_small", (1, 28, 28))), x28),
                      (pack(make_genotype_source(genotypes["darts"](), (1, 13, 13))), x13),
                      (pack(make_genotype_source(genotypes["bars"](), (1, 13, 13))), x13)):
        reference = Engine(packed)(x)
        fast = FastEngine(packed)
        np.testing.assert_array_equal(fast(x), reference)
        assert fast._packed_weights  # the compiled kernel ran, not the reference one


def test_predict_with_the_fast_engine_prints_the_reference_predictions(
        make_genotype_source, genotypes, tmp_path, capsys):
    from bnnas.cli import main
    from bnnas.export.packed import export_packed

    export_packed(make_genotype_source(genotypes["darts"]()), tmp_path / "m.bnn")
    np.save(tmp_path / "x.npy", np.random.default_rng(1).standard_normal((6, 1, 12, 12)))
    outputs = []
    for engine in ("reference", "fast"):
        assert main(["predict", str(tmp_path / "m.bnn"), str(tmp_path / "x.npy"),
                     "--engine", engine]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and len(outputs[0].splitlines()) == 6


def test_thread_counts_do_not_change_the_logits_and_are_restored(make_zoo_source):
    """One thread, two threads, and the small-input path on one thread give the same
    logits; the caller's numba thread setting is left as it was."""
    import numba

    packed = pack(make_zoo_source("bresnet_small", (1, 28, 28)))
    x = np.random.default_rng(2).standard_normal((8, 1, 28, 28)).astype(np.float32)
    expected, expected_one = Engine(packed)(x), Engine(packed)(x[:1])
    before = numba.get_num_threads()
    for threads in (1, 2):
        np.testing.assert_array_equal(FastEngine(packed, threads)(x), expected)
        np.testing.assert_array_equal(FastEngine(packed, threads)(x[:1]), expected_one)
    assert numba.get_num_threads() == before

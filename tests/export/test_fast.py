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


@pytest.mark.parametrize("channels", [4, 64, 130])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("kernel,stride,dilation,pad_bit", [(3, 1, 1, False), (5, 2, 1, True),
                                                            (3, 1, 2, False), (1, 2, 1, False)])
def test_packed_kernel_equals_the_reference_kernel(channels, groups, kernel, stride, dilation,
                                                   pad_bit):
    rng = np.random.default_rng(channels + kernel)
    bits = rng.random((2, channels, 9, 7)) < 0.5
    weight = rng.random((40, channels // groups, kernel, kernel)) < 0.5
    padding = dilation * (kernel - 1) // 2
    geometry = ((kernel,) * 2, (stride,) * 2, (padding,) * 2, (dilation,) * 2)
    per_group = np.split(weight, groups)
    expected = K.binary_conv2d(bits, [pack_rows(w.reshape(len(w), -1)) for w in per_group],
                               *geometry, pad_bit)
    got = fast_kernels.binary_conv2d(bits, [fast_kernels.pack_weights(w) for w in per_group],
                                     *geometry, pad_bit)
    assert got.dtype == np.int32
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

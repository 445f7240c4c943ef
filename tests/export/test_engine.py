"""The numpy reference engine against the PyTorch model in eval mode."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from bnnas.binary import BinaryConv2d
from bnnas.errors import ExportError
from bnnas.export.engine import Engine
from bnnas.export.packed import pack
from bnnas.export.source import ExportSource
from bnnas.space import STRUCTURE_PRESETS, Network, SpaceSpec


def run_both(source: ExportSource, n: int = 12, seed: int = 1):
    x = torch.randn(n, *source.input_shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = source.model.eval()(x).numpy()
    engine = Engine(pack(source))
    return engine(x.numpy()), expected


def assert_same(got, expected, atol=1e-4):
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=atol)
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_bresnet_small_matches_torch(make_zoo_source):
    source = make_zoo_source("bresnet_small", (1, 28, 28))
    got, expected = run_both(source)
    assert_same(got, expected)
    assert np.ptp(expected) > 0.1  # the logits are not a constant that anything would match


@pytest.mark.parametrize("name,kwargs", [("birealnet18", {"stem": "small"}),
                                         ("reactnet_a", {"stem": "small"})])
def test_bigger_zoo_models_match_torch(make_zoo_source, name, kwargs):
    source = make_zoo_source(name, (3, 16, 16), **kwargs)
    got, expected = run_both(source, n=3)
    assert_same(got, expected, atol=1e-3)


@pytest.mark.parametrize("structure", STRUCTURE_PRESETS)
def test_darts_cells_match_torch_for_every_structure_preset(make_genotype_source, genotypes,
                                                            structure):
    source = make_genotype_source(genotypes["darts"](structure), input_shape=(1, 13, 13))
    got, expected = run_both(source)
    assert_same(got, expected)


@pytest.mark.parametrize("size", [12, 13])
def test_factorized_reduces_match_torch_at_even_and_odd_sizes(make_genotype_source, genotypes,
                                                             size):
    """A factorized reduce's shifted conv reads the padded far border only at odd sizes; at
    even sizes the engine leaves the padding out: the same logits as PyTorch either way."""
    source = make_genotype_source(genotypes["darts"](), input_shape=(1, size, size))
    assert '"factorized_conv"' in json.dumps(Engine(pack(source)).graph)
    got, expected = run_both(source)
    assert_same(got, expected)


@pytest.mark.parametrize("structure", ["sign-conv-bn+shortcut",
                                       "bn-sign-conv+shortcut+rprelu;pre=real;scaling=learnable"])
def test_bars_dense_cells_match_torch(make_genotype_source, genotypes, structure):
    source = make_genotype_source(genotypes["bars"](structure), input_shape=(1, 12, 12))
    got, expected = run_both(source)
    assert_same(got, expected)


def test_minus_one_padding_is_what_the_engine_computes(make_zoo_source):
    """With 0 at the border the torch model gives other logits; the engine matches the -1."""
    source = make_zoo_source("bresnet_small", (1, 28, 28))
    got, expected = run_both(source)
    assert_same(got, expected)
    x = torch.randn(12, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    for module in source.model.modules():
        if isinstance(module, BinaryConv2d):
            module.pad_value = 0.0
    with torch.no_grad():
        zero_padded = source.model(x).numpy()
    assert np.abs(zero_padded - got).max() > 1e-2


def test_engine_refuses_an_input_of_the_wrong_shape(make_zoo_source):
    engine = Engine(pack(make_zoo_source("bresnet_small", (1, 28, 28))))
    with pytest.raises(ExportError, match="does not fit the model.*1x28x28"):
        engine(np.zeros((2, 1, 32, 32), np.float32))


def test_predict_batches_give_the_same_logits(make_genotype_source, genotypes):
    source = make_genotype_source(genotypes["bars"]())
    engine = Engine(pack(source))
    x = np.random.default_rng(0).standard_normal((7, 1, 12, 12)).astype(np.float32)
    logits, classes = engine.predict(x, batch_size=3)
    np.testing.assert_array_equal(logits, engine(x))
    np.testing.assert_array_equal(classes, logits.argmax(1))


def test_a_supernet_cannot_be_exported():
    net = Network.supernet(SpaceSpec(steps=2, partial_k_normal=1, partial_k_reduce=1),
                           num_classes=3, in_channels=1)
    with pytest.raises(ExportError, match="supernet cannot be exported; derive"):
        pack(ExportSource(net, {"kind": "module"}, (1, 12, 12), 3))


def test_an_unknown_module_is_named_in_the_error():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.GELU())
    with pytest.raises(ExportError, match=r"cannot export 1: module type GELU is not supported"):
        pack(ExportSource(model, {"kind": "module"}, (1, 8, 8), 2))


def test_a_malformed_graph_is_a_clear_error():
    from bnnas.export.fileformat import PackedFile

    packed = PackedFile({"graph": {"type": "linear", "name": "fc"}, "input_shape": [2, 1, 1],
                         "num_classes": 2})
    with pytest.raises(ExportError, match="graph is malformed"):
        Engine(packed)(np.zeros((1, 2, 1, 1), np.float32))
    packed.meta["graph"] = {"type": "quantum_conv", "name": "q"}
    with pytest.raises(ExportError, match="unknown type 'quantum_conv'.*newer bnnas"):
        Engine(packed)(np.zeros((1, 2, 1, 1), np.float32))


def test_the_engine_runs_without_torch(make_zoo_source, tmp_path):
    """A deployment machine needs numpy only: importing and running the engine loads no torch."""
    import subprocess
    import sys

    from bnnas.export.packed import export_packed

    export_packed(make_zoo_source("bresnet_small", (1, 28, 28)), tmp_path / "m.bnn")
    code = ("import sys, numpy as np; from bnnas.export.engine import Engine; "
            f"e = Engine.load({str(tmp_path / 'm.bnn')!r}); "
            "print(e(np.zeros((1, 1, 28, 28), np.float32)).shape, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "(1, 10) False"


def test_logits_do_not_depend_on_how_a_batch_is_split(make_zoo_source, make_genotype_source,
                                                     genotypes):
    """Every sum runs in a fixed order, none through BLAS (whose blocking changes with the
    batch, the library and the threads): an image's logits are the same bit for bit in a
    batch of one and in a batch of seven."""
    for source, shape in ((make_zoo_source("bresnet_small", (1, 28, 28)), (1, 28, 28)),
                          (make_genotype_source(genotypes["bars"]()), (1, 12, 12))):
        engine = Engine(pack(source))
        x = np.random.default_rng(3).standard_normal((7, *shape)).astype(np.float32)
        one_by_one = np.concatenate([engine(x[i : i + 1]) for i in range(len(x))])
        np.testing.assert_array_equal(engine(x), one_by_one)

"""ONNX export: onnxruntime on real inputs against PyTorch, with the BNN's sign and border."""

import numpy as np
import pytest
import torch

from bnnas.binary import BinaryConv2d
from bnnas.cli import main
from bnnas.data import default_eval_transform, load_dataset
from bnnas.export.onnx_export import export_onnx, onnx_ready

ort = pytest.importorskip("onnxruntime", reason="ONNX export checks need bnnas[onnx] "
                          "(pip install onnx onnxruntime onnxscript)")
onnx = pytest.importorskip("onnx", reason="ONNX export checks need bnnas[onnx]")


def fashion_inputs(n: int) -> torch.Tensor:
    dataset = load_dataset("fashion-mnist-small")
    pixels, _ = dataset.test.fetch(torch.arange(n))
    return default_eval_transform(dataset)(pixels)


def run_onnx(path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x.numpy()})[0]


def test_bresnet_on_real_images_matches_torch(make_zoo_source, tmp_path):
    source = make_zoo_source("bresnet_small", (1, 28, 28))
    path = export_onnx(source, tmp_path / "m.onnx")
    x = fashion_inputs(16)  # real images: flat backgrounds put many exact zeros in play
    with torch.no_grad():
        expected = source.model(x).numpy()
    got = run_onnx(path, x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert (got.argmax(1) == expected.argmax(1)).all()
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "Sign" not in ops and {"Where", "Pad", "Conv"} <= ops
    # a zero-padded variant of the same model computes something else, so the -1 is in use
    for module in source.model.modules():
        if isinstance(module, BinaryConv2d):
            module.pad_value = 0.0
    with torch.no_grad():
        assert np.abs(source.model(x).numpy() - got).max() > 1e-2


def test_searched_darts_network_matches_torch_via_the_cli(make_genotype_source, genotypes,
                                                          tmp_path, capsys):
    source = make_genotype_source(genotypes["darts"]("bn-sign-conv+shortcut+rprelu"),
                                  input_shape=(1, 13, 13))
    path = export_onnx(source, tmp_path / "g.onnx")
    x = torch.randn(5, 1, 13, 13, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = source.model(x).numpy()
    np.testing.assert_allclose(run_onnx(path, x), expected, rtol=1e-4, atol=1e-4)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["bnnas.input_shape"] == "[1, 13, 13]"
    code = main(["export", "--out", str(path), "--format", "onnx", "--model", "bresnet_small",
                 "--checkpoint", str(tmp_path / "none.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1


def test_the_onnx_ready_copy_computes_what_the_model_computes(make_zoo_source):
    source = make_zoo_source("reactnet_a", (3, 16, 16), stem="small")
    ready = onnx_ready(source.model)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ready(x), source.model(x), rtol=1e-5, atol=1e-5)
    conv = ready.blocks[0].conv3x3
    assert set(conv.weight.unique().tolist()) == {-1.0, 1.0} and conv.scaling == "learnable"

"""Without an optional extra, the feature that needs it says which extra to install."""

import sys

import pytest

from bnnas.errors import ExportError
from bnnas.export.fileformat import PackedFile


def test_onnx_export_without_the_extra_names_it(make_zoo_source, tmp_path, monkeypatch):
    from bnnas.export.onnx_export import export_onnx

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ExportError, match=r"pip install 'bnnas\[onnx\]'"):
        export_onnx(make_zoo_source("bresnet_small", (1, 28, 28)), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_fast_engine_without_numba_names_the_extra(monkeypatch):
    from bnnas.export.fast import FastEngine

    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.delitem(sys.modules, "bnnas.export.fast_kernels", raising=False)
    monkeypatch.delattr(sys.modules["bnnas.export"], "fast_kernels", raising=False)
    packed = PackedFile({"graph": {"type": "identity"}, "input_shape": [1, 2, 2],
                         "num_classes": 2})
    with pytest.raises(ExportError, match=r"pip install 'bnnas\[fast\]'"):
        FastEngine(packed)

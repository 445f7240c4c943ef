"""ONNX export of a trained BNN, with the sign and the border a BNN needs.

ONNX's ``Sign`` maps 0 to 0, a third value no 1-bit engine has; training uses
``sign(0) = +1``. The exported graph therefore binarizes with ``where(x >= 0, 1, -1)``, pads
binary inputs with -1 exactly as :class:`~bnnas.binary.BinaryConv2d` does in training (a
``Pad`` node before the ``Conv``), and holds the binary weights as ±1 constants with their
per-channel scale, so a runtime computes the same ±1 products as the packed engine. The
weights stay float32 tensors: ONNX has no 1-bit type; the packed format is the compact one.

Needs the ``onnx`` extra (``pip install 'bnnas[onnx]'``: onnx, onnxruntime, onnxscript).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from bnnas.binary import BinaryConv2d, RSign
from bnnas.binary.quantizers import Identity, Quantizer
from bnnas.errors import ExportError
from bnnas.export.fileformat import check_output_path
from bnnas.export.graph import SIGN_QUANTIZERS
from bnnas.export.source import ExportSource

OPSET = 18


class WhereSign(Quantizer):
    """``where(x >= 0, 1, -1)``: the training sign (``sign(0) = +1``) in plain ONNX ops."""

    precision = 1

    def forward(self, x: Tensor) -> Tensor:
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def _bake_binary_conv(conv: BinaryConv2d) -> None:
    """Replace the latent weights by their ±1 values and the scale by a constant; the signs
    of the input become :class:`WhereSign`. The layer computes exactly what it did."""
    q = conv.input_quantizer
    if type(q) in SIGN_QUANTIZERS:
        conv.input_quantizer = WhereSign()
    elif type(q) is RSign:
        q.estimator = WhereSign()
    elif type(q) is not Identity:
        raise ExportError(f"input quantizer {type(q).__name__} cannot be exported to ONNX")
    if type(conv.weight_quantizer) in SIGN_QUANTIZERS:
        scale = conv.output_scale()
        conv.weight.data = conv.quantized_weight().detach().clone()
        conv.weight_quantizer = Identity()
        if scale is not None:
            conv.scaling = "learnable"  # a stored per-channel scale, no longer computed
            conv.scale = nn.Parameter(scale.detach().clone())
    elif type(conv.weight_quantizer) is not Identity:
        raise ExportError(f"weight quantizer {type(conv.weight_quantizer).__name__} cannot be "
                          "exported to ONNX")


def onnx_ready(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval mode, CPU) whose binary layers export to plain ONNX ops."""
    model = copy.deepcopy(model).cpu().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, BinaryConv2d):
                _bake_binary_conv(module)
    return model


def export_onnx(source: ExportSource, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``source`` as an ONNX model (input ``input``, output ``logits``, any batch size)
    to ``out``, atomically; an existing file only with ``overwrite``."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise ExportError("ONNX export needs the onnx extra: pip install 'bnnas[onnx]' "
                          "(onnx, onnxruntime, onnxscript)") from None
    out = Path(out)
    check_output_path(out, overwrite=overwrite)
    model = onnx_ready(source.model)
    example = torch.zeros(2, *source.input_shape)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    noise = io.StringIO()
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    try:
        quiet.setLevel(logging.ERROR)
        with contextlib.redirect_stdout(noise), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, (example,), str(tmp), dynamo=True, opset_version=OPSET,
                input_names=["input"], output_names=["logits"],
                dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False,
            )
        proto = onnx.load(str(tmp))
        onnx.checker.check_model(proto)
        meta = source.meta()
        for key in ("input_shape", "num_classes", "normalization", "classes", "architecture"):
            entry = proto.metadata_props.add()
            entry.key, entry.value = f"bnnas.{key}", _json(meta[key])
        onnx.save(proto, str(tmp))
        os.replace(tmp, out)
    except OSError as error:
        raise ExportError(f"cannot write {str(out)!r} ({error.strerror or error}); choose a "
                          "writable --out") from None
    finally:
        quiet.setLevel(level)
        if tmp.exists():
            tmp.unlink()
    return out


def _json(value: object) -> str:
    import json

    return json.dumps(value)

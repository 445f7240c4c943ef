"""Describe a trained PyTorch BNN as a tree of layer nodes plus the arrays they read.

The exporter walks the model's own modules, not an architecture re-derived from a genotype:
each supported module type has an exporter (registered in :data:`EXPORTERS`, by exact type, so
a subclass with another ``forward`` is never exported by mistake) that returns a JSON-ready
node (``{"type": ..., ...}``, children as nested nodes) and stores its tensors as arrays. The
reference engine (:mod:`bnnas.export.engine`) interprets the same node types, so the two
sides of a module type sit next to each other in name and stay in step; tests compare them
against PyTorch.

What is stored, and why it matches the memory figure of :func:`bnnas.metrics.profile`:

* binary weights as sign bits (1 bit each);
* a binary conv's per-channel scale (learnt, or the channel mean of ``|W|``, XNOR-Net,
  Rastegari et al. 2016), its RSign thresholds (ReActNet, Liu et al. 2020) and every RPReLU's
  three per-channel vectors as float32;
* a BatchNorm folded into a per-channel ``scale, bias`` pair (``gamma / sqrt(var + eps)`` and
  ``beta - mean * scale``): two values per channel, as many as its ``gamma, beta``.

An affine-free BN (after a pool in the DARTS space) has no parameters for the profile to count
but still needs its statistics, so its pair is stored as ``counted=False`` and reported
separately.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from bnnas.binary import BinaryConv2d, BinaryLinear, RPReLU, RSign
from bnnas.binary.quantizers import ApproxSign, Identity, Quantizer, SteSign, SwishSign
from bnnas.errors import ExportError
from bnnas.export.bits import pack_signs
from bnnas.export.fileformat import ArrayEntry, PackedFile
from bnnas.models.birealnet import BiRealBlock, BiRealNet
from bnnas.models.reactnet import ReActBlock, ReActNet
from bnnas.space.bars import BARSSuperNetwork
from bnnas.space.cell import Cell, Edge
from bnnas.space.network import Network, SuperNetwork
from bnnas.space.ops import BinaryConvOp, FactorizedConv, FactorizedReduce, PoolOp, Zero
from bnnas.space.slim import SlimBatchNorm2d, SlimRPReLU

Node = dict[str, Any]
Exporter = Callable[["Tracer", Any, str], Node]
EXPORTERS: dict[type[nn.Module], Exporter] = {}
SIGN_QUANTIZERS: tuple[type[Quantizer], ...] = (SteSign, ApproxSign, SwishSign)


def exports(*types: type[nn.Module]) -> Callable[[Exporter], Exporter]:
    """Register an exporter for modules of exactly these types."""

    def register(fn: Exporter) -> Exporter:
        for kind in types:
            EXPORTERS[kind] = fn
        return fn

    return register


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _pair(value: int | tuple[int, ...]) -> list[int]:
    return [int(value), int(value)] if isinstance(value, int) else [int(v) for v in value]


class Tracer:
    """Collects the arrays of one export while the exporters build the node tree."""

    def __init__(self, packed: PackedFile) -> None:
        self.packed = packed
        self._by_tensor: dict[int, str] = {}
        self._by_module: dict[int, Node] = {}

    def node(self, module: nn.Module | None, prefix: str) -> Node | None:
        """The node of ``module`` (None for None); a module met twice gives one node."""
        if module is None:
            return None
        if id(module) in self._by_module:
            return self._by_module[id(module)]
        exporter = EXPORTERS.get(type(module))
        if exporter is None:
            known = ", ".join(sorted({t.__name__ for t in EXPORTERS}))
            raise ExportError(
                f"cannot export {prefix or 'the model'}: module type {type(module).__name__} "
                f"is not supported by the packed format; supported: {known}"
            )
        node = {"type": "", "name": prefix}
        node.update(exporter(self, module, prefix))
        self._by_module[id(module)] = node
        return node

    def floats(self, name: str, tensor: Tensor, *, counted: bool = True) -> str:
        """Store ``tensor`` as float32 under ``name`` (a shared parameter is stored once)."""
        key = id(tensor)
        if isinstance(tensor, nn.Parameter) and key in self._by_tensor:
            return self._by_tensor[key]
        data = tensor.detach().to("cpu", torch.float32).numpy().copy()
        self.packed.add(ArrayEntry(name, "float32", tuple(data.shape), counted), data)
        if isinstance(tensor, nn.Parameter):
            self._by_tensor[key] = name
        return name

    def bits(self, name: str, tensor: Tensor) -> str:
        """Store the signs of ``tensor`` as bits under ``name``."""
        data = tensor.detach().to("cpu", torch.float32).numpy()
        self.packed.add(ArrayEntry(name, "bits", tuple(data.shape)), pack_signs(data))
        return name


def trace(model: nn.Module, packed: PackedFile) -> Node:
    """Export ``model`` (in eval semantics) into ``packed``; returns the root node."""
    with torch.no_grad():
        root = Tracer(packed).node(model, "")
    assert root is not None
    return root


# ----------------------------------------------------------------------------- plain layers
@exports(nn.Sequential)
def _sequential(t: Tracer, m: nn.Sequential, prefix: str) -> Node:
    return {"type": "sequential",
            "layers": [t.node(child, _join(prefix, name)) for name, child in m.named_children()]}


@exports(nn.Identity)
def _identity(t: Tracer, m: nn.Identity, prefix: str) -> Node:
    return {"type": "identity"}


@exports(nn.ReLU)
def _relu(t: Tracer, m: nn.ReLU, prefix: str) -> Node:
    return {"type": "relu"}


def _conv_geometry(m: nn.Conv2d) -> Node:
    if m.padding_mode != "zeros" or isinstance(m.padding, str):
        raise ExportError(f"conv {m} uses padding {m.padding!r} / mode {m.padding_mode!r}; the "
                          "packed format supports integer zero padding only")
    return {"kernel": _pair(m.kernel_size), "stride": _pair(m.stride),
            "padding": _pair(m.padding), "dilation": _pair(m.dilation), "groups": m.groups}


@exports(nn.Conv2d)
def _conv2d(t: Tracer, m: nn.Conv2d, prefix: str) -> Node:
    bias = None if m.bias is None else t.floats(_join(prefix, "bias"), m.bias)
    return {"type": "conv2d", **_conv_geometry(m),
            "weight": t.floats(_join(prefix, "weight"), m.weight), "bias": bias}


@exports(nn.BatchNorm2d, SlimBatchNorm2d)
def _batchnorm(t: Tracer, m: nn.BatchNorm2d, prefix: str) -> Node:
    """Eval-mode BN as ``x * scale + bias`` per channel."""
    if m.running_mean is None or m.running_var is None:
        raise ExportError(f"BatchNorm {prefix!r} keeps no running statistics, so its eval "
                          "output depends on the batch; train it with track_running_stats")
    scale = torch.rsqrt(m.running_var.float() + m.eps)
    if m.weight is not None:
        scale = m.weight.float() * scale
    bias = -m.running_mean.float() * scale
    if m.bias is not None:
        bias = m.bias.float() + bias
    counted = m.affine
    return {"type": "affine", "scale": t.floats(_join(prefix, "scale"), scale, counted=counted),
            "bias": t.floats(_join(prefix, "bias"), bias, counted=counted)}


@exports(nn.MaxPool2d, nn.AvgPool2d)
def _pool(t: Tracer, m: nn.MaxPool2d | nn.AvgPool2d, prefix: str) -> Node:
    if isinstance(m, nn.MaxPool2d):
        if _pair(m.dilation) != [1, 1] or m.return_indices:
            raise ExportError(f"max pool {prefix!r} with dilation or indices is not supported")
        kind, include_pad = "max", False
    else:
        if m.divisor_override is not None:
            raise ExportError(f"avg pool {prefix!r} with divisor_override is not supported")
        kind, include_pad = "avg", bool(m.count_include_pad)
    stride = m.stride if m.stride is not None else m.kernel_size
    return {"type": "pool", "kind": kind, "kernel": _pair(m.kernel_size),
            "stride": _pair(stride), "padding": _pair(m.padding),
            "ceil_mode": bool(m.ceil_mode), "count_include_pad": include_pad}


@exports(nn.AdaptiveAvgPool2d)
def _global_pool(t: Tracer, m: nn.AdaptiveAvgPool2d, prefix: str) -> Node:
    if _pair(m.output_size) != [1, 1]:
        raise ExportError(f"adaptive pool {prefix!r} must pool to 1x1, got {m.output_size}")
    return {"type": "global_avg_pool"}


@exports(nn.Linear)
def _linear(t: Tracer, m: nn.Linear, prefix: str) -> Node:
    bias = None if m.bias is None else t.floats(_join(prefix, "bias"), m.bias)
    return {"type": "linear", "weight": t.floats(_join(prefix, "weight"), m.weight),
            "bias": bias}


@exports(BinaryLinear)
def _binary_linear(t: Tracer, m: BinaryLinear, prefix: str) -> Node:
    raise ExportError(f"BinaryLinear {prefix!r} is not supported by the packed format yet; "
                      "use a real-valued classifier (nn.Linear), as every bnnas model does")


@exports(RPReLU, SlimRPReLU)
def _rprelu(t: Tracer, m: RPReLU, prefix: str) -> Node:
    return {"type": "rprelu",
            "shift_in": t.floats(_join(prefix, "shift_in"), m.shift_in),
            "slope": t.floats(_join(prefix, "slope"), m.slope),
            "shift_out": t.floats(_join(prefix, "shift_out"), m.shift_out)}


# ----------------------------------------------------------------------------- binary layers
def _input_spec(t: Tracer, q: Quantizer, prefix: str) -> Node:
    """How a binary layer reads its input: as it is (real) or as signs (after a threshold)."""
    if type(q) is Identity:
        return {"kind": "real"}
    if type(q) in SIGN_QUANTIZERS:
        return {"kind": "sign", "threshold": None}
    if type(q) is RSign and type(q.estimator) in SIGN_QUANTIZERS:
        return {"kind": "sign", "threshold": t.floats(_join(prefix, "threshold"), q.threshold)}
    raise ExportError(f"input quantizer {type(q).__name__} of {prefix!r} is not supported; "
                      "use identity, ste_sign, approx_sign, swish_sign or RSign")


@exports(BinaryConv2d)
def _binary_conv(t: Tracer, m: BinaryConv2d, prefix: str) -> Node:
    """Sign bits (or float32 for a real weight quantizer), scale, bias and the border value."""
    q = m.weight_quantizer
    if type(q) in SIGN_QUANTIZERS:
        weight = {"kind": "bits", "array": t.bits(_join(prefix, "weight"), m.quantized_weight())}
    elif type(q) is Identity:
        weight = {"kind": "real", "array": t.floats(_join(prefix, "weight"), m.weight)}
    else:
        raise ExportError(f"weight quantizer {type(q).__name__} of {prefix!r} is not supported; "
                          "use identity, ste_sign, approx_sign or swish_sign")
    scale = m.output_scale()
    if scale is not None:
        # The profile counts a learnt scale (a parameter) and a computed one of 1-bit weights.
        counted = m.scaling == "learnable" or m.weight_precision < 32
        scale = t.floats(_join(prefix, "scale"), scale, counted=counted)
    bias = None if m.bias is None else t.floats(_join(prefix, "bias"), m.bias)
    return {"type": "binary_conv2d", **_conv_geometry(m),
            "input": _input_spec(t, m.input_quantizer, _join(prefix, "input_quantizer")),
            "weight": weight, "scale": scale, "bias": bias,
            "pad_value": float(m.effective_pad_value)}


@exports(FactorizedConv)
def _factorized_conv(t: Tracer, m: FactorizedConv, prefix: str) -> Node:
    return {"type": "factorized_conv", "conv_a": t.node(m.conv_a, _join(prefix, "conv_a")),
            "conv_b": t.node(m.conv_b, _join(prefix, "conv_b")),
            "pad_value": float(m.conv_b.effective_pad_value)}


@exports(BinaryConvOp, FactorizedReduce)
def _binary_conv_op(t: Tracer, m: BinaryConvOp, prefix: str) -> Node:
    return {"type": "binary_conv_op",
            **{name: t.node(getattr(m, name), _join(prefix, name))
               for name in ("pre_bn", "conv", "post_bn", "shortcut", "act")}}


@exports(PoolOp)
def _pool_op(t: Tracer, m: PoolOp, prefix: str) -> Node:
    return {"type": "sequential", "layers": [t.node(m.pool, _join(prefix, "pool")),
                                              t.node(m.bn, _join(prefix, "bn"))]}


@exports(Zero)
def _zero(t: Tracer, m: Zero, prefix: str) -> Node:
    return {"type": "zero", "stride": m.stride}


# ----------------------------------------------------------------------------- searched nets
@exports(Edge)
def _edge(t: Tracer, m: Edge, prefix: str) -> Node:
    if len(m.ops) != 1:
        raise ExportError(f"edge {prefix!r} holds {len(m.ops)} candidate ops (a supernet); "
                          "derive a genotype and train it before exporting")
    node = t.node(m.ops[0], _join(prefix, "ops.0"))
    assert node is not None
    return dict(node)


@exports(Cell)
def _cell(t: Tracer, m: Cell, prefix: str) -> Node:
    """A fixed cell: its preprocessing, edge ops and wiring as :class:`Cell` holds them."""
    if m.op_names is not None:
        raise ExportError(f"cell {prefix!r} is a supernet cell; derive a genotype and train it "
                          "before exporting")
    return {
        "type": "cell",
        "preprocess0": t.node(m.preprocess0, _join(prefix, "preprocess0")),
        "preprocess1": t.node(m.preprocess1, _join(prefix, "preprocess1")),
        "edges": [t.node(edge, _join(prefix, f"edges.{i}")) for i, edge in enumerate(m.edges)],
        "routes": [[[int(e), int(s)] for e, s in route] for route in m.routes],
        "concat": [int(i) for i in m.concat],
        # Cell._node / Cell.combine: a dense (1-input) cell averages, a DARTS cell sums.
        "mean": m.inputs == 1,
        "output": m.output,
        "output_conv": t.node(m.output_conv, _join(prefix, "output_conv")),
    }


@exports(Network)
def _network(t: Tracer, m: Network, prefix: str) -> Node:
    return {"type": "cell_network", "stem": t.node(m.stem, _join(prefix, "stem")),
            "cells": [t.node(c, _join(prefix, f"cells.{i}")) for i, c in enumerate(m.cells)],
            "pool": t.node(m.pool, _join(prefix, "pool")),
            "classifier": t.node(m.classifier, _join(prefix, "classifier"))}


@exports(SuperNetwork, BARSSuperNetwork)
def _supernet(t: Tracer, m: nn.Module, prefix: str) -> Node:
    raise ExportError("a supernet cannot be exported; derive its genotype, train it "
                      "(bnnas train --genotype ...) and export that run")


# ----------------------------------------------------------------------------- zoo models
@exports(BiRealNet, ReActNet)
def _stem_blocks_classifier(t: Tracer, m: BiRealNet | ReActNet, prefix: str) -> Node:
    return {"type": "stem_blocks_classifier", "stem": t.node(m.stem, _join(prefix, "stem")),
            "blocks": t.node(m.blocks, _join(prefix, "blocks")),
            "pool": t.node(m.pool, _join(prefix, "pool")),
            "fc": t.node(m.fc, _join(prefix, "fc"))}


@exports(BiRealBlock)
def _bireal_block(t: Tracer, m: BiRealBlock, prefix: str) -> Node:
    return {"type": "bireal_block",
            **{name: t.node(getattr(m, name), _join(prefix, name))
               for name in ("relu", "conv", "bn", "shortcut")}}


@exports(ReActBlock)
def _react_block(t: Tracer, m: ReActBlock, prefix: str) -> Node:
    return {
        "type": "react_block",
        **{name: t.node(getattr(m, name), _join(prefix, name))
           for name in ("conv3x3", "bn1", "pool", "act1", "act2")},
        "pointwise": [t.node(c, _join(prefix, f"pointwise.{i}"))
                      for i, c in enumerate(m.pointwise)],
        "bn2": [t.node(bn, _join(prefix, f"bn2.{i}")) for i, bn in enumerate(m.bn2)],
    }


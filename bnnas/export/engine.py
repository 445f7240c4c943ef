"""The reference inference engine: numpy only, bit-exact binary convolutions.

:class:`Engine` interprets the node tree that :mod:`bnnas.export.graph` wrote, one kernel per
node type (registered in :data:`KERNELS`), on the arrays of a packed file. Binary convolutions
binarize their input (``x >= 0``, after an RSign threshold), pad the bits with the training
pad value (-1 by default) and compute the ±1 products by XOR and popcount (XNOR-Net,
Rastegari et al., ECCV 2016); everything real-valued runs in float32 in the order PyTorch runs
it, so logits match the PyTorch model in eval mode to float rounding.

It is a reference, not a fast engine: clarity and exactness over speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bnnas.errors import ExportError
from bnnas.export import kernels as K
from bnnas.export.bits import bits_to_pm1, pack_rows, unpack_bits
from bnnas.export.fileformat import PackedFile, read_packed

Node = dict[str, Any]
Pair = tuple[int, int]
Kernel = Callable[..., np.ndarray]
KERNELS: dict[str, Kernel] = {}
# Node types that only run other nodes: left out of the per-type timings.
_CONTAINERS = frozenset({"sequential", "cell", "cell_network", "stem_blocks_classifier",
                         "bireal_block", "react_block", "binary_conv_op", "factorized_conv"})


def kernel(name: str) -> Callable[[Kernel], Kernel]:
    """Register the engine kernel of node type ``name``: ``fn(engine, node, *inputs)``."""

    def register(fn: Kernel) -> Kernel:
        KERNELS[name] = fn
        return fn

    return register


class Engine:
    """Runs a packed model: ``engine(x)`` maps float32 ``(N, C, H, W)`` inputs to logits."""

    def __init__(self, packed: PackedFile) -> None:
        self.packed = packed
        self.meta = packed.meta
        try:
            self.graph: Node = self.meta["graph"]
            self.input_shape = tuple(int(d) for d in self.meta["input_shape"])
            self.num_classes = int(self.meta["num_classes"])
        except (KeyError, TypeError, ValueError) as error:
            raise ExportError(f"the model file's metadata lacks {error}; export it again") from None
        self._dense: dict[str, np.ndarray] = {}
        self._words: dict[tuple[str, int], list[np.ndarray]] = {}
        # Seconds spent per node type while not None (a benchmark's per-layer breakdown).
        self.timings: dict[str, float] | None = None

    @classmethod
    def load(cls, path: str | Path) -> Engine:
        """The engine of the ``.bnn`` file at ``path`` (verified: magic, version, checksum)."""
        return cls(read_packed(path))

    # ------------------------------------------------------------------ running
    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Logits of a batch; the input must have the model's ``C x H x W``."""
        x = np.asarray(x)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            want = "x".join(str(d) for d in self.input_shape)
            raise ExportError(f"input of shape {tuple(x.shape)} does not fit the model, which "
                              f"takes batches of {want} images (N x {want}); resize or reshape "
                              "the input")
        try:
            return self.run_graph(np.ascontiguousarray(x, dtype=np.float32))
        except (KeyError, TypeError, IndexError, AttributeError, RecursionError) as error:
            raise ExportError(f"the model file's graph is malformed ({type(error).__name__}: "
                              f"{error}); export the model again") from None

    def run_graph(self, x: np.ndarray) -> np.ndarray:
        """Logits of a checked float32 batch: the whole graph. No step calls BLAS (sums run
        in fixed orders, see :func:`~bnnas.export.kernels.conv2d` and
        :func:`~bnnas.export.kernels.linear`), so the logits do not depend on the BLAS
        library or the machine's thread settings."""
        return self.run(self.graph, x)

    def predict(self, x: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """``(logits, predicted classes)`` of ``x``, run ``batch_size`` samples at a time."""
        x = np.asarray(x)
        logits = [self(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        out = (np.concatenate(logits) if logits
               else np.zeros((0, self.num_classes), np.float32))
        return out, out.argmax(axis=1)

    def run(self, node: Node | None, *inputs: np.ndarray) -> np.ndarray:
        """Apply ``node`` to ``inputs`` (a missing node is the identity)."""
        if node is None:
            return inputs[0]
        fn = KERNELS.get(node.get("type", ""))
        if fn is None:
            raise ExportError(f"node {node.get('name')!r} has unknown type {node.get('type')!r}; "
                              "the file was written by a newer bnnas, use that version")
        if self.timings is None or node["type"] in _CONTAINERS:
            return fn(self, node, *inputs)
        tic = time.perf_counter()
        out = fn(self, node, *inputs)
        self.timings[node["type"]] = self.timings.get(node["type"], 0.0) + (
            time.perf_counter() - tic)
        return out

    # ------------------------------------------------------------------ arrays
    def array(self, name: str | None) -> np.ndarray | None:
        """A float32 array by name (None for None)."""
        if name is None:
            return None
        entry = self.packed.entry(name)
        if entry.dtype != "float32":
            raise ExportError(f"array {name!r} holds bits where float32 was expected; "
                              "export the model again")
        return self.packed.arrays[name]

    def dense_weight(self, spec: Node) -> np.ndarray:
        """A conv weight as float32: the stored values, or ±1 from stored bits."""
        name = spec["array"]
        if spec["kind"] == "real":
            return self.array(name)  # type: ignore[return-value]
        if name not in self._dense:
            self._dense[name] = bits_to_pm1(self.bits(name))
        return self._dense[name]

    def bits(self, name: str) -> np.ndarray:
        entry = self.packed.entry(name)
        if entry.dtype != "bits":
            raise ExportError(f"array {name!r} holds floats where bits were expected; export "
                              "the model again")
        return unpack_bits(self.packed.arrays[name], entry.shape)

    # ------------------------------------------------------------------ replaceable kernels
    # The node types where an inference engine spends its time; a faster engine
    # (:class:`~bnnas.export.fast.FastEngine`) overrides these methods and keeps the rest.
    def binary_conv(self, node: Node, x: np.ndarray) -> np.ndarray:
        """A ``binary_conv2d`` node: sign (after the RSign threshold), pad, ±1 conv, then
        scale and bias.

        With 1-bit weights and a ±1 border the product is the XNOR/popcount integer;
        otherwise (a real input or weight, or a 0 border) the same product runs as a float
        convolution.
        """
        kernel_, stride, padding, dilation = _pairs(node)
        pad, groups = node["pad_value"], node["groups"]
        spec, weight = node["input"], node["weight"]
        if spec["kind"] == "sign":
            threshold = self.array(spec["threshold"])
            if threshold is not None:
                x = x - threshold.reshape(1, -1, 1, 1)
            bits = x >= 0
            if weight["kind"] == "bits" and pad in (-1.0, 1.0):
                y = K.binary_conv2d(bits, self.weight_words(weight["array"], groups), kernel_,
                                    stride, padding, dilation, pad > 0).astype(np.float32)
            else:
                y = self.real_conv(bits_to_pm1(bits), self.dense_weight(weight), stride,
                                   padding, dilation, groups, pad)
        else:
            y = self.real_conv(x, self.dense_weight(weight), stride, padding, dilation, groups,
                               pad)
        return self.affine(y, self.array(node["scale"]), self.array(node["bias"]))

    def conv_affine_add(self, conv: Node, affine: Node | None, x: np.ndarray,
                        residual: np.ndarray | None) -> np.ndarray:
        """``conv(x)``, then the ``affine`` (a BN) if any, then ``+ residual`` if any: the tail
        of every binary block, which a faster engine runs as one pass over the output."""
        h = self.run(affine, self.run(conv, x))
        return h if residual is None else self.add(h, residual)

    def real_conv(self, x: np.ndarray, weight: np.ndarray, stride: Pair, padding: Pair,
                  dilation: Pair, groups: int, pad_value: float = 0.0) -> np.ndarray:
        """A real-valued convolution (:func:`bnnas.export.kernels.conv2d`): a stem, a 1x1
        shortcut, a binary conv whose input or weight is real."""
        return K.conv2d(x, weight, stride, padding, dilation, groups, pad_value,
                        empty=self.empty)

    def linear(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        """A classifier: ``x`` ``(N, K)`` times ``weight.T`` plus ``bias``
        (:func:`bnnas.export.kernels.linear`)."""
        return K.linear(x, weight, bias)

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a + b`` (a cell node's sum of its edges)."""
        return a + b

    def divide(self, x: np.ndarray, count: int) -> np.ndarray:
        """``x / count`` in float32 (a dense cell's mean of its inputs)."""
        return x / np.float32(count)

    def concat_channels(self, arrays: list[np.ndarray]) -> np.ndarray:
        """The NCHW ``arrays`` side by side along the channels (a cell's output)."""
        return np.concatenate(arrays, axis=1)

    def pad_hw(self, x: np.ndarray, top: int, bottom: int, left: int, right: int,
               value: object) -> np.ndarray:
        """``x`` with a border of ``value`` (:func:`bnnas.export.kernels.pad_hw`): the far
        border a factorized reduction's shifted conv reads."""
        return K.pad_hw(x, top, bottom, left, right, value)

    def empty(self, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        """A new array for a node's output: ``np.empty`` here; an engine may hand out memory
        it reuses between calls."""
        return np.empty(shape, dtype)

    def pool(self, x: np.ndarray, kind: str, kernel: Pair, stride: Pair, padding: Pair,
             ceil_mode: bool, count_include_pad: bool) -> np.ndarray:
        """A max or average pool (:func:`bnnas.export.kernels.pool2d`)."""
        return K.pool2d(x, kind, kernel, stride, padding, ceil_mode, count_include_pad)

    def global_avg_pool(self, x: np.ndarray) -> np.ndarray:
        """The mean of each channel's plane (:func:`bnnas.export.kernels.global_avg_pool`)."""
        return K.global_avg_pool(x)

    def affine(self, x: np.ndarray, scale: np.ndarray | None,
               bias: np.ndarray | None) -> np.ndarray:
        """``x * scale[c] + bias[c]`` (:func:`bnnas.export.kernels.channel_affine`)."""
        return K.channel_affine(x, scale, bias)

    def weight_words(self, name: str, groups: int) -> list[np.ndarray]:
        """A binary conv weight as packed rows per group (:func:`~bnnas.export.bits.pack_rows`),
        built once per weight."""
        key = (name, groups)
        if key not in self._words:
            bits = self.bits(name)
            rows = bits.reshape(bits.shape[0], -1)
            per_group = rows.shape[0] // groups
            self._words[key] = [pack_rows(rows[g * per_group : (g + 1) * per_group])
                                for g in range(groups)]
        return self._words[key]


def _sum(e: Engine, terms: list[np.ndarray]) -> np.ndarray:
    """Left-to-right sum, the order PyTorch's cells add in."""
    total = terms[0]
    for term in terms[1:]:
        total = e.add(total, term)
    return total


def _pairs(node: Node) -> tuple[tuple[int, int], ...]:
    return tuple(tuple(node[key]) for key in ("kernel", "stride", "padding", "dilation"))


# ----------------------------------------------------------------------------- plain layers
@kernel("sequential")
def _sequential(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    for layer in node["layers"]:
        x = e.run(layer, x)
    return x


@kernel("identity")
def _identity(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    return x


@kernel("relu")
def _relu(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0))


@kernel("conv2d")
def _conv2d(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    kernel_, stride, padding, dilation = _pairs(node)
    y = e.real_conv(x, e.array(node["weight"]), stride, padding, dilation, node["groups"])
    return K.channel_affine(y, None, e.array(node["bias"]))


@kernel("affine")
def _affine(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    return e.affine(x, e.array(node["scale"]), e.array(node["bias"]))


@kernel("pool")
def _pool(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    return e.pool(x, node["kind"], tuple(node["kernel"]), tuple(node["stride"]),
                  tuple(node["padding"]), node["ceil_mode"], node["count_include_pad"])


@kernel("global_avg_pool")
def _global_avg_pool(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    return e.global_avg_pool(x)


@kernel("linear")
def _linear(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    return e.linear(x.reshape(x.shape[0], -1), e.array(node["weight"]), e.array(node["bias"]))


@kernel("rprelu")
def _rprelu(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    return K.rprelu(x, e.array(node["shift_in"]), e.array(node["slope"]),
                    e.array(node["shift_out"]))


@kernel("zero")
def _zero(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    s = node["stride"]
    return np.zeros((n, c, -(-h // s), -(-w // s)), dtype=np.float32)


# ----------------------------------------------------------------------------- binary layers
@kernel("binary_conv2d")
def _binary_conv2d(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    return e.binary_conv(node, x)


@kernel("factorized_conv")
def _factorized_conv(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    """Two stride-2 1x1 convs, on ``x`` and on ``x`` shifted one pixel (far border padded
    with the conv's pad value before the sign, as :class:`~bnnas.space.ops.FactorizedConv`)."""
    a = e.run(node["conv_a"], x)
    shifted = x[:, :, 1:, 1:]
    conv = node["conv_b"]
    # A 1x1 stride-2 conv reads the padded far row (column) only when the height (width) is
    # odd: for even sizes the copy that padding takes is left out, with the same outputs
    odd_h, odd_w = x.shape[2] % 2, x.shape[3] % 2
    if (odd_h or odd_w or conv.get("type") != "binary_conv2d" or list(conv["kernel"]) != [1, 1]
            or list(conv["stride"]) != [2, 2] or list(conv["padding"]) != [0, 0]):
        shifted = e.pad_hw(shifted, 0, 1, 0, 1, np.float32(node["pad_value"]))
    b = e.run(conv, shifted)
    return e.concat_channels([a, b])


@kernel("binary_conv_op")
def _binary_conv_op(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    """:class:`~bnnas.space.ops.BinaryConvOp`: [BN] conv [BN] [+ shortcut] [RPReLU]."""
    shortcut = None if node["shortcut"] is None else e.run(node["shortcut"], x)
    h = e.conv_affine_add(node["conv"], node["post_bn"], e.run(node["pre_bn"], x), shortcut)
    return e.run(node["act"], h)


# ----------------------------------------------------------------------------- searched nets
@kernel("cell")
def _cell(e: Engine, node: Node, s0: np.ndarray, s1: np.ndarray) -> np.ndarray:
    """A fixed cell, wired as :class:`~bnnas.space.cell.Cell` (``mean``: a dense cell)."""
    states = [e.run(node["preprocess1"], s1)]
    if node["preprocess0"] is not None:
        states.insert(0, e.run(node["preprocess0"], s0))
    for route in node["routes"]:
        terms = [e.run(node["edges"][edge], states[source]) for edge, source in route]
        total = _sum(e, terms)
        states.append(e.divide(total, len(terms)) if node["mean"] else total)
    nodes = [states[i] for i in node["concat"]]
    if node["output"] == "add":
        total = _sum(e, nodes)
        return e.divide(total, len(nodes)) if node["mean"] else total
    return e.run(node["output_conv"], e.concat_channels(nodes))


@kernel("cell_network")
def _cell_network(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    s0 = s1 = e.run(node["stem"], x)
    for cell in node["cells"]:
        s0, s1 = s1, e.run(cell, s0, s1)
    return e.run(node["classifier"], e.run(node["pool"], s1))


# ----------------------------------------------------------------------------- zoo models
@kernel("stem_blocks_classifier")
def _stem_blocks_classifier(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    h = e.run(node["blocks"], e.run(node["stem"], x))
    return e.run(node["fc"], e.run(node["pool"], h))


@kernel("bireal_block")
def _bireal_block(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    shortcut = e.run(node["shortcut"], x)
    return e.conv_affine_add(node["conv"], node["bn"], e.run(node["relu"], x), shortcut)


@kernel("react_block")
def _react_block(e: Engine, node: Node, x: np.ndarray) -> np.ndarray:
    shortcut = e.run(node["pool"], x)
    out = e.run(node["act1"], e.conv_affine_add(node["conv3x3"], node["bn1"], x, shortcut))
    halves = [e.conv_affine_add(conv, bn, out, out)
              for conv, bn in zip(node["pointwise"], node["bn2"], strict=True)]
    return e.run(node["act2"], np.concatenate(halves, axis=1) if len(halves) > 1 else halves[0])

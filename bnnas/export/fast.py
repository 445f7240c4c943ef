"""The fast engine: the reference engine with its heavy nodes compiled by numba.

Binary convolutions (sign, pack, popcount GEMM, scale and bias in one pass each), real
convolutions (:mod:`bnnas.export.fast_real_conv`), pools, channel affines, cell sums and
means, concatenations, borders and the classifier run as the parallel kernels of
:mod:`bnnas.export.fast_kernels`; anything else is the reference engine's. The kernels
compute the same integers and the same float32 operations in the same order, so the logits
are identical to the reference engine's. A call of the last call's input shape replays that
call's recorded kernel launches instead of walking the graph (:mod:`bnnas.export.tape`). Needs
the ``fast`` extra (``pip install 'bnnas[fast]'``: numba); the kernels use as many threads as
``numba.set_num_threads`` (default: the CPU count, or ``NUMBA_NUM_THREADS``).
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from bnnas.errors import ExportError
from bnnas.export import kernels as K
from bnnas.export.engine import Engine, Node, Pair
from bnnas.export.fileformat import PackedFile
from bnnas.export.tape import Tape, base_array


def _compiled(module: str) -> ModuleType:
    """One of the modules of numba kernels, or the error that says how to get numba."""
    try:
        return importlib.import_module(f"bnnas.export.{module}")
    except ImportError:
        raise ExportError("the fast engine needs numba: pip install 'bnnas[fast]', or use the "
                          "reference engine") from None


@dataclass(frozen=True)
class _ConvPlan:
    """A packed conv's weights, epilogue coefficients and border words (see
    :meth:`FastEngine._plan`)."""

    geometry: tuple[Pair, Pair, Pair, Pair]  # kernel, stride, padding, dilation
    rows: list[np.ndarray]  # packed weights per group
    out_channels: int
    threshold_name: str | None
    threshold: np.ndarray
    pad_words: np.ndarray
    affines: list[np.ndarray]  # per group: conv scale, conv bias, BN scale, BN bias
    offsets: list[int]  # first output channel of each group
    flags: np.ndarray  # which of the four affine steps apply (and no residual)
    flags_residual: np.ndarray  # the same with the residual add


# Below this many output pixels (batch x height x width) a kernel runs on one thread: waking
# the other threads would cost more than they save (a 7x7 plane at batch 1); from 100 on, the
# 14x14 layers of a batch-1 forward use both cores (docs/RESULTS.md, bench/engine_profile.py).
PARALLEL_PIXELS = 100
# A product of at least this much work runs on every thread however small its plane: word
# pairs of a popcount GEMM (output pixels x channels x words), or a real conv's
# multiply-adds over 8; about 40 us on one core. birealnet18's 7x7 layers at batch 1 (512
# channels of 72 words: 1.8 M) and its 1x1 shortcuts (6.4 M multiply-adds) have more; the
# kernels then split their channels over the threads.
PARALLEL_WORK = 1 << 19


# Bytes of node outputs a fast engine keeps from one call for the next (see FastEngine.empty)
REUSE_BYTES = 512 << 20


class FastEngine(Engine):
    """:class:`~bnnas.export.engine.Engine` with compiled packed convolutions, pools and
    affines, on ``threads`` threads (default: numba's setting, the CPU count unless
    ``NUMBA_NUM_THREADS`` says otherwise). Between calls it keeps up to ``reuse_bytes`` of
    node outputs to write the next call's into (0: allocate every time)."""

    def __init__(self, packed: PackedFile, threads: int | None = None,
                 reuse_bytes: int = REUSE_BYTES) -> None:
        super().__init__(packed)
        self._kernels = _compiled("fast_kernels")
        self._real_kernels = _compiled("fast_real_conv")
        import numba

        self._set_threads = numba.set_num_threads
        self.threads = max(1, min(int(threads or numba.get_num_threads()),
                                  numba.config.NUMBA_NUM_THREADS))
        self._current_threads = 0
        self._packed_weights: dict[tuple[str, int], list[np.ndarray]] = {}
        self._signs: dict[tuple[int, str | None, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._plans: dict[tuple[int, int], _ConvPlan] = {}
        # Arrays made from the model alone, by the id of their base: what a tape may read
        # without a recorded kernel having written it (see bnnas.export.tape).
        self._constants: dict[int, np.ndarray] = {}
        self._derived: dict[tuple[Any, ...], tuple[tuple[np.ndarray, ...], np.ndarray]] = {}
        self._tape: Tape | None = None  # the last call's launches, replayed for its shape
        self._tape_key: tuple[tuple[int, ...], int] | None = None  # its input shape, threads
        self._recording: Tape | None = None
        self._last_refusal: str | None = None  # why the last recorded call is not replayed
        for array in packed.arrays.values():
            self._constant(array)
        self._no_residual = self._constant(np.zeros((1, 1, 1), np.float32))  # nothing to add
        self._scratch = np.empty(0, np.uint64)  # see _columns
        self.reuse_bytes = reuse_bytes  # see empty
        self._kept: list[np.ndarray | None] = []
        self._handed_out = 0
        self._held = 0  # bytes in _kept
        self._busy = threading.Lock()  # one call at a time: the scratch and sign caches

    def packed_weights(self, name: str, groups: int) -> list[np.ndarray]:
        """A binary weight as transposed packed rows per group, built once."""
        key = (name, groups)
        if key not in self._packed_weights:
            bits = np.ascontiguousarray(self.bits(name))
            per_group = bits.shape[0] // groups
            self._packed_weights[key] = [
                self._constant(self._kernels.pack_weights(
                    bits[g * per_group : (g + 1) * per_group]))
                for g in range(groups)
            ]
        return self._packed_weights[key]

    def binary_conv(self, node: Node, x: np.ndarray) -> np.ndarray:
        if not _packable(node):
            return super().binary_conv(node, x)
        return self._packed_conv(node, x, None, None)

    def conv_affine_add(self, conv: Node, affine: Node | None, x: np.ndarray,
                        residual: np.ndarray | None) -> np.ndarray:
        fusable = (conv is not None and conv.get("type") == "binary_conv2d" and _packable(conv)
                   and (affine is None or affine.get("type") == "affine")
                   and (residual is None or residual.dtype == np.float32))
        if not fusable:
            return super().conv_affine_add(conv, affine, x, residual)
        tic = time.perf_counter()
        out = self._packed_conv(conv, x, affine, residual)
        self._time("binary_conv2d+affine+add", tic)
        return out

    def _packed_conv(self, node: Node, x: np.ndarray, affine: Node | None,
                     residual: np.ndarray | None) -> np.ndarray:
        """A binary conv on packed bits, with ``affine`` and ``+ residual`` fused in."""
        plan = self._plan(node, affine)
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = plan.geometry
        oh, ow = K.out_size(h, kh, sh, ph, dh), K.out_size(w, kw, sw, pw, dw)
        if residual is not None and residual.shape != (n, plan.out_channels, oh, ow):
            return self.add(self._packed_conv(node, x, affine, None), residual)  # unfused
        if residual is None:
            flags, residual = plan.flags, self._no_residual
        else:
            flags = plan.flags_residual
            residual = self._contiguous(residual).reshape(n, plan.out_channels, oh * ow)
        out = self.empty((n, plan.out_channels, oh, ow), np.float32)
        flat = out.reshape(n, plan.out_channels, oh * ow)
        self._threads_for(n * oh * ow)
        cg = c // len(plan.rows)
        for g, weights_t in enumerate(plan.rows):
            part = slice(g * cg, (g + 1) * cg)
            px = self.signs(x, plan.threshold_name, plan.threshold, part)
            cols = self._columns(weights_t.shape[0], n * oh * ow)
            self._launch(self._kernels.im2col_bits_into, px, plan.pad_words, cg, kh, kw, sh,
                         sw, ph, pw, dh, dw, oh, ow, cols)
            self._threads_for(n * oh * ow, cols.size * weights_t.shape[1])
            self._launch(self._kernels.conv_gemm, cols, weights_t, cg * kh * kw,
                         plan.affines[g], flags, residual, flat, plan.offsets[g],
                         self._current_threads)
        return out

    def _columns(self, words: int, positions: int) -> np.ndarray:
        """The packed im2col buffer ``(words, positions)``: one scratch array, grown to the
        largest convolution and reused by every convolution of every call (each is consumed
        by its GEMM before the next is gathered). A new array per convolution would be
        page-faulted in each time; the kernels clear what they use."""
        need = words * positions
        if self._scratch.size < need:
            self._scratch = np.empty(need, np.uint64)
        return self._scratch[:need].reshape(words, positions)

    def _plan(self, node: Node, affine: Node | None) -> _ConvPlan:
        """What a packed conv (with the ``affine`` fused after it) needs besides its input,
        worked out at its first call: at batch 1 the set-up would otherwise cost as much as
        the kernels."""
        key = (id(node), id(affine))
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        groups = node["groups"]
        rows = self.packed_weights(node["weight"]["array"], groups)
        out_channels = sum(r.shape[1] for r in rows)
        spec = node["input"]
        in_channels = self.packed.entry(node["weight"]["array"]).shape[1] * groups
        threshold = self.array(spec["threshold"])
        threshold = (np.zeros(in_channels, np.float32) if threshold is None
                     else threshold.reshape(-1))
        parts = [self.array(node["scale"]), self.array(node["bias"])]
        parts += ([None, None] if affine is None
                  else [self.array(affine["scale"]), self.array(affine["bias"])])
        flags = np.array([p is not None for p in parts] + [False], np.bool_)
        affines = np.zeros((4, out_channels), np.float32)
        for i, p in enumerate(parts):
            if p is not None:
                affines[i] = p.reshape(-1)
        offsets = np.cumsum([0] + [r.shape[1] for r in rows])
        flags_residual = flags.copy()
        flags_residual[4] = True
        plan = _ConvPlan(
            geometry=tuple(tuple(node[key]) for key in ("kernel", "stride", "padding",
                                                        "dilation")),
            rows=rows, out_channels=out_channels, threshold_name=spec["threshold"],
            threshold=threshold,
            pad_words=self._kernels.pad_words(in_channels // groups, node["pad_value"] > 0),
            affines=[np.ascontiguousarray(affines[:, offsets[g] : offsets[g + 1]])
                     for g in range(groups)],
            offsets=[int(o) for o in offsets[:-1]], flags=flags, flags_residual=flags_residual)
        for array in (*plan.rows, plan.threshold, plan.pad_words, *plan.affines, plan.flags,
                      plan.flags_residual):
            self._constant(array)
        self._plans[key] = plan
        return plan

    def _threads_for(self, pixels: int, work: int = 0) -> None:
        """Threads for a kernel producing ``pixels`` output pixels (per channel), or for a
        product of ``work`` (see ``PARALLEL_WORK``)."""
        threads = self.threads if pixels >= PARALLEL_PIXELS or work >= PARALLEL_WORK else 1
        if threads != self._current_threads:
            self._set_threads(threads)
            self._current_threads = threads

    def signs(self, x: np.ndarray, threshold_name: str | None, threshold: np.ndarray,
              part: slice) -> np.ndarray:
        """The packed signs of ``x[:, part] - threshold[part]``, computed once per input of a
        forward pass: the edges of a cell read the same states."""
        key = (id(x), threshold_name, part.start, part.stop)
        hit = self._signs.get(key)
        if hit is not None and hit[0] is x:
            return hit[1]
        values = self._contiguous(x[:, part])
        n, c, h, w = values.shape
        px = self.empty((n, (c + 63) // 64, h, w), np.uint64)
        self._launch(self._kernels.sign_pack_into, values,
                     np.ascontiguousarray(threshold[part]), px)
        self._signs[key] = (x, px)  # holding x keeps its id from being reused in this pass
        return px

    def run_graph(self, x: np.ndarray) -> np.ndarray:
        """The graph; a call of the same shape as the last one replays its recorded kernel
        launches instead of walking the graph again (:mod:`bnnas.export.tape`: the same
        kernels on the same arrays, so the same logits). While ``timings`` are on, every call
        walks the graph (the timings are per node)."""
        import numba

        with self._busy:
            before = self._current_threads = numba.get_num_threads()
            tape, key = self._tape, (x.shape, self.threads)
            if tape is not None and self._tape_key == key and self.timings is None:
                return tape.replay(x, self._set_threads, before)
            self._tape = None  # its arrays are handed out again below
            self._signs.clear()
            self._handed_out = 0
            try:
                if self.timings is None:
                    tape = self._recording = Tape(self.empty(x.shape, np.float32),
                                                  self._is_constant)
                    np.copyto(tape.input, x)
                    scratch = self._scratch
                    logits = super().run_graph(tape.input)
                    if scratch is not self._scratch:  # the first call sizes the im2col buffer
                        tape.broken = "the im2col buffer grew"
                    if tape.finish(logits):
                        self._tape, self._tape_key = tape, key
                    self._last_refusal = tape.broken
                else:
                    logits = super().run_graph(x)
            finally:
                self._recording = None
                self._signs.clear()
                self._set_threads(before)
            # the next call writes into the kept arrays, and logits may be one of them
            return logits.copy() if self._held else logits

    @property
    def replaying(self) -> str:
        """Whether the next call of the last call's shape replays its kernel launches:
        ``"yes"``, or why not (see :mod:`bnnas.export.tape`)."""
        if self._tape is not None:
            return "yes"
        return "no call recorded yet" if self._last_refusal is None else self._last_refusal

    def linear(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        """The compiled classifier (:func:`bnnas.export.fast_kernels.linear_into`): the
        reference's sums, one image per thread task."""
        if x.dtype != np.float32 or weight.dtype != np.float32:
            return super().linear(x, weight, bias)
        x = self._contiguous(x)
        out = self.empty((x.shape[0], weight.shape[0]), np.float32)
        self._threads_for(x.shape[0], x.size * weight.shape[0])
        columns = self._derived_constant(
            "columns", lambda: np.ascontiguousarray(weight.T, np.float32), weight)
        self._launch(self._kernels.linear_into, x, columns,
                     self._per_channel(bias, weight.shape[0]), bias is not None, out)
        return out

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a + b`` compiled, on the engine's threads, into a kept array (a cell node's
        sum)."""
        if a.shape != b.shape or a.ndim != 4 or a.dtype != np.float32 or b.dtype != np.float32:
            return super().add(a, b)
        out = self.empty(a.shape, np.float32)
        self._threads_for(a.shape[0] * a.shape[2] * a.shape[3])
        self._launch(self._kernels.add_into, self._contiguous(a), self._contiguous(b), out)
        return out

    def divide(self, x: np.ndarray, count: int) -> np.ndarray:
        """``x / count`` compiled, into a kept array (a dense cell's mean)."""
        if x.ndim != 4 or x.dtype != np.float32:
            return super().divide(x, count)
        out = self.empty(x.shape, np.float32)
        self._threads_for(x.shape[0] * x.shape[2] * x.shape[3])
        self._launch(self._kernels.divide_into, self._contiguous(x), np.float32(count), out)
        return out

    def concat_channels(self, arrays: list[np.ndarray]) -> np.ndarray:
        """The concatenation along the channels, compiled, into a kept array."""
        first = arrays[0]
        if any(a.ndim != 4 or a.dtype != np.float32 or a.shape[0] != first.shape[0]
               or a.shape[2:] != first.shape[2:] for a in arrays):
            return super().concat_channels(arrays)
        n, _, h, w = first.shape
        out = self.empty((n, sum(a.shape[1] for a in arrays), h, w), np.float32)
        self._threads_for(n * h * w)
        channel = 0
        for a in arrays:
            self._launch(self._kernels.copy_channels, self._contiguous(a), out,
                         channel)
            channel += a.shape[1]
        return out

    def empty(self, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        """An array for a node's output, reused between calls: the ``i``-th array a call
        asks for is the ``i``-th of the call before when shape and type match (the same
        network at the same batch size asks in the same order), and distinct arrays within a
        call. A new array is page-faulted into memory on first touch, page by page, and the
        C library returns freed ones to the system; reusing them saved a third of
        `bresnet_small`'s batch-64 call here (bench/engine_profile.py counts the faults).
        Up to ``reuse_bytes`` are kept; beyond, arrays are new each call. An array kept from
        a call of another batch size is dropped when its turn comes, so that alternating
        sizes do not leave the budget full of arrays that fit neither."""
        index = self._handed_out
        self._handed_out += 1
        kept = self._kept[index] if index < len(self._kept) else None
        if kept is not None and kept.shape == shape and kept.dtype == dtype:
            return kept
        if kept is not None:  # from a call of another shape: dropped, whether replaced or not
            self._kept[index] = None
            self._held -= kept.nbytes
        array = np.empty(shape, dtype)
        if self._held + array.nbytes <= self.reuse_bytes:
            self._kept.extend([None] * (index + 1 - len(self._kept)))
            self._kept[index] = array
            self._held += array.nbytes
        elif self._recording is not None:  # a replay would hold it beyond the budget
            self._recording.broken = "the node outputs exceed reuse_bytes"
        return array

    def real_conv(self, x: np.ndarray, weight: np.ndarray, stride: Pair, padding: Pair,
                  dilation: Pair, groups: int, pad_value: float = 0.0,
                  coefficients: np.ndarray | None = None) -> np.ndarray:
        """The compiled real convolution (:func:`bnnas.export.fast_real_conv.conv_into`):
        the reference's sums, on the engine's threads, each written through
        ``coefficients`` (a bias and a BN, see :meth:`_conv_node`; none: the sums)."""
        if x.dtype != np.float32:
            return super().real_conv(x, weight, stride, padding, dilation, groups, pad_value)
        n, c, h, w = x.shape
        o, cg, kh, kw = weight.shape
        oh = K.out_size(h, kh, stride[0], padding[0], dilation[0])
        ow = K.out_size(w, kw, stride[1], padding[1], dilation[1])
        if coefficients is None:  # the sums as they are
            coefficients = self._coefficients(o, None, None, None)
        self._threads_for(n * oh * ow, n * oh * ow * o * cg * kh * kw // 8)
        out = self.empty((n, o, oh, ow), np.float32)
        self._launch(self._real_kernels.conv_into, self._contiguous(x),
                     self._transposed(weight), groups, kh, kw, *stride, *padding, *dilation,
                     pad_value, coefficients, out.reshape(n, o, oh * ow),
                     self._current_threads)
        return out

    def _conv_node(self, conv: Node, affine: Node | None, x: np.ndarray) -> np.ndarray:
        """A ``conv2d`` node, its bias and the ``affine`` (a BN) after it in one pass: the
        kernel writes ``((sum + bias) * scale) + shift``, the reference's three roundings
        in its order, instead of the sums and two more passes over them."""
        tic = time.perf_counter()
        weight = self.array(conv["weight"])
        coefficients = self._coefficients(
            len(weight), self.array(conv["bias"]),
            None if affine is None else self.array(affine["scale"]),
            None if affine is None else self.array(affine["bias"]))
        stride, padding, dilation = (tuple(conv[key]) for key in ("stride", "padding", "dilation"))
        out = self.real_conv(x, weight, stride, padding, dilation, conv["groups"],
                             coefficients=coefficients)
        self._time("conv2d", tic)
        return out

    def _coefficients(self, channels: int, bias: np.ndarray | None, scale: np.ndarray | None,
                      shift: np.ndarray | None) -> np.ndarray:
        """``(3, channels)`` float32: ``bias``, ``scale``, ``shift``, each missing one as its
        exact identity (``x + -0.0`` and ``x * 1`` return ``x`` bit for bit); built once per
        combination of model arrays."""
        parts = (bias, scale, shift)

        def make() -> np.ndarray:
            out = np.empty((3, channels), np.float32)
            for row, (values, identity) in enumerate(zip(parts, (-0.0, 1.0, -0.0),
                                                         strict=True)):
                out[row] = identity if values is None else values.reshape(-1)
            return out

        return self._derived_constant(("coefficients", channels, *(p is None for p in parts)),
                                      make, *(p for p in parts if p is not None))

    def _transposed(self, weight: np.ndarray) -> np.ndarray:
        """A real conv weight ``(O, C / groups, KH, KW)`` as ``(taps, O)`` float32, built
        once per weight array."""
        return self._derived_constant(
            "transposed",
            lambda: np.ascontiguousarray(weight.reshape(len(weight), -1).T, np.float32),
            weight)

    def pool(self, x: np.ndarray, kind: str, kernel: Pair, stride: Pair, padding: Pair,
             ceil_mode: bool, count_include_pad: bool,
             negate: np.ndarray | None = None) -> np.ndarray:
        """The compiled pool; a max pool takes the minimum of the channels ``negate`` marks."""
        if x.ndim != 4 or x.dtype != np.float32:
            return super().pool(x, kind, kernel, stride, padding, ceil_mode, count_include_pad)
        oh = K.out_size(x.shape[2], kernel[0], stride[0], padding[0], ceil_mode=ceil_mode)
        ow = K.out_size(x.shape[3], kernel[1], stride[1], padding[1], ceil_mode=ceil_mode)
        self._threads_for(x.shape[0] * oh * ow)
        out = self.empty((x.shape[0], x.shape[1], oh, ow), np.float32)
        self._launch(self._kernels.pool2d_into, self._contiguous(x),
                     kind == "max", *kernel, *stride, *padding, count_include_pad,
                     negate if negate is not None else self._zeros(x.shape[1], np.bool_), out)
        return out

    def global_avg_pool(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.dtype != np.float32:
            return super().global_avg_pool(x)
        n, c, h, w = x.shape
        self._threads_for(n * h * w)  # the pixels read per channel
        out = self.empty((n, c, 1, 1), np.float32)
        self._launch(self._kernels.global_avg_pool_into, self._contiguous(x), out.reshape(-1))
        return out

    def affine(self, x: np.ndarray, scale: np.ndarray | None,
               bias: np.ndarray | None) -> np.ndarray:
        if x.ndim != 4 or x.dtype != np.float32:
            return super().affine(x, scale, bias)
        return self._affine_into(self._contiguous(x), scale, bias, None)

    def _affine_into(self, x: np.ndarray, scale: np.ndarray | None, bias: np.ndarray | None,
                     out: np.ndarray | None) -> np.ndarray:
        c = x.shape[1]
        self._threads_for(x.shape[0] * x.shape[2] * x.shape[3])
        return self._launch(self._kernels.channel_affine, x, self._per_channel(scale, c),
                            self._per_channel(bias, c), scale is not None, bias is not None,
                            self.empty(x.shape, np.float32) if out is None else out)

    def run(self, node: Node | None, *inputs: np.ndarray) -> np.ndarray:
        if node is not None and node.get("type") == "sequential":
            return self._sequential(node, inputs[0])
        if _is_type(node, "conv2d") and inputs[0].dtype == np.float32:
            return self._conv_node(node, None, inputs[0])
        return super().run(node, *inputs)

    def _sequential(self, node: Node, x: np.ndarray) -> np.ndarray:
        """The layers in order, with three shortcuts that give the same values:

        * a real conv followed by an affine (a BN) writes the affine's values directly
          (:meth:`_conv_node`);

        * an affine (a BN) followed by a max pool runs after the pool instead, on a quarter
          of the values (a stem's BN and pool): ``x * s + b`` rounded is monotonic in ``x``,
          non-decreasing for ``s >= 0`` and non-increasing for ``s < 0``, so the max of the
          affine values is the affine of the max, or of the min where ``s < 0``;
        * an affine whose input is an intermediate of this sequence, sharing no memory with
          anything outside it, is applied in place: one pass over memory instead of an
          allocation and two.
        """
        h = x
        layers = node["layers"]
        i = 0
        while i < len(layers):
            layer = layers[i]
            following = layers[i + 1] if i + 1 < len(layers) else None
            if (_is_type(layer, "conv2d") and _is_type(following, "affine")
                    and h.dtype == np.float32):
                h = self._conv_node(layer, following, h)  # with its BN
                i += 2
                continue
            if (_is_type(layer, "affine") and _is_type(following, "pool")
                    and following["kind"] == "max" and h.ndim == 4 and h.dtype == np.float32):
                scale = self.array(layer["scale"])
                negate = (self._zeros(h.shape[1], np.bool_) if scale is None
                          else self._derived_constant(
                              "negative", lambda scale=scale: scale.reshape(-1) < 0, scale))
                tic = time.perf_counter()
                h = self.pool(h, "max", tuple(following["kernel"]), tuple(following["stride"]),
                              tuple(following["padding"]), following["ceil_mode"],
                              following["count_include_pad"], negate)
                self._time("pool", tic)
                i += 1  # past the pool; the affine runs below, on the pooled values
            private = (h is not x and h.dtype == np.float32 and h.ndim == 4
                       and h.flags.c_contiguous and not np.may_share_memory(h, x))
            if private and _is_type(layer, "affine"):
                tic = time.perf_counter()
                h = self._affine_into(h, self.array(layer["scale"]), self.array(layer["bias"]),
                                      h)
                self._time("affine", tic)
            else:
                h = self.run(layer, h)
            i += 1
        return h

    def _contiguous(self, x: np.ndarray) -> np.ndarray:
        """``x`` as a C-contiguous array: itself, or a float32 NCHW view (a shifted or
        channel-sliced state) copied by the compiled kernel into an array of the engine."""
        if x.flags.c_contiguous:
            return x
        if x.ndim != 4 or x.dtype != np.float32:
            return np.ascontiguousarray(x)
        return self.pad_hw(x, 0, 0, 0, 0, np.float32(0))

    def pad_hw(self, x: np.ndarray, top: int, bottom: int, left: int, right: int,
               value: object) -> np.ndarray:
        """The compiled border (:func:`bnnas.export.fast_kernels.pad_into`) for float32
        NCHW ``x`` of any strides, into an array of the engine."""
        if x.ndim != 4 or x.dtype != np.float32:
            return super().pad_hw(x, top, bottom, left, right, value)
        n, c, h, w = x.shape
        out = self.empty((n, c, h + top + bottom, w + left + right), np.float32)
        self._threads_for(n * out.shape[2] * out.shape[3])
        self._launch(self._kernels.pad_into, x, top, left, np.float32(value), out)
        return out

    def _per_channel(self, values: np.ndarray | None, channels: int) -> np.ndarray:
        """A model array of ``channels`` values as contiguous float32; zeros when absent (a
        placeholder: the kernels skip the operation then)."""
        if values is None:
            return self._zeros(channels, np.float32)
        flat = values.reshape(-1)[:channels]
        if flat.dtype == np.float32 and flat.flags.c_contiguous:
            return flat
        return self._derived_constant(
            ("float32", channels), lambda: np.ascontiguousarray(flat, np.float32), values)

    def _zeros(self, length: int, dtype: type) -> np.ndarray:
        """A constant array of ``length`` zeros, made once per length and type."""
        return self._derived_constant(("zeros", length, np.dtype(dtype).str),
                                      lambda: np.zeros(length, dtype))

    def _derived_constant(self, key: Any, make: Callable[[], np.ndarray],
                          *sources: np.ndarray) -> np.ndarray:
        """The array ``make()`` derives from the model arrays ``sources`` alone (no input
        value), made at its first use and kept as a constant; ``key`` tells apart what is
        derived from the same sources."""
        full = (key, *(id(a) for a in sources))
        hit = self._derived.get(full)
        if hit is None or any(a is not b for a, b in zip(hit[0], sources, strict=True)):
            hit = self._derived[full] = (sources, self._constant(make()))
        return hit[1]

    def _constant(self, array: np.ndarray) -> np.ndarray:
        """Declare ``array`` a constant of the model (its memory never holds input-derived
        values): a tape may read it without a recorded kernel having written it."""
        base = base_array(array)
        self._constants[id(base)] = base
        return array

    def _is_constant(self, base: np.ndarray) -> bool:
        """Whether the array base ``base`` holds model constants (the packed file's arrays,
        and what the engine derived from them alone)."""
        return id(base) in self._constants

    def _launch(self, kernel: Callable[..., Any], *args: Any) -> Any:
        """Run a compiled kernel on the engine's current threads, recording it when a call
        is being recorded (:class:`~bnnas.export.tape.Tape`; the kernel writes its last
        array argument)."""
        if self._recording is not None:
            self._recording.record(kernel, args, self._current_threads)
        return kernel(*args)

    def _time(self, key: str, tic: float) -> None:
        """Add the time since ``tic`` to node type ``key`` when timings are on."""
        if self.timings is not None:
            self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - tic


def _is_type(node: Node | None, kind: str) -> bool:
    return node is not None and node.get("type") == kind


def _packable(node: Node) -> bool:
    """A conv the packed kernels run: sign input, 1-bit weights, a ±1 border."""
    return (node["input"]["kind"] == "sign" and node["weight"]["kind"] == "bits"
            and node["pad_value"] in (-1.0, 1.0))



"""numpy versions of the layers a deployed BNN runs, in NCHW float32.

Each function reproduces the PyTorch layer of the same name in eval mode: the binary
convolution exactly (integer XNOR/popcount, :mod:`bnnas.export.bits`), the real-valued ones to
float32 rounding. Geometry follows ``torch.nn.functional``: ``padding`` per side,
``dilation`` between taps, pools with ``ceil_mode`` and ``count_include_pad``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bnnas.export.bits import pack_rows, xnor_matmul

TAPS_BYTES = 32 << 20  # the float taps :func:`conv2d` gathers at once

Pair = tuple[int, int]


def out_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
             ceil_mode: bool = False) -> int:
    """Output length of a conv or pool along one axis (PyTorch's rule, incl. ``ceil_mode``)."""
    span = dilation * (kernel - 1) + 1
    room = size + 2 * padding - span
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the right padding
    return out


def pad_hw(x: np.ndarray, top: int, bottom: int, left: int, right: int,
           value: object) -> np.ndarray:
    """Pad the two spatial axes of an NCHW array with a constant."""
    if not (top or bottom or left or right):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def windows(x: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out: Pair) -> np.ndarray:
    """A ``(N, C, OH, OW, KH, KW)`` view of the (already padded) ``x``: the taps of every
    output position."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out
    view = sliding_window_view(x, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    view = view[:, :, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, ::dh, ::dw]
    return view


def _im2col(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
            pad_value: object) -> tuple[np.ndarray, Pair]:
    """Rows of taps ``(N * OH * OW, C * KH * KW)`` in the weight's ``(c, i, j)`` order."""
    n, c, h, w = x.shape
    oh = out_size(h, kernel[0], stride[0], padding[0], dilation[0])
    ow = out_size(w, kernel[1], stride[1], padding[1], dilation[1])
    padded = pad_hw(x, padding[0], padding[0], padding[1], padding[1], pad_value)
    taps = windows(padded, kernel, stride, dilation, (oh, ow))
    cols = taps.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kernel[0] * kernel[1])
    return cols, (oh, ow)


def _to_nchw(rows: np.ndarray, n: int, out: Pair) -> np.ndarray:
    return rows.reshape(n, out[0], out[1], -1).transpose(0, 3, 1, 2)


def conv2d(x: np.ndarray, weight: np.ndarray, stride: Pair, padding: Pair, dilation: Pair,
           groups: int = 1, pad_value: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
    """Real-valued convolution, the border holding ``pad_value``: per image, the weight
    matrix times the taps laid out ``(C * KH * KW, OH * OW)``, which gives NCHW directly (no
    transpose of the output) and copies the taps along output rows, not along 7-tap kernel
    rows (a 224x224 stem: 1.7x faster than the pixel-major im2col here).

    The taps are gathered a few images at a time (at most ``TAPS_BYTES`` of them): a 224x224
    stem's taps for a batch of 64 would take 472 MB at once. Chunks bound the memory, not the
    time: ``bench/binary_layer.py`` times that stem at 169 ms best, 173 median in chunks
    against 153 and 157 in one gather (docs/RESULTS.md). Each image's product is computed
    on its own, so any split of the batch gives the same values; ``out`` (float32 ``(N, O,
    OH, OW)``, contiguous) receives them when given."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    cg, og = c // groups, o // groups
    oh = out_size(h, kh, stride[0], padding[0], dilation[0])
    ow = out_size(w, kw, stride[1], padding[1], dilation[1])
    if (kh, kw) == (1, 1) and padding == (0, 0):
        padded, geometry = x, None  # a 1x1 conv reads the (subsampled) pixels themselves
    else:
        padded = pad_hw(x, padding[0], padding[0], padding[1], padding[1], pad_value)
        geometry = ((kh, kw), stride, dilation, (oh, ow))
    y = (np.empty((n, o, oh * ow), np.float32) if out is None
         else out.reshape(n, o, oh * ow))
    chunk = max(1, TAPS_BYTES // (4 * cg * kh * kw * oh * ow))
    for start in range(0, n, chunk):
        images = slice(start, min(n, start + chunk))
        for g in range(groups):
            part = padded[images, g * cg : (g + 1) * cg]
            if geometry is None:
                cols = part[:, :, :: stride[0], :: stride[1]].reshape(-1, cg, oh * ow)
            else:
                cols = (windows(part, *geometry).transpose(0, 1, 4, 5, 2, 3)
                        .reshape(-1, cg * kh * kw, oh * ow))
            w_ = weight[g * og : (g + 1) * og].reshape(og, -1)
            np.matmul(w_, cols, out=y[images, g * og : (g + 1) * og])
    return y.reshape(n, o, oh, ow)


def binary_conv2d(bits: np.ndarray, weight_words: list[np.ndarray], kernel: Pair, stride: Pair,
                  padding: Pair, dilation: Pair, pad_bit: bool) -> np.ndarray:
    """The integer ±1 convolution of sign bits ``(N, C, H, W)`` with packed weights.

    ``weight_words[g]`` holds group ``g``'s ``(O / groups, words)`` rows
    (:func:`~bnnas.export.bits.pack_rows` of the flattened weight signs); the border holds
    ``pad_bit`` (False: -1, as training pads binary inputs). Returns int32 ``(N, O, OH, OW)``.
    """
    n, c = bits.shape[:2]
    groups = len(weight_words)
    cg = c // groups
    taps = cg * kernel[0] * kernel[1]
    outs = []
    for g, words in enumerate(weight_words):
        cols, out = _im2col(bits[:, g * cg : (g + 1) * cg], kernel, stride, padding, dilation,
                            pad_bit)
        outs.append(_to_nchw(xnor_matmul(pack_rows(cols), words, taps), n, out))
    y = outs[0] if groups == 1 else np.concatenate(outs, axis=1)
    return np.ascontiguousarray(y)


def pool2d(x: np.ndarray, kind: str, kernel: Pair, stride: Pair, padding: Pair,
           ceil_mode: bool = False, count_include_pad: bool = True) -> np.ndarray:
    """Max or average pooling as ``nn.MaxPool2d`` / ``nn.AvgPool2d`` compute it.

    An average divides by the taps inside the input (``count_include_pad=False``) or inside
    input plus padding (True); taps that ``ceil_mode`` adds beyond the padding never count.
    """
    n, c, h, w = x.shape
    oh = out_size(h, kernel[0], stride[0], padding[0], ceil_mode=ceil_mode)
    ow = out_size(w, kernel[1], stride[1], padding[1], ceil_mode=ceil_mode)
    bottom = (oh - 1) * stride[0] + kernel[0] - h - padding[0]
    right = (ow - 1) * stride[1] + kernel[1] - w - padding[1]
    geometry = (kernel, stride, (1, 1), (oh, ow))
    if kind == "max":
        padded = pad_hw(x, padding[0], bottom, padding[1], right, -np.inf)
        return np.ascontiguousarray(windows(padded, *geometry).max(axis=(4, 5)))
    padded = pad_hw(x, padding[0], bottom, padding[1], right, 0.0)
    taps = windows(padded, *geometry)
    sums = np.zeros(taps.shape[:4], dtype=np.float32)
    for i in range(kernel[0]):  # one tap at a time, in (i, j) order: a fixed rounding order
        for j in range(kernel[1]):  # that a compiled kernel can reproduce bit for bit
            sums += taps[..., i, j]
    inside = np.zeros((1, 1, h + padding[0] + bottom, w + padding[1] + right), dtype=np.float32)
    if count_include_pad:
        inside[..., : h + 2 * padding[0], : w + 2 * padding[1]] = 1.0
    else:
        inside[..., padding[0] : padding[0] + h, padding[1] : padding[1] + w] = 1.0
    counts = windows(inside, *geometry).sum(axis=(4, 5))
    return np.ascontiguousarray(sums / counts, dtype=np.float32)


def channel_affine(x: np.ndarray, scale: np.ndarray | None, bias: np.ndarray | None) -> np.ndarray:
    """``x * scale[c] + bias[c]`` per channel (a folded BN, a conv's scale or bias)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if scale is not None:
        x = x * scale.reshape(shape)
    if bias is not None:
        x = x + bias.reshape(shape)
    return x


def rprelu(x: np.ndarray, shift_in: np.ndarray, slope: np.ndarray,
           shift_out: np.ndarray) -> np.ndarray:
    """ReActNet's RPReLU (Liu et al., ECCV 2020): ``PReLU(x - gamma) + zeta`` per channel."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    x = x - shift_in.reshape(shape)
    x = np.where(x >= 0, x, x * slope.reshape(shape))
    return x + shift_out.reshape(shape)

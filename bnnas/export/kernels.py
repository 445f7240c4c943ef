"""numpy versions of the layers a deployed BNN runs, in NCHW float32.

Each function reproduces the PyTorch layer of the same name in eval mode: the binary
convolution exactly (integer XNOR/popcount, :mod:`bnnas.export.bits`), the real-valued ones to
float32 rounding. Geometry follows ``torch.nn.functional``: ``padding`` per side,
``dilation`` between taps, pools with ``ceil_mode`` and ``count_include_pad``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bnnas.export.bits import pack_rows, xnor_matmul

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
    """Pad the two spatial axes of an NCHW array with a constant (border strips and a copy,
    without ``np.pad``'s general machinery)."""
    if not (top or bottom or left or right):
        return x
    n, c, h, w = x.shape
    out = np.empty((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
    out[:, :, :top] = value
    out[:, :, top + h :] = value
    out[:, :, top : top + h, :left] = value
    out[:, :, top : top + h, left + w :] = value
    out[:, :, top : top + h, left : left + w] = x
    return out


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
           groups: int = 1, pad_value: float = 0.0,
           empty: Callable[[tuple[int, ...], type], np.ndarray] = np.empty) -> np.ndarray:
    """Real-valued convolution, the border holding ``pad_value``, as a sum of one product
    per tap: taps in the weight's ``(c, i, j)`` order, each product rounded to float32 and
    then added, from the first tap on. A matrix product (BLAS) would sum in an order of its
    own, which changes with the library, the CPU and the thread count; this order is fixed,
    so a compiled kernel reproduces it bit for bit
    (:func:`bnnas.export.fast_real_conv.conv_into`, which the fast engine runs instead).
    One image at a time, so the temporaries stay the size of one image's output.
    ``empty(shape, dtype)`` makes the output array (an engine may hand out memory it
    reuses)."""
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    oh = out_size(h, kh, stride[0], padding[0], dilation[0])
    ow = out_size(w, kw, stride[1], padding[1], dilation[1])
    taps = _taps_view(x, (kh, kw), stride, padding, dilation, (oh, ow), pad_value)
    y = empty((n, o, oh, ow), np.float32)
    og = o // groups
    term = np.empty((og, oh, ow), np.float32)
    for b in range(n):
        for g in range(groups):
            out = y[b, g * og : (g + 1) * og]
            first = True
            for ch in range(cg):
                for i in range(kh):
                    for j in range(kw):
                        column = weight[g * og : (g + 1) * og, ch, i, j, None, None]
                        np.multiply(column, taps[b, g * cg + ch, :, :, i, j], out=term)
                        if first:
                            out[...] = term
                            first = False
                        else:
                            out += term
    return y


def _taps_view(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
               out: Pair, pad_value: float) -> np.ndarray:
    """The taps of every output position, ``(N, C, OH, OW, KH, KW)``: a view of the padded
    input, or of the (subsampled) pixels themselves for a 1x1 conv without padding."""
    if kernel == (1, 1) and padding == (0, 0):
        return x[:, :, :: stride[0], :: stride[1]][..., None, None]
    padded = pad_hw(x, padding[0], padding[0], padding[1], padding[1], pad_value)
    return windows(padded, kernel, stride, dilation, out)


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


def global_avg_pool(x: np.ndarray) -> np.ndarray:
    """The mean of each channel's plane, ``(N, C, 1, 1)``: the pixels added one at a time in
    row-major order, then divided by their count. numpy's own ``mean`` adds in an order of
    its making (pairwise, in blocks of eight); this one a compiled kernel reproduces bit for
    bit (:func:`bnnas.export.fast_kernels.global_avg_pool_into`)."""
    n, c, h, w = x.shape
    sums = np.zeros((n, c), dtype=np.float32)
    for i in range(h):
        for j in range(w):
            sums += x[:, :, i, j]
    return (sums / np.float32(h * w)).reshape(n, c, 1, 1)


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``x @ weight.T + bias`` for float32 ``x`` ``(N, K)`` and ``weight`` ``(O, K)``, as a sum
    of one product per input from the first on, each product rounded to float32 before it is
    added, then the bias. A BLAS product would sum in an order of its own, which changes with
    the library, the CPU and the thread count (OpenBLAS rounded a product differently on one
    thread than on two here); this order is fixed, so a compiled kernel reproduces it bit for
    bit (:func:`bnnas.export.fast_kernels.linear_into`)."""
    columns = np.ascontiguousarray(weight.T, dtype=np.float32)  # (K, O): one row per input
    y = x[:, :1] * columns[0]
    term = np.empty_like(y)
    for k in range(1, len(columns)):
        np.multiply(x[:, k : k + 1], columns[k], out=term)
        y += term
    return y if bias is None else y + bias


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

"""numpy versions of the layers a deployed BNN runs, in NCHW float32.

Each function reproduces the PyTorch layer of the same name in eval mode: the binary
convolution exactly (integer XNOR/popcount, :mod:`bnnas.export.bits`), the real-valued ones to
float32 rounding. Geometry follows ``torch.nn.functional``: ``padding`` per side,
``dilation`` between taps, pools with ``ceil_mode`` and ``count_include_pad``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bnnas.export.bits import pack_rows, xnor_matmul

TILE_COLUMNS = 4096  # output positions per product of :func:`conv2d`
TAPS_BYTES = 32 << 20  # and at most this many bytes of float taps per product
# Weight rows of at most this many taps (input channels per group x kernel area) are summed
# one tap at a time instead (see conv2d): a 1-channel 3x3 stem has 9, an RGB one 27
SMALL_TAPS = 27

Pair = tuple[int, int]
Tile = tuple[int, int, int, int]  # images n0:n1, output rows r0:r1


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
    """Pad the two spatial axes of an NCHW array with a constant (border strips and a copy:
    half the time of ``np.pad``, 16 vs 31 us for a 224x224 RGB image here)."""
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


def conv_tiles(n: int, oh: int, ow: int, taps: int) -> list[Tile]:
    """The tiles of output positions that :func:`conv2d` multiplies one product each: whole
    images, as many as fit in ``TILE_COLUMNS`` positions, or bands of output rows of one
    image when an image has more. A function of the shapes only, so that any engine that
    runs the same tiles (in any order, on any thread) gets the same float32 values: BLAS
    need not round a product split in two as it rounds the whole one."""
    columns = max(1, min(TILE_COLUMNS, TAPS_BYTES // (4 * taps)))
    plane = oh * ow
    if plane <= columns:
        per_tile = columns // plane
        return [(a, min(n, a + per_tile), 0, oh) for a in range(0, n, per_tile)]
    bands = -(-plane // columns)
    rows = -(-oh // bands)
    return [(b, b + 1, r, min(oh, r + rows)) for b in range(n) for r in range(0, oh, rows)]


def run_in_order(jobs: Sequence[Callable[[], None]]) -> None:
    """Call each job once, in order: how :func:`conv2d` runs its tiles by default."""
    for job in jobs:
        job()


def conv2d(x: np.ndarray, weight: np.ndarray, stride: Pair, padding: Pair, dilation: Pair,
           groups: int = 1, pad_value: float = 0.0,
           run: Callable[[Sequence[Callable[[], None]]], None] = run_in_order,
           empty: Callable[[tuple[int, ...], type], np.ndarray] = np.empty) -> np.ndarray:
    """Real-valued convolution, the border holding ``pad_value``: tile by tile
    (:func:`conv_tiles`), the weight matrix times the tile's taps laid out ``(C * KH * KW,
    positions)``, which gives channel-major output directly and copies the taps along output
    rows, not along 7-tap kernel rows (a 224x224 stem: 1.7x faster than the pixel-major
    im2col here). Tiles bound the taps in memory (a 224x224 stem's taps for a batch of 64
    would take 472 MB at once) and let ``run`` (which calls every job once, in any order
    and on any threads; the fast engine spreads them over its threads) split one image's
    convolution as well as a batch's. ``empty(shape, dtype)`` makes the output array (an
    engine may hand out memory it reuses). A weight of at most ``SMALL_TAPS`` taps per
    row is summed tap by tap instead (:func:`_conv_by_taps`)."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    cg = c // groups
    oh = out_size(h, kh, stride[0], padding[0], dilation[0])
    ow = out_size(w, kw, stride[1], padding[1], dilation[1])
    geometry = ((kh, kw), stride, padding, dilation, (oh, ow))
    y = empty((n, o, oh, ow), np.float32)
    if cg * kh * kw <= SMALL_TAPS:
        _conv_by_taps(_taps_view(x, *geometry, pad_value), weight, groups, y)
        return y
    gather = partial(_tile_taps, _taps_view(x, *geometry, pad_value), groups)
    run([partial(_conv_tile, gather, weight, groups, tile, y)
         for tile in conv_tiles(n, oh, ow, cg * kh * kw)])
    return y


def _conv_by_taps(taps: np.ndarray, weight: np.ndarray, groups: int, y: np.ndarray) -> None:
    """``y`` as a sum of one product per tap, taps in the weight's ``(c, i, j)`` order, each
    product rounded to float32 before it is added: the convolution of a weight with few
    taps (a 1-channel 3x3 stem has 9). BLAS multiplies such thin matrices at a fraction of
    its speed, and its summation order is its own; this order is fixed, so a compiled
    kernel reproduces it bit for bit
    (:func:`bnnas.export.fast_real_conv.conv_by_taps_into`)."""
    o, cg, kh, kw = weight.shape
    og = o // groups
    for g in range(groups):
        out = y[:, g * og : (g + 1) * og]
        first = True
        for c in range(cg):
            for i in range(kh):
                for j in range(kw):
                    column = weight[g * og : (g + 1) * og, c, i, j][None, :, None, None]
                    term = column * taps[:, g * cg + c, :, :, i, j][:, None]
                    if first:
                        out[...] = term
                        first = False
                    else:
                        out += term


def _taps_view(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
               out: Pair, pad_value: float) -> np.ndarray:
    """The taps of every output position, ``(N, C, OH, OW, KH, KW)``: a view of the padded
    input, or of the (subsampled) pixels themselves for a 1x1 conv without padding."""
    if kernel == (1, 1) and padding == (0, 0):
        return x[:, :, :: stride[0], :: stride[1]][..., None, None]
    padded = pad_hw(x, padding[0], padding[0], padding[1], padding[1], pad_value)
    return windows(padded, kernel, stride, dilation, out)


def _tile_taps(taps: np.ndarray, groups: int, tile: Tile, group: int) -> np.ndarray:
    """The taps of ``tile`` in ``group``'s channels, ``(images, C / groups * KH * KW,
    positions)``, copied from the ``(N, C, OH, OW, KH, KW)`` view ``taps``."""
    n0, n1, r0, r1 = tile
    cg = taps.shape[1] // groups
    part = taps[n0:n1, group * cg : (group + 1) * cg, r0:r1]
    return part.transpose(0, 1, 4, 5, 2, 3).reshape(n1 - n0, cg * taps.shape[4] * taps.shape[5],
                                                   -1)


def _conv_tile(gather: Callable[[Tile, int], np.ndarray], weight: np.ndarray, groups: int,
               tile: Tile, y: np.ndarray) -> None:
    """``y`` over one tile: per image and group, the weight matrix times the taps, written
    straight into the image's output rows ``r0:r1`` of each channel."""
    n0, n1, r0, r1 = tile
    o = weight.shape[0]
    og, ow = o // groups, y.shape[3]
    for g in range(groups):
        target = y[n0:n1, g * og : (g + 1) * og].reshape(n1 - n0, og, -1)
        np.matmul(weight[g * og : (g + 1) * og].reshape(og, -1), gather(tile, g),
                  out=target[:, :, r0 * ow : r1 * ow])


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

"""numba kernels of the fast engine: a bit-packed binary convolution.

The input signs are packed along the channels, 64 to a word, once per pixel (the border
pixels hold the pad bit in every channel), so the taps of one output position are
``KH x KW x ceil(C / 64)`` words; gathering them is a packed im2col 64 times smaller than a
float one. The product with the packed weights (laid out the same way) is a popcount GEMM,
``n - 2 * popcount(a XOR w)`` summed over words (XNOR-Net, Rastegari et al., ECCV 2016), in
blocks of rows and output channels so that a block of weights stays in cache while the rows
stream past it. Channel padding bits are 0 in both operands and count nothing.

Bit ``c % 64`` of word ``c // 64`` holds channel ``c`` (1 for +1), in input and weights alike.
"""

from __future__ import annotations

import numba
import numpy as np

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_ONE = np.uint64(1)
BLOCK_ROWS = 64
BLOCK_CHANNELS = 32


@numba.njit(inline="always")
def popcount64(x: np.uint64) -> np.int64:
    """Set bits of a 64-bit word (the SWAR count; LLVM emits ``popcnt`` where it exists)."""
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return np.int64((x * _H01) >> np.uint64(56))


@numba.njit(cache=False)
def pack_pixels(bits: np.ndarray, ph: int, pw: int, pad_bit: bool) -> np.ndarray:
    """Sign bits ``(N, C, H, W)`` to words ``(N, H + 2 ph, W + 2 pw, ceil(C / 64))``, the
    border holding ``pad_bit`` in every channel."""
    n, c, h, w = bits.shape
    cw = (c + 63) // 64
    out = np.zeros((n, h + 2 * ph, w + 2 * pw, cw), np.uint64)
    if pad_bit:
        pad = np.zeros(cw, np.uint64)
        for ch in range(c):
            pad[ch >> 6] |= _ONE << np.uint64(ch & 63)
        for b in range(n):
            for y in range(h + 2 * ph):
                for x in range(w + 2 * pw):
                    if y < ph or y >= h + ph or x < pw or x >= w + pw:
                        out[b, y, x, :] = pad
    for b in range(n):
        for ch in range(c):
            word, bit = ch >> 6, _ONE << np.uint64(ch & 63)
            for y in range(h):
                for x in range(w):
                    if bits[b, ch, y, x]:
                        out[b, y + ph, x + pw, word] |= bit
    return out


@numba.njit(cache=False)
def pack_weights(bits: np.ndarray) -> np.ndarray:
    """Weight sign bits ``(O, C, KH, KW)`` to rows ``(O, KH * KW * ceil(C / 64))`` in
    ``(i, j, word)`` order, matching :func:`im2col_words`."""
    o, c, kh, kw = bits.shape
    cw = (c + 63) // 64
    out = np.zeros((o, kh * kw * cw), np.uint64)
    for r in range(o):
        for ch in range(c):
            word, bit = ch >> 6, _ONE << np.uint64(ch & 63)
            for i in range(kh):
                for j in range(kw):
                    if bits[r, ch, i, j]:
                        out[r, (i * kw + j) * cw + word] |= bit
    return out


@numba.njit(cache=False)
def im2col_words(px: np.ndarray, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int,
                 oh: int, ow: int) -> np.ndarray:
    """The packed taps ``(N * OH * OW, KH * KW * words)`` of every output position."""
    n, _, _, cw = px.shape
    cols = np.empty((n * oh * ow, kh * kw * cw), np.uint64)
    row = 0
    for b in range(n):
        for y in range(oh):
            for x in range(ow):
                k = 0
                for i in range(kh):
                    for j in range(kw):
                        for q in range(cw):
                            cols[row, k] = px[b, y * sh + i * dh, x * sw + j * dw, q]
                            k += 1
                row += 1
    return cols


@numba.njit(cache=False)
def popcount_gemm(a: np.ndarray, w: np.ndarray, taps: int) -> np.ndarray:
    """``taps - 2 * popcount(a XOR w)`` summed over words: ``(M, K) x (O, K) -> (M, O)``."""
    m, k = a.shape
    o = w.shape[0]
    out = np.empty((m, o), np.int32)
    for m0 in range(0, m, BLOCK_ROWS):
        m1 = min(m0 + BLOCK_ROWS, m)
        for o0 in range(0, o, BLOCK_CHANNELS):
            o1 = min(o0 + BLOCK_CHANNELS, o)
            for r in range(m0, m1):
                for c in range(o0, o1):
                    mismatches = np.int64(0)
                    for q in range(k):
                        mismatches += popcount64(a[r, q] ^ w[c, q])
                    out[r, c] = taps - 2 * mismatches
    return out


def binary_conv2d(bits: np.ndarray, weight_rows: list[np.ndarray], kernel: tuple[int, int],
                  stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int],
                  pad_bit: bool) -> np.ndarray:
    """:func:`bnnas.export.kernels.binary_conv2d` with packed im2col and the popcount GEMM;
    ``weight_rows[g]`` is :func:`pack_weights` of group ``g``. Returns int32 NCHW."""
    from bnnas.export.kernels import out_size

    n, c, h, w = bits.shape
    cg = c // len(weight_rows)
    oh = out_size(h, kernel[0], stride[0], padding[0], dilation[0])
    ow = out_size(w, kernel[1], stride[1], padding[1], dilation[1])
    outs = []
    for g, rows in enumerate(weight_rows):
        px = pack_pixels(np.ascontiguousarray(bits[:, g * cg : (g + 1) * cg]), padding[0],
                         padding[1], bool(pad_bit))
        cols = im2col_words(px, kernel[0], kernel[1], stride[0], stride[1], dilation[0],
                            dilation[1], oh, ow)
        y = popcount_gemm(cols, rows, cg * kernel[0] * kernel[1])
        outs.append(y.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2))
    y = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=1)
    return np.ascontiguousarray(y)

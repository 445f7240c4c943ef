"""numba kernel of the fast engine for real-valued convolutions with few taps.

A binary network's stem on grey images is a 1-channel 3x3 convolution: 9 taps per weight row.
As a matrix product that is a ``(channels, 9)`` times ``(9, positions)`` product, which BLAS
runs far below its speed (a 64-image Fashion-MNIST batch's stem took as long here as all the
binary convolutions together). :func:`conv_by_taps_into` gathers the taps once and then sums
one product per tap over runs of contiguous output positions, which vectorise; it rounds
exactly as :func:`bnnas.export.kernels._conv_by_taps` does (every product rounded to float32,
then added, taps in the weight's ``(c, i, j)`` order), so the values are the reference
engine's bit for bit.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange


@numba.njit(cache=True, inline="always")
def _gather_tap(x: np.ndarray, n: int, c: int, i: int, j: int, sh: int, sw: int, ph: int,
                pw: int, dh: int, dw: int, pad: np.float32, r0: int, ow: int,
                row: np.ndarray) -> None:
    """``row[oy * ow + ox]``: the pixel that tap ``(i, j)`` of output position ``(r0 + oy,
    ox)`` reads in plane ``x[n, c]``, ``pad`` in the border. The columns inside the input
    are one loop without a bound check (vectorised), the border columns apart."""
    h, w = x.shape[2], x.shape[3]
    shift = j * dw - pw  # input column of output column ox: ox * sw + shift
    lo = min(ow, max(0, (sw - 1 - shift) // sw))  # first ox reading column >= 0
    hi = max(lo, min(ow, (w - shift + sw - 1) // sw))  # first ox reading column >= w
    for oy in range(row.shape[0] // ow):
        iy = (r0 + oy) * sh - ph + i * dh
        base = oy * ow
        if iy < 0 or iy >= h:
            for ox in range(ow):
                row[base + ox] = pad
            continue
        line = x[n, c, iy]
        for ox in range(lo):
            row[base + ox] = pad
        for ox in range(lo, hi):
            row[base + ox] = line[ox * sw + shift]
        for ox in range(hi, ow):
            row[base + ox] = pad


@numba.njit(parallel=True, cache=True)
def gather_taps_into(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
                     dh: int, dw: int, pad: float, cols: np.ndarray) -> None:
    """``cols[n, (c * kh + i) * kw + j, oy * OW + ox]``: input pixel of tap ``(i, j)`` of
    output position ``(oy, ox)`` in channel ``c``, ``pad`` where it falls in the border;
    ``cols`` is ``(N, C * kh * kw, OH * OW)``. On all threads, a task per input row of taps."""
    n_images, channels, w = x.shape[0], x.shape[1], x.shape[3]
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    for task in prange(n_images * channels * kh):
        n = task // (channels * kh)
        c = (task // kh) % channels
        i = task % kh
        for j in range(kw):
            _gather_tap(x, n, c, i, j, sh, sw, ph, pw, dh, dw, np.float32(pad), 0, ow,
                        cols[n, (c * kh + i) * kw + j])


@numba.njit(cache=True, inline="always")
def _add_four_taps(row: np.ndarray, w: np.ndarray, src: np.ndarray, t: int, first: int) -> None:
    """``row += w[t] * src[first + t]``, then taps ``t + 1``, ``t + 2`` and ``t + 3``, in
    one pass: each product and sum rounded in that order, ``row`` read and written once."""
    a, b, c, d = w[t], w[t + 1], w[t + 2], w[t + 3]
    sa, sb, sc, sd = src[first + t], src[first + t + 1], src[first + t + 2], src[first + t + 3]
    for p in range(row.shape[0]):
        row[p] = (((row[p] + a * sa[p]) + b * sb[p]) + c * sc[p]) + d * sd[p]


@numba.njit(parallel=True, cache=True)
def conv_by_taps_into(cols: np.ndarray, weight: np.ndarray, groups: int,
                      out: np.ndarray) -> None:
    """``out[n, o] = sum over taps t of weight[o, t] * cols[n, g * taps + t]`` (``g`` the
    group of output channel ``o``), the sum taken tap by tap from the first: ``weight`` is
    ``(O, taps)`` and ``out`` ``(N, O, positions)``. Four taps are added per pass over an
    output row, so the row stays in registers across them (rounding in the same order)."""
    n_images, out_channels, plane = out.shape
    taps = weight.shape[1]
    per_group = out_channels // groups
    for task in prange(n_images * out_channels):
        n = task // out_channels
        o = task % out_channels
        first = (o // per_group) * taps
        row = out[n, o]
        w = weight[o]
        src = cols[n]
        w0 = w[0]
        source = src[first]
        for p in range(plane):
            row[p] = w0 * source[p]
        t = 1
        while t + 4 <= taps:
            _add_four_taps(row, w, src, t, first)
            t += 4
        while t < taps:
            wt = w[t]
            source = src[first + t]
            for p in range(plane):
                row[p] = row[p] + wt * source[p]
            t += 1

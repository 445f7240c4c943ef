"""numba kernel of the fast engine for real-valued convolutions (stems, 1x1 shortcuts).

The reference (:func:`bnnas.export.kernels.conv2d`) sums one product per tap, taps in the
weight's ``(c, i, j)`` order, each product rounded to float32 before it is added: an order
that does not depend on a BLAS library. :func:`conv_into` sums in that order too, so its
values are the reference engine's bit for bit, and is faster than the BLAS products the
engines ran before: it gathers the taps of a band of output positions (about a cache's
worth) and sums them by register-blocked panels of 16 positions by 8 channels, per tap one
vector load, 8 broadcasts, 8 multiplies and 8 adds (LLVM does not fuse a multiply and an
add that carry no fast-math flags). A Fashion-MNIST stem is a 9-tap ``(32, 9) x (9,
positions)`` product, which BLAS ran far below its speed; a 224x224 RGB stem has 147 taps.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from bnnas.export.fast_kernels import LANES, channel_parts
from bnnas.export.panel_ir import broadcast, load_vector, store_vector


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


BAND_POSITIONS = 256  # output positions (whole rows) per parallel task of conv_into


def _multiply_add_panel(rows: int, lanes: int):  # type: ignore[no-untyped-def]
    """An intrinsic ``panel(cols, weights_t, r, c, out, at, coefficients)`` that sets ``out[c
    + j, at + i]`` to ``((s + k[0, c + j]) * k[1, c + j]) + k[2, c + j]``, ``k`` the
    coefficients and ``s`` the sum over ``t`` of ``cols[t, r + i] * weights_t[t, c + j]``,
    for ``i < rows`` and ``j < lanes``; the sum is taken from ``t = 0`` on, each product
    rounded before it is added (no fused multiply-add): the reference's order (C-contiguous
    float32 arrays). The coefficients are the conv's bias and the BN after it (identities,
    ``-0.0``, ``1`` and ``-0.0``, where there is none: exact).

    The ``lanes`` accumulators, vectors of ``rows`` positions, stay in registers across the
    taps: per tap one vector load of ``rows`` positions' inputs, and per channel a broadcast
    weight, a multiply and an add (the register-blocked micro-kernel of a GEMM, Goto and van
    de Geijn, ACM TOMS 2008, as :func:`bnnas.export.fast_kernels._xor_popcount_panel` for
    the binary convolutions).
    """
    f32, i64 = ir.FloatType(), ir.IntType(64)
    vector = ir.VectorType(f32, rows)

    @intrinsic
    def panel(typingctx, cols, weights_t, r, c, out, at,  # type: ignore[no-untyped-def]
              coefficients):
        arrays = (cols, weights_t, out, coefficients)
        if any(not isinstance(a, types.Array) or a.ndim != 2 or a.layout != "C"
               or a.dtype != types.float32 for a in arrays):
            return None

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            cols_, weights_, out_, coefficients_ = (
                context.make_array(signature.args[i])(context, builder, args[i])
                for i in (0, 1, 4, 6))
            taps, m = cgutils.unpack_tuple(builder, cols_.shape, 2)
            o = cgutils.unpack_tuple(builder, weights_.shape, 2)[1]
            stride = cgutils.unpack_tuple(builder, out_.shape, 2)[1]
            row, column, first_out = args[2], args[3], args[5]

            def inputs(t):  # type: ignore[no-untyped-def]
                return load_vector(builder, cols_.data, builder.add(builder.mul(t, m), row),
                                   vector, 4)

            def per_channel(data, t, j):  # type: ignore[no-untyped-def]
                index = builder.add(builder.add(builder.mul(t, o), column), ir.Constant(i64, j))
                return broadcast(builder, data, index, vector)

            zero = ir.Constant(i64, 0)
            a = inputs(zero)
            sums = [cgutils.alloca_once_value(
                builder, builder.fmul(a, per_channel(weights_.data, zero, j)))
                for j in range(lanes)]
            with cgutils.for_range(builder, builder.sub(taps, ir.Constant(i64, 1))) as loop:
                t = builder.add(loop.index, ir.Constant(i64, 1))
                a = inputs(t)
                for j in range(lanes):
                    product = builder.fmul(a, per_channel(weights_.data, t, j))
                    builder.store(builder.fadd(builder.load(sums[j]), product), sums[j])
            for j in range(lanes):
                value = builder.load(sums[j])
                k = [per_channel(coefficients_.data, ir.Constant(i64, step), j)
                     for step in range(3)]
                value = builder.fadd(builder.fmul(builder.fadd(value, k[0]), k[1]), k[2])
                line = builder.add(builder.mul(builder.add(column, ir.Constant(i64, j)),
                                               stride), first_out)
                store_vector(builder, value, out_.data, line, 4)
            return context.get_dummy_value()

        return types.void(cols, weights_t, r, c, out, at, coefficients), codegen

    return panel


_panel_16 = _multiply_add_panel(16, LANES)
_panel_8 = _multiply_add_panel(8, LANES)


@numba.njit(cache=True, inline="always")
def _sum_one(cols: np.ndarray, weights_t: np.ndarray, q: int, ch: int, out: np.ndarray,
             at: int, coefficients: np.ndarray) -> None:
    """One output of :func:`conv_into` outside the panels, in the same order."""
    total = cols[0, q] * weights_t[0, ch]
    for t in range(1, cols.shape[0]):
        total = total + cols[t, q] * weights_t[t, ch]
    out[ch, at] = ((total + coefficients[0, ch]) * coefficients[1, ch]) + coefficients[2, ch]


@numba.njit(parallel=True, cache=True)
def conv_into(x: np.ndarray, weights_t: np.ndarray, groups: int, kh: int, kw: int, sh: int,
              sw: int, ph: int, pw: int, dh: int, dw: int, pad: float,
              coefficients: np.ndarray, out: np.ndarray, threads: int = 1) -> None:
    """The real convolution of float32 NCHW ``x`` into ``out`` ``(N, O, OH * OW)``:
    ``weights_t`` is the weight ``(O, C / groups, kh, kw)`` flattened and transposed,
    ``(taps, O)``; each sum ``s`` is written as ``((s + k[0]) * k[1]) + k[2]``, ``k`` the
    output channel's column of ``coefficients`` ``(3, O)``: the conv's bias and a BN after
    it (``-0.0``, ``1`` and ``-0.0`` leave ``s`` as it is). One task per image, group and
    band of about ``BAND_POSITIONS`` output positions (whole rows): it gathers the band's
    taps (``pad`` in the border) and sums them by panels of 16 positions by ``LANES``
    channels, tap by tap from the first, as :func:`bnnas.export.kernels.conv2d` does. With
    fewer bands than twice ``threads`` (a 1x1 shortcut at 14x14 or 7x7 for one image: one
    band), each band's channels are split into parts of whole panels as well, each part
    gathering the band for itself."""
    n_images, channels, w = x.shape[0], x.shape[1], x.shape[3]
    taps, o = weights_t.shape
    cg, og = channels // groups, o // groups
    plane = out.shape[2]
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    oh = plane // ow
    band_rows = max(1, min(oh, BAND_POSITIONS // ow))
    bands = (oh + band_rows - 1) // band_rows
    blocks = n_images * groups * bands
    parts, per_part = channel_parts(og, blocks, threads)
    pad32 = np.float32(pad)
    for task in prange(blocks * parts):
        block, part = task // parts, task % parts
        n = block // (groups * bands)
        g = (block // bands) % groups
        r0 = (block % bands) * band_rows
        count = (min(oh, r0 + band_rows) - r0) * ow
        cols = np.empty((taps, count), np.float32)
        for c in range(cg):
            for i in range(kh):
                for j in range(kw):
                    _gather_tap(x, n, g * cg + c, i, j, sh, sw, ph, pw, dh, dw, pad32, r0, ow,
                                cols[(c * kh + i) * kw + j])
        target = out[n]
        first = r0 * ow
        c_lo = g * og + part * per_part
        c_hi = min((g + 1) * og, c_lo + per_part)
        p = 0
        while p + 8 <= count:
            rows = 16 if p + 16 <= count else 8
            c = c_lo
            while c + LANES <= c_hi:
                if rows == 16:
                    _panel_16(cols, weights_t, p, c, target, first + p, coefficients)
                else:
                    _panel_8(cols, weights_t, p, c, target, first + p, coefficients)
                c += LANES
            for ch in range(c, c_hi):
                for q in range(p, p + rows):
                    _sum_one(cols, weights_t, q, ch, target, first + q, coefficients)
            p += rows
        for q in range(p, count):
            for ch in range(c_lo, c_hi):
                _sum_one(cols, weights_t, q, ch, target, first + q, coefficients)

"""numba kernels of the fast engine: bit-packed binary convolution, pooling, channel affine.

A binary convolution runs in three parallel passes:

1. :func:`sign_pack` takes the float input, subtracts the RSign threshold, and packs the signs
   along the channels, one pixel at a time, into 64-bit words; the engine packs a tensor once
   for all the convolutions that read it (a searched cell's edges share their inputs);
2. :func:`im2col_bits` gathers the taps of each output position into one row of words, taps
   in the border reading the pad bit (-1 by default) in every channel. The taps' bit fields
   are laid end to end (a 3x3 conv of 24 channels takes 216 bits, 4 words, not 9; one of 96
   channels 14 words, not 18): a packed im2col 32 times smaller than a float one;
3. :func:`conv_gemm` multiplies the rows by the packed weights (laid out by the same two
   functions) as a popcount GEMM, ``taps - 2 * popcount(a XOR w)`` summed over the words
   (XNOR-Net, Rastegari et al., ECCV 2016), and writes ``y * scale + bias`` in float32 NCHW,
   with the BN that follows the conv and the block's residual add fused in: the output
   tensor is written once instead of three times.
   The weights are stored transposed, ``(words, out channels)``: a micro-kernel written in
   LLVM IR (:func:`_xor_popcount_panel`) counts 16 output positions by 8 channels in vector
   registers, each word one load of 16 positions and, per channel, a broadcast weight word,
   an XOR and a vector popcount (AVX-512 VPOPCNTDQ where the CPU has it; LLVM lowers the
   generic ``ctpop`` for other CPUs).

Bits that are padding in a word are 0 in input and weights alike and count nothing. Every
float operation happens in float32 in the order of the reference engine
(:mod:`bnnas.export.kernels`), so the results are bit-identical to it.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from bnnas.export.panel_ir import broadcast, load_vector, store_vector

_ONE = np.uint64(1)
BAND_POSITIONS = 256  # output positions (whole rows) per parallel task of im2col_bits_into
ROW_BLOCK = 128  # GEMM rows per parallel task: the weights stay in cache while they stream
# past, and each output channel gets runs of 128 contiguous pixels
LANES = 8  # output channels counted together by the micro-kernels (register blocking)


@intrinsic
def popcount(typingctx, x):  # type: ignore[no-untyped-def]
    """Set bits of a uint64 via LLVM's ``ctpop`` (the ``popcnt``/``vpopcntq`` instruction)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


def words_per_row(channels: int, kh: int, kw: int) -> int:
    """Words of one packed im2col row (and of one packed weight row): the taps' channel bit
    fields laid end to end."""
    return (kh * kw * channels + 63) // 64


def pad_words(channels: int, pad_bit: bool) -> np.ndarray:
    """The words of a border pixel: ``pad_bit`` in each of ``channels``, 0 beyond them."""
    words = np.zeros((channels + 63) // 64, np.uint64)
    if pad_bit:
        for ch in range(channels):
            words[ch >> 6] |= _ONE << np.uint64(ch & 63)
    return words


def sign_pack(x: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """:func:`sign_pack_into` a new array ``(N, ceil(C / 64), H, W)``."""
    n, c, h, w = x.shape
    out = np.empty((n, (c + 63) // 64, h, w), np.uint64)
    sign_pack_into(x, threshold, out)
    return out


@numba.njit(parallel=True, cache=True)
def sign_pack_into(x: np.ndarray, threshold: np.ndarray, out: np.ndarray) -> None:
    """Signs of ``x - threshold[c] >= 0`` for float ``(N, C, H, W)`` as planes of words
    ``(N, ceil(C / 64), H, W)`` into ``out``, bit ``c % 64`` of word ``c // 64`` for channel
    ``c``.

    Planes of words: the loops here run along a band of whole rows (one stretch of a
    channel's plane in ``x`` and of a word plane in ``out``), and :func:`im2col_bits_into`
    reads one tap's words for a run of output positions as one stretch of a plane, both
    with unit stride. ``x`` must be C-contiguous."""
    n, c, h, w = x.shape
    cw = (c + 63) // 64
    band = max(1, BAND_POSITIONS // w)  # rows per task: each loop runs along band * w pixels
    bands = (h + band - 1) // band
    pixels = x.reshape(n, c, h * w)
    words = out.reshape(n, cw, h * w)
    for task in prange(n * bands):
        b, y0 = task // bands, (task % bands) * band
        p0, p1 = y0 * w, min(h, y0 + band) * w
        for q in range(cw):
            target = words[b, q, p0:p1]
            for p in range(p1 - p0):
                target[p] = 0
        for ch in range(c):
            shift = np.uint64(ch & 63)
            t = threshold[ch]
            source = pixels[b, ch, p0:p1]
            target = words[b, ch >> 6, p0:p1]
            for p in range(p1 - p0):
                target[p] |= np.uint64(source[p] - t >= 0) << shift


def im2col_bits(px: np.ndarray, pad: np.ndarray, channels: int, kh: int, kw: int, sh: int,
                sw: int, ph: int, pw: int, dh: int, dw: int, oh: int, ow: int) -> np.ndarray:
    """:func:`im2col_bits_into` a new array ``(words, N * OH * OW)``."""
    k = (kh * kw * channels + 63) // 64
    cols = np.empty((k, px.shape[0] * oh * ow), np.uint64)
    im2col_bits_into(px, pad, channels, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, cols)
    return cols


@numba.njit(parallel=True, cache=True)
def im2col_bits_into(px: np.ndarray, pad: np.ndarray, channels: int, kh: int, kw: int,
                     sh: int, sw: int, ph: int, pw: int, dh: int, dw: int, oh: int, ow: int,
                     cols: np.ndarray) -> None:
    """The packed taps of every output position of the packed pixels ``px``, word-major, into
    ``cols`` (``(words, N * OH * OW)``, C-contiguous): ``cols[q, r]`` is word ``q`` of
    output position ``r``; taps outside the image read the border words ``pad``. The bits
    follow the weight's ``(i, j, channel)`` order, each tap's ``channels`` bits right after
    the previous tap's (a 96-channel 5x5 conv takes 38 words a position, not 50).

    One task per band of about ``BAND_POSITIONS`` output positions (whole rows of one
    image); inside it the loops run tap by tap and, for each of the tap's source words, along
    the band: the destination word and shift are fixed along that loop and the word-major
    layout makes the writes contiguous, so the loop vectorises. A convolution of stride 1
    whose output is as wide as its input (a "same" padding: most of them) reads each tap for
    the whole band as one stretch of the input's word plane, the output positions and their
    taps being a fixed distance apart in both; the positions whose tap falls in the left or
    right border (which that stretch reads from the neighbouring row) get their field set to
    the border word afterwards. Other convolutions go row by row, the positions whose tap is
    inside the image one range per row. Each task clears its own columns of ``cols`` (any
    contents) first, while they are in its cache: the caller can hand the same buffer to
    every convolution (no page faults of a new array each time, no separate pass of zeros).
    """
    n, cw, h, w = px.shape
    k = cols.shape[0]
    # Output pixels x0[j] <= x < x1[j] of a row read tap column j inside the image (the same
    # for every row: worked out once, not per row and tap)
    x0 = np.empty(kw, np.int64)
    x1 = np.empty(kw, np.int64)
    for j in range(kw):
        first = j * dw - pw
        x0[j] = min(ow, max(0, (-first + sw - 1) // sw))
        x1[j] = max(x0[j], min(ow, (w - 1 - first) // sw + 1))
    flat = sh == 1 and sw == 1 and ow == w
    words = px.reshape(-1)
    band = max(1, BAND_POSITIONS // ow)
    bands = (oh + band - 1) // band
    for task in prange(n * bands):
        b, y0 = task // bands, (task % bands) * band
        y1 = min(oh, y0 + band)
        base = b * oh * ow  # the image's first output position
        for q in range(k):
            for r in range(base + y0 * ow, base + y1 * ow):
                cols[q, r] = 0
        for i in range(kh):
            for j in range(kw):
                first = j * dw - pw  # input column of output pixel 0's tap
                for q in range(cw):
                    offset = (i * kw + j) * channels + 64 * q
                    word, shift = offset >> 6, offset & 63
                    bits = min(64, channels - 64 * q)
                    field = ~np.uint64(0) if bits == 64 else (_ONE << np.uint64(bits)) - _ONE
                    plane = (b * cw + q) * h * w  # the word plane's first word
                    for part in range(2):  # the field's low bits, then those that spill over
                        if part == 1 and shift + bits <= 64:
                            break
                        target, down = word + part, part == 1
                        amount = np.uint64(64 - shift if down else shift)
                        if flat:
                            _or_band(cols, target, words, plane, pad[q], base, y0, y1, x0[j],
                                     x1[j], ow, h, i * dh - ph, first, field, amount, down)
                            continue
                        for y in range(y0, y1):
                            yy = y * sh + i * dh - ph
                            inside = 0 <= yy < h
                            _or_row(cols, target, words, plane + min(max(yy, 0), h - 1) * w,
                                    pad[q], base + y * ow, x0[j] if inside else 0,
                                    x1[j] if inside else 0, ow, sw, first, amount, down)


@numba.njit(cache=True, inline="always")
def _shifted(value: np.uint64, amount: np.uint64, down: bool) -> np.uint64:
    return value >> amount if down else value << amount


@numba.njit(cache=True, inline="always")
def _or_row(cols: np.ndarray, word: int, words: np.ndarray, row: int, pad: np.uint64,
            r0: int, x0: int, x1: int, ow: int, sw: int, first: int, amount: np.uint64,
            down: bool) -> None:
    """OR one tap's word into ``cols[word, r0 + x]`` for the ``ow`` pixels ``x`` of an output
    row: ``words[row + x * sw + first]`` (an input row's words) for ``x0 <= x < x1``, the
    border word ``pad`` elsewhere, shifted up by ``amount`` (or down: the high bits of a
    field that spills into the next word)."""
    border = _shifted(pad, amount, down)
    for x in range(x0):
        cols[word, r0 + x] |= border
    for x in range(x1, ow):
        cols[word, r0 + x] |= border
    if x1 <= x0:
        return
    # Views from the first pixel read, indexed from 0: indices LLVM can see are not negative,
    # so the loop is plain vector loads and stores, no per-element wraparound selects
    target = cols[word, r0 + x0 : r0 + x1]
    source = words[row + x0 * sw + first : row + (x1 - 1) * sw + first + 1 : sw]
    for x in range(x1 - x0):
        target[x] |= _shifted(source[x], amount, down)


@numba.njit(cache=True, inline="always")
def _or_band(cols: np.ndarray, word: int, words: np.ndarray, plane: int, pad: np.uint64,
             base: int, y0: int, y1: int, x0: int, x1: int, ow: int, h: int, rise: int,
             first: int, field: np.uint64, amount: np.uint64, down: bool) -> None:
    """OR one tap's word into ``cols[word, base + y * ow + x]`` for the output rows ``y0 <=
    y < y1`` of a stride-1 convolution whose output is as wide as its input: the word of
    input pixel ``(y + rise, x + first)`` of the word plane starting at ``words[plane]``, or
    the border word ``pad`` where that pixel is outside the image; shifted as in
    :func:`_or_row`.

    The rows whose tap row is inside the image are one stretch: output position ``t`` (from
    the image's first) reads input word ``t + rise * ow + first``, a fixed distance. That
    stretch runs from the first row's first inside pixel to the last row's last; the pixels
    in between whose tap column is outside (x < x0 or x >= x1, read from a neighbouring row)
    then have their ``field`` bits replaced by the border's."""
    border = _shifted(pad, amount, down)
    keep = ~_shifted(field, amount, down)
    ya = min(y1, max(y0, -rise))  # rows ya <= y < yb have their tap row inside
    yb = max(ya, min(y1, h - rise))
    for y in range(y0, ya):
        for x in range(ow):
            cols[word, base + y * ow + x] |= border
    for y in range(yb, y1):
        for x in range(ow):
            cols[word, base + y * ow + x] |= border
    if ya >= yb or x1 <= x0:
        for y in range(ya, yb):
            for x in range(ow):
                cols[word, base + y * ow + x] |= border
        return
    t0, t1 = ya * ow + x0, (yb - 1) * ow + x1
    target = cols[word, base + t0 : base + t1]
    start = plane + t0 + rise * ow + first
    source = words[start : start + t1 - t0]
    for t in range(t1 - t0):
        target[t] |= _shifted(source[t], amount, down)
    for y in range(ya, yb):
        r = base + y * ow
        for x in range(x0):
            cols[word, r + x] = (cols[word, r + x] & keep) | border
        for x in range(x1, ow):
            cols[word, r + x] = (cols[word, r + x] & keep) | border


def pack_weights(bits: np.ndarray) -> np.ndarray:
    """Weight sign bits ``(O, C, KH, KW)`` as the transposed packed rows ``(words, O)`` that
    :func:`conv_gemm` takes (laid out by the same :func:`sign_pack` and :func:`im2col_bits`
    as the inputs, so the bits line up)."""
    o, c, kh, kw = bits.shape
    signs = np.where(bits, np.float32(1), np.float32(-1)).astype(np.float32)
    px = sign_pack(signs, np.zeros(c, np.float32))
    return im2col_bits(px, pad_words(c, False), c, kh, kw, 1, 1, 0, 0, 1, 1, 1, 1)


def _xor_popcount_panel(rows: int, lanes: int):  # type: ignore[no-untyped-def]
    """An intrinsic ``panel(cols, weights_t, r, c, counts, at, line)`` that sets ``counts[line
    + j, at + i] = popcount(cols[:, r + i] XOR weights_t[:, c + j])`` summed over the words,
    for ``i < rows`` and ``j < lanes`` (C-contiguous uint64 arrays).

    Written in LLVM IR because the accumulators must stay in vector registers for the whole
    word loop: ``lanes`` vectors of ``rows`` 64-bit counts, one per output channel. The
    word-major ``cols`` hold a word of ``rows`` consecutive output positions side by side, so
    each word is one vector load; each weight word is broadcast and XORed with it (a
    register-blocked GEMM micro-kernel, as in Goto & van de Geijn, ACM TOMS 2008). The
    vectors run along output positions, so a channel's counts are stored as one contiguous
    run: the epilogue reads them in the order it writes the NCHW output, with no transpose.
    Left to numba, the same loops keep the counts in memory and load and store them for
    every word.
    """
    i64 = ir.IntType(64)
    vector = ir.VectorType(i64, rows)

    @intrinsic
    def panel(typingctx, cols, weights_t, r, c, counts, at, line):  # type: ignore[no-untyped-def]
        arrays = (cols, weights_t, counts)
        if any(not isinstance(a, types.Array) or a.ndim != 2 or a.layout != "C"
               or a.dtype != types.uint64 for a in arrays):
            return None

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            cols_, weights_, counts_ = (
                context.make_array(signature.args[i])(context, builder, args[i])
                for i in (0, 1, 4))
            words, m = cgutils.unpack_tuple(builder, cols_.shape, 2)
            o = cgutils.unpack_tuple(builder, weights_.shape, 2)[1]
            stride = cgutils.unpack_tuple(builder, counts_.shape, 2)[1]
            row, column, first_count, first_line = args[2], args[3], args[5], args[6]
            ctpop = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vector, [vector]), f"llvm.ctpop.v{rows}i64")
            sums = [cgutils.alloca_once_value(builder, ir.Constant(vector, None))
                    for _ in range(lanes)]
            with cgutils.for_range(builder, words) as loop:
                q = loop.index
                a = load_vector(builder, cols_.data, builder.add(builder.mul(q, m), row),
                                vector, 8)
                first = builder.add(builder.mul(q, o), column)
                for j in range(lanes):
                    w = broadcast(builder, weights_.data,
                                  builder.add(first, ir.Constant(i64, j)), vector)
                    count = builder.call(ctpop, [builder.xor(a, w)])
                    builder.store(builder.add(builder.load(sums[j]), count), sums[j])
            for j in range(lanes):
                line = builder.add(builder.mul(builder.add(first_line, ir.Constant(i64, j)),
                                               stride), first_count)
                store_vector(builder, builder.load(sums[j]), counts_.data, line, 8)
            return context.get_dummy_value()

        return types.void(cols, weights_t, r, c, counts, at, line), codegen

    return panel


_panel_16 = _xor_popcount_panel(16, LANES)
_panel_8 = _xor_popcount_panel(8, LANES)


@numba.njit(cache=True, inline="always")
def channel_parts(channels: int, blocks: int, threads: int) -> tuple[int, int]:
    """``(parts, channels per part)``: into how many parts of whole ``LANES`` panels a
    product splits its output channels so that ``blocks`` blocks of output positions make
    at least twice ``threads`` tasks (one part when there are blocks enough or one thread)."""
    parts = max(1, min(channels // LANES, -(-2 * threads // blocks))) if threads > 1 else 1
    per_part = -(-(channels // parts) // LANES) * LANES if parts > 1 else channels
    return -(-channels // per_part), per_part


@numba.njit(cache=True, inline="always")
def _count_rows(cols: np.ndarray, weights_t: np.ndarray, r: int, n: int, c0: int, c1: int,
                counts: np.ndarray, at: int) -> None:
    """``counts[c - c0, at + i] = popcount(cols[:, r + i] XOR w_c)`` summed over the words,
    for ``i < n`` and the channels ``c0 <= c < c1``.

    Panels of 16 (or 8) rows by ``LANES`` channels go through the register-blocked
    micro-kernels; the channels beyond a multiple of ``LANES`` and rows beyond a multiple of
    8 are counted one by one.
    """
    k = cols.shape[0]
    done = 0
    while done + 8 <= n:
        rows = 16 if done + 16 <= n else 8
        c = c0
        while c + LANES <= c1:
            if rows == 16:
                _panel_16(cols, weights_t, r + done, c, counts, at + done, c - c0)
            else:
                _panel_8(cols, weights_t, r + done, c, counts, at + done, c - c0)
            c += LANES
        for j in range(c, c1):
            for i in range(done, done + rows):
                total = np.uint64(0)
                for q in range(k):
                    total += popcount(cols[q, r + i] ^ weights_t[q, j])
                counts[j - c0, at + i] = total
        done += rows
    for i in range(done, n):
        for j in range(c0, c1):
            total = np.uint64(0)
            for q in range(k):
                total += popcount(cols[q, r + i] ^ weights_t[q, j])
            counts[j - c0, at + i] = total


@numba.njit(parallel=True, cache=True)
def conv_gemm(cols: np.ndarray, weights_t: np.ndarray, taps: int, affines: np.ndarray,
              flags: np.ndarray, residual: np.ndarray, out: np.ndarray,
              channel_offset: int, threads: int = 1) -> None:
    """``out[b, channel_offset + o, p]`` (``out`` viewed as ``(N, channels, OH * OW)``) for
    every output position ``(b, p)``, column ``r`` of the word-major ``cols``
    (:func:`im2col_bits`): the integer ``taps - 2 * popcount(cols[:, r] XOR w_o)`` as
    float32, times ``affines[0, o]`` plus ``affines[1, o]`` (the conv's scale and bias), times
    ``affines[2, o]`` plus ``affines[3, o]`` (a BN after it), plus ``residual[b,
    channel_offset + o, p]``; each step only where ``flags[step]`` is set, so the float32
    operations are exactly those of the unfused layers, in their order.

    A block of rows is counted first, channel-major, then written channel by channel:
    consecutive rows are consecutive pixels of a plane, so each channel gets one contiguous
    run instead of one scattered write per row. When there are fewer blocks than twice
    ``threads`` (the 7x7 layers of a batch-1 ResNet: one block), each block's channels are
    split into parts of whole ``LANES`` panels, so that every thread has work.
    """
    m = cols.shape[1]
    o = weights_t.shape[1]
    plane = out.shape[2]
    # A step left out is its identity: x * 1 and x + (-0.0) return x bit for bit (IEEE 754;
    # x + 0.0 would turn -0.0 into +0.0), so the write loop has no branch and vectorises.
    coefficients = np.empty((4, o), np.float32)
    for step in range(4):
        for c in range(o):
            identity = np.float32(1.0) if step % 2 == 0 else np.float32(-0.0)
            coefficients[step, c] = affines[step, c] if flags[step] else identity
    add_residual = flags[4]
    blocks = (m + ROW_BLOCK - 1) // ROW_BLOCK
    parts, per_part = channel_parts(o, blocks, threads)
    for task in prange(blocks * parts):
        block, part = task // parts, task % parts
        r0 = block * ROW_BLOCK
        r1 = min(m, r0 + ROW_BLOCK)
        c0 = part * per_part
        c1 = min(o, c0 + per_part)
        counts = np.empty((c1 - c0, ROW_BLOCK), np.uint64)  # each count read is written first
        _count_rows(cols, weights_t, r0, r1 - r0, c0, c1, counts, 0)
        for c in range(c0, c1):
            channel = channel_offset + c
            s0, t0 = coefficients[0, c], coefficients[1, c]
            s1, t1 = coefficients[2, c], coefficients[3, c]
            r = r0
            while r < r1:  # one run per image: rows r.. are pixels p.. of image b
                b = r // plane
                p = r - b * plane
                run = min(r1 - r, plane - p)
                line = counts[c - c0, r - r0 : r - r0 + run]
                target = out[b, channel, p : p + run]
                if add_residual:
                    extra = residual[b, channel, p : p + run]
                    for i in range(run):
                        value = np.float32(taps - 2 * np.int64(line[i]))
                        target[i] = (value * s0 + t0) * s1 + t1 + extra[i]
                else:
                    for i in range(run):
                        value = np.float32(taps - 2 * np.int64(line[i]))
                        target[i] = (value * s0 + t0) * s1 + t1
                r += run


@numba.njit(parallel=True, cache=True)
def add_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out = a + b`` for C-contiguous float32 NCHW arrays of one shape, plane by plane."""
    n, c, h, w = a.shape
    x, y, z = a.reshape(n * c, h * w), b.reshape(n * c, h * w), out.reshape(n * c, h * w)
    for plane in prange(n * c):
        for p in range(h * w):
            z[plane, p] = x[plane, p] + y[plane, p]


@numba.njit(parallel=True, cache=True)
def divide_into(a: np.ndarray, divisor: float, out: np.ndarray) -> None:
    """``out = a / divisor`` for C-contiguous float32 NCHW arrays, plane by plane (a true
    float32 division, as numpy's: not a product with the reciprocal)."""
    n, c, h, w = a.shape
    x, z = a.reshape(n * c, h * w), out.reshape(n * c, h * w)
    d = np.float32(divisor)
    for plane in prange(n * c):
        for p in range(h * w):
            z[plane, p] = x[plane, p] / d


@numba.njit(parallel=True, cache=True)
def copy_channels(source: np.ndarray, out: np.ndarray, first: int) -> None:
    """``out[:, first : first + C] = source`` for C-contiguous float32 NCHW arrays (a
    concatenation along the channels, one part at a time), plane by plane."""
    n, c, h, w = source.shape
    x = source.reshape(n, c, h * w)
    z = out.reshape(n, out.shape[1], h * w)
    for plane in prange(n * c):
        b, ch = plane // c, plane % c
        for p in range(h * w):
            z[b, first + ch, p] = x[b, ch, p]


@numba.njit(cache=True, inline="always")
def max2(a: float, b: float) -> float:
    """``b`` if it is greater, else ``a``: the comparison order of the reference's maxima."""
    return b if b > a else a


POOL_PLANES = 8  # (image, channel) planes per parallel task of pool2d: one padded buffer each


def pool2d(x: np.ndarray, is_max: bool, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
           oh: int, ow: int, count_include_pad: bool, negate: np.ndarray) -> np.ndarray:
    """:func:`pool2d_into` a new array ``(N, C, OH, OW)``."""
    out = np.empty((x.shape[0], x.shape[1], oh, ow), np.float32)
    pool2d_into(x, is_max, kh, kw, sh, sw, ph, pw, count_include_pad, negate, out)
    return out


@numba.njit(parallel=True, cache=True)
def pool2d_into(x: np.ndarray, is_max: bool, kh: int, kw: int, sh: int, sw: int, ph: int,
                pw: int, count_include_pad: bool, negate: np.ndarray, out: np.ndarray) -> None:
    """Max or average pooling as :func:`bnnas.export.kernels.pool2d` computes it, into
    ``out`` (``(N, C, OH, OW)``: the geometry, ``OH``/``OW`` with ``ceil_mode``, decided by
    the caller).

    Each plane is copied into a border of -inf (max) or 0 (average) wide enough for the last
    window (one buffer per task of :data:`POOL_PLANES` planes). A max is separable and exact
    in any order: the rows' maxima over the ``kw`` taps come first, then the maxima of ``kh``
    of those rows, ``kh + kw`` comparisons per output instead of ``kh * kw``. An average adds
    its taps in ``(i, j)`` order, the rounding order of the reference, each tap to a whole
    output row at a time (to the whole plane at once for stride 1), and divides by the taps
    inside the input (plus its padding when ``count_include_pad``), never counting the
    ``ceil_mode`` overhang.

    A max pool of a channel whose ``negate`` is set gives the minimum instead (the max of
    ``-x``, negated: exact), so that a BN with a negative scale can follow the pool rather
    than precede it (:meth:`bnnas.export.fast.FastEngine.run`). Averages ignore it.
    """
    n, c, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    hp = max(h + 2 * ph, (oh - 1) * sh + kh)
    wp = max(w + 2 * pw, (ow - 1) * sw + kw)
    rows_in = np.empty(oh, np.float32)  # taps of each output row/column that count
    cols_in = np.empty(ow, np.float32)
    for y in range(oh):
        lo, hi = y * sh - ph, y * sh - ph + kh
        if count_include_pad:
            rows_in[y] = min(hi, h + ph) - max(lo, -ph)
        else:
            rows_in[y] = min(hi, h) - max(lo, 0)
    for xo in range(ow):
        lo, hi = xo * sw - pw, xo * sw - pw + kw
        if count_include_pad:
            cols_in[xo] = min(hi, w + pw) - max(lo, -pw)
        else:
            cols_in[xo] = min(hi, w) - max(lo, 0)
    fill = -np.inf if is_max else 0.0
    planes = n * c
    for task in prange((planes + POOL_PLANES - 1) // POOL_PLANES):
        padded = np.full((hp, wp), fill, np.float32)
        across = np.empty((hp, ow), np.float32)  # max: each padded row's maxima over kw taps
        acc = np.empty(ow, np.float32)
        sums = np.empty(hp * wp, np.float32)  # sums (or row maxima) over the padded width
        peaks = np.empty(hp * wp, np.float32)  # and the maxima of kh of those rows
        for plane in range(task * POOL_PLANES, min(planes, (task + 1) * POOL_PLANES)):
            b, ch = plane // c, plane % c
            flip = is_max and negate[ch]
            if flip:
                padded[ph : ph + h, pw : pw + w] = -x[b, ch]
            else:
                padded[ph : ph + h, pw : pw + w] = x[b, ch]
            if is_max and sh == 1 and sw == 1:
                # Over the padded width, as the average below: the maxima along each padded
                # row's kw taps in one run over the plane, then along kh of those rows
                flat = padded.reshape(-1)
                span = (oh - 1) * wp + ow
                rows_span = span + (kh - 1) * wp
                for t in range(rows_span):
                    sums[t] = flat[t]
                for j in range(1, kw):
                    taps = flat[j : j + rows_span]
                    for t in range(rows_span):
                        sums[t] = max2(sums[t], taps[t])
                for t in range(span):
                    peaks[t] = sums[t]
                for i in range(1, kh):
                    taps = sums[i * wp : i * wp + span]
                    for t in range(span):
                        peaks[t] = max2(peaks[t], taps[t])
                sign = np.float32(-1.0) if flip else np.float32(1.0)
                for y in range(oh):
                    for xo in range(ow):
                        out[b, ch, y, xo] = sign * peaks[y * wp + xo]
                continue
            if is_max:
                for yp in range(hp):
                    line = padded[yp]
                    row = across[yp]
                    if kw == 3 and sw <= 2:  # 3x3 pools: strides known to LLVM, vectorised
                        if sw == 1:
                            for xo in range(ow):
                                m = max2(line[xo], line[xo + 1])
                                row[xo] = max2(m, line[xo + 2])
                        else:
                            for xo in range(ow):
                                m = max2(line[2 * xo], line[2 * xo + 1])
                                row[xo] = max2(m, line[2 * xo + 2])
                        continue
                    for xo in range(ow):
                        row[xo] = line[xo * sw]
                    for j in range(1, kw):
                        for xo in range(ow):
                            row[xo] = max2(row[xo], line[xo * sw + j])
                for y in range(oh):
                    target = out[b, ch, y]
                    target[:] = across[y * sh]
                    for i in range(1, kh):
                        row = across[y * sh + i]
                        for xo in range(ow):
                            target[xo] = max2(target[xo], row[xo])
                    if flip:
                        for xo in range(ow):
                            target[xo] = -target[xo]
                continue
            if sh == 1 and sw == 1:
                # Over the padded width: output (y, x) sums flat[y * wp + x + i * wp + j], so
                # each tap is one run over all rows (the wp - ow columns past each row's end
                # are summed too and dropped), not one short loop per row and tap
                flat = padded.reshape(-1)
                span = (oh - 1) * wp + ow
                if kh == 3 and kw == 3:  # the 3x3 pool of a cell: nine taps in one pass
                    r0, r1, r2 = flat[:], flat[wp:], flat[2 * wp :]
                    for t in range(span):
                        total = np.float32(0.0) + r0[t]
                        total += r0[t + 1]
                        total += r0[t + 2]
                        total += r1[t]
                        total += r1[t + 1]
                        total += r1[t + 2]
                        total += r2[t]
                        total += r2[t + 1]
                        total += r2[t + 2]
                        sums[t] = total
                else:
                    for t in range(span):
                        sums[t] = 0.0
                    for i in range(kh):
                        for j in range(kw):
                            taps = flat[i * wp + j : i * wp + j + span]
                            for t in range(span):
                                sums[t] += taps[t]
                for y in range(oh):
                    for xo in range(ow):
                        out[b, ch, y, xo] = sums[y * wp + xo] / (rows_in[y] * cols_in[xo])
                continue
            if kh == 2 and kw == 2 and sh == 2 and sw == 2:  # a downsampling shortcut's pool
                for y in range(oh):  # its four taps in one pass, in the same (i, j) order
                    top, bottom = padded[2 * y], padded[2 * y + 1]
                    for xo in range(ow):
                        total = np.float32(0.0) + top[2 * xo]
                        total += top[2 * xo + 1]
                        total += bottom[2 * xo]
                        total += bottom[2 * xo + 1]
                        out[b, ch, y, xo] = total / (rows_in[y] * cols_in[xo])
                continue
            for y in range(oh):
                acc[:] = 0.0
                for i in range(kh):
                    line = padded[y * sh + i]
                    for j in range(kw):
                        if sw == 2:  # a constant stride: LLVM vectorises the strided loads
                            for xo in range(ow):
                                acc[xo] += line[2 * xo + j]
                        else:
                            for xo in range(ow):
                                acc[xo] += line[xo * sw + j]
                for xo in range(ow):
                    out[b, ch, y, xo] = acc[xo] / (rows_in[y] * cols_in[xo])


GAP_ROWS = 256  # (image, channel) planes per parallel task of global_avg_pool_into


@numba.njit(parallel=True, cache=True)
def global_avg_pool_into(x: np.ndarray, out: np.ndarray) -> None:
    """The mean of each plane of the float32 NCHW ``x`` into ``out`` ``(N * C,)``, as
    :func:`bnnas.export.kernels.global_avg_pool` computes it: pixels added in row-major
    order from 0, then divided by their count. Each task keeps the running sums of
    ``GAP_ROWS`` planes and adds one pixel to all of them at a time: independent sums, not
    one chain of dependent additions per plane."""
    n, c, h, w = x.shape
    planes, area = n * c, h * w
    flat = x.reshape(planes, area)
    count = np.float32(area)
    for task in prange((planes + GAP_ROWS - 1) // GAP_ROWS):
        first = task * GAP_ROWS
        last = min(planes, first + GAP_ROWS)
        sums = np.zeros(last - first, np.float32)
        for t in range(area):
            for r in range(first, last):
                sums[r - first] += flat[r, t]
        for r in range(first, last):
            out[r] = sums[r - first] / count


@numba.njit(parallel=True, cache=True)
def channel_affine(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, has_scale: bool,
                   has_bias: bool, out: np.ndarray) -> np.ndarray:
    """``x * scale[c] + bias[c]`` on float32 NCHW, as the reference computes it, into
    ``out`` (which may be ``x`` itself: a fresh intermediate need not be copied)."""
    n, c, h, w = x.shape
    for task in prange(n * c):
        b, ch = task // c, task % c
        s, t = scale[ch], bias[ch]
        for y in range(h):
            for xx in range(w):
                v = x[b, ch, y, xx]
                if has_scale:
                    v = v * s
                if has_bias:
                    v = v + t
                out[b, ch, y, xx] = v
    return out


@numba.njit(parallel=True, cache=True)
def linear_into(x: np.ndarray, columns: np.ndarray, bias: np.ndarray, has_bias: bool,
                out: np.ndarray) -> None:
    """``x`` ``(N, K)`` times the weight given as ``columns`` ``(K, O)`` (its transpose),
    plus ``bias``, into ``out`` ``(N, O)``, as :func:`bnnas.export.kernels.linear` sums: the
    products of each output added input by input from the first, each rounded before it is
    added. One task per image; its inner loop runs across the outputs, each output's sum
    keeping its own order, so it vectorizes without reordering any sum."""
    n, k_count = x.shape
    o = columns.shape[1]
    for b in prange(n):
        row = out[b]
        first = x[b, 0]
        for j in range(o):
            row[j] = first * columns[0, j]
        for k in range(1, k_count):
            value = x[b, k]
            for j in range(o):
                row[j] = row[j] + value * columns[k, j]
        if has_bias:
            for j in range(o):
                row[j] = row[j] + bias[j]


@numba.njit(parallel=True, cache=True)
def pad_into(x: np.ndarray, top: int, left: int, value: float, out: np.ndarray) -> None:
    """float32 NCHW ``x``, of any strides (a view: a state shifted by a pixel, a slice of
    its channels), copied into ``out`` with its first pixel at row ``top`` and column
    ``left``, and ``value`` all around it (out's size says how much)."""
    n, c, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    fill = np.float32(value)
    for plane in prange(n * c):
        b, ch = plane // c, plane % c
        for y in range(oh):
            row = out[b, ch, y]
            source_y = y - top
            if source_y < 0 or source_y >= h:
                for xo in range(ow):
                    row[xo] = fill
                continue
            for xo in range(left):
                row[xo] = fill
            for xo in range(w):
                row[left + xo] = x[b, ch, source_y, xo]
            for xo in range(left + w, ow):
                row[xo] = fill

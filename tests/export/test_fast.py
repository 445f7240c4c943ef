"""The numba engine against the reference engine: the same integers, the same logits."""

import numpy as np
import pytest

from bnnas.export import kernels as K
from bnnas.export.bits import pack_rows
from bnnas.export.engine import Engine
from bnnas.export.packed import pack

pytest.importorskip("numba", reason="the fast engine needs bnnas[fast] (pip install numba)")

from bnnas.export import fast_kernels  # noqa: E402
from bnnas.export.fast import FastEngine  # noqa: E402


@pytest.mark.parametrize("channels", [4, 24, 64, 96, 130])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("kernel,stride,dilation,pad_bit", [(3, 1, 1, False), (5, 2, 1, True),
                                                            (3, 1, 2, False), (1, 2, 1, False)])
def test_packed_conv_equals_the_reference_conv(channels, groups, kernel, stride, dilation,
                                               pad_bit):
    """Sign, pack, im2col and popcount GEMM with its fused epilogue against the reference
    integer conv followed by scale and bias, a BN affine and a residual add: the same float32
    values, bit for bit."""
    _check_packed_conv(channels, groups, kernel, stride, dilation, pad_bit, (9, 7),
                       dilation * (kernel - 1) // 2)


@pytest.mark.parametrize("channels", [24, 130])
@pytest.mark.parametrize("kernel,dilation,padding,pad_bit", [(5, 2, 4, True), (3, 1, 1, False),
                                                             (5, 1, 1, True), (3, 1, 0, False),
                                                             (7, 1, 3, True)])
def test_stride_1_convs_gather_their_taps_in_bands(channels, kernel, dilation, padding,
                                                   pad_bit):
    """A 40x20 input at stride 1 is gathered in bands of rows (12 rows a task): with "same"
    padding each tap as one stretch of the input plane, its border columns fixed afterwards
    (first rows and last rows of a band reading the border or not); otherwise ("valid" or
    partial padding, the output narrower than the input) row by row. Both equal the
    reference bit for bit."""
    _check_packed_conv(channels, 1, kernel, 1, dilation, pad_bit, (40, 20), padding)


def _check_packed_conv(channels, groups, kernel, stride, dilation, pad_bit, size, padding):
    rng = np.random.default_rng(channels + kernel)
    x = rng.standard_normal((2, channels, *size)).astype(np.float32)
    threshold = (rng.standard_normal(channels) * 0.3).astype(np.float32)
    weight = rng.random((40, channels // groups, kernel, kernel)) < 0.5
    scale = rng.random(40).astype(np.float32) + 0.5
    bias = rng.standard_normal(40).astype(np.float32)
    geometry = ((kernel,) * 2, (stride,) * 2, (padding,) * 2, (dilation,) * 2)
    per_group = np.split(weight, groups)
    bits = x - threshold.reshape(1, -1, 1, 1) >= 0
    integers = K.binary_conv2d(bits, [pack_rows(w.reshape(len(w), -1)) for w in per_group],
                               *geometry, pad_bit)
    bn_scale, bn_bias = rng.standard_normal((2, 40)).astype(np.float32)
    oh, ow = integers.shape[2:]
    residual = rng.standard_normal((2, 40, oh, ow)).astype(np.float32)
    expected = K.channel_affine(integers.astype(np.float32), scale, bias)
    expected = K.channel_affine(expected, bn_scale, bn_bias) + residual
    affines = np.stack([scale, bias, bn_scale, bn_bias])
    flags = np.ones(5, np.bool_)
    got = np.empty_like(expected)
    cg, og = channels // groups, 40 // groups
    for g, w in enumerate(per_group):
        px = fast_kernels.sign_pack(np.ascontiguousarray(x[:, g * cg : (g + 1) * cg]),
                                    threshold[g * cg : (g + 1) * cg].copy())
        cols = fast_kernels.im2col_bits(px, fast_kernels.pad_words(cg, pad_bit), cg, kernel,
                                        kernel, stride, stride, padding, padding, dilation,
                                        dilation, oh, ow)
        weights_t = fast_kernels.pack_weights(w)
        assert cols.shape[0] == weights_t.shape[0] == fast_kernels.words_per_row(cg, kernel,
                                                                                 kernel)
        fast_kernels.conv_gemm(cols, weights_t, cg * kernel * kernel,
                               affines[:, g * og : (g + 1) * og].copy(), flags,
                               residual.reshape(2, 40, -1), got.reshape(2, 40, -1), g * og)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("steps", [[0, 1], [0], [2, 3, 4], [1, 4], []])
def test_the_epilogue_applies_exactly_the_flagged_steps(steps):
    """Each fused step (scale, bias, BN scale, BN bias, residual) only when flagged."""
    rng = np.random.default_rng(len(steps))
    cols = rng.integers(0, 2**63, (12, 2), dtype=np.uint64)
    weights_t = rng.integers(0, 2**63, (2, 5), dtype=np.uint64)
    affines = rng.standard_normal((4, 5)).astype(np.float32)
    residual = rng.standard_normal((3, 5, 4)).astype(np.float32)
    flags = np.array([i in steps for i in range(5)], np.bool_)
    got = np.empty((3, 5, 4), np.float32)
    fast_kernels.conv_gemm(np.ascontiguousarray(cols.T), weights_t, 128, affines, flags,
                           residual, got, 0)
    mismatches = np.bitwise_count(cols[:, None, :] ^ weights_t.T[None]).sum(-1, dtype=np.int64)
    expected = (128 - 2 * mismatches).astype(np.float32).reshape(3, 4, 5).transpose(0, 2, 1)
    for step in range(4):
        if step in steps:
            column = affines[step].reshape(1, 5, 1)
            expected = expected * column if step % 2 == 0 else expected + column
    if 4 in steps:
        expected = expected + residual
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("rows", [1, 7, 8, 24, 131, 270])
@pytest.mark.parametrize("channels", [5, 8, 24, 203])  # tail only; 8; 3 x 8; 25 x 8 + 3
@pytest.mark.parametrize("threads", [1, 2, 7])
def test_the_panels_count_every_row_and_channel(rows, channels, threads):
    """Rows are counted 16 or 8 at a time by the micro-kernels (8 channels a panel, the rest
    one by one), any last rows one by one: every count equals a plain popcount of the XOR,
    in panels, channel tails and row tails alike, across blocks of ``ROW_BLOCK`` rows, and
    across the channel parts that few blocks are split into for more threads."""
    rng = np.random.default_rng(rows)
    cols = rng.integers(0, 2**63, (rows, 3), dtype=np.uint64)
    weights_t = rng.integers(0, 2**63, (3, channels), dtype=np.uint64)
    got = np.full((1, channels, rows), np.nan, np.float32)
    fast_kernels.conv_gemm(np.ascontiguousarray(cols.T), weights_t, 192,
                           np.zeros((4, channels), np.float32),
                           np.zeros(5, np.bool_), got, got, 0, threads)
    mismatches = np.bitwise_count(cols[:, None, :] ^ weights_t.T[None]).sum(-1, dtype=np.int64)
    np.testing.assert_array_equal(got[0].T, (192 - 2 * mismatches).astype(np.float32))


def test_the_micro_kernel_keeps_its_counts_in_512_bit_registers():
    """On a CPU with AVX-512 VPOPCNTDQ the micro-kernel's word loop is vector popcounts of
    whole zmm registers, not a scalar ``popcnt`` per word (what makes it fast)."""
    import llvmlite.binding as llvm
    import numba

    features = llvm.get_host_cpu_features()
    if not (features.get("avx512vpopcntdq") and features.get("avx512f")):
        pytest.skip("this CPU has no AVX-512 VPOPCNTDQ")

    @numba.njit
    def panel(cols, weights_t, counts):
        fast_kernels._panel_16(cols, weights_t, 0, 0, counts, 0, 0)

    lanes = fast_kernels.LANES
    panel(np.zeros((3, 16), np.uint64), np.zeros((3, lanes), np.uint64),
          np.zeros((lanes, 16), np.uint64))
    (assembly,) = panel.inspect_asm().values()
    assert assembly.count("vpopcntq\t%zmm") >= 2 * lanes  # 16 rows = 2 registers a channel
    assert "popcntq\t%r" not in assembly


def test_taps_are_packed_end_to_end():
    """24 channels x 9 taps = 216 bits: 4 words per row, not one word per tap; 130 channels
    x 9 taps = 1170 bits: 19 words, not 3 words per tap."""
    assert fast_kernels.words_per_row(24, 3, 3) == 4
    assert fast_kernels.words_per_row(64, 3, 3) == 9
    assert fast_kernels.words_per_row(96, 5, 5) == 38
    assert fast_kernels.words_per_row(130, 3, 3) == 19


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("kernel,stride,padding,ceil_mode,include_pad",
                         [(3, 1, 1, False, False), (3, 2, 1, False, True), (2, 2, 0, True, True),
                          (3, 2, 1, True, False), (3, 3, 0, True, True)])
def test_compiled_pools_equal_the_reference_pools(kind, kernel, stride, padding, ceil_mode,
                                                   include_pad):
    x = np.random.default_rng(kernel + stride).standard_normal((3, 5, 8, 9)).astype(np.float32)
    expected = K.pool2d(x, kind, (kernel,) * 2, (stride,) * 2, (padding,) * 2, ceil_mode,
                        include_pad)
    oh = K.out_size(8, kernel, stride, padding, ceil_mode=ceil_mode)
    ow = K.out_size(9, kernel, stride, padding, ceil_mode=ceil_mode)
    got = fast_kernels.pool2d(x, kind == "max", kernel, kernel, stride, stride, padding, padding,
                              oh, ow, include_pad, np.zeros(5, np.bool_))
    np.testing.assert_array_equal(got, expected)
    negate = np.array([True, False, True, False, False])
    got = fast_kernels.pool2d(x, kind == "max", kernel, kernel, stride, stride, padding, padding,
                              oh, ow, include_pad, negate)
    if kind == "max":  # the negated channels take the minimum
        minimum = -K.pool2d(-x, kind, (kernel,) * 2, (stride,) * 2, (padding,) * 2, ceil_mode,
                            include_pad)
        expected[:, negate] = minimum[:, negate]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("has_scale", [True, False])
def test_a_bn_before_a_max_pool_runs_after_it_with_the_same_values(make_zoo_source,
                                                                   has_scale):
    """Affine then max pool (a stem's BN and pool) equals the reference, with scales of
    both signs: the pool takes the minimum where the scale is negative."""
    rng = np.random.default_rng(7)
    scale = rng.standard_normal(6).astype(np.float32)
    scale[:3] = -np.abs(scale[:3])
    arrays = {"s": scale, "b": rng.standard_normal(6).astype(np.float32), None: None}
    sequence = {"type": "sequential", "layers": [
        {"type": "identity"},
        {"type": "affine", "scale": "s" if has_scale else None, "bias": "b"},
        {"type": "pool", "kind": "max", "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1],
         "ceil_mode": False, "count_include_pad": True}]}
    x = rng.standard_normal((2, 6, 11, 10)).astype(np.float32)
    packed = pack(make_zoo_source("bresnet_small", (1, 28, 28)))
    reference, fast = Engine(packed), FastEngine(packed)
    for engine in (reference, fast):
        engine.array = arrays.get
    shapes = []
    affine_into = fast._affine_into
    fast._affine_into = lambda h, *rest: shapes.append(h.shape) or affine_into(h, *rest)
    expected = reference.run(sequence, x)
    np.testing.assert_array_equal(fast.run(sequence, x), expected)
    assert shapes == [expected.shape]  # the affine ran on the pooled values


@pytest.mark.parametrize("has_scale,has_bias", [(True, True), (True, False), (False, True)])
def test_compiled_affine_equals_the_reference_affine(has_scale, has_bias):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    scale, bias = rng.standard_normal((2, 5)).astype(np.float32)
    expected = K.channel_affine(x, scale if has_scale else None, bias if has_bias else None)
    got = fast_kernels.channel_affine(x, scale, bias, has_scale, has_bias, np.empty_like(x))
    np.testing.assert_array_equal(got, expected)
    fast_kernels.channel_affine(x, scale, bias, has_scale, has_bias, x)  # in place
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("shape", [(64, 128, 4, 4), (1, 512, 7, 7), (3, 300, 5, 3), (2, 3, 1, 1)])
def test_compiled_global_avg_pool_equals_the_reference(make_zoo_source, shape):
    """Planes in tasks of GAP_ROWS (300 planes: a partial second task), one pixel added to
    all of a task's sums at a time: the reference's values bit for bit."""
    engine = FastEngine(pack(make_zoo_source("bresnet_small", (1, 28, 28))))
    x = (np.random.default_rng(5).standard_normal(shape) * 3).astype(np.float32)
    got = engine.global_avg_pool(x)
    assert got.shape == (*shape[:2], 1, 1)
    np.testing.assert_array_equal(got, K.global_avg_pool(x))


def test_compiled_sum_and_concatenation_equal_numpy(make_zoo_source):
    """A cell's node sums and output concatenation (compiled, into kept arrays) give numpy's
    values; arrays they cannot take (other shapes, a non-float32 input) go to numpy."""
    engine = FastEngine(pack(make_zoo_source("bresnet_small", (1, 28, 28))))
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((2, 3, 5, 6, 7)).astype(np.float32)
    c = rng.standard_normal((3, 2, 6, 7)).astype(np.float32)
    np.testing.assert_array_equal(engine.add(a, b), a + b)
    np.testing.assert_array_equal(engine.add(a[:, ::2], b[:, ::2]), a[:, ::2] + b[:, ::2])
    np.testing.assert_array_equal(engine.concat_channels([a, c, b]),
                                  np.concatenate([a, c, b], axis=1))
    np.testing.assert_array_equal(engine.add(a, b[:1]), a + b[:1])  # broadcasting
    twice = engine.concat_channels([a, a.astype(np.float64)])
    assert twice.dtype == np.float64 and twice.shape == (3, 10, 6, 7)


def test_compiled_division_and_border_equal_numpy(make_zoo_source):
    """A dense cell's mean divides (not a product with the reciprocal: other roundings);
    the border copies views of any strides (a state shifted by a pixel, a channel slice,
    swapped axes) with the value around them; both as numpy does, bit for bit."""
    engine = FastEngine(pack(make_zoo_source("bresnet_small", (1, 28, 28))))
    x = np.random.default_rng(10).standard_normal((2, 6, 7, 9)).astype(np.float32)
    for count in (3, 7):
        np.testing.assert_array_equal(engine.divide(x, count), x / np.float32(count))
    for view in (x[:, :, 1:, 1:], x[:, 2:5], x.transpose(0, 1, 3, 2), x):
        for pads in ((0, 1, 0, 1), (2, 0, 3, 1), (0, 0, 0, 0)):
            got = engine.pad_hw(view, *pads, np.float32(-1.0))
            np.testing.assert_array_equal(got, K.pad_hw(view, *pads, np.float32(-1.0)))
            assert got.flags.c_contiguous


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
def test_compiled_linear_equals_the_reference_linear(make_zoo_source, with_bias, threads):
    """The classifier kernel sums in the reference's order, bit for bit, at sizes where a
    fused multiply-add or a reordered sum would round differently somewhere (512 inputs,
    1000 outputs, a birealnet18 head)."""
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((5, 512)) * 2).astype(np.float32)
    w = rng.standard_normal((1000, 512)).astype(np.float32)
    b = rng.standard_normal(1000).astype(np.float32) if with_bias else None
    engine = FastEngine(pack(make_zoo_source("bresnet_small", (1, 28, 28))), threads)
    np.testing.assert_array_equal(engine.linear(x, w, b), K.linear(x, w, b))
    np.testing.assert_array_equal(engine.linear(x[:1], w, b), K.linear(x[:1], w, b))


def test_fast_engine_gives_the_reference_logits(make_zoo_source, make_genotype_source,
                                                genotypes):
    x28 = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    x13 = x28[:, :, :13, :13].copy()
    for packed, x in ((pack(make_zoo_source("bresnet_small", (1, 28, 28))), x28),
                      (pack(make_genotype_source(genotypes["darts"](), (1, 13, 13))), x13),
                      (pack(make_genotype_source(genotypes["bars"](), (1, 13, 13))), x13)):
        reference = Engine(packed)(x)
        fast = FastEngine(packed)
        np.testing.assert_array_equal(fast(x), reference)
        assert fast._packed_weights  # the compiled kernel ran, not the reference one


def test_one_engine_gives_the_reference_logits_call_after_call(make_zoo_source):
    """A packed conv's set-up is worked out at its first call and kept: later calls with
    other batch sizes and inputs still give a fresh reference engine's logits."""
    packed = pack(make_zoo_source("birealnet18", (3, 16, 16), stem="small"))
    engine = FastEngine(packed)
    rng = np.random.default_rng(6)
    for batch in (3, 1, 5, 3):
        x = rng.standard_normal((batch, 3, 16, 16)).astype(np.float32)
        np.testing.assert_array_equal(engine(x), Engine(packed)(x))
    assert engine._plans  # the plans were kept


def test_kept_outputs_never_change_what_an_earlier_call_returned(make_genotype_source,
                                                                 genotypes):
    """Node outputs are written into the arrays of the call before: the logits a call
    returned stay as they were through later calls (same and other batch sizes), and each
    call's logits are the reference's."""
    packed = pack(make_genotype_source(genotypes["darts"](), (1, 13, 13)))
    engine = FastEngine(packed)
    rng = np.random.default_rng(7)
    returned = []
    for batch in (4, 4, 2, 4):
        x = rng.standard_normal((batch, 1, 13, 13)).astype(np.float32)
        logits = engine(x)
        np.testing.assert_array_equal(logits, Engine(packed)(x))
        returned.append((logits, logits.copy()))
    for logits, copy in returned:
        np.testing.assert_array_equal(logits, copy)
    assert engine._kept  # outputs were kept for reuse
    # a graph whose last node writes a kept array: what it returned is still not overwritten
    engine.graph = {"type": "affine", "scale": None, "bias": "b"}
    engine.array = lambda name: None if name is None else np.ones(1, np.float32)
    first = engine(np.zeros((2, 1, 13, 13), np.float32))
    engine(np.full((2, 1, 13, 13), 5.0, np.float32))
    np.testing.assert_array_equal(first, 1.0)


@pytest.mark.parametrize("reuse_bytes", [0, 20_000])
def test_no_more_than_reuse_bytes_of_outputs_are_kept(make_zoo_source, reuse_bytes):
    packed = pack(make_zoo_source("bresnet_small", (1, 28, 28)))
    engine = FastEngine(packed, reuse_bytes=reuse_bytes)
    x = np.random.default_rng(8).standard_normal((2, 1, 28, 28)).astype(np.float32)
    for _ in range(2):
        np.testing.assert_array_equal(engine(x), Engine(packed)(x))
    kept = [a for a in engine._kept if a is not None]
    assert sum(a.nbytes for a in kept) <= reuse_bytes
    assert bool(kept) == (reuse_bytes > 0)  # a 2-image batch has outputs under 20 kB


def test_arrays_kept_from_another_batch_size_are_dropped(make_zoo_source):
    """After calls at batch 1, calls at batch 4 with a budget too small for all their
    outputs keep only batch-4 arrays, within the budget: the batch-1 ones are dropped as
    their turn comes, not left holding the budget."""
    packed = pack(make_zoo_source("bresnet_small", (1, 28, 28)))
    engine = FastEngine(packed, reuse_bytes=60_000)
    rng = np.random.default_rng(10)
    for batch in (1, 1, 4, 4):
        x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
        np.testing.assert_array_equal(engine(x), Engine(packed)(x))
    kept = [a for a in engine._kept if a is not None]
    assert kept and all(a.shape[0] == 4 for a in kept)
    assert sum(a.nbytes for a in kept) == engine._held <= 60_000


def test_predict_with_the_fast_engine_prints_the_reference_predictions(
        make_genotype_source, genotypes, tmp_path, capsys):
    from bnnas.cli import main
    from bnnas.export.packed import export_packed

    export_packed(make_genotype_source(genotypes["darts"]()), tmp_path / "m.bnn")
    np.save(tmp_path / "x.npy", np.random.default_rng(1).standard_normal((6, 1, 12, 12)))
    outputs = []
    for engine in ("reference", "fast"):
        assert main(["predict", str(tmp_path / "m.bnn"), str(tmp_path / "x.npy"),
                     "--engine", engine]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and len(outputs[0].splitlines()) == 6


def test_thread_counts_do_not_change_the_logits_and_are_restored(make_zoo_source):
    """One thread, two threads, and the small-input path on one thread give the same
    logits; the caller's numba thread setting is left as it was."""
    import numba

    packed = pack(make_zoo_source("bresnet_small", (1, 28, 28)))
    x = np.random.default_rng(2).standard_normal((8, 1, 28, 28)).astype(np.float32)
    expected, expected_one = Engine(packed)(x), Engine(packed)(x[:1])
    before = numba.get_num_threads()
    for threads in (1, 2):
        np.testing.assert_array_equal(FastEngine(packed, threads)(x), expected)
        np.testing.assert_array_equal(FastEngine(packed, threads)(x[:1]), expected_one)
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("name", ["birealnet18", "reactnet_a"])
def test_fused_block_tails_give_the_reference_logits(make_zoo_source, name):
    """Bi-Real and ReActNet blocks run conv, BN and residual add as one fused pass (the
    timings name it); the logits stay identical to the reference engine's."""
    packed = pack(make_zoo_source(name, (3, 16, 16), stem="small"))
    x = np.random.default_rng(4).standard_normal((3, 3, 16, 16)).astype(np.float32)
    fast = FastEngine(packed)
    fast.timings = {}
    np.testing.assert_array_equal(fast(x), Engine(packed)(x))
    assert fast.timings.get("binary_conv2d+affine+add", 0) > 0


def test_in_place_affines_never_touch_the_callers_arrays(make_zoo_source):
    """A sequence's BN runs in place only on the sequence's own intermediates: the input
    array and anything sharing its memory come back unchanged."""
    packed = pack(make_zoo_source("bresnet_small", (1, 28, 28)))
    engine = FastEngine(packed)
    x = np.random.default_rng(5).standard_normal((4, 1, 28, 28)).astype(np.float32)
    kept = x.copy()
    np.testing.assert_array_equal(engine(x), Engine(packed)(kept))
    np.testing.assert_array_equal(x, kept)
    sequence = {"type": "sequential", "layers": [
        {"type": "identity"}, {"type": "affine", "scale": None, "bias": None}]}
    h = np.ones((1, 2, 3, 3), np.float32)
    engine.array = lambda name: None if name is None else np.full(2, 3.0, np.float32)
    sequence["layers"][1].update(scale="s", bias="b")
    out = engine.run(sequence, h)
    np.testing.assert_array_equal(h, 1.0)  # the identity passed h on: not changed in place
    np.testing.assert_array_equal(out, 6.0)

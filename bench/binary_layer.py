"""Benchmark: the fast engine's kernels one layer at a time, and the reference real conv.

Run by hand; results go to docs/RESULTS.md. For each binary layer shape (batch, channels,
size, kernel, dilation; as many outputs as inputs, stride 1, -1 padding) it times the three
passes of a binary conv: packing the signs (``sign_pack``), gathering the packed taps
(``im2col_bits``) and the popcount GEMM with its fused scale, BN and residual
(``conv_gemm``), best of ``--repeats`` calls after one warm-up call; then the 7x7 stride-2
stem of a 224x224 network through :func:`bnnas.export.kernels.conv2d`, best, median and
worst (its time varies with how fresh its memory is).

    .venv/bin/python bench/binary_layer.py --threads 2

To compare with an older revision, run the same script with ``PYTHONPATH`` set to a
worktree of it (``git worktree add /tmp/old REV``).
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from bnnas.export import fast_kernels as fk
from bnnas.export.kernels import conv2d

LAYERS = [  # batch, channels, size, kernel, dilation
    (64, 64, 56, 3, 1),  # birealnet18's first stage
    (64, 256, 14, 3, 1),  # its third stage
    (64, 24, 28, 3, 1),
    (64, 24, 28, 5, 1),  # the searched net's first cells
    (64, 24, 28, 5, 2),
    (64, 48, 14, 5, 1),
]


def best(fn, repeats: int) -> float:
    return timings(fn, repeats)[0]


def timings(fn, repeats: int) -> tuple[float, float, float]:
    """Best, median and worst of ``repeats`` calls after a warm-up call, in ms."""
    fn()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append((time.perf_counter() - tic) * 1e3)
    return min(times), float(np.median(times)), max(times)


def time_layer(n: int, c: int, size: int, k: int, d: int, repeats: int,
               rng: np.random.Generator) -> dict[str, float]:
    x = rng.standard_normal((n, c, size, size)).astype(np.float32)
    threshold = np.zeros(c, np.float32)
    weights_t = fk.pack_weights(rng.random((c, c, k, k)) < 0.5)
    out = np.empty((n, c, size * size), np.float32)
    affines = rng.standard_normal((4, c)).astype(np.float32)
    flags = np.ones(5, np.bool_)
    residual = rng.standard_normal((n, c, size * size)).astype(np.float32)
    pad = fk.pad_words(c, False)
    p = d * (k - 1) // 2
    px = fk.sign_pack(x, threshold)
    cols = fk.im2col_bits(px, pad, c, k, k, 1, 1, p, p, d, d, size, size)
    return {
        "sign_pack": best(lambda: fk.sign_pack(x, threshold), repeats),
        "im2col_bits": best(lambda: fk.im2col_bits(px, pad, c, k, k, 1, 1, p, p, d, d, size,
                                                   size), repeats),
        "conv_gemm": best(lambda: fk.conv_gemm(cols, weights_t, c * k * k, affines, flags,
                                               residual, out, 0), repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"# {args.threads} threads, best of {args.repeats} calls, ms")
    print("| batch x channels x size, kernel, dilation | sign_pack | im2col_bits | conv_gemm |")
    print("|---|---|---|---|")
    for n, c, size, k, d in LAYERS:
        t = time_layer(n, c, size, k, d, args.repeats, rng)
        print(f"| {n} x {c} x {size}x{size}, {k}x{k}, {d} | {t['sign_pack']:.2f} | "
              f"{t['im2col_bits']:.2f} | {t['conv_gemm']:.2f} |")
    x = rng.standard_normal((64, 3, 224, 224)).astype(np.float32)
    w = rng.standard_normal((64, 3, 7, 7)).astype(np.float32)
    low, mid, high = timings(lambda: conv2d(x, w, (2, 2), (3, 3), (1, 1)), args.repeats)
    print(f"\nreal 7x7 stride-2 stem, 64 x 3 x 224x224 -> 64 channels: best {low:.1f} ms, "
          f"median {mid:.1f} ms, worst {high:.1f} ms")


if __name__ == "__main__":
    main()

"""Benchmark: where the fast engine's time goes, kernel by kernel, for one network and batch.

Run by hand; results go to docs/RESULTS.md. Builds the network as ``bench/deploy.py`` does,
runs the fast engine ``--repeats`` times after two warm-up calls and prints the best call's
total with the time spent in each compiled kernel (``sign_pack_into``, ``im2col_bits_into``,
``conv_gemm``, ``pool2d_into``, ``global_avg_pool_into``, ``channel_affine``, ``add_into``,
``copy_channels``, and the real convolutions' ``conv_into``) and the reference's numpy
``pad_hw`` (the engine pads in numpy where its kernels do not); "(rest)" is the interpreter
and numpy glue between them. Also prints the best call's minor page faults: memory the
allocator had handed back to the system and takes again, each page zeroed by the kernel on
first touch, at the cost of the kernel that touches it first.

    .venv/bin/python bench/engine_profile.py --network birealnet18 --batch 64
    .venv/bin/python bench/engine_profile.py --network searched --batch 1 --parallel-pixels 4096

To compare with an older revision, run it with ``PYTHONPATH`` set to a worktree of it.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from deploy import build  # noqa: E402

import bnnas.export.fast as fast  # noqa: E402
from bnnas.export import fast_kernels, fast_real_conv, kernels  # noqa: E402
from bnnas.export.packed import pack  # noqa: E402

KERNELS: list[tuple[ModuleType, str]] = [
    (fast_kernels, name) for name in
    ("sign_pack_into", "im2col_bits_into", "conv_gemm", "pool2d_into", "global_avg_pool_into",
     "channel_affine", "add_into", "copy_channels", "divide_into", "pad_into", "linear_into")
] + [(fast_real_conv, "conv_into"), (kernels, "pad_hw")]


def timed_kernels(spent: dict[str, float]) -> None:
    """Replace each kernel by a wrapper adding its seconds to ``spent``."""
    for module, name in KERNELS:
        if hasattr(module, name):
            setattr(module, name, _timed(getattr(module, name), name, spent))


def _timed(fn: Callable[..., object], name: str, spent: dict[str, float]) -> Callable[..., object]:
    def wrapper(*args: object, **kwargs: object) -> object:
        tic = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - tic

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="birealnet18",
                        choices=["bresnet_small", "searched", "birealnet18"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--parallel-pixels", type=int,
                        help="override the engine's PARALLEL_PIXELS threshold")
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    if args.parallel_pixels is not None:
        fast.PARALLEL_PIXELS = args.parallel_pixels
    source, shape = build(args.network)
    engine = fast.FastEngine(pack(source), args.threads)
    spent: dict[str, float] = {}
    timed_kernels(spent)
    x = np.random.default_rng(0).standard_normal((args.batch, *shape)).astype(np.float32)
    engine(x)
    engine(x)
    best, best_spent = float("inf"), {}
    best_faults = 0
    for _ in range(args.repeats):
        spent.clear()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        tic = time.perf_counter()
        engine(x)
        total = time.perf_counter() - tic
        if total < best:
            best, best_spent = total, dict(spent)
            best_faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    print(f"{args.network} batch {args.batch}, {args.threads} threads: best of {args.repeats} "
          f"{best * 1e3:.2f} ms, {best_faults} minor page faults, "
          f"{engine._held / 2**20:.0f} MiB of node outputs kept between calls")
    for name, seconds in sorted(best_spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:15s} {seconds * 1e3:8.2f}")
    print(f"  {'(rest)':15s} {(best - sum(best_spent.values())) * 1e3:8.2f}")


if __name__ == "__main__":
    main()

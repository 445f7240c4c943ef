"""Benchmark: UBNAS supernet training step speed against the machine's fp32 matmul peak.

Run by hand; results go to docs/RESULTS.md. Counts the FLOPs of one forward+backward with
``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-add), times the step, and
measures in the same process what a large fp32 matmul reaches on the same threads.

    .venv/bin/python bench/supernet_step.py --channels 8 --cells 5 --k 4 --batch 64 --size 32
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bnnas.space.layout import Layout
from bnnas.space.network import SpaceSpec, SuperNetwork


def matmul_peak(threads: int, n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of an n x n fp32 matmul, best of ``repeats``."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - tic)
    return 2 * n**3 / best / 1e9


def conv_ceiling(batch: int, width: int, size: int, out: int, kernel: int, steps: int) -> float:
    """GFLOP/s of one fwd+bwd binary-shaped conv ``width -> out`` (the widest conv the
    supernet runs: one op of the edges leaving a state, stacked), channels-last as the
    layers run it on CPU. No step built of such convs can beat this rate."""
    x = torch.randn(batch, width, size + kernel - 1, size + kernel - 1)
    x = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(out, width, kernel, kernel, requires_grad=True)
    g = torch.randn(batch, out, size, size).contiguous(memory_format=torch.channels_last)

    def run() -> None:
        torch.autograd.grad(F.conv2d(x, w), (x, w), g)

    with FlopCounterMode(display=False) as counter:
        run()
    best = float("inf")
    for _ in range(steps):
        tic = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - tic)
    return counter.get_total_flops() / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--in-channels", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    space = SpaceSpec(layout=Layout(args.cells, args.channels),
                      partial_k_normal=args.k, partial_k_reduce=args.k)
    model = SuperNetwork(space, 10, args.in_channels)
    optimizer = torch.optim.SGD(model.weight_parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, args.in_channels, args.size, args.size)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,))

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    times = []
    for _ in range(args.steps):
        tic = time.perf_counter()
        step()
        times.append(time.perf_counter() - tic)
    seconds = statistics.median(times)
    peak = matmul_peak(args.threads)
    reached = flops / seconds / 1e9
    print(f"supernet C={args.channels} cells={args.cells} K={args.k} batch={args.batch} "
          f"{args.in_channels}x{args.size}x{args.size}, {args.threads} threads")
    print(f"  step {seconds * 1000:.0f} ms  ({args.batch / seconds:.1f} images/s), "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"  {flops / 1e9:.2f} GFLOP per step -> {reached:.1f} GFLOP/s; fp32 matmul peak "
          f"{peak:.1f} GFLOP/s; reached {100 * reached / peak:.1f}% of peak (target >= 25%)")
    width = args.channels // args.k
    ceiling = conv_ceiling(args.batch, width, args.size, 4 * width, 5, args.steps)
    print(f"  ceiling: one {width}->{4 * width} 5x5 conv fwd+bwd at {args.size}x{args.size} "
          f"reaches "
          f"{ceiling:.1f} GFLOP/s = {100 * ceiling / peak:.1f}% of peak")


if __name__ == "__main__":
    main()

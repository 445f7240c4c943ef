"""Benchmark: data-parallel (DDP, gloo) training-step time against one process, same global
batch, on a CPU; and the cost of the ranks' per-step stop agreement (one int64 all-reduce,
:func:`bnnas.train.mid_epoch.stop_together`) beside it.

Run by hand; results go to docs/RESULTS.md. Each variant runs in fresh processes started with
torchrun's environment variables, so the two-process variant goes through the same
:mod:`bnnas.distributed` code as ``torchrun -m bnnas train``.

    .venv/bin/python bench/ddp_step.py --model bresnet_small --batch 128 --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time


def measure(model_name: str, batch: int, size: int, steps: int) -> dict:
    """Median step time of this rank (forward, backward with gradient all-reduce, Adam)."""
    import torch

    from bnnas.distributed import torchrun_session
    from bnnas.models import create_model

    with torchrun_session() as ctx:
        torch.manual_seed(0)
        model = create_model(model_name, num_classes=10, in_channels=1)
        device = torch.device("cpu")
        forward = ctx.wrap(model, device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        share = ctx.per_rank_batch(batch, "--batch")
        g = torch.Generator().manual_seed(ctx.rank)
        x = torch.randn(share, 1, size, size, generator=g)
        y = torch.randint(0, 10, (share,), generator=g)
        times = []
        for i in range(steps + 3):
            ctx.barrier()
            tic = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(forward(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if i >= 3:  # warm-up steps are not timed
                times.append(time.perf_counter() - tic)
        step = statistics.median(times)
        agreement = []
        for _ in range(200):  # what run_steps adds after every data-parallel step
            ctx.barrier()
            tic = time.perf_counter()
            ctx.largest(0)
            agreement.append(time.perf_counter() - tic)
        return {"rank": ctx.rank, "step_ms": 1000 * step, "images_per_s": batch / step,
                "agree_ms": 1000 * statistics.median(agreement)}


def run_variant(processes: int, threads: int, argv: list[str]) -> dict:
    """Start ``processes`` ranks of this script with ``threads`` threads each; rank 0's row."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if processes > 1:
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(processes))
    procs = []
    for rank in range(processes):
        rank_env = {**env, "RANK": str(rank), "LOCAL_RANK": str(rank)} if processes > 1 else env
        procs.append(subprocess.Popen([sys.executable, __file__, *argv, "--worker"],
                                      env=rank_env, stdout=subprocess.PIPE, text=True))
    outputs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"a {processes}-process run failed")
    return json.loads(outputs[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bresnet_small")
    parser.add_argument("--batch", type=int, default=128, help="global batch")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        print(json.dumps(measure(args.model, args.batch, args.size, args.steps)))
        return
    argv = [a for a in sys.argv[1:] if a != "--worker"]
    cores = os.cpu_count() or 1
    variants = [(1, 1), (1, cores), (cores, 1)] if cores > 1 else [(1, 1)]
    print(f"machine: {cores}-core {platform.machine()}, torch "
          f"{__import__('torch').__version__}; global batch {args.batch}, "
          f"{args.model} on 1x{args.size}x{args.size}")
    print("| processes x threads | per-rank batch | step (ms) | images/s | stop agreement (ms) |")
    print("|---|---|---|---|---|")
    for processes, threads in variants:
        row = run_variant(processes, threads, argv)
        agree = f"{row['agree_ms']:.3f}" if processes > 1 else "–"
        print(f"| {processes} x {threads} | {args.batch // processes} | {row['step_ms']:.1f} | "
              f"{row['images_per_s']:.0f} | {agree} |", flush=True)
    print(f"command: {sys.executable} bench/ddp_step.py {' '.join(argv)}")


if __name__ == "__main__":
    main()

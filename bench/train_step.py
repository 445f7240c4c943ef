"""Benchmark: training-step speed and peak memory of a binary net vs the same net in float.

Run by hand; results go to docs/RESULTS.md. Each variant runs in its own process so that the
peak resident memory (ru_maxrss) belongs to it alone.

    .venv/bin/python bench/train_step.py --model bresnet_small --batch 128 --threads 2
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

FLOAT = {"act_quantizer": "identity", "weight_quantizer": "identity"}


def measure(model_name: str, binary: bool, batch: int, size: int, channels: int,
            steps: int, threads: int) -> dict:
    import torch

    from bnnas.models import create_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    kwargs = {} if binary else dict(FLOAT)
    model = create_model(model_name, num_classes=10, in_channels=channels, **kwargs)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, channels, size, size)
    y = torch.randint(0, 10, (batch,))
    times = []
    for i in range(steps + 5):
        tic = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i >= 5:  # warm-up steps are not timed
            times.append(time.perf_counter() - tic)
    step = statistics.median(times)
    return {
        "variant": "binary" if binary else "float",
        "step_ms": 1000 * step,
        "images_per_s": batch / step,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bresnet_small")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variant", choices=("binary", "float"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure(args.model, args.variant == "binary", args.batch, args.size,
                                 args.channels, args.steps, args.threads)))
        return
    rows = []
    for variant in ("float", "binary"):
        out = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--variant", variant],
            check=True, capture_output=True, text=True,
        )
        rows.append(json.loads(out.stdout))
    for row in rows:
        print(f"{args.model:>16} {row['variant']:>6}: {row['step_ms']:7.1f} ms/step  "
              f"{row['images_per_s']:8.1f} img/s  peak RSS {row['peak_rss_mib']:.0f} MiB")
    ratio = rows[1]["step_ms"] / rows[0]["step_ms"]
    print(f"binary / float step time: {ratio:.2f}x (target <= 1.10x)")


if __name__ == "__main__":
    main()

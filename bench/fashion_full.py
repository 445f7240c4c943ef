"""Benchmark: train zoo models on the full Fashion-MNIST and record accuracy and wall time.

Run by hand (hours on 2 cores); each model gets its own run folder and the results are
printed as Markdown rows for docs/RESULTS.md. Needs the Debian package
``dataset-fashion-mnist`` (or the IDX files in --data-dir).

    .venv/bin/python bench/fashion_full.py --model bresnet_small --epochs 15
    .venv/bin/python bench/fashion_full.py --model birealnet18 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--root", default="runs/bench-fashion")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    run = Path(args.root) / f"{args.model}-e{args.epochs}"
    command = [sys.executable, "-m", "bnnas", "train", "--model", args.model,
               "--data", "fashion-mnist", "--epochs", str(args.epochs), "--no-progress"]
    command += [f"--set={s}" for s in args.set]
    command += ["--resume", str(run)] if (run / "config.yaml").exists() else ["--out", str(run)]
    tic = time.time()
    subprocess.run(command, check=True)
    result = json.loads((run / "result.json").read_text())
    shown = " ".join(c for c in command[1:] if not c.startswith(sys.executable))
    print(f"| {args.model} | {result['test_acc']:.2f} | {result['best_test_acc']:.2f} | "
          f"{result['epochs']} | {result['train_seconds'] / 60:.1f} min | `python {shown}` |")
    print(f"(wall time of this invocation: {(time.time() - tic) / 60:.1f} min)")


if __name__ == "__main__":
    main()

"""Benchmark: BARS search cost against UBNAS, and BARS' derived OPs against its budget.

Two parts, run by hand; results go to docs/RESULTS.md.

``epoch``: one search epoch (architecture step + weight step per pair of batches, no warm-up)
of each method's Fashion-MNIST config on the same images, each method in its own process so
that its peak RSS is its own.

``budgets``: short BARS searches of the Fashion-MNIST config under several OPs budgets; for
each, the differentiable OPs estimate of the relaxed supernet at the end, the OPs of the
derived network (profiled by ``bnnas.metrics``) and their ratio to the budget.

    .venv/bin/python bench/bars_search.py epoch --limit 2560
    .venv/bin/python bench/bars_search.py budgets --budgets 3e5 6e5 1e6 --limit 5120 \\
        --epochs 4 --out /tmp/bars-budgets
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bnnas.config import load_config
from bnnas.search.bars import BARSSearch
from bnnas.search.bars_config import BARSConfig
from bnnas.search.config import UBNASConfig
from bnnas.search.ubnas import UBNASSearch

RUNNERS = {"ubnas": (UBNASConfig, UBNASSearch, "configs/ubnas-fashion.yaml"),
           "bars": (BARSConfig, BARSSearch, "configs/bars-fashion.yaml")}


def one_epoch(method: str, limit: int, threads: int) -> dict[str, float]:
    """Time one search epoch of ``method`` in this process."""
    torch.set_num_threads(threads)
    config_class, runner_class, path = RUNNERS[method]
    config = load_config(config_class, path, [f"data.limit={limit}", "arch.warmup_epochs=0",
                                              "epochs=1", "device=cpu"])
    with tempfile.TemporaryDirectory() as folder:
        search = runner_class(config, folder, progress=False)
        pairs = min(len(search.weight_loader), len(search.arch_loader))
        tic = time.perf_counter()
        stats = search.search_epoch()
        seconds = time.perf_counter() - tic
    return {"method": method, "seconds": seconds, "pairs": pairs,
            "seconds_per_pair": seconds / pairs, "batch_size": config.data.batch_size,
            "train_acc": stats["train_acc"],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def epoch_part(args: argparse.Namespace) -> None:
    rows = []
    for method in RUNNERS:
        out = subprocess.run(
            [sys.executable, __file__, "child", method, "--limit", str(args.limit),
             "--threads", str(args.threads)], check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    full_pairs = 60000 // 2 // rows[0]["batch_size"]
    print("| method | s / epoch (pairs) | s / pair of batches | full Fashion-MNIST epoch "
          "(estimate) | peak RSS |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['seconds']:.1f} ({r['pairs']}) | "
              f"{r['seconds_per_pair']:.2f} | {r['seconds_per_pair'] * full_pairs / 60:.1f} min "
              f"| {r['peak_rss_mib']:.0f} MiB |")
    print(json.dumps(rows))


def budgets_part(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    rows = []
    for budget in args.budgets:
        config = load_config(BARSConfig, "configs/bars-fashion.yaml", [
            f"data.limit={args.limit}", f"epochs={args.epochs}", f"budget.ops={budget}",
            f"arch.warmup_epochs={args.warmup}", "device=cpu"])
        run = out / f"budget-{budget:g}"
        run.mkdir()
        result = BARSSearch(config, run, progress=False).run()
        rows.append({"budget": budget, **{k: result[k] for k in (
            "expected_ops", "derived_ops", "derived_bops", "derived_flops", "budget_ratio",
            "widths", "depths", "search_seconds", "final_train_acc")}})
        (out / "budgets.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("| budget | expected OPs (relaxed) | derived OPs (profiled) | derived / budget | "
          "widths | depths | search time |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['budget']:.3g} | {r['expected_ops']:.4g} | {r['derived_ops']:.4g} | "
              f"{r['budget_ratio']:.3f} | {r['widths']} | {r['depths']} | "
              f"{r['search_seconds'] / 60:.1f} min |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    epoch = sub.add_parser("epoch")
    epoch.add_argument("--limit", type=int, default=2560)
    epoch.add_argument("--threads", type=int, default=2)
    child = sub.add_parser("child")
    child.add_argument("method", choices=sorted(RUNNERS))
    child.add_argument("--limit", type=int, required=True)
    child.add_argument("--threads", type=int, default=2)
    budgets = sub.add_parser("budgets")
    budgets.add_argument("--budgets", type=float, nargs="+", default=[3e5, 6e5, 1e6])
    budgets.add_argument("--limit", type=int, default=5120)
    budgets.add_argument("--epochs", type=int, default=4)
    budgets.add_argument("--warmup", type=int, default=1)
    budgets.add_argument("--threads", type=int, default=2)
    budgets.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.part == "child":
        print(json.dumps(one_epoch(args.method, args.limit, args.threads)))
    elif args.part == "epoch":
        epoch_part(args)
    else:
        budgets_part(args)


if __name__ == "__main__":
    main()

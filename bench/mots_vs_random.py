"""Benchmark: MO-TS-BNAS against its random-search baseline on the same supernet budget.

Runs ``bnnas search --method mots`` and ``--method random`` with one config and the same
overrides (same seed, same stage-1 training, the same number of candidates scored per
generation), then prints the hypervolume of each generation side by side, the supernet's
stage-1 epoch time and the fast evaluator's throughput. Run by hand; results go to
docs/RESULTS.md.

    .venv/bin/python bench/mots_vs_random.py --config configs/mots-fashion.yaml \\
        --set supernet.stage1_epochs=3 --set evolution.generations=6 --out /tmp/mots-vs-random
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from bnnas.cli import main as bnnas_main


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/mots-fashion.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    runs = {}
    for method in ("mots", "random"):
        run = out / method
        command = ["search", "--method", method, "--config", args.config, "--out", str(run),
                   "--no-progress"]
        for item in args.set:
            command += ["--set", item]
        if bnnas_main(command) != 0:
            raise SystemExit(f"{method} search failed; see {run}/log.txt")
        runs[method] = run

    history = {m: read_jsonl(r / "history.jsonl") for m, r in runs.items()}
    stage1 = {m: [r for r in read_jsonl(run / "metrics.jsonl") if r.get("stage") == 1]
              for m, run in runs.items()}
    print("| generation | hypervolume mots | hypervolume random | best error mots | "
          "best error random |")
    print("|---|---|---|---|---|")
    for a, b in zip(history["mots"], history["random"], strict=True):
        print(f"| {a['generation']} | {a['hypervolume']:.4f} | {b['hypervolume']:.4f} | "
              f"{a['best_error']:.2f}% | {b['best_error']:.2f}% |")
    for method, rows in history.items():
        fronts = json.loads((runs[method] / "pareto.json").read_text())
        members = fronts["members"]
        seconds = sum(r["seconds"] for r in rows)
        scored = rows[-1]["evaluated_total"]
        epoch_seconds = [r["seconds"] for r in stage1[method]]
        print(f"{method}: {scored} candidates scored in {len(rows)} generations "
              f"({seconds:.0f} s with stage-2 training, {scored / seconds:.3f} candidates/s); "
              f"front of {len(members)}; stage-1 epoch "
              f"{sum(epoch_seconds) / max(len(epoch_seconds), 1):.0f} s")


if __name__ == "__main__":
    main()

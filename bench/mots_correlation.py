"""Benchmark: does MO-TS-BNAS's fast evaluation rank architectures as training them would?

Trains a supernet through stage 1 of a MO-TS-BNAS config, samples architectures, scores each
with the fast evaluator (inherited weights, recalibrated BN, a few validation batches), then
trains each stand-alone from scratch with the normal trainer and reports Spearman's rho
between the fast score and the stand-alone test accuracy, plus the evaluator's throughput.
Run by hand; results go to docs/RESULTS.md.

    .venv/bin/python bench/mots_correlation.py --config configs/mots-smoke.yaml \\
        --stage1-epochs 6 --archs 10 --train-epochs 3 --out /tmp/mots-corr
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from bnnas.config import load_config
from bnnas.search.correlation import spearman
from bnnas.search.mots import EvolutionarySearch
from bnnas.search.mots_config import MOTSConfig
from bnnas.train.config import TrainConfig
from bnnas.train.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/mots-smoke.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--stage1-epochs", type=int, default=6)
    parser.add_argument("--archs", type=int, default=10)
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    config = load_config(MOTSConfig, args.config,
                         [*args.set, f"supernet.stage1_epochs={args.stage1_epochs}"])
    search = EvolutionarySearch(config, out / "search", progress=False)
    tic = time.time()
    for _ in range(args.stage1_epochs):
        search.stage1_epoch()
        search.epoch += 1
    stage1_seconds = time.time() - tic

    rng = np.random.default_rng(1234)
    vectors = list(dict.fromkeys(search.encoding.sample(rng) for _ in range(args.archs)))
    tic = time.time()
    errors = search.score(vectors)[:, 0]
    eval_seconds = time.time() - tic

    rows = []
    for i, vector in enumerate(vectors):
        folder = out / f"arch-{i}"
        folder.mkdir()
        genotype_file = search.final_genotype(vector).save(folder / "genotype.json")
        train_config = load_config(TrainConfig, overrides=[
            f"model.genotype={genotype_file}", f"optim.epochs={args.train_epochs}",
            f"data.name={config.data.name}", f"seed={config.seed}",
        ])
        trainer = Trainer(train_config, folder / "train", dataset=search.dataset, progress=False)
        result = trainer.fit()
        rows.append({"vector": list(vector), "fast_error": float(errors[i]),
                     "standalone_test_acc": result["test_acc"],
                     "memory_bits": search.costs(vector)["memory_bits"]})
        print(f"arch {i}: fast error {errors[i]:.2f}%  stand-alone test acc "
              f"{result['test_acc']:.2f}%", flush=True)

    rho = spearman([100 - r["fast_error"] for r in rows],
                   [r["standalone_test_acc"] for r in rows])
    summary = {
        "config": args.config, "overrides": args.set, "stage1_epochs": args.stage1_epochs,
        "train_epochs": args.train_epochs, "archs": len(rows), "spearman": rho,
        "stage1_seconds": stage1_seconds, "fast_eval_seconds": eval_seconds,
        "candidates_per_second": len(vectors) / eval_seconds,
        "validation_images_per_candidate": search.evaluator.images, "rows": rows,
    }
    (out / "correlation.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"stage 1: {args.stage1_epochs} epochs in {stage1_seconds:.0f} s; fast evaluation: "
          f"{len(vectors) / eval_seconds:.2f} candidates/s "
          f"({search.evaluator.images} validation images each)")
    print(f"Spearman rho (fast score vs stand-alone accuracy, {len(rows)} archs): {rho:.3f}")


if __name__ == "__main__":
    main()

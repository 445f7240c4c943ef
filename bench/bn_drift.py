"""Benchmark: how far a binary network's eval-mode accuracy moves from one training step to
the next, with its BN running statistics and with statistics re-estimated on its current
weights (:mod:`bnnas.train.batch_norm`).

It continues a ``bnnas train`` checkpoint for ``--steps`` steps, with the run's optimizer,
schedule, data order and augmentation (eager, one process), and every ``--every`` steps
scores the first ``--images`` test images twice: with the BN statistics as training left
them, and after re-estimating them on ``--calibrate`` batches of training images. The
weights trained on are the same for both columns; only the statistics differ. Run by hand;
results go to docs/RESULTS.md.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bn_drift.py CHECKPOINT --steps 80 --every 5
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from itertools import islice


def drift(checkpoint: str, steps: int, every: int, images: int, calibrate: int) -> dict:
    """Accuracies (%) with running and with re-estimated statistics every ``every`` steps."""
    import copy

    import torch
    import torch.nn.functional as F

    from bnnas.config import from_dict
    from bnnas.data import BatchLoader, default_eval_transform, default_train_transform
    from bnnas.data.datasets import load_dataset
    from bnnas.train import evaluate, load_trained_model
    from bnnas.train.batch_norm import recalibrate_on_training_images
    from bnnas.train.config import DataConfig, OptimConfig
    from bnnas.train.optim import build_optimizer, build_scheduler

    device = torch.device("cpu")
    model, state = load_trained_model(checkpoint, device)
    data = from_dict(DataConfig, state["config"]["data"], prefix="data.")
    optim = from_dict(OptimConfig, state["config"]["optim"], prefix="optim.")
    dataset = load_dataset(data.name, data.data_dir, download=False)
    seed = int(state["config"].get("seed", 0))
    train = BatchLoader(dataset.train, data.batch_size, shuffle=True, seed=seed,
                        transform=default_train_transform(dataset, data.augment),
                        drop_last=True)
    train.set_epoch(int(state["epoch"]))  # the batches the run trains next
    test = [next(iter(BatchLoader(dataset.test, images, shuffle=False,
                                  transform=default_eval_transform(dataset))))]
    optimizer = build_optimizer(model, optim)
    scheduler = build_scheduler(optimizer, optim, len(train))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])

    rows = []
    model.train()
    for step, (x, y) in enumerate(islice(train, steps), start=1):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % every:
            continue
        running = evaluate(model, test, device)["acc"]
        twin = copy.deepcopy(model)  # the next steps go on from the running statistics
        recalibrate_on_training_images(twin, dataset, data.batch_size, calibrate)
        rows.append({"step": step, "running_acc": running,
                     "recalibrated_acc": evaluate(twin, test, device)["acc"]})
        model.train()
        print(f"step {step:4d}  running statistics {running:6.2f}%  "
              f"re-estimated {rows[-1]['recalibrated_acc']:6.2f}%", flush=True)
    return {"checkpoint": checkpoint, "epoch_done": int(state["epoch"]), "rows": rows,
            "test_images": sum(int(y.numel()) for _, y in test),
            "calibration_images": calibrate * data.batch_size}


def summarise(result: dict) -> dict:
    """Median, minimum and maximum of each column."""
    out = {}
    for key in ("running_acc", "recalibrated_acc"):
        values = [r[key] for r in result["rows"]]
        out[key] = {"median": statistics.median(values), "min": min(values),
                    "max": max(values)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="an epoch-NNNN.pt or final.pt of bnnas train")
    parser.add_argument("--steps", type=int, default=80, help="training steps to continue")
    parser.add_argument("--every", type=int, default=5, help="score every N steps")
    parser.add_argument("--images", type=int, default=2000, help="test images scored")
    parser.add_argument("--calibrate", type=int, default=20,
                        help="training batches the statistics are re-estimated on")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    import torch

    result = drift(args.checkpoint, args.steps, args.every, args.images, args.calibrate)
    result["summary"] = summarise(result)
    result["machine"] = {"cpu": platform.processor() or platform.machine(),
                         "threads": torch.get_num_threads()}
    for key, value in result["summary"].items():
        print(f"{key}: median {value['median']:.2f}%  min {value['min']:.2f}%  "
              f"max {value['max']:.2f}%")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()

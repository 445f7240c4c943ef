"""Diagnosis: does a finished UBNAS supernet itself prefer the ops its alphas chose?

The DARTS derivation keeps the op with the largest architecture weight on each edge. Wang et
al. ("Rethinking Architecture Selection in Differentiable NAS", ICLR 2021) showed that this
weight need not say how much the supernet relies on the op, and selected instead the op
whose removal hurts the supernet's validation accuracy most. This script measures that
reliance on a finished search, in the one-shot form (no fine-tuning between edges): for every
edge of the normal and the reduction cell and every op but ``none``, it zeroes that op's
weight in the mixture (in every cell of the kind, as the alphas are shared) and measures the
supernet's loss and accuracy on a fixed set of held-out images (the architecture half of the
search's data), against the full mixture. It then reports, edge by edge, the op whose removal
raises the loss most beside the op of the largest alpha, and how often they agree.

If they agree, the preference is the supernet's own and not an artefact of reading the
alphas; a weight-sharing supernet that ranks ops differently from stand-alone training is then
the cause of a poor pick. Run by hand; results go to docs/RESULTS.md.

    .venv/bin/python bench/ubnas_perturbation.py runs/compare/ubnas-seed0/search \\
        --images 1280 --json docs/results/ubnas-perturbation.json
    .venv/bin/python bench/ubnas_perturbation.py --summary docs/results/ubnas-perturbation.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from bnnas.config import load_config
from bnnas.data.datasets import Dataset, load_dataset
from bnnas.data.loader import BatchLoader
from bnnas.data.transforms import default_eval_transform
from bnnas.search.config import UBNASConfig
from bnnas.search.ubnas import build_space, search_halves
from bnnas.space.cell import node_softmax
from bnnas.space.network import SuperNetwork
from bnnas.train.checkpoint import latest_checkpoint

KINDS = ("normal", "reduce")


def load_supernet(run: Path, config: UBNASConfig, dataset: Dataset) -> tuple[SuperNetwork, int]:
    """The supernet of the newest checkpoint of a UBNAS run, with its last epoch's K."""
    model = SuperNetwork(build_space(config), dataset.num_classes, dataset.input_shape[0])
    found = latest_checkpoint(run / "checkpoints")
    if found is None:
        raise SystemExit(f"no loadable checkpoint in {run / 'checkpoints'}")
    _, state = found
    model.load_state_dict(state["model"])
    epoch = int(state["epoch"])
    model.set_partial_k(*config.space.k_at(epoch - 1))
    return model.eval(), epoch


def held_out_batches(config: UBNASConfig, dataset: Dataset, images: int,
                     batch: int) -> list[tuple[Tensor, Tensor]]:
    """A fixed draw of ``images`` images of the architecture half (no augmentation)."""
    _, arch_half = search_halves(dataset, config)
    loader = BatchLoader(arch_half, batch, shuffle=True, seed=config.seed,
                         transform=default_eval_transform(dataset))
    loader.set_epoch(0)
    batches = []
    for x, y in loader:
        batches.append((x, y))
        if sum(len(b) for _, b in batches) >= images:
            break
    return batches


@torch.no_grad()
def score(model: SuperNetwork, weights: dict[str, Tensor],
          batches: list[tuple[Tensor, Tensor]]) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (%) of the supernet mixing its ops by ``weights``."""
    steps = model.space.steps
    kwargs = {
        kind: {"weights": weights[kind],
               "edge_weights": node_softmax(getattr(model, f"betas_{kind}"), steps),
               "k": getattr(model, f"partial_k_{kind}")}
        for kind in KINDS
    }
    loss = correct = total = 0.0
    for x, y in batches:
        logits = model.head(model.forward_features(x, kwargs["normal"], kwargs["reduce"]))
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        total += len(y)
    return loss / total, 100.0 * correct / total


def summary(document: dict) -> list[str]:
    """The findings of a written table: agreement with the alphas, where the alphas' op ranks
    by loss rise, and how large any removal's effect is against the images' sampling error."""
    edges, base_acc, images = document["edges"], document["base_acc"], document["images"]
    ranks = [sorted(e["drops"], key=lambda n, e=e: -e["drops"][n]["loss_rise"])
             .index(e["by_alpha"]) + 1 for e in edges]
    rises = [d["loss_rise"] for e in edges for d in e["drops"].values()]
    changes = [-d["acc_drop"] for e in edges for d in e["drops"].values()]
    flat = sum(all(d["loss_rise"] <= 0 for d in e["drops"].values()) for e in edges)
    error = 100 * (base_acc / 100 * (1 - base_acc / 100) / images) ** 0.5
    ops = len(edges[0]["drops"])
    return [
        f"removal picks the alphas' op on {document['agree']} of {len(edges)} edges; "
        f"picks by removal: {document['by_removal_counts']}",
        f"the alphas' op ranks {sum(ranks) / len(ranks):.1f} of {ops} on average by loss rise",
        f"a removal changes the loss by {min(rises):+.4f} to {max(rises):+.4f} (at most "
        f"{100 * max(map(abs, rises)) / document['base_loss']:.1f}% of "
        f"{document['base_loss']:.3f}) and the accuracy by {min(changes):+.2f} to "
        f"{max(changes):+.2f} points (one standard error on {images} images: {error:.2f})",
        f"edges where no removal raises the loss: {flat} of {len(edges)}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, nargs="?",
                        help="a finished or stopped UBNAS search folder")
    parser.add_argument("--images", type=int, default=1280)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the table here too")
    parser.add_argument("--summary", type=Path, metavar="JSON",
                        help="print the findings of a table written before, and stop")
    args = parser.parse_args()
    if args.summary:
        print("\n".join(summary(json.loads(args.summary.read_text()))))
        return
    if args.run is None:
        parser.error("give a UBNAS search folder, or --summary JSON")
    torch.set_num_threads(args.threads)
    config = load_config(UBNASConfig, args.run / "config.yaml")
    dataset = load_dataset(config.data.name, config.data.data_dir, download=False)
    model, epoch = load_supernet(args.run, config, dataset)
    batches = held_out_batches(config, dataset, args.images, args.batch)
    ops = list(model.space.ops)
    with torch.no_grad():
        full = {kind: F.softmax(getattr(model, f"alphas_{kind}"), dim=-1) for kind in KINDS}
    tic = time.perf_counter()
    base_loss, base_acc = score(model, full, batches)
    print(f"supernet of epoch {epoch}, K {model.partial_k_normal}/{model.partial_k_reduce}, "
          f"{sum(len(y) for _, y in batches)} held-out images: loss {base_loss:.4f}, "
          f"accuracy {base_acc:.2f}%", flush=True)
    edges, agree = [], 0
    for kind in KINDS:
        for edge in range(full[kind].shape[0]):
            drops = {}
            for o, name in enumerate(ops):
                if name == "none":
                    continue
                weights = dict(full)
                weights[kind] = full[kind].clone()
                weights[kind][edge, o] = 0.0
                loss, acc = score(model, weights, batches)
                drops[name] = {"loss_rise": loss - base_loss, "acc_drop": base_acc - acc}
            by_alpha = max(drops, key=lambda n: full[kind][edge, ops.index(n)].item())
            by_removal = max(drops, key=lambda n: drops[n]["loss_rise"])
            agree += by_alpha == by_removal
            edges.append({"cell": kind, "edge": edge, "by_alpha": by_alpha,
                          "by_removal": by_removal, "drops": drops})
            print(f"{kind} edge {edge:2d}: largest alpha {by_alpha:17s} largest loss rise "
                  f"when removed {by_removal:17s} "
                  f"(loss {drops[by_removal]['loss_rise']:+.4f}, accuracy "
                  f"{-drops[by_removal]['acc_drop']:+.2f} points)", flush=True)
    seconds = time.perf_counter() - tic
    counts = {name: sum(e["by_removal"] == name for e in edges) for name in ops if name != "none"}
    document = {
        "run": str(args.run), "epoch": epoch, "images": sum(len(y) for _, y in batches),
        "base_loss": base_loss, "base_acc": base_acc, "agree": agree,
        "edges_total": len(edges), "by_removal_counts": counts, "seconds": seconds,
        "edges": edges,
    }
    print("\n".join(summary(document)) + f"\n{seconds / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()

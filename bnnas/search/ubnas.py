"""UBNAS: differentiable search of a binary network (Tan et al., "Universal Binary Neural
Networks Design by Improved Differentiable Neural Architecture Search", IEEE TCSVT 2024).

The parts the paper's abstract names, and how bnnas realises each (the closest published
practice where the paper's details are not public, see REFERENCES.md):

* a search space of binary-appropriate ops and selectable op-module structures
  (:mod:`bnnas.space`), ApproxSign gradients by default;
* partial channel connections with an adjustable sampling ratio (PC-DARTS, Xu et al. ICLR
  2020): ``space.partial_k_*`` and the ``space.k_schedule``;
* bilevel optimisation (DARTS, Liu et al. ICLR 2019): weights on one half of the training
  set, architecture on the other, first order by default (:mod:`bnnas.search.bilevel`);
* early stopping of the search (:mod:`bnnas.search.early_stop`, DARTS+ criteria).

A search run folder holds ``config.yaml``, ``metrics.jsonl`` (per epoch), ``alphas.jsonl``
(architecture weights and derived genotype per epoch), ``checkpoints/``, and at the end
``genotype.json``, ``normal.png``, ``reduce.png``, ``alphas.png`` and ``result.json``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from bnnas.config import to_dict
from bnnas.data import BatchLoader, Dataset, default_train_transform, load_dataset
from bnnas.data.splits import split_train_val
from bnnas.device import configure_backends, select_device
from bnnas.errors import CheckpointError, ConfigError, NonFiniteError
from bnnas.runs import MetricsLog, write_text_atomic
from bnnas.search.bilevel import ArchitectStep
from bnnas.search.config import UBNASConfig
from bnnas.search.early_stop import EarlyStopper, StopDecision
from bnnas.search.plots import plot_cell, plot_weight_history
from bnnas.space.cell import node_softmax
from bnnas.space.genotype import Genotype
from bnnas.space.layout import Layout
from bnnas.space.network import SpaceSpec, SuperNetwork
from bnnas.train.checkpoint import save_epoch_checkpoint
from bnnas.train.losses import accuracy_count
from bnnas.train.resumable import (
    capture_rng,
    check_finite,
    load_parts,
    restore_rng,
    resume_latest,
)

log = logging.getLogger("bnnas")


def build_space(config: UBNASConfig) -> SpaceSpec:
    """The search space a UBNAS config describes; ops are built for the smallest K used."""
    space = config.space
    normal_ks, reduce_ks = space.all_k()
    return SpaceSpec(
        ops=tuple(space.ops),
        steps=space.steps,
        layout=Layout(space.cells, space.channels, space.stem_multiplier),
        structure=space.structure,
        partial_k_normal=space.partial_k_normal,
        partial_k_reduce=space.partial_k_reduce,
        min_k_normal=min(normal_ks),
        min_k_reduce=min(reduce_ks),
    )


def search_halves(dataset: Dataset, config: UBNASConfig) -> tuple[Any, Any]:
    """The weight half and the architecture half of the (optionally limited) training set."""
    source = dataset.train
    limit = config.data.limit
    if limit is not None and limit < len(source):
        _, source = split_train_val(source, limit / len(source), seed=config.seed)
    return split_train_val(source, config.data.val_fraction, seed=config.seed)


class UBNASSearch:
    """One UBNAS search in a run folder: ``run()`` searches (resumably), then derives."""

    def __init__(
        self,
        config: UBNASConfig,
        run_dir: str | Path,
        *,
        dataset: Dataset | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self.progress = progress
        self.device = select_device(config.device)
        configure_backends(self.device, deterministic=True)
        data = config.data
        self.dataset = dataset or load_dataset(data.name, data.data_dir, download=data.download)
        weight_half, arch_half = search_halves(self.dataset, config)
        smallest = min(len(weight_half), len(arch_half))
        if smallest < data.batch_size:
            raise ConfigError(
                f"each half of the search data holds {smallest} images, fewer than "
                f"data.batch_size={data.batch_size}; raise data.limit or lower data.batch_size"
            )
        transform = default_train_transform(self.dataset, data.augment)
        loader_args = {"shuffle": True, "transform": transform, "device": self.device}
        self.weight_loader = BatchLoader(weight_half, data.batch_size, seed=config.seed,
                                         drop_last=True, **loader_args)
        self.arch_loader = BatchLoader(arch_half, data.batch_size, seed=config.seed + 1,
                                       drop_last=True, **loader_args)
        torch.manual_seed(config.seed)
        self.space = build_space(config)
        self.model = SuperNetwork(
            self.space, self.dataset.num_classes, self.dataset.input_shape[0]
        ).to(self.device)
        self.weight_optimizer = config.optim.build(self.model.weight_parameters(), self.model)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.weight_optimizer, T_max=config.epochs, eta_min=config.optim.lr_min
        )
        arch = config.arch
        self.arch_optimizer = torch.optim.Adam(
            self.model.arch_parameters(), lr=arch.lr, betas=(arch.beta1, 0.999),
            weight_decay=arch.weight_decay,
        )
        self.architect = ArchitectStep(
            self.model, self.model.arch_parameters(), self.model.weight_parameters(),
            self.arch_optimizer, F.cross_entropy, second_order=arch.order == "second",
        )
        self.stopper = EarlyStopper(config.early_stop)
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        self.alphas_log = MetricsLog(self.run_dir / "alphas.jsonl")
        self.epoch = 0
        self.stopped: StopDecision | None = None

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        stopped = None if self.stopped is None else vars(self.stopped)
        return {
            "kind": "ubnas-search",
            "config": to_dict(self.config),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "weight_optimizer": self.weight_optimizer.state_dict(),
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "stopper": self.stopper.state_dict(),
            "stopped": stopped,
            **capture_rng(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != "ubnas-search":
            raise CheckpointError("this checkpoint is not from a UBNAS search; resume its own run")
        parts = {"model": self.model, "weight_optimizer": self.weight_optimizer,
                 "arch_optimizer": self.arch_optimizer, "scheduler": self.scheduler,
                 "stopper": self.stopper}
        load_parts(parts, state, "search's supernet")
        self.stopped = StopDecision(**state["stopped"]) if state["stopped"] else None
        restore_rng(state)
        self.epoch = int(state["epoch"])

    def resume(self) -> bool:
        """Load the newest valid checkpoint; False if the run has none yet."""
        return resume_latest(self.checkpoint_dir, self.device, self.load_state_dict,
                             lambda: self.epoch, [self.metrics, self.alphas_log])

    # ----------------------------------------------------------------- search
    def search_epoch(self) -> dict[str, float]:
        """One epoch of alternating architecture and weight steps."""
        config = self.config
        k_normal, k_reduce = config.space.k_at(self.epoch)
        self.model.set_partial_k(k_normal, k_reduce)
        self.model.train()
        self.weight_loader.set_epoch(self.epoch)
        self.arch_loader.set_epoch(self.epoch)
        update_arch = self.epoch >= config.arch.warmup_epochs
        self.architect.weight_lr = self.weight_optimizer.param_groups[0]["lr"]
        totals = {"loss": 0.0, "correct": 0, "count": 0, "arch_loss": 0.0, "arch_steps": 0}
        batches = zip(self.weight_loader, self.arch_loader, strict=False)
        bar = tqdm(batches, total=min(len(self.weight_loader), len(self.arch_loader)),
                   desc=f"search {self.epoch + 1}/{config.epochs}", disable=not self.progress,
                   leave=False, dynamic_ncols=True)
        for step, ((x, y), (x_arch, y_arch)) in enumerate(bar):
            if update_arch:
                arch_loss = self.architect.step(x_arch, y_arch, x, y)
                self._check_finite("architecture loss", arch_loss, step)
                totals["arch_loss"] += arch_loss
                totals["arch_steps"] += 1
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
            value = float(loss.detach())
            self._check_finite("loss", value, step)
            self.weight_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.optim.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.weight_parameters(),
                                               config.optim.grad_clip)
            self.weight_optimizer.step()
            totals["loss"] += value * y.numel()
            totals["correct"] += accuracy_count(logits, y)
            totals["count"] += y.numel()
            if step % 5 == 0:
                bar.set_postfix(loss=f"{totals['loss'] / totals['count']:.3f}")
        self._check_arch_finite()
        count = max(totals["count"], 1)
        return {
            "train_loss": totals["loss"] / count,
            "train_acc": 100.0 * totals["correct"] / count,
            "arch_loss": totals["arch_loss"] / max(totals["arch_steps"], 1)
            if totals["arch_steps"] else None,
            "arch_updated": update_arch,
            "k_normal": k_normal,
            "k_reduce": k_reduce,
        }

    def _check_finite(self, what: str, value: float, step: int) -> None:
        check_finite(value, what, f"search epoch {self.epoch + 1} step {step + 1}",
                     self.checkpoint_dir, "lower optim.lr or arch.lr, then start again")

    def _check_arch_finite(self) -> None:
        for p in self.model.arch_parameters():
            if not torch.isfinite(p).all():
                raise NonFiniteError(
                    f"architecture parameters became NaN/inf in search epoch {self.epoch + 1}; "
                    "lower arch.lr, then start again"
                )

    def _arch_record(self, genotype: Genotype) -> dict[str, Any]:
        model, steps = self.model, self.space.steps
        record: dict[str, Any] = {"epoch": self.epoch, "genotype": genotype.to_dict()}
        for kind in ("normal", "reduce"):
            alphas = getattr(model, f"alphas_{kind}").detach()
            betas = getattr(model, f"betas_{kind}").detach()
            record[f"alphas_{kind}"] = F.softmax(alphas, dim=-1).cpu().tolist()
            record[f"betas_{kind}"] = node_softmax(betas, steps).cpu().tolist()
        return record

    def run(self) -> dict[str, Any]:
        """Search until the epoch budget or an early stop; then derive and write results."""
        started = time.time()
        config = self.config
        while self.epoch < config.epochs and self.stopped is None:
            tic = time.time()
            lr = self.weight_optimizer.param_groups[0]["lr"]
            stats = self.search_epoch()
            self.scheduler.step()
            self.epoch += 1
            genotype = self.model.genotype()
            record = {"epoch": self.epoch, "lr": lr, **stats,
                      "epoch_seconds": time.time() - tic}
            self.metrics.append(record)
            self.alphas_log.append(self._arch_record(genotype))
            self.stopped = self.stopper.update(
                self.epoch, genotype.to_json(), genotype.normal.nodes, stats["arch_updated"]
            )
            save_epoch_checkpoint(self.checkpoint_dir, self.epoch, self.state_dict(),
                                  config.keep_checkpoints)
            log.info("search epoch %d/%d  loss %.4f acc %.2f%%  arch loss %s  K %d/%d  (%.1fs)",
                     self.epoch, config.epochs, stats["train_loss"], stats["train_acc"],
                     "-" if stats["arch_loss"] is None else f"{stats['arch_loss']:.4f}",
                     stats["k_normal"], stats["k_reduce"], record["epoch_seconds"])
            if self.stopped is not None:
                log.info("early stop at epoch %d by %s: %s; %d of %d epochs saved",
                         self.stopped.epoch, self.stopped.criterion, self.stopped.detail,
                         config.epochs - self.stopped.epoch, config.epochs)
        return self._finish(time.time() - started)

    def summary_line(self, result: dict[str, Any]) -> str:
        """What ``bnnas search`` prints when the search ends."""
        stop = f", stopped early by {result['stopped_by']}" if result.get("stopped_by") else ""
        return (f"ubnas: searched {result['epochs_run']} of {result['epochs_budget']} epochs"
                f"{stop}; genotype {self.run_dir / result['genotype']}")

    def final_genotype(self) -> Genotype:
        """The derived genotype on the layout the final network is trained with."""
        space = self.config.space
        layout = Layout(
            space.final_cells or space.cells,
            space.final_channels or space.channels,
            space.stem_multiplier,
        )
        return self.model.genotype(layout=layout)

    def _finish(self, seconds: float) -> dict[str, Any]:
        genotype = self.final_genotype()
        genotype.save(self.run_dir / "genotype.json")
        plot_cell(genotype.normal.nodes, genotype.normal.concat, self.run_dir / "normal.png",
                  title="normal cell")
        plot_cell(genotype.reduce.nodes, genotype.reduce.concat, self.run_dir / "reduce.png",
                  title="reduction cell")
        history = [
            {kind: [sum(col) / len(col) for col in zip(*r[f"alphas_{kind}"], strict=True)]
             for kind in ("normal", "reduce")}
            for r in self.alphas_log.read()
        ]
        if history:
            plot_weight_history(history, self.space.ops, self.run_dir / "alphas.png")
        records = self.metrics.read()
        stopped = self.stopped
        result = {
            "method": "ubnas",
            "epochs_budget": self.config.epochs,
            "epochs_run": self.epoch,
            "epochs_saved": self.config.epochs - self.epoch,
            "stopped_by": stopped.criterion if stopped else None,
            "stop_detail": stopped.detail if stopped else None,
            "search_seconds": sum(r.get("epoch_seconds", 0.0) for r in records),
            "this_session_seconds": seconds,
            "final_train_acc": records[-1]["train_acc"] if records else None,
            "genotype": "genotype.json",
            "dataset": self.dataset.name,
        }
        write_text_atomic(self.run_dir / "result.json", json.dumps(result, indent=2) + "\n")
        return result

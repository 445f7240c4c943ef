"""The training loop: train, evaluate, checkpoint every epoch, resume exactly.

Exact resumption rests on three facts: the data order and augmentation of epoch ``e`` depend
only on ``(seed, e)`` (see :class:`bnnas.data.BatchLoader`); the checkpoint holds the model,
optimizer, scheduler and global RNG state at the end of an epoch; and the metrics log is cut
back to that epoch on resume. A run resumed from epoch ``k`` therefore ends with the same
weights and metrics as one that never stopped (on CPU, with deterministic kernels). A stop
signal mid-epoch also keeps the steps of that epoch done so far (:mod:`bnnas.train.mid_epoch`).

Under ``torchrun`` the same loop trains data-parallel (:mod:`bnnas.distributed`): each rank
takes its share of every global batch, DDP averages the gradients, the loss and accuracy are
summed over the ranks, and only rank 0 writes the run folder.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from bnnas.config import to_dict
from bnnas.data import (
    BatchLoader,
    Dataset,
    default_eval_transform,
    default_train_transform,
)
from bnnas.data.splits import split_train_val
from bnnas.device import amp_dtype, autocast, loader_options
from bnnas.distributed import DistContext
from bnnas.errors import CheckpointError
from bnnas.runs import MetricsLog, write_text_atomic
from bnnas.train.builder import build_model, init_weights_from, load_trained_model, model_meta
from bnnas.train.checkpoint import save_checkpoint, save_epoch_checkpoint
from bnnas.train.config import TrainConfig
from bnnas.train.health import check_gradients, gradient_norm, warn_if_statistics_lag
from bnnas.train.losses import accuracy_count, classification_loss, distillation_loss
from bnnas.train.mid_epoch import (
    EpochProgress,
    clear_mid_epoch,
    epoch_together,
    keep_on_stop,
    resume_mid_epoch,
    run_steps,
)
from bnnas.train.optim import build_optimizer, build_scheduler
from bnnas.train.resumable import (
    capture_rng,
    check_finite,
    load_parts,
    restore_rng,
    resume_latest,
    set_up_run,
)
from bnnas.train.tensorboard import ScalarLog

log = logging.getLogger("bnnas")


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: BatchLoader,
    device: torch.device,
    dtype: torch.dtype | None = None,
    dist: DistContext | None = None,
) -> dict[str, float]:
    """Mean loss and accuracy (percent) of ``model`` over ``loader``, in eval mode.

    With ``dist``, each rank scores its shard of ``loader`` and the sums are added over the
    ranks, so every rank returns the figures of the whole set."""
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for x, y in loader:
        with autocast(device, dtype):
            logits = model(x)
        total_loss += float(classification_loss(logits.float(), y)) * y.numel()
        correct += accuracy_count(logits, y)
        count += y.numel()
    model.train(was_training)
    if dist is not None:
        total_loss, correct, count = dist.sum(total_loss, correct, count)
    return {"loss": total_loss / max(count, 1), "acc": 100.0 * correct / max(count, 1)}


class Trainer:
    """Trains one network as its :class:`TrainConfig` says, inside a run folder."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        dataset: Dataset | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        setup = set_up_run(run_dir, config.data, config.device,
                           deterministic=config.deterministic, progress=progress, dataset=dataset)
        self.run_dir, self.checkpoint_dir, self.dist = setup.run_dir, setup.checkpoint_dir, \
            setup.dist
        self.progress, self.device, self.dataset = setup.progress, setup.device, setup.dataset
        self.amp = amp_dtype(config.amp, self.device)
        torch.manual_seed(config.seed)
        self.model = build_model(
            config.model, self.dataset.num_classes, self.dataset.input_shape
        )
        if config.init_from is not None:
            init_weights_from(self.model, config.init_from, self.dataset.num_classes)
        self.model.to(self.device)
        # The DDP constructor is a collective: no rank gets past it before every rank has
        # passed its run-folder checks, so rank 0 cannot create the folder under another's.
        ddp = self.dist.wrap(self.model, self.device)
        self.forward = torch.compile(ddp) if config.compile else ddp
        if not self.dist.enabled:
            self.eval_forward = self.forward
        else:  # evaluation needs no gradient sync; the bare module skips DDP's collectives
            self.eval_forward = torch.compile(self.model) if config.compile else self.model
        self.dist.per_rank_batch(config.data.batch_size, "data.batch_size")
        shard = {"rank": self.dist.rank, "world_size": self.dist.world_size}
        train = self.dataset.train
        if config.data.limit is not None and config.data.limit < len(train):
            _, train = split_train_val(train, config.data.limit / len(train), seed=config.seed)
        self.train_loader = BatchLoader(
            train,
            config.data.batch_size,
            shuffle=True,
            transform=default_train_transform(self.dataset, config.data.augment),
            seed=config.seed,
            drop_last=len(train) > config.data.batch_size,
            **loader_options(self.device),
            **shard,
        )
        self.test_loader = BatchLoader(
            self.dataset.test,
            config.data.eval_batch_size,
            shuffle=False,
            transform=default_eval_transform(self.dataset),
            **loader_options(self.device),
            **shard,
        )
        self.optimizer = build_optimizer(self.model, config.optim)
        self.scheduler = build_scheduler(self.optimizer, config.optim, len(self.train_loader))
        self.scaler = torch.amp.GradScaler(enabled=self.amp == torch.float16)
        self.teacher = self._load_teacher()
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        self.epoch = 0  # epochs completed
        self.progress_in_epoch: EpochProgress | None = None  # set by a mid-epoch resume

    def _load_teacher(self) -> nn.Module | None:
        path = self.config.distill.teacher
        if path is None:
            return None
        teacher, state = load_trained_model(path, self.device)
        if state["meta"]["num_classes"] != self.dataset.num_classes:
            raise CheckpointError(
                f"teacher {path!r} predicts {state['meta']['num_classes']} classes, the data has "
                f"{self.dataset.num_classes}; use a teacher trained on the same data"
            )
        for p in teacher.parameters():
            p.requires_grad_(False)
        log.info("distilling from teacher %s (%s)", path, state["config"]["model"]["name"])
        return teacher

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "config": to_dict(self.config),
            "meta": model_meta(self.dataset.num_classes, self.dataset.input_shape),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            **capture_rng(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        parts = {"model": self.model, "optimizer": self.optimizer,
                 "scheduler": self.scheduler, "scaler": self.scaler}
        load_parts(parts, state, "run's model or optimizer")
        restore_rng(state)
        self.epoch = int(state["epoch"])

    def resume(self) -> bool:
        """Load the newest valid checkpoint of the run folder, then the mid-epoch one that
        continues it if a stop left one; False if there is neither."""
        found = resume_latest(self.checkpoint_dir, self.device, self.load_state_dict,
                              lambda: self.epoch, [self.metrics], writer=self.dist.is_main)
        self.progress_in_epoch = resume_mid_epoch(
            self.checkpoint_dir, self.epoch, self.device, self.load_state_dict, self.dist,
            "training")
        return found or self.progress_in_epoch is not None

    # ----------------------------------------------------------------- training
    def _loss(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        smoothing = self.config.optim.label_smoothing
        if self.teacher is None:
            return classification_loss(logits, y, smoothing)
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        distill = self.config.distill
        return distillation_loss(
            logits,
            teacher_logits,
            y,
            alpha=distill.alpha,
            temperature=distill.temperature,
            label_smoothing=smoothing,
        )

    def train_epoch(self, progress: EpochProgress | None = None) -> dict[str, float]:
        """One pass over the training data, or the rest of one after ``progress.step`` steps
        (:func:`run_steps`: the rest is the same, and ``progress`` ends at a whole step);
        raises NonFiniteError on a NaN/inf loss."""
        self.model.train()
        self.train_loader.set_epoch(self.epoch)
        progress = progress or EpochProgress(steps=len(self.train_loader))
        clip = self.config.optim.grad_clip
        bar = tqdm(
            self.train_loader,
            desc=f"epoch {self.epoch + 1}/{self.config.optim.epochs}",
            disable=not self.progress,
            leave=False,
            dynamic_ncols=True,
        )
        for step in run_steps(bar, progress,
                              lambda step, batch: self._train_step(step, *batch, clip, progress),
                              self.dist):
            sums = progress.totals
            if step % 10 == 0:
                bar.set_postfix(loss=f"{sums['loss'] / sums['count']:.3f}",
                                acc=f"{100 * sums['correct'] / sums['count']:.1f}")
        sums = {"loss": 0.0, "correct": 0, "count": 0, **progress.totals}
        total_loss, correct, count = self.dist.sum(sums["loss"], sums["correct"], sums["count"])
        return {"loss": total_loss / max(count, 1), "acc": 100.0 * correct / max(count, 1)}

    def _train_step(self, step: int, x: torch.Tensor, y: torch.Tensor, clip: float | None,
                    progress: EpochProgress) -> None:
        """One optimizer step on a batch; its loss and accuracy go into ``progress``."""
        with autocast(self.device, self.amp):
            logits = self.forward(x)
            loss = self._loss(logits.float(), x, y)
        local = float(loss.detach())
        value = self.dist.mean(local)  # the same on every rank, so a NaN stops them all
        check_finite(
            value, "loss", f"epoch {self.epoch + 1} step {step + 1}", self.checkpoint_dir,
            f"lower optim.lr (now {self.config.optim.lr}) or set optim.grad_clip, then "
            "start again",
        )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if clip is not None:
            self.scaler.unscale_(self.optimizer)
            norm = nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        if not self.scaler.is_enabled():  # fp16 scaling skips inf steps by design
            check_gradients(
                norm if clip is not None else gradient_norm(self.model.parameters()),
                f"epoch {self.epoch + 1} step {step + 1}", self.checkpoint_dir,
                f"lower optim.lr (now {self.config.optim.lr}) or set optim.grad_clip, then "
                "start again",
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        progress.add(loss=local * y.numel(), correct=accuracy_count(logits, y), count=y.numel())

    def fit(self) -> dict[str, Any]:
        """Train until ``optim.epochs``, checkpointing after every epoch; returns the result."""
        started = time.time()
        scalars = ScalarLog(self.run_dir, enabled=self.dist.is_main)
        try:
            while self.epoch < self.config.optim.epochs:
                record = self.run_epoch()
                scalars.write(self.epoch, {k: v for k, v in record.items() if k != "epoch"})
        finally:
            scalars.close()
        return self._finish(time.time() - started)

    def run_epoch(self) -> dict[str, float]:
        """Train and test one epoch (or the rest of one a resume continues), log its
        metrics, then checkpoint it; a stop signal on the way leaves a mid-epoch checkpoint
        (:mod:`bnnas.train.mid_epoch`), or under data parallelism, once the steps are
        done, waits for the epoch checkpoint."""
        with epoch_together(self.dist):
            return self._run_epoch()

    def _run_epoch(self) -> dict[str, float]:
        progress = self.progress_in_epoch or EpochProgress(
            steps=len(self.train_loader), lr=self.optimizer.param_groups[0]["lr"])
        self.progress_in_epoch = None
        tic = time.time() - progress.seconds
        with keep_on_stop(self.checkpoint_dir, progress, self.state_dict, self.dist):
            train = self.train_epoch(progress)
            test = evaluate(self.eval_forward, self.test_loader, self.device, self.amp,
                            self.dist if self.dist.enabled else None)
        self.epoch += 1
        record = {
            "epoch": self.epoch,
            "lr": progress.lr,
            "train_loss": train["loss"],
            "train_acc": train["acc"],
            "test_loss": test["loss"],
            "test_acc": test["acc"],
            "epoch_seconds": time.time() - tic,
        }
        # Metrics first, checkpoint second: a crash in between is undone on resume, which
        # cuts the metrics back to the checkpoint's epoch.
        if self.dist.is_main:
            self.metrics.append(record)
            saved = save_epoch_checkpoint(
                self.checkpoint_dir, self.epoch, self.state_dict(), self.config.keep_checkpoints
            )
            clear_mid_epoch(self.checkpoint_dir)
        log.info(
            "epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  (%.1fs)",
            self.epoch, self.config.optim.epochs, train["loss"], train["acc"], test["loss"],
            test["acc"], record["epoch_seconds"],
        )
        if self.dist.is_main:
            warn_if_statistics_lag(self.epoch, train["acc"], test["acc"], saved)
        return record

    def _finish(self, seconds: float) -> dict[str, Any]:
        """Write ``final.pt`` and ``result.json`` (rank 0); every rank returns the result."""
        result = self._write_result(seconds) if self.dist.is_main else None
        return self.dist.broadcast_object(result)  # type: ignore[return-value]

    def _write_result(self, seconds: float) -> dict[str, Any]:
        records = self.metrics.read()
        last = records[-1] if records else {}
        result = {
            "epochs": self.epoch,
            "test_acc": last.get("test_acc"),
            "test_loss": last.get("test_loss"),
            "best_test_acc": max((r["test_acc"] for r in records), default=None),
            "train_seconds": sum(r.get("epoch_seconds", 0.0) for r in records),
            "this_session_seconds": seconds,
            "dataset": self.dataset.name,
            "model": self.config.model.genotype or self.config.model.name,
        }
        final = {k: v for k, v in self.state_dict().items() if k in ("config", "meta", "epoch")}
        final["model"] = self.model.state_dict()
        save_checkpoint(self.run_dir / "final.pt", final)
        write_text_atomic(self.run_dir / "result.json", json.dumps(result, indent=2) + "\n")
        return result

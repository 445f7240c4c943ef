"""The bilevel loop shared by the differentiable searches (UBNAS, BARS).

DARTS (Liu et al., ICLR 2019) alternates, batch by batch, an architecture step on one half of
the training data and a weight step on the other. :class:`BilevelSearch` owns that loop and
everything around it that a user relies on: data halves, optimizers, gradient clipping,
per-epoch checkpoints and exact resume (also from a stop signal mid-epoch, at the next step:
:mod:`bnnas.train.mid_epoch`), metrics, NaN checks and early stopping. A method
supplies its supernet and a few hooks (:meth:`BilevelSearch.build_model`,
:meth:`~BilevelSearch.arch_loss`, :meth:`~BilevelSearch.start_epoch`,
:meth:`~BilevelSearch.derived`, and what it writes at the end).

Under ``torchrun`` both halves are sharded over the ranks (:mod:`bnnas.distributed`): the
weight step runs through DistributedDataParallel, and the architecture gradients, which
``torch.autograd.grad`` returns outside DDP's hooks, are averaged explicitly before the
architecture optimizer steps, so the alphas stay identical on every rank.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from bnnas.config import to_dict
from bnnas.data import BatchLoader, Dataset, default_train_transform
from bnnas.data.splits import split_train_val
from bnnas.device import amp_dtype, autocast, loader_options
from bnnas.errors import CheckpointError, ConfigError, NonFiniteError
from bnnas.runs import MetricsLog
from bnnas.search.bilevel import ArchitectStep
from bnnas.search.early_stop import EarlyStopper, StopDecision
from bnnas.space.genotype import Genotype
from bnnas.train.checkpoint import save_epoch_checkpoint
from bnnas.train.health import (
    check_gradients,
    decisive,
    gradient_norm,
    warn_if_collapsed,
    warn_if_undecided,
)
from bnnas.train.losses import accuracy_count
from bnnas.train.mid_epoch import (
    EpochProgress,
    clear_mid_epoch,
    epoch_together,
    keep_on_stop,
    resume_mid_epoch,
    run_steps,
)
from bnnas.train.resumable import (
    capture_rng,
    check_finite,
    load_parts,
    restore_rng,
    resume_latest,
    set_up_run,
)

log = logging.getLogger("bnnas")


def search_halves(dataset: Dataset, config: Any) -> tuple[Any, Any]:
    """The weight half and the architecture half of the (optionally limited) training set."""
    source = dataset.train
    limit = config.data.limit
    if limit is not None and limit < len(source):
        _, source = split_train_val(source, limit / len(source), seed=config.seed)
    return split_train_val(source, config.data.val_fraction, seed=config.seed)


class BilevelSearch:
    """One differentiable search in a run folder: ``run()`` searches (resumably), then
    derives and writes the results (:meth:`_finish`)."""

    method = "bilevel"
    sparse_forward = True
    """Whether a forward may leave weights unused (sampled ops or depths); DDP then looks for
    them after every forward, which costs a graph traversal."""

    def __init__(
        self,
        config: Any,
        run_dir: str | Path,
        *,
        dataset: Dataset | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        setup = set_up_run(run_dir, config.data, config.device, deterministic=True,
                           progress=progress, dataset=dataset)
        self.run_dir, self.checkpoint_dir, self.dist = setup.run_dir, setup.checkpoint_dir, \
            setup.dist
        self.progress, self.device, self.dataset = setup.progress, setup.device, setup.dataset
        data = config.data
        weight_half, arch_half = search_halves(self.dataset, config)
        smallest = min(len(weight_half), len(arch_half))
        if smallest < data.batch_size:
            raise ConfigError(
                f"each half of the search data holds {smallest} images, fewer than "
                f"data.batch_size={data.batch_size}; raise data.limit or lower data.batch_size"
            )
        transform = default_train_transform(self.dataset, data.augment)
        self.dist.per_rank_batch(data.batch_size, "data.batch_size")
        loader_args = {"shuffle": True, "transform": transform, "rank": self.dist.rank,
                       "world_size": self.dist.world_size, **loader_options(self.device)}
        self.weight_loader = BatchLoader(weight_half, data.batch_size, seed=config.seed,
                                         drop_last=True, **loader_args)
        self.arch_loader = BatchLoader(arch_half, data.batch_size, seed=config.seed + 1,
                                       drop_last=True, **loader_args)
        torch.manual_seed(config.seed)
        self.model = self.build_model().to(self.device)
        self.amp = amp_dtype(config.amp, self.device)
        ddp = self.dist.wrap(self.model, self.device, find_unused_parameters=self.sparse_forward)
        # The weight step may be compiled; the architecture step differentiates through the
        # bare module (and, second order, through functional_call), which stays eager.
        self.forward = torch.compile(ddp) if config.compile else ddp
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
            self.arch_optimizer, self.arch_loss, second_order=arch.order == "second",
            average=self.dist.average_ if self.dist.enabled else None,
        )
        self.stopper = EarlyStopper(config.early_stop)
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        self.alphas_log = MetricsLog(self.run_dir / "alphas.jsonl")
        self.epoch = 0
        self.stopped: StopDecision | None = None
        self.progress_in_epoch: EpochProgress | None = None  # set by a mid-epoch resume

    # ----------------------------------------------------------------- method hooks
    def build_model(self) -> Any:
        """The supernet; it offers ``arch_parameters()`` and ``weight_parameters()``."""
        raise NotImplementedError

    def arch_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss the architecture step minimises on the architecture half."""
        return F.cross_entropy(logits, y)

    def start_epoch(self) -> dict[str, Any]:
        """Per-epoch settings of the supernet; the returned values join the epoch's metrics."""
        return {}

    def derived(self) -> Genotype:
        """The architecture the parameters currently derive."""
        raise NotImplementedError

    def epoch_log(self, stats: dict[str, Any]) -> str:
        """Method-specific part of the per-epoch log line."""
        return ""

    def _arch_record(self, genotype: Genotype) -> dict[str, Any]:
        """The architecture-history record of this epoch (``alphas.jsonl``)."""
        return {"epoch": self.epoch, "genotype": genotype.to_dict()}

    def _finish(self, seconds: float) -> dict[str, Any]:
        """Derive, write the results and return them."""
        raise NotImplementedError

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        stopped = None if self.stopped is None else vars(self.stopped)
        return {
            "kind": f"{self.method}-search",
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
        if state.get("kind") != f"{self.method}-search":
            raise CheckpointError(
                f"this checkpoint is not from a {self.method} search; resume its own run"
            )
        parts = {"model": self.model, "weight_optimizer": self.weight_optimizer,
                 "arch_optimizer": self.arch_optimizer, "scheduler": self.scheduler,
                 "stopper": self.stopper}
        load_parts(parts, state, "search's supernet")
        self.stopped = StopDecision(**state["stopped"]) if state["stopped"] else None
        restore_rng(state)
        self.epoch = int(state["epoch"])

    def resume(self) -> bool:
        """Load the newest valid checkpoint, then the mid-epoch one that continues it if a
        stop left one; False if the run has neither yet."""
        found = resume_latest(self.checkpoint_dir, self.device, self.load_state_dict,
                              lambda: self.epoch, [self.metrics, self.alphas_log],
                              writer=self.dist.is_main)
        self.progress_in_epoch = resume_mid_epoch(
            self.checkpoint_dir, self.epoch, self.device, self.load_state_dict, self.dist,
            "the search")
        return found or self.progress_in_epoch is not None

    # ----------------------------------------------------------------- search
    def steps_per_epoch(self) -> int:
        return min(len(self.weight_loader), len(self.arch_loader))

    def search_epoch(self, progress: EpochProgress | None = None) -> dict[str, float]:
        """One epoch of alternating architecture and weight steps, or the rest of one after
        ``progress.step`` steps (:func:`run_steps`: the rest is the same, and ``progress``
        ends at a whole step)."""
        config = self.config
        settings = self.start_epoch()
        self.model.train()
        self.weight_loader.set_epoch(self.epoch)
        self.arch_loader.set_epoch(self.epoch)
        update_arch = self.epoch >= config.arch.warmup_epochs
        self.architect.weight_lr = self.weight_optimizer.param_groups[0]["lr"]
        progress = progress or EpochProgress(steps=self.steps_per_epoch())
        batches = zip(self.weight_loader, self.arch_loader, strict=False)
        bar = tqdm(batches, total=self.steps_per_epoch(),
                   desc=f"search {self.epoch + 1}/{config.epochs}", disable=not self.progress,
                   leave=False, dynamic_ncols=True)
        for step in run_steps(bar, progress, lambda step, batches: self._search_step(
                step, *batches, update_arch, progress), self.dist):
            if step % 5 == 0:
                bar.set_postfix(loss=f"{progress.totals['loss'] / progress.totals['count']:.3f}")
        self._check_arch_finite()
        totals = {"loss": 0.0, "correct": 0, "count": 0, "arch_loss": 0.0, "arch_steps": 0,
                  **progress.totals}
        totals["loss"], totals["correct"], totals["count"] = self.dist.sum(
            totals["loss"], totals["correct"], totals["count"])
        count = max(totals["count"], 1)
        return {
            "train_loss": totals["loss"] / count,
            "train_acc": 100.0 * totals["correct"] / count,
            "arch_loss": totals["arch_loss"] / max(totals["arch_steps"], 1)
            if totals["arch_steps"] else None,
            "arch_updated": update_arch,
            **settings,
        }

    def _search_step(self, step: int, weight_batch: tuple[torch.Tensor, torch.Tensor],
                     arch_batch: tuple[torch.Tensor, torch.Tensor], update_arch: bool,
                     progress: EpochProgress) -> None:
        """An architecture step (after the warm-up) and a weight step; their losses and the
        accuracy go into ``progress``."""
        (x, y), (x_arch, y_arch) = weight_batch, arch_batch
        config = self.config
        if update_arch:
            with autocast(self.device, self.amp):
                arch_loss = self.architect.step(x_arch, y_arch, x, y)
            self._check_finite("architecture loss", arch_loss, step)
            self._check_arch_finite(step)  # a NaN alpha would show as a NaN weight loss
            progress.add(arch_loss=arch_loss, arch_steps=1)
        with autocast(self.device, self.amp):
            logits = self.forward(x)
            loss = F.cross_entropy(logits.float(), y)
        local = float(loss.detach())
        self._check_finite("loss", self.dist.mean(local), step)
        self.weight_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.optim.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.model.weight_parameters(),
                                                  config.optim.grad_clip)
        else:
            norm = gradient_norm(self.model.weight_parameters())
        check_gradients(norm, f"search epoch {self.epoch + 1} step {step + 1}",
                        self.checkpoint_dir, "lower optim.lr or arch.lr, then start again")
        self.weight_optimizer.step()
        progress.add(loss=local * y.numel(), correct=accuracy_count(logits, y),
                     count=y.numel())

    def _check_finite(self, what: str, value: float, step: int) -> None:
        check_finite(value, what, f"search epoch {self.epoch + 1} step {step + 1}",
                     self.checkpoint_dir, "lower optim.lr or arch.lr, then start again")

    def _check_arch_finite(self, step: int | None = None) -> None:
        for p in self.model.arch_parameters():
            if not torch.isfinite(p).all():
                where = "" if step is None else f" step {step + 1}"
                raise NonFiniteError(
                    f"architecture parameters became NaN/inf in search epoch {self.epoch + 1}"
                    f"{where}; lower arch.lr, then start again"
                )

    def _run_epoch(self) -> None:
        """One search epoch (or the rest of one a resume continues), then its logs and
        checkpoint; sets ``self.stopped`` when the early-stop rule fires."""
        config = self.config
        progress = self.progress_in_epoch or EpochProgress(
            steps=self.steps_per_epoch(), lr=self.weight_optimizer.param_groups[0]["lr"])
        self.progress_in_epoch = None
        tic = time.time() - progress.seconds
        lr = progress.lr
        with keep_on_stop(self.checkpoint_dir, progress, self.state_dict, self.dist):
            stats = self.search_epoch(progress)
        self.scheduler.step()
        self.epoch += 1
        genotype = self.derived()
        arch_record = self._arch_record(genotype)
        distributions = (arch_record.get("alphas_normal", [])
                         + arch_record.get("alphas_reduce", []))
        warn_if_collapsed(genotype, self.epoch, distributions)
        record = {"epoch": self.epoch, "lr": lr, **stats,
                  "epoch_seconds": time.time() - tic}
        self.stopped = self.stopper.update(
            self.epoch, genotype.to_json(), genotype.normal.nodes, stats["arch_updated"],
            decisive(distributions),
        )
        if self.stopped is not None and self.stopped.criterion == "stable_epochs":
            warn_if_undecided(self.epoch, distributions)
        if self.dist.is_main:
            self.metrics.append(record)
            self.alphas_log.append(arch_record)
            save_epoch_checkpoint(self.checkpoint_dir, self.epoch, self.state_dict(),
                                  config.keep_checkpoints)
            clear_mid_epoch(self.checkpoint_dir)
        log.info("search epoch %d/%d  loss %.4f acc %.2f%%  arch loss %s  %s  (%.1fs)",
                 self.epoch, config.epochs, stats["train_loss"], stats["train_acc"],
                 "-" if stats["arch_loss"] is None else f"{stats['arch_loss']:.4f}",
                 self.epoch_log(stats), record["epoch_seconds"])
        if self.stopped is not None:
            log.info("early stop at epoch %d by %s: %s; %d of %d epochs saved",
                     self.stopped.epoch, self.stopped.criterion, self.stopped.detail,
                     config.epochs - self.stopped.epoch, config.epochs)

    def run(self) -> dict[str, Any]:
        """Search until the epoch budget or an early stop; then derive and write results."""
        started = time.time()
        config = self.config
        while self.epoch < config.epochs and self.stopped is None:
            with epoch_together(self.dist):  # DDP: a late stop waits for the checkpoint
                self._run_epoch()
        seconds = time.time() - started
        result = self._finish(seconds) if self.dist.is_main else None
        return self.dist.broadcast_object(result)  # type: ignore[return-value]


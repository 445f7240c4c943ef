"""One rank of the data-parallel tests (``tests/test_distributed.py``), and the shared pieces
its single-process references use.

Run as ``python tests/ddp_worker.py OUT`` with torchrun's variables (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT) set; each rank saves what the test compares to
``OUT/rank-N.pt``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bnnas.config import load_config
from bnnas.data.datasets import Dataset
from bnnas.data.tensors import ImageTensors
from bnnas.interrupt import Interrupted, StopSignals
from bnnas.models import MODELS
from bnnas.search.config import UBNASConfig
from bnnas.search.ubnas import UBNASSearch
from bnnas.train import TrainConfig, Trainer

REAL_NET = "ddp_test_real_net"


class RealNet(nn.Module):
    """A float network without BatchNorm: each sample's loss ignores the rest of its batch."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 6, 3, padding=1)
        self.head = nn.Linear(6 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.adaptive_avg_pool2d(torch.relu(self.conv(x)), 2)
        return self.head(h.flatten(1))


if REAL_NET not in MODELS.names():
    MODELS.register(REAL_NET)(RealNet)


def images(n: int, seed: int) -> ImageTensors:
    """The tiny four-class set of ``tests/conftest.py``."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    data = torch.randint(0, 90, (n, 1, 12, 12), generator=g)
    for c in range(4):
        r, q = divmod(c, 2)
        data[labels == c, :, 6 * r : 6 * r + 6, 6 * q : 6 * q + 6] += 140
    return ImageTensors(data.clamp(0, 255).to(torch.uint8), labels.to(torch.int64))


def dataset() -> Dataset:
    return Dataset(name="tiny", train=images(192, 0), test=images(64, 1), num_classes=4,
                   input_shape=(1, 12, 12), mean=(0.4,), std=(0.3,),
                   classes=("a", "b", "c", "d"))


def train_config(epochs: int = 2) -> TrainConfig:
    return load_config(TrainConfig, overrides=[
        f"model.name={REAL_NET}", "data.batch_size=32", "data.eval_batch_size=50",
        "data.augment=false", f"optim.epochs={epochs}", "optim.lr=0.01", "device=cpu",
    ])


def ubnas_config() -> UBNASConfig:
    return load_config(UBNASConfig, overrides=[
        "data.batch_size=16", "epochs=2", "arch.warmup_epochs=0", "arch.lr=0.01",
        "space.cells=3", "space.channels=4", "space.steps=2", "device=cpu",
        "early_stop.stable_epochs=null", "early_stop.skip_connects=null",
    ])


@contextlib.contextmanager
def frozen_batch_norm() -> Iterator[None]:
    """BatchNorm normalises with its stored statistics, never the batch's.

    Under DDP each rank normalises by the statistics of its own share of the batch
    (SyncBatchNorm, which would pool them, has no CPU kernel), so a two-process step cannot
    equal a one-process step exactly. With BN frozen, every sample's loss depends on the
    weights alone, the mean of the ranks' mean gradients is the full batch's mean gradient,
    and the comparison is exact up to float rounding.
    """
    base = nn.modules.batchnorm._BatchNorm
    original = base.forward

    def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        mean = self.running_mean if self.running_mean is not None else x.new_zeros(c)
        var = self.running_var if self.running_var is not None else x.new_ones(c)
        return F.batch_norm(x, mean, var, self.weight, self.bias, False, 0.0, self.eps)

    base.forward = forward  # type: ignore[method-assign]
    try:
        yield
    finally:
        base.forward = original  # type: ignore[method-assign]


def train(run_dir: Path, epochs: int = 2, resume: bool = False) -> dict[str, torch.Tensor]:
    trainer = Trainer(train_config(epochs), run_dir, dataset=dataset(), progress=False)
    if resume:
        assert trainer.resume()
    trainer.fit()
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def stopped_train(run_dir: Path, signalled: bool, calls: int) -> bool:
    """A two-epoch run that this rank, if ``signalled``, sends SIGTERM to itself during its
    ``calls``-th step (6 steps per epoch); whether the stop was one the ranks agreed on."""
    trainer = Trainer(train_config(), run_dir, dataset=dataset(), progress=False)
    if signalled:
        loss, seen = trainer._loss, []

        def signalling(*args: Any) -> torch.Tensor:
            seen.append(1)
            if len(seen) == calls:
                os.kill(os.getpid(), signal.SIGTERM)
            return loss(*args)

        trainer._loss = signalling  # type: ignore[method-assign]
    try:
        with StopSignals():
            trainer.fit()
    except Interrupted as stop:
        return stop.together
    raise AssertionError("the run was not stopped")


def stopped_in_evaluation(run_dir: Path, signalled: bool) -> tuple[bool, int]:
    """A two-epoch run that this rank, if ``signalled``, sends SIGTERM to itself in its
    first evaluation (after epoch 1's steps); whether the ranks stopped together, and the
    epochs the trainer had done when they stopped."""
    trainer = Trainer(train_config(), run_dir, dataset=dataset(), progress=False)
    if signalled:
        forward, seen = trainer.model.forward, []

        def signalling(x: torch.Tensor) -> torch.Tensor:
            if not trainer.model.training and not seen:
                seen.append(1)
                os.kill(os.getpid(), signal.SIGTERM)
            return forward(x)

        trainer.model.forward = signalling  # type: ignore[method-assign]
    try:
        with StopSignals():
            trainer.fit()
    except Interrupted as stop:
        return stop.together, trainer.epoch
    raise AssertionError("the run was not stopped")


def alphas(search: UBNASSearch) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).clone() for p in search.model.arch_parameters()])


def ubnas(run_dir: Path, full_run: bool = True, average: bool = True) -> torch.Tensor:
    """The architecture parameters after two search epochs (12 bilevel steps)."""
    search = UBNASSearch(ubnas_config(), run_dir, dataset=dataset(), progress=False)
    if not average:
        search.architect.average = None
    if full_run:
        search.run()
    else:
        for _ in range(2):
            search.search_epoch()
            search.epoch += 1
    return alphas(search)


def main(out: Path) -> None:
    import torch.distributed as dist

    from bnnas.distributed import current, torchrun_session

    torch.set_num_threads(1)
    with torchrun_session():
        ctx = current()
        shared = out / "train-run"  # the run folder both ranks are given
        own = out / f"train-run-rank{ctx.rank}"  # rank 1's own folder: it must stay absent
        if ctx.is_main:  # what `bnnas train` and `bnnas search` do before they start
            shared.mkdir()
            (out / "search-rank0").mkdir()
        result: dict[str, Any] = {"world_size": ctx.world_size}
        result["train"] = train(own if ctx.rank else shared)
        if ctx.is_main:  # resume from epoch 1 of the finished run: same end point
            (shared / "checkpoints" / "epoch-0002.pt").unlink()
        dist.barrier()
        result["train_resumed"] = train(shared, resume=True)
        # only rank 1 is signalled (in step 3 of epoch 2); both must stop after that step
        stopped = out / "stopped-run"
        if ctx.is_main:
            stopped.mkdir()
        dist.barrier()
        result["stopped_together"] = stopped_train(stopped, ctx.rank == 1, 6 + 3)
        dist.barrier()
        if ctx.is_main:  # kept for the test: the resume below deletes the mid-epoch file
            shutil.copytree(stopped, out / "stopped-copy")
        dist.barrier()
        result["stopped_resumed"] = train(stopped, resume=True)
        # only rank 1 is signalled, in its first evaluation: both stop once epoch 1 is
        # checkpointed (before, rank 1 left while rank 0 waited in the evaluation's sum)
        late = out / "stopped-in-evaluation"
        if ctx.is_main:
            late.mkdir()
        dist.barrier()
        result["stopped_in_evaluation"] = stopped_in_evaluation(late, ctx.rank == 1)
        dist.barrier()
        if ctx.is_main:
            shutil.copytree(late, out / "stopped-in-evaluation-copy")
        dist.barrier()
        result["stopped_in_evaluation_resumed"] = train(late, resume=True)
        with frozen_batch_norm():
            result["alphas_frozen_bn"] = ubnas(out / f"search-rank{ctx.rank}")
        result["alphas_bn"] = ubnas(out / "unused", full_run=False)
        result["alphas_not_averaged"] = ubnas(out / "unused", full_run=False, average=False)
        torch.save(result, out / f"rank-{ctx.rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

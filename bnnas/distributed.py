"""Data-parallel training over processes started by ``torchrun``.

One process per device; each holds a full replica of the network, sees its own share of
every global batch, and DistributedDataParallel averages the gradients in buckets that
overlap with the backward pass (Li et al., "PyTorch Distributed: Experiences on
Accelerating Data Parallel Training", VLDB 2020). Everything a trainer or a search needs from
that world lives in :class:`DistContext`, read from ``torch.distributed`` when asked for
(:func:`current`), never kept in this module:

* ``data.batch_size`` is the **global** batch: each rank takes ``batch_size / world_size``
  images of it (:class:`bnnas.data.BatchLoader`'s ``rank``/``world_size``), so a config
  means the same optimisation on one process or eight, and the learning rate needs no
  rescaling;
* only rank 0 writes: run folder, logs, metrics, checkpoints, plots and results; other
  ranks get rank 0's result through :meth:`DistContext.broadcast_object`;
* architecture parameters of a differentiable search are updated from gradients that
  ``torch.autograd.grad`` returns, which DDP never sees; :meth:`DistContext.average_`
  averages them explicitly, so every rank takes the same step and the alphas stay equal
  (the classic multi-GPU DARTS bug is to let them drift apart per rank).

BatchNorm keeps per-rank batch statistics, as in most data-parallel recipes; rank 0's
running statistics are broadcast before every forward (DDP's ``broadcast_buffers``).
SyncBatchNorm would make them global but has no CPU kernel.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from bnnas.errors import CheckpointError, ConfigError

T = TypeVar("T")

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DistContext:
    """This process's place among the data-parallel processes (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and logs."""
        return self.rank == 0

    # ----------------------------------------------------------------- placement
    def place(self, device: torch.device) -> torch.device:
        """The device of this rank: ``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun, one
        GPU per process, whatever index the config named (every rank reads the same one)."""
        if not self.enabled or device.type != "cuda":
            return device
        device = torch.device("cuda", self.local_rank)
        torch.cuda.set_device(device)
        return device

    def per_rank_batch(self, global_batch: int, key: str) -> int:
        """Images per rank of a global batch; it must split evenly over the ranks."""
        if global_batch % self.world_size:
            raise ConfigError(
                f"{key}={global_batch} (the global batch) does not split over "
                f"{self.world_size} processes; use a multiple of {self.world_size}"
            )
        return global_batch // self.world_size

    def wrap(self, model: nn.Module, device: torch.device, *,
             find_unused_parameters: bool = False) -> nn.Module:
        """``model`` inside DistributedDataParallel, or ``model`` itself on one process.

        The constructor is a collective (it broadcasts rank 0's parameters and buffers), so
        it also lines the ranks up. ``find_unused_parameters`` is for supernets, whose
        single-path or sampled forwards leave weights out; parameters no rank used keep
        ``grad=None``, so an optimizer skips them exactly as on one process.
        """
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids,
                                       find_unused_parameters=find_unused_parameters)

    # ----------------------------------------------------------------- collectives
    def average_(self, tensors: Sequence[torch.Tensor]) -> None:
        """Replace each tensor by its mean over the ranks, in one all-reduce."""
        if not self.enabled or not tensors:
            return
        flat = torch.cat([t.detach().reshape(-1).float() for t in tensors])
        dist.all_reduce(flat)
        flat /= self.world_size
        start = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[start:start + n].view_as(t))
            start += n

    def mean(self, value: float) -> float:
        """The mean of a number over the ranks (e.g. a loss, so that every rank sees the
        same value and a NaN stops them all at the same step)."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t) / self.world_size

    def sum(self, *values: float) -> tuple[float, ...]:
        """The sums of numbers over the ranks (loss totals, correct counts, sample counts)."""
        if not self.enabled:
            return tuple(values)
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return tuple(float(v) for v in t)

    def largest(self, value: int) -> int:
        """The largest of an integer over the ranks (e.g. a held stop signal, so that every
        rank stops after the same step when any one was signalled)."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t)

    def broadcast_object(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (picklable objects only)."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather_object(self, obj: T) -> list[T]:
        """Every rank's ``obj``, in rank order."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def check_resumed(self, progress: Hashable, where: str) -> None:
        """Raise on every rank unless every rank resumed from the same point: ranks that read
        different checkpoints (one folder per node) would silently train different models."""
        seen = self.all_gather_object(progress)
        if len(set(seen)) > 1:
            raise CheckpointError(
                f"the processes resumed {where} from different points {seen}; put the run "
                "folder on a file system every node shares"
            )


def torchrun_env(environ: dict[str, str] | None = None) -> DistContext | None:
    """The context torchrun's environment variables describe, or None outside torchrun."""
    env = os.environ if environ is None else environ
    if not all(key in env for key in TORCHRUN_VARIABLES):
        return None
    try:
        ctx = DistContext(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"]))
    except ValueError:
        raise ConfigError(
            "RANK, WORLD_SIZE and LOCAL_RANK must be integers; start bnnas with torchrun"
        ) from None
    if not 0 <= ctx.rank < ctx.world_size:
        raise ConfigError(f"RANK={ctx.rank} is outside WORLD_SIZE={ctx.world_size}; "
                          "start bnnas with torchrun")
    return ctx


def backend_name(cuda_available: bool, nccl_available: bool) -> str:
    """gloo for CPU tensors, plus NCCL for CUDA tensors when this build has both.

    One process group serves both, so the choice does not depend on the ``device`` a config
    picks later, and object collectives (which travel as CPU tensors) always use gloo.
    """
    return "cpu:gloo,cuda:nccl" if cuda_available and nccl_available else "gloo"


def current() -> DistContext:
    """This process's context: from the initialised default process group, else rank 0 of 1."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return DistContext(dist.get_rank(), dist.get_world_size(), local)


def is_main_process() -> bool:
    """True unless this is a non-zero rank of an initialised process group."""
    return current().is_main


@contextlib.contextmanager
def torchrun_session() -> Iterator[DistContext]:
    """Join the process group torchrun describes for the duration of a command.

    Outside torchrun (or with one process) nothing happens. Ranks other than 0 print nothing
    on stdout, so a command's output appears once; their errors still reach stderr.
    """
    ctx = torchrun_env()
    if ctx is None or ctx.world_size == 1 or dist.is_initialized():
        yield current()
        return
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; run without torchrun")
    backend = backend_name(torch.cuda.is_available(), dist.is_nccl_available())
    dist.init_process_group(backend=backend)
    stdout = sys.stdout
    try:
        if not ctx.is_main:
            sys.stdout = io.StringIO()
        yield current()
    finally:
        sys.stdout = stdout
        dist.destroy_process_group()

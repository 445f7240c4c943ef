"""A single-process batch loader with exactly reproducible epochs.

Every epoch's shuffle order and augmentation draws come from two private generators seeded
from ``(seed, epoch)`` alone, never from the global RNG, so a run resumed at epoch k calls
``set_epoch(k)`` and sees the same batches it would have seen without the interruption, and
changing the model's own randomness (dropout, initialisation) cannot shift the data. The
order and the augmentation use separate generators so that changing the transform does not
change which samples share a batch.

In-memory sets need no worker processes: a batch is one indexing call, and augmentation runs
on the batch's device (:mod:`bnnas.data.transforms`).

Under data parallelism (:mod:`bnnas.distributed`) every rank draws the same global order and
takes every ``world_size``-th image of each global batch, starting at its rank, as
``DistributedSampler`` does: the ranks' shares of a batch together are exactly the batch one
process would see, which is what makes a multi-process step equal a single-process one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import torch
from torch import Tensor

from bnnas.data.tensors import ImageSource
from bnnas.data.transforms import Transform
from bnnas.errors import ConfigError, DataError


def derive_seed(seed: int, epoch: int, purpose: str) -> int:
    """A 63-bit seed that depends only on its arguments (stable across runs and versions)."""
    digest = hashlib.sha256(f"bnnas:{purpose}:{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class BatchLoader:
    """Iterates (x float normalized on device, y int64 on device) batches from a source.

    Call :meth:`set_epoch` before each epoch, as with ``DistributedSampler``: without it every
    pass repeats epoch 0's order and augmentation. ``pin_memory`` pins host batches before an
    asynchronous copy and only applies when ``device`` is a CUDA device.

    ``batch_size`` is the global batch; with ``world_size > 1`` this rank yields its share
    (``rank``, ``rank + world_size``, ... of each batch) and augments it with draws of its
    own, so that ranks do not repeat one another's crops.
    """

    def __init__(
        self,
        source: ImageSource,
        batch_size: int,
        *,
        shuffle: bool,
        transform: Transform,
        seed: int = 0,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        pin_memory: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        if len(source) == 0:
            raise DataError("cannot load batches from an empty data source")
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} is outside world size {world_size}")
        self.source = source
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.transform = transform
        self.seed = int(seed)
        self.drop_last = drop_last
        self.device = torch.device(device)
        self.pin_memory = pin_memory and self.device.type == "cuda"
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and augmentation the next iteration produces."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ConfigError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = epoch

    @property
    def num_samples(self) -> int:
        """Samples yielded per epoch (fewer than the source holds when ``drop_last`` cuts)."""
        if self.drop_last:
            return len(self) * self.batch_size
        return len(self.source)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.source)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _generator(self, purpose: str) -> torch.Generator:
        return torch.Generator().manual_seed(derive_seed(self.seed, self.epoch, purpose))

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.source)
        if self.shuffle:
            order = torch.randperm(n, generator=self._generator("order"))
        else:
            order = torch.arange(n)
        sharded = self.world_size > 1
        augment = self._generator(f"augment-{self.rank}" if sharded else "augment")
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            batch = order[start : start + self.batch_size]
            if sharded:
                batch = batch[self.rank :: self.world_size]
                if len(batch) == 0:  # a short last batch with fewer images than ranks
                    continue
            x, y = self.source.fetch(batch)
            if self.pin_memory:
                x, y = x.pin_memory(), y.pin_memory()
            x = x.to(self.device, non_blocking=self.pin_memory)
            y = y.to(self.device, non_blocking=self.pin_memory)
            yield self.transform(x, generator=augment), y

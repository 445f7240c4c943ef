"""Seeded train/validation splits of a training set.

Differentiable architecture search fits the weights on one half of the training set and the
architecture parameters on the other (DARTS, PC-DARTS: ``train_portion = 0.5``); the test set
is never touched. Splitting per class keeps both halves with the class mix of the whole, which
matters for the small bundled set, where a plain random split can leave a class short.
"""

from __future__ import annotations

import math
from typing import TypeVar

import torch

from bnnas.data.tensors import ImageSource
from bnnas.errors import ConfigError, DataError

S = TypeVar("S", bound=ImageSource)


def _val_count(count: int, val_fraction: float) -> int:
    """Validation samples of a group of ``count``: rounded, but at least one on each side."""
    n_val = math.floor(count * val_fraction + 0.5)
    if count >= 2:
        n_val = min(max(n_val, 1), count - 1)
    return min(n_val, count)


def split_train_val(
    source: S, val_fraction: float = 0.5, seed: int = 0, stratified: bool = True
) -> tuple[S, S]:
    """Split ``source`` into (train, val) subsets; the same ``seed`` gives the same split.

    With ``stratified`` every class is split separately by ``val_fraction`` (rounded, with at
    least one sample per side for classes of two or more). Both subsets keep the samples in
    their original order; a shuffling loader mixes them.
    """
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)):
        raise ConfigError(f"val_fraction must be a number, got {val_fraction!r}")
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    generator = torch.Generator().manual_seed(seed)
    labels = source.labels.cpu()
    if stratified:
        groups = [torch.nonzero(labels == c).flatten() for c in torch.unique(labels).tolist()]
    else:
        groups = [torch.arange(len(labels))]
    train_parts, val_parts = [], []
    for members in groups:
        shuffled = members[torch.randperm(len(members), generator=generator)]
        n_val = _val_count(len(members), val_fraction)
        val_parts.append(shuffled[:n_val])
        train_parts.append(shuffled[n_val:])
    train_index = torch.sort(torch.cat(train_parts)).values
    val_index = torch.sort(torch.cat(val_parts)).values
    if len(train_index) == 0 or len(val_index) == 0:
        raise DataError(
            f"cannot split {len(labels)} samples with val_fraction {val_fraction}: one side "
            f"would be empty"
        )
    return source.subset(train_index), source.subset(val_index)

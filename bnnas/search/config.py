"""Settings of a differentiable search (UBNAS), stored with every search run and checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from bnnas.config import require
from bnnas.search.early_stop import EarlyStopConfig
from bnnas.space.ops import UBNAS_OPS
from bnnas.space.structure import DEFAULT_STRUCTURE
from bnnas.train.optim import parameter_groups


@dataclass
class SearchDataConfig:
    """Search data: the training set, split into a weight half and an architecture half."""

    name: str = "fashion-mnist-small"
    data_dir: str | None = None
    download: bool = True
    val_fraction: float = 0.5
    limit: int | None = None
    batch_size: int = 64
    augment: bool = False

    def validate(self) -> None:
        require(
            0 < self.val_fraction < 1,
            f"data.val_fraction must be in (0, 1), got {self.val_fraction}",
        )
        require(self.batch_size > 0, f"data.batch_size must be > 0, got {self.batch_size}")
        require(
            self.limit is None or self.limit >= 4,
            f"data.limit must be >= 4 or null, got {self.limit}",
        )


@dataclass
class SpaceConfig:
    """The DARTS-style binary space and its partial-channel ratios.

    ``final_cells``/``final_channels`` set the layout of the derived network written to
    ``genotype.json`` (default: the search layout), as DARTS retrains a deeper, wider net.

    ``k_schedule`` entries ``[epoch, k_normal, k_reduce]`` switch the partial-channel K from
    that (0-based) epoch on; UBNAS adjusts the channel sampling ratio during the search to
    balance ops with parameters against parameter-free ones.
    """

    ops: list[str] = field(default_factory=lambda: list(UBNAS_OPS))
    steps: int = 4
    cells: int = 5
    channels: int = 8
    stem_multiplier: int = 3
    structure: str = DEFAULT_STRUCTURE
    partial_k_normal: int = 4
    partial_k_reduce: int = 4
    k_schedule: list[list[int]] = field(default_factory=list)
    final_cells: int | None = None
    final_channels: int | None = None

    def validate(self) -> None:
        require(
            self.final_cells is None or 1 <= self.final_cells <= 100,
            f"space.final_cells must be in [1, 100] or null, got {self.final_cells}",
        )
        require(
            self.final_channels is None or 1 <= self.final_channels <= 4096,
            f"space.final_channels must be in [1, 4096] or null, got {self.final_channels}",
        )
        require(len(self.ops) >= 2, "space.ops needs at least two candidate ops")
        require(len(set(self.ops)) == len(self.ops), "space.ops lists an op twice")
        require(1 <= self.steps <= 16, f"space.steps must be in [1, 16], got {self.steps}")
        # One or two cells are all reduction cells: the normal cell's weights would get no
        # gradient and the architecture step would fail deep inside autograd.
        require(
            3 <= self.cells <= 100,
            f"space.cells must be in [3, 100] (the search needs a normal cell), got {self.cells}",
        )
        require(
            1 <= self.channels <= 4096,
            f"space.channels must be in [1, 4096], got {self.channels}",
        )
        require(self.stem_multiplier >= 1, "space.stem_multiplier must be >= 1")
        for name in ("partial_k_normal", "partial_k_reduce"):
            value = getattr(self, name)
            require(value >= 1, f"space.{name} must be >= 1, got {value}")
        last = -1
        for entry in self.k_schedule:
            require(
                len(entry) == 3 and all(isinstance(v, int) for v in entry),
                f"space.k_schedule entries must be [epoch, k_normal, k_reduce], got {entry}",
            )
            require(entry[0] > last, "space.k_schedule epochs must increase")
            require(entry[1] >= 1 and entry[2] >= 1, f"space.k_schedule K must be >= 1: {entry}")
            last = entry[0]

    def k_at(self, epoch: int) -> tuple[int, int]:
        """``(k_normal, k_reduce)`` in force at 0-based ``epoch``."""
        k = (self.partial_k_normal, self.partial_k_reduce)
        for start, k_normal, k_reduce in self.k_schedule:
            if epoch >= start:
                k = (k_normal, k_reduce)
        return k

    def all_k(self) -> tuple[list[int], list[int]]:
        """Every K each cell type will use (the ops are built for the smallest)."""
        normal = [self.partial_k_normal] + [e[1] for e in self.k_schedule]
        reduce = [self.partial_k_reduce] + [e[2] for e in self.k_schedule]
        return normal, reduce


@dataclass
class WeightOptimConfig:
    """Optimizer of the supernet weights (PC-DARTS: SGD 0.1 cosine; Adam suits BNNs better)."""

    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 2e-3
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 0.0
    grad_clip: float | None = 5.0

    def validate(self) -> None:
        require(self.lr > 0, f"optim.lr must be > 0, got {self.lr}")
        require(0 <= self.lr_min <= self.lr, f"optim.lr_min must be in [0, lr], got {self.lr_min}")
        require(self.weight_decay >= 0, "optim.weight_decay must be >= 0")
        require(0 <= self.momentum < 1, "optim.momentum must be in [0, 1)")
        require(self.grad_clip is None or self.grad_clip > 0, "optim.grad_clip must be > 0")

    def build(self, params: list[nn.Parameter], modules: nn.Module) -> torch.optim.Optimizer:
        """The optimizer of ``params`` (``modules`` tells binary and 1-D weights apart, which
        get no weight decay: :func:`bnnas.train.optim.parameter_groups`)."""
        groups = parameter_groups(params, self.weight_decay, modules=modules)
        if self.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=self.lr, momentum=self.momentum)
        return torch.optim.Adam(groups, lr=self.lr)


@dataclass
class ArchOptimConfig:
    """Optimizer of the architecture parameters (PC-DARTS: Adam 6e-4, wd 1e-3, beta1 0.5)."""

    lr: float = 6e-4
    weight_decay: float = 1e-3
    beta1: float = 0.5
    warmup_epochs: int = 15
    order: Literal["first", "second"] = "first"

    def validate(self) -> None:
        require(self.lr > 0, f"arch.lr must be > 0, got {self.lr}")
        require(self.weight_decay >= 0, "arch.weight_decay must be >= 0")
        require(0 <= self.beta1 < 1, "arch.beta1 must be in [0, 1)")
        require(self.warmup_epochs >= 0, "arch.warmup_epochs must be >= 0")


SearchAmp = Literal["auto", "off", "bf16"]
"""Mixed precision of a search on CUDA (CPU runs stay float32): bf16 keeps float32's range,
so neither the weight nor the architecture step needs loss scaling, which fp16 would."""


def validate_search_run(epochs: int, seed: int, keep_checkpoints: int) -> None:
    """The run-level settings every differentiable search config shares."""
    require(1 <= epochs <= 10000, f"epochs must be in [1, 10000], got {epochs}")
    require(seed >= 0, f"seed must be >= 0, got {seed}")
    require(keep_checkpoints >= 1, "keep_checkpoints must be >= 1")


@dataclass
class UBNASConfig:
    """Everything ``bnnas search --method ubnas`` needs."""

    data: SearchDataConfig = field(default_factory=SearchDataConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    optim: WeightOptimConfig = field(default_factory=WeightOptimConfig)
    arch: ArchOptimConfig = field(default_factory=ArchOptimConfig)
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig)
    epochs: int = 50
    seed: int = 0
    device: str = "auto"
    amp: SearchAmp = "auto"
    compile: bool = False
    keep_checkpoints: int = 2

    def validate(self) -> None:
        validate_search_run(self.epochs, self.seed, self.keep_checkpoints)

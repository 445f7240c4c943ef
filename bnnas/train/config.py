"""Settings of one training run (``bnnas train``), stored with every run and checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bnnas.config import require


@dataclass
class DataConfig:
    """Which data, where it lives and how it is batched."""

    name: str = "fashion-mnist-small"
    data_dir: str | None = None
    batch_size: int = 128
    eval_batch_size: int = 500
    augment: bool = True
    download: bool = True
    limit: int | None = None  # train on a class-balanced subset of this many images

    def validate(self) -> None:
        require(self.batch_size > 0, f"data.batch_size must be > 0, got {self.batch_size}")
        require(
            self.limit is None or self.limit >= 4,
            f"data.limit must be >= 4 or null, got {self.limit}",
        )
        require(
            self.eval_batch_size > 0,
            f"data.eval_batch_size must be > 0, got {self.eval_batch_size}",
        )


@dataclass
class ModelConfig:
    """A zoo model by name (``args`` go to its constructor) or a searched genotype file.

    ``genotype`` may also be a multi-objective search's ``pareto.json``, which holds several
    architectures; ``pick`` then chooses one: its index in the file (``3``), ``smallest`` or
    ``best`` (lowest error). It is stored in the config rather than resolved to a genotype
    file so that a run records which trade-off it trained. An int or a string: YAML reads
    ``pick: 3`` as an int.

    ``binary_weights: false`` keeps the binary layers' weights real-valued while their
    activations stay binary: step 1 of ReActNet's two-step training (Liu et al., ECCV 2020),
    whose step 2 trains the fully binary network from it (``init_from``).
    """

    name: str = "bresnet_small"
    genotype: str | None = None
    pick: int | str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    binary_weights: bool = True

    def validate(self) -> None:
        require(
            self.pick is None or self.genotype is not None,
            f"model.pick={self.pick!r} chooses a member of a pareto.json; "
            "set model.genotype (--genotype) to one, or drop the pick",
        )


@dataclass
class OptimConfig:
    """Optimizer and schedule. Defaults follow the ReActNet recipe scaled to small runs:
    Adam, cosine decay to zero, no weight decay on the latent binary weights (decaying them
    drags them towards zero, where their sign flips at random)."""

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    decay_binary_weights: bool = False
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_epochs: int = 0
    epochs: int = 10
    label_smoothing: float = 0.0
    grad_clip: float | None = None

    def validate(self) -> None:
        require(self.lr > 0, f"optim.lr must be > 0, got {self.lr}")
        require(self.epochs > 0, f"optim.epochs must be > 0, got {self.epochs}")
        require(self.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        require(0 <= self.momentum < 1, f"optim.momentum must be in [0, 1), got {self.momentum}")
        require(
            0 <= self.warmup_epochs < self.epochs,
            f"optim.warmup_epochs must be in [0, epochs), got {self.warmup_epochs}",
        )
        require(
            0 <= self.label_smoothing < 1,
            f"optim.label_smoothing must be in [0, 1), got {self.label_smoothing}",
        )
        require(
            self.grad_clip is None or self.grad_clip > 0,
            f"optim.grad_clip must be > 0 or null, got {self.grad_clip}",
        )


@dataclass
class DistillConfig:
    """Knowledge distillation from a float teacher (ReActNet's distributional loss).

    ``teacher`` is a checkpoint written by ``bnnas train`` (its stored config rebuilds the
    teacher); the loss is ``alpha * T^2 * KL(teacher || student) + (1 - alpha) * CE``.
    """

    teacher: str | None = None
    alpha: float = 1.0
    temperature: float = 1.0

    def validate(self) -> None:
        require(0 <= self.alpha <= 1, f"distill.alpha must be in [0, 1], got {self.alpha}")
        require(self.temperature > 0, f"distill.temperature must be > 0, got {self.temperature}")


@dataclass
class TrainConfig:
    """Everything ``bnnas train`` needs; see the sections above."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    # A ``bnnas train`` checkpoint whose weights start this run (step 2 of the two-step
    # recipe: the fully binary network from step 1's real-weight one); the optimizer and
    # schedule start afresh. Ignored when the run resumes from its own checkpoint.
    init_from: str | None = None
    seed: int = 0
    device: str = "auto"
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    compile: bool = False
    deterministic: bool = True
    keep_checkpoints: int = 2

    def validate(self) -> None:
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        require(
            self.keep_checkpoints >= 1,
            f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}",
        )

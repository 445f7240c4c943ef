"""Settings of a BARS search (joint macro layout + micro cell), stored with every run."""

from __future__ import annotations

from dataclasses import dataclass, field

from bnnas.config import require
from bnnas.errors import ConfigError
from bnnas.search.config import (
    ArchOptimConfig,
    SearchAmp,
    SearchDataConfig,
    WeightOptimConfig,
    validate_search_run,
)
from bnnas.search.early_stop import EarlyStopConfig
from bnnas.search.relax import RelaxConfig
from bnnas.space.bars import BARS_WIDTHS, BARSSpace
from bnnas.space.ops import BARS_OPS


@dataclass
class BARSSpaceConfig:
    """The two-level space (:class:`bnnas.space.bars.BARSSpace`)."""

    ops: list[str] = field(default_factory=lambda: list(BARS_OPS))
    steps: int = 4
    stages: int = 3
    channels: int = 16
    stem_multiplier: int = 1
    max_depth: int = 3
    widths: list[float] = field(default_factory=lambda: list(BARS_WIDTHS))
    output: str = "add"
    structure: str = "sign-conv-bn+shortcut"

    def build(self) -> BARSSpace:
        return BARSSpace(ops=tuple(self.ops), steps=self.steps, stages=self.stages,
                         channels=self.channels, stem_multiplier=self.stem_multiplier,
                         max_depth=self.max_depth, widths=tuple(self.widths),
                         output=self.output, structure=self.structure)

    def validate(self) -> None:
        self.build()  # one place checks the space; its errors are one-line ConfigErrors


@dataclass
class EntropyConfig:
    """Coefficients of the entropy penalties on the op, width and depth distributions
    (BARS: 0.01); positive values push each distribution to a peak."""

    ops: float = 0.01
    width: float = 0.01
    depth: float = 0.01

    def validate(self) -> None:
        for name in ("ops", "width", "depth"):
            require(getattr(self, name) >= 0, f"entropy.{name} must be >= 0")


@dataclass
class BudgetConfig:
    """The OPs budget (null: none) and MnasNet's exponent: the architecture loss is
    multiplied by ``(expected OPs / budget) ** exponent`` when over budget."""

    ops: float | None = None
    exponent: float = 2.0
    tolerance: float = 0.1

    def validate(self) -> None:
        if self.ops is not None and not self.ops > 0:
            raise ConfigError(f"budget.ops must be > 0 (OPs of the derived network), got "
                              f"{self.ops}; or null for no budget")
        require(self.exponent > 0, f"budget.exponent must be > 0, got {self.exponent}")
        require(0 < self.tolerance < 1, f"budget.tolerance must be in (0, 1), got "
                f"{self.tolerance}")


@dataclass
class DeriveConfig:
    """How the discrete architecture is taken from the distributions.

    ``max_skip`` caps the skip-connects of a derived cell (null: plain argmax), against the
    collapse into parameter-free cells. ``macro``: ``budget`` picks the most probable layout
    whose OPs are within ``budget.tolerance`` of the budget (the closest one if none is),
    ``argmax`` the most probable width and depth of each stage.
    """

    max_skip: int | None = 2
    macro: str = "budget"

    def validate(self) -> None:
        require(self.max_skip is None or self.max_skip >= 0,
                f"derive.max_skip must be >= 0 or null, got {self.max_skip}")
        require(self.macro in ("budget", "argmax"),
                f"derive.macro must be 'budget' or 'argmax', got {self.macro!r}")


@dataclass
class BARSConfig:
    """Everything ``bnnas search --method bars`` needs."""

    data: SearchDataConfig = field(default_factory=SearchDataConfig)
    space: BARSSpaceConfig = field(default_factory=BARSSpaceConfig)
    optim: WeightOptimConfig = field(default_factory=WeightOptimConfig)
    arch: ArchOptimConfig = field(default_factory=lambda: ArchOptimConfig(lr=3e-3,
                                                                          warmup_epochs=5))
    relax: RelaxConfig = field(default_factory=RelaxConfig)
    entropy: EntropyConfig = field(default_factory=EntropyConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    derive: DeriveConfig = field(default_factory=DeriveConfig)
    early_stop: EarlyStopConfig = field(
        default_factory=lambda: EarlyStopConfig(skip_connects=None, stable_epochs=None))
    epochs: int = 30
    seed: int = 0
    device: str = "auto"
    amp: SearchAmp = "auto"
    compile: bool = False
    keep_checkpoints: int = 2

    def validate(self) -> None:
        validate_search_run(self.epochs, self.seed, self.keep_checkpoints)
        if self.derive.macro == "budget" and self.budget.ops is None:
            raise ConfigError("derive.macro=budget needs budget.ops; set a budget or use "
                              "derive.macro=argmax")

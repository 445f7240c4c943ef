"""Settings of an evolutionary multi-objective search (MO-TS-BNAS) and of its random baseline,
stored with every run and checkpoint."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bnnas.config import require
from bnnas.search.config import SearchAmp, SearchDataConfig, WeightOptimConfig
from bnnas.space.ops import UBNAS_OPS
from bnnas.space.structure import DEFAULT_STRUCTURE

SIZE_OBJECTIVES: tuple[str, ...] = ("memory_bits", "ops", "params", "bops", "flops")
"""Model-size objectives a search can minimise next to the error (:mod:`bnnas.metrics`
totals); ``memory_bits`` counts a binary weight as one bit, ``ops`` is BOPs/64 + FLOPs."""


@dataclass
class MOTSSpaceConfig:
    """The binarized DARTS space: the full-precision DARTS cell space with every convolution
    binary (MO-TS-BNAS's "binarized baseline space"); ``none`` is never part of a candidate.

    ``cells``/``channels`` size the supernet; ``final_cells``/``final_channels`` the network a
    front member is retrained and measured as (default: the supernet's layout).
    """

    ops: list[str] = field(default_factory=lambda: [o for o in UBNAS_OPS if o != "none"])
    steps: int = 4
    cells: int = 5
    channels: int = 8
    stem_multiplier: int = 3
    structure: str = DEFAULT_STRUCTURE
    final_cells: int | None = None
    final_channels: int | None = None

    def validate(self) -> None:
        require(len(self.ops) >= 1, "space.ops needs at least one op")
        require(len(set(self.ops)) == len(self.ops), "space.ops lists an op twice")
        require(1 <= self.steps <= 16, f"space.steps must be in [1, 16], got {self.steps}")
        require(1 <= self.cells <= 100, f"space.cells must be in [1, 100], got {self.cells}")
        require(2 <= self.channels <= 4096,
                f"space.channels must be in [2, 4096], got {self.channels}")
        require(self.stem_multiplier >= 1, "space.stem_multiplier must be >= 1")
        require(self.final_cells is None or 1 <= self.final_cells <= 100,
                f"space.final_cells must be in [1, 100] or null, got {self.final_cells}")
        require(self.final_channels is None or 2 <= self.final_channels <= 4096,
                f"space.final_channels must be in [2, 4096] or null, got {self.final_channels}")


@dataclass
class SupernetConfig:
    """Two-stage supernet training (MO-TS-BNAS).

    Stage 1: ``stage1_epochs`` epochs over the weight half, one uniformly sampled path per
    batch (single-path one-shot, Guo et al. ECCV 2020). Stage 2 runs while the evolution does:
    before each generation, ``steps_per_generation`` batches (default: one epoch), each on a
    path drawn from the current population, with ``path_dropout`` dropping each of the path's
    (op, input) pairs with that probability, keeping at least one input per node, so the
    weights do not overfit the few paths of the population.
    """

    stage1_epochs: int = 10
    steps_per_generation: int | None = None
    path_dropout: float = 0.1

    def validate(self) -> None:
        require(self.stage1_epochs >= 0,
                f"supernet.stage1_epochs must be >= 0, got {self.stage1_epochs}")
        require(self.steps_per_generation is None or self.steps_per_generation >= 0,
                "supernet.steps_per_generation must be >= 0 or null (one epoch)")
        require(0 <= self.path_dropout < 1,
                f"supernet.path_dropout must be in [0, 1), got {self.path_dropout}")


@dataclass
class EvolutionConfig:
    """NSGA-II settings (Deb et al. 2002) and the auxiliary objectives of MO-TS-BNAS.

    ``objectives`` are the error and one size objective (:data:`SIZE_OBJECTIVES`). The
    auxiliary objectives (error, -size) protect larger models of similar error against the
    small-model trap: a share ``aux_weight`` of the survivors comes from their fronts. The
    share goes linearly from ``aux_weight_start`` in the first generation to
    ``aux_weight_end`` in the last ("flexible use": early on the supernet favours small
    models, which train faster, so large ones need protection; late the true front counts).

    ``backend`` says where candidates are scored (:mod:`bnnas.search.backends`): ``local``, or
    ``ray`` with tasks of ``ray_cpus_per_task`` CPUs and ``ray_gpus_per_task`` GPUs, each
    retried up to ``ray_max_retries`` times, on the cluster at ``ray_address`` (``auto``: the
    one ``ray start --head`` started; null: a new local Ray on this machine's CPUs).
    """

    population: int = 16
    generations: int = 10
    mutation_rate: float = 0.1
    crossover_prob: float = 0.9
    objectives: list[str] = field(default_factory=lambda: ["error", "memory_bits"])
    aux_weight_start: float = 0.5
    aux_weight_end: float = 0.0
    backend: str = "local"
    ray_address: str | None = None
    ray_cpus_per_task: float = 1.0
    ray_gpus_per_task: float = 0.0
    ray_max_retries: int = 3

    def validate(self) -> None:
        from bnnas.search.backends import BACKENDS

        require(self.backend in BACKENDS,
                f"unknown evolution.backend {self.backend!r}; choose one of: "
                f"{', '.join(BACKENDS.names())}")
        require(self.ray_cpus_per_task > 0,
                f"evolution.ray_cpus_per_task must be > 0, got {self.ray_cpus_per_task}")
        require(self.ray_gpus_per_task >= 0,
                f"evolution.ray_gpus_per_task must be >= 0, got {self.ray_gpus_per_task}")
        require(self.ray_max_retries >= 0,
                f"evolution.ray_max_retries must be >= 0, got {self.ray_max_retries}")
        require(self.population >= 4 and self.population % 2 == 0,
                f"evolution.population must be an even number >= 4, got {self.population}")
        require(self.generations >= 1,
                f"evolution.generations must be >= 1, got {self.generations}")
        for name in ("mutation_rate", "crossover_prob", "aux_weight_start", "aux_weight_end"):
            value = getattr(self, name)
            require(isinstance(value, (int, float)) and not math.isnan(value)
                    and 0 <= value <= 1, f"evolution.{name} must be in [0, 1], got {value}")
        require(len(self.objectives) == 2 and self.objectives[0] == "error",
                f"evolution.objectives must be [error, SIZE], got {self.objectives}")
        require(self.objectives[1] in SIZE_OBJECTIVES,
                f"unknown objective {self.objectives[1]!r} in evolution.objectives; "
                f"choose the size objective from: {', '.join(SIZE_OBJECTIVES)}")

    def aux_weight(self, generation: int) -> float:
        """The auxiliary share in force at 0-based ``generation``."""
        if self.generations == 1:
            return self.aux_weight_start
        t = min(max(generation / (self.generations - 1), 0.0), 1.0)
        return self.aux_weight_start + t * (self.aux_weight_end - self.aux_weight_start)


@dataclass
class EvaluationConfig:
    """Fast evaluation: BN statistics from ``calibration_batches`` training batches, error on
    ``validation_batches`` batches of the held-out half (:mod:`bnnas.search.evaluate`)."""

    calibration_batches: int = 4
    validation_batches: int = 8
    batch_size: int = 256

    def validate(self) -> None:
        require(self.calibration_batches >= 0,
                "evaluation.calibration_batches must be >= 0")
        require(self.validation_batches >= 1, "evaluation.validation_batches must be >= 1")
        require(self.batch_size >= 1,
                f"evaluation.batch_size must be >= 1, got {self.batch_size}")


@dataclass
class MOTSConfig:
    """Everything ``bnnas search --method mots`` (and ``--method random``) needs."""

    data: SearchDataConfig = field(default_factory=SearchDataConfig)
    space: MOTSSpaceConfig = field(default_factory=MOTSSpaceConfig)
    optim: WeightOptimConfig = field(default_factory=WeightOptimConfig)
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    seed: int = 0
    device: str = "auto"
    amp: SearchAmp = "auto"  # the supernet's weight steps; candidates are scored in float32
    keep_checkpoints: int = 2

    def validate(self) -> None:
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        require(self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1")

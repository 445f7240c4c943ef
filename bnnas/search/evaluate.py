"""Fast evaluation of candidate architectures with weights inherited from a supernet.

MO-TS-BNAS (Tan et al., IEEE Trans. Cybernetics) speeds up "individual evaluation" so that an
evolutionary search can afford to score hundreds of candidates: a candidate is a single path
through the weight-sharing supernet, scored on a few validation mini-batches without any
training of its own. Shared BatchNorm statistics belong to no single path (every sampled path
moved them), so before scoring, the path's BN statistics are recomputed on a few training
batches (the BN recalibration of single-path one-shot NAS, Guo et al. ECCV 2020; NAS-BNN, Lin
et al. 2024).

Evaluation is deterministic: the calibration and validation batches are fixed when the
evaluator is built, every BN starts from reset statistics, and the supernet's own statistics
are put back afterwards; so the error of a path depends only on the supernet weights and the
path, never on which candidates were scored before it (evaluation order cannot change results,
which the distributed backend relies on).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from bnnas.data import BatchLoader
from bnnas.errors import ConfigError
from bnnas.space.network import PathChoice, SuperNetwork
from bnnas.train.batch_norm import fresh_batch_norm_statistics

Batch = tuple[Tensor, Tensor]


def fixed_batches(loader: BatchLoader, count: int, epoch: int = 0) -> list[Batch]:
    """The first ``count`` batches of ``loader``'s epoch ``epoch`` (the same every call)."""
    if count < 1:
        raise ConfigError(f"an evaluator needs at least one batch, got {count}")
    loader.set_epoch(epoch)
    batches: list[Batch] = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == count:
            break
    return batches


class FastEvaluator:
    """Scores paths through ``model`` by their error (%) on fixed validation batches, after
    recalibrating BN statistics on fixed training batches."""

    def __init__(
        self,
        model: SuperNetwork,
        calibration: Sequence[Batch],
        validation: Sequence[Batch],
    ) -> None:
        if not validation:
            raise ConfigError("a fast evaluator needs at least one validation batch")
        self.model = model
        self.calibration = list(calibration)
        self.validation = list(validation)

    @property
    def images(self) -> int:
        """Validation images behind each score."""
        return sum(int(y.numel()) for _, y in self.validation)

    @torch.no_grad()
    def error(self, path: PathChoice) -> float:
        """Top-1 error (%) of ``path`` with inherited weights and recalibrated BN."""
        model = self.model
        was_training = model.training
        try:
            with fresh_batch_norm_statistics(model):
                if self.calibration:
                    model.train()
                    for x, _ in self.calibration:
                        model(x, path=path)
                model.eval()
                wrong = 0
                for x, y in self.validation:
                    wrong += int((model(x, path=path).argmax(dim=1) != y).sum())
        finally:
            model.train(was_training)
        return 100.0 * wrong / self.images

    def errors(self, paths: Sequence[PathChoice]) -> list[float]:
        """``[error(p) for p in paths]``, scoring each distinct path once."""
        scores: dict[Any, float] = {}
        out = []
        for path in paths:
            key = _path_key(path)
            if key not in scores:
                scores[key] = self.error(path)
            out.append(scores[key])
        return out


def _path_key(path: PathChoice) -> Any:
    if isinstance(path, tuple):
        return path
    return (path.normal, path.reduce)

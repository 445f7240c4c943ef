"""Where candidate architectures are evaluated: in this process, or spread over workers.

An evolutionary search hands a backend a list of candidate paths and gets their errors back
in the same order. The backend is chosen by name (``evolution.backend`` in the config); the
local one runs them here one after the other. A distributed backend (Ray) implements the same
:class:`EvaluationBackend` interface: because :class:`~bnnas.search.evaluate.FastEvaluator`
scores each path from reset BN statistics on fixed batches, results do not depend on which
worker scores which candidate, or in which order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from bnnas.registry import Registry
from bnnas.search.evaluate import FastEvaluator
from bnnas.space.network import PathChoice


class EvaluationBackend(Protocol):
    """Scores candidate paths with an evaluator; results in the order of ``paths``."""

    name: str

    def errors(self, evaluator: FastEvaluator, paths: Sequence[PathChoice]) -> list[float]:
        """Error (%) of each path."""
        ...

    def close(self) -> None:
        """Release workers, if any."""
        ...


BACKENDS: Registry[Callable[[], EvaluationBackend]] = Registry("evaluation backend")


@BACKENDS.register("local")
class LocalBackend:
    """Evaluates in this process, each distinct path once."""

    name = "local"

    def errors(self, evaluator: FastEvaluator, paths: Sequence[PathChoice]) -> list[float]:
        return evaluator.errors(paths)

    def close(self) -> None:
        return None

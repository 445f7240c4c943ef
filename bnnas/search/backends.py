"""Where candidate architectures are evaluated: in this process, or spread over workers.

An evolutionary search hands a backend a list of candidate paths and gets their errors back
in the same order. The backend is chosen by name (``evolution.backend`` in the config); the
local one runs them here one after the other. A distributed backend (Ray) implements the same
:class:`EvaluationBackend` interface: because :class:`~bnnas.search.evaluate.FastEvaluator`
scores each path from reset BN statistics on fixed batches, results do not depend on which
worker scores which candidate, or in which order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from bnnas.errors import ConfigError
from bnnas.registry import Registry
from bnnas.search.evaluate import FastEvaluator
from bnnas.space.network import PathChoice

if TYPE_CHECKING:
    from bnnas.search.mots_config import EvolutionConfig


class EvaluationBackend(Protocol):
    """Scores candidate paths with an evaluator; results in the order of ``paths``."""

    name: str

    def errors(self, evaluator: FastEvaluator, paths: Sequence[PathChoice]) -> list[float]:
        """Error (%) of each path."""
        ...

    def close(self) -> None:
        """Release workers, if any."""
        ...


BACKENDS: Registry[Callable[..., EvaluationBackend]] = Registry("evaluation backend")
"""Backend factories by name; each takes the search's :class:`EvolutionConfig` (or None)."""


@BACKENDS.register("local")
class LocalBackend:
    """Evaluates in this process, each distinct path once."""

    name = "local"

    def __init__(self, settings: EvolutionConfig | None = None) -> None:
        del settings  # nothing to set up

    def errors(self, evaluator: FastEvaluator, paths: Sequence[PathChoice]) -> list[float]:
        return evaluator.errors(paths)

    def close(self) -> None:
        return None


@BACKENDS.register("ray")
def ray_backend(settings: EvolutionConfig | None = None) -> EvaluationBackend:
    """Candidates as Ray tasks (:mod:`bnnas.search.ray_backend`). Imported only when chosen:
    Ray is the optional extra ``bnnas[ray]``."""
    from bnnas.search.ray_backend import RayBackend

    return RayBackend(settings)


def backend_overrides(method: str, config_class: type, backend: str | None,
                      address: str | None) -> list[str]:
    """``--backend`` and ``--ray-address`` as config overrides for a ``method`` search;
    a ConfigError for a method that scores no candidates (its config has no ``evolution``)."""
    if backend is None and address is None:
        return []
    fields = {f.name for f in dataclasses.fields(config_class)}
    if "evolution" not in fields:
        raise ConfigError(
            f"--backend/--ray-address choose where an evolutionary search scores its "
            f"candidates; a {method} search scores none: drop them or use --method mots or random"
        )
    overrides = [] if backend is None else [f"evolution.backend={backend}"]
    if address is not None:  # quoted so YAML keeps "host:port" a string
        overrides.append(f"evolution.ray_address={_quoted(address)}")
    return overrides


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

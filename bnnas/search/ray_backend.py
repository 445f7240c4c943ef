"""Scoring candidate architectures as Ray tasks, on one machine or a cluster.

Ray's tasks and shared-memory object store (Moritz et al., "Ray: A Distributed Framework
for Emerging AI Applications", OSDI 2018) fit a population evaluation well: every candidate
is an independent, stateless task that reads the same large inputs, the supernet weights and
the evaluator's fixed batches. Those inputs go into the object store once per weight version
(``ray.put``) and every task gets a reference, so a generation ships the weights to each node
once instead of once per candidate. A task that dies with its worker or node, or fails with a
transient error (``OSError``, ``MemoryError``), is run again up to ``evolution.ray_max_retries``
times; an ordinary exception is a bug and surfaces as it is.

Results equal the local backend's: :class:`~bnnas.search.evaluate.FastEvaluator` scores a path
from reset BN statistics on fixed batches, so a score depends on the weights and the path
only, not on the worker, nor on what that worker scored before.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch import Tensor

from bnnas.device import select_device
from bnnas.errors import BnnasError
from bnnas.search.evaluate import Batch, FastEvaluator
from bnnas.search.mots_config import EvolutionConfig
from bnnas.search.ray_cluster import (
    RayClusterError,
    check_resources,
    connect,
    import_ray,
)
from bnnas.space.network import PathChoice, SuperNetwork

log = logging.getLogger("bnnas")

RETRIED_EXCEPTIONS: tuple[type[BaseException], ...] = (OSError, MemoryError)
"""Exceptions worth another attempt, maybe on another node; any other one is a bug."""


def score_path(
    model: SuperNetwork,
    batches: tuple[list[Batch], list[Batch]],
    path: PathChoice,
    threads: int,
    use_gpu: bool,
) -> float:
    """The task body: ``path``'s error (%) on this worker. ``model`` is the task's own copy
    (deserialised from the object store), so BN recalibration touches nothing shared."""
    torch.set_num_threads(threads)  # as many threads as CPUs reserved, not the node's count
    device = select_device("cuda" if use_gpu else "cpu")
    model = model.to(device)
    calibration, validation = ([(x.to(device), y.to(device)) for x, y in part]
                               for part in batches)
    return FastEvaluator(model, calibration, validation).error(path)


class RayBackend:
    """Scores each distinct path as one Ray task with ``evolution.ray_cpus_per_task`` CPUs and
    ``evolution.ray_gpus_per_task`` GPUs; errors come back in the order of the paths."""

    name = "ray"

    def __init__(self, settings: EvolutionConfig | None = None, task: Any = score_path) -> None:
        settings = settings or EvolutionConfig()
        self.ray = import_ray()
        self.owns_connection = connect(self.ray, settings.ray_address)
        cpus, gpus = settings.ray_cpus_per_task, settings.ray_gpus_per_task
        check_resources(self.ray, cpus, gpus, strict=settings.ray_address is None)
        self.threads = max(1, int(cpus))
        self.use_gpu = gpus > 0
        self.task = self.ray.remote(task).options(
            num_cpus=cpus, num_gpus=gpus, max_retries=settings.ray_max_retries,
            retry_exceptions=list(RETRIED_EXCEPTIONS),
        )
        self.weight_puts = 0  # weight versions shipped (one per supernet update)
        self.batch_puts = 0  # evaluators whose batches were shipped
        self._weights: tuple[list[Any], Any] | None = None  # (snapshot, reference)
        self._batches: tuple[FastEvaluator, Any] | None = None  # (evaluator, reference)

    def errors(self, evaluator: FastEvaluator, paths: Sequence[PathChoice]) -> list[float]:
        if not paths:
            return []
        distinct: dict[Hashable, PathChoice] = {}
        for path in paths:
            distinct.setdefault(_path_key(path), path)
        weights, batches = self._shared_weights(evaluator.model), self._shared_batches(evaluator)
        refs = [self.task.remote(weights, batches, path, self.threads, self.use_gpu)
                for path in distinct.values()]
        scores = dict(zip(distinct, self._get(refs), strict=True))
        return [float(scores[_path_key(path)]) for path in paths]

    def close(self) -> None:
        self._weights = self._batches = None
        if self.owns_connection and self.ray.is_initialized():
            self.ray.shutdown()
        self.owns_connection = False

    # ----------------------------------------------------------------- the object store
    def _shared_weights(self, model: SuperNetwork) -> Any:
        """A reference to ``model`` in the object store, put again only after its weights or
        BN statistics changed (once per generation of a search, whose stage-2 training moves
        them), however many candidate lists it scores in between."""
        state = list(model.state_dict().values())  # tensors, and any extra (layout) state
        if self._weights is not None and _same(self._weights[0], state):
            return self._weights[1]
        on_cpu = all(t.device.type == "cpu" for t in state if isinstance(t, Tensor))
        reference = self.ray.put(model if on_cpu else copy.deepcopy(model).cpu())
        self._weights = ([t.detach().to("cpu", copy=True) if isinstance(t, Tensor)
                          else copy.deepcopy(t) for t in state], reference)
        self.weight_puts += 1
        return reference

    def _shared_batches(self, evaluator: FastEvaluator) -> Any:
        """The evaluator's fixed calibration and validation batches, put once per evaluator."""
        if self._batches is not None and self._batches[0] is evaluator:
            return self._batches[1]
        parts = tuple([(x.cpu(), y.cpu()) for x, y in part]
                      for part in (evaluator.calibration, evaluator.validation))
        reference = self.ray.put(parts)
        self._batches = (evaluator, reference)
        self.batch_puts += 1
        return reference

    def _get(self, refs: list[Any]) -> list[float]:
        """The tasks' results; a worker's BnnasError as its one line, Ray's own failures
        (worker or node lost after every retry) as one line naming the way out."""
        exceptions = self.ray.exceptions
        try:
            return list(self.ray.get(refs))
        except exceptions.RayTaskError as error:
            cause = error.cause
            if isinstance(cause, BnnasError):
                raise cause from None
            raise
        except exceptions.RayError as error:
            lines = str(error).strip().splitlines() or [type(error).__name__]
            raise RayClusterError(
                f"a candidate could not be scored on Ray ({type(error).__name__}: {lines[0]}); "
                "check the cluster with `ray status`, raise evolution.ray_max_retries, or use "
                "--backend local"
            ) from None


def _path_key(path: PathChoice) -> Hashable:
    return path if isinstance(path, tuple) else (path.normal, path.reduce)


def _same(old: list[Any], new: list[Any]) -> bool:
    """Whether a state snapshot ``old`` still equals the model's state ``new``."""
    return len(old) == len(new) and all(_equal(a, b) for a, b in zip(old, new, strict=True))


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return (a.shape == b.shape and a.dtype == b.dtype
                and torch.equal(a, b.detach().to(a.device)))
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return False
    return bool(a == b)

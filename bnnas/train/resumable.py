"""What every resumable run (training, search) shares: its set-up (run folder, process rank,
device, data), RNG capture, loading the parts of a checkpoint with one clear error, finding
the newest valid checkpoint, NaN reports."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from bnnas.data import Dataset, load_dataset
from bnnas.device import configure_backends, select_device
from bnnas.distributed import DistContext, current
from bnnas.errors import CheckpointError, NonFiniteError
from bnnas.runs import MetricsLog
from bnnas.train.checkpoint import latest_checkpoint

log = logging.getLogger("bnnas")


@dataclass(frozen=True)
class RunSetup:
    """Where a run writes, which process of a distributed run it is, where it computes and
    on what data."""

    run_dir: Path
    checkpoint_dir: Path
    dist: DistContext
    progress: bool  # progress bars: asked for, and only on rank 0
    device: torch.device
    dataset: Dataset


def set_up_run(run_dir: str | Path, data: Any, device: str, *, deterministic: bool,
               progress: bool, dataset: Dataset | None = None) -> RunSetup:
    """The set-up every training and search starts with: this rank's device (its own GPU
    under torchrun), the backends' determinism, and ``data.name`` loaded unless a
    ``dataset`` is given (tests, the ablation's shared data)."""
    dist = current()
    placed = dist.place(select_device(device))
    configure_backends(placed, deterministic)
    loaded = dataset or load_dataset(data.name, data.data_dir, download=data.download)
    run_dir = Path(run_dir)
    return RunSetup(run_dir, run_dir / "checkpoints", dist, progress and dist.is_main, placed,
                    loaded)


class HasState(Protocol):
    def load_state_dict(self, state: Any) -> Any: ...


def capture_rng() -> dict[str, Any]:
    """The global torch RNG states (CPU and every CUDA device)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"rng_cpu": torch.get_rng_state(), "rng_cuda": cuda}


def restore_rng(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["rng_cpu"])
    if state.get("rng_cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])


def load_parts(parts: Mapping[str, HasState], state: Mapping[str, Any], what: str) -> None:
    """``part.load_state_dict(state[key])`` for each part; any mismatch is a CheckpointError."""
    try:
        for key, part in parts.items():
            part.load_state_dict(state[key])
    except (KeyError, RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(
            f"checkpoint does not match this {what} ({first}); resume with the config the run "
            "was started with"
        ) from None


def units_done(state: Mapping[str, Any]) -> str:
    """What a checkpoint state holds done, for log and stop lines: ``epoch 3``, or for a
    search that also counts generations ``epoch 10, generation 2``."""
    text = f"epoch {state.get('epoch')}"
    if "generation" in state:
        text += f", generation {state['generation']}"
    return text


def resume_latest(
    checkpoint_dir: Path,
    device: torch.device,
    load: Callable[[dict[str, Any]], None],
    epoch: Callable[[], int],
    logs: Iterable[MetricsLog],
    *,
    writer: bool = True,
) -> bool:
    """Load the newest valid checkpoint with ``load``, cut the logs back to its epoch.

    Without one the logs are cut back to the start: a run killed after logging its first
    epoch but before checkpointing it would otherwise log that epoch twice. Only the
    ``writer`` (rank 0 of a data-parallel run) tidies the folder and cuts the logs; the other
    ranks just load."""
    stale_files = checkpoint_dir.glob(".*.tmp-*") if writer and checkpoint_dir.is_dir() else ()
    for stale in stale_files:
        stale.unlink(missing_ok=True)  # half-written by a killed run; never read
    if not writer:
        logs = ()
    found = latest_checkpoint(checkpoint_dir, map_location=device)
    if found is None:
        for metrics in logs:
            metrics.truncate_after("epoch", epoch())
        return False
    path, state = found
    try:
        load(state)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
        # A file that loads but lacks a part or holds a part of the wrong kind (an RNG state
        # that is not a byte tensor, an epoch that is not a number).
        raise CheckpointError(
            f"checkpoint {str(path)!r} is damaged or not from this kind of run "
            f"({type(error).__name__}: {error}); move it aside to resume from the one before"
        ) from None
    for metrics in logs:
        metrics.truncate_after("epoch", epoch())
    log.info("resumed from %s (%s done)", path, units_done(state))
    return True


def check_finite(value: float, what: str, where: str, checkpoint_dir: Path, fix: str) -> None:
    """Raise NonFiniteError naming where ``value`` went NaN/inf and the last good checkpoint."""
    if math.isfinite(value):
        return
    found = latest_checkpoint(checkpoint_dir)
    kept = f"the last good checkpoint is {found[0]}" if found else "no checkpoint was written"
    raise NonFiniteError(f"{what} became {value} at {where}; {kept}; {fix}")

"""Atomic checkpoints that can be loaded without executing code.

A checkpoint is written to a temporary file in the same folder, flushed to disk and renamed
into place, so a crash mid-write leaves either the old file or the new one, never half of
one. It holds only tensors and plain Python values and is loaded with
``torch.load(weights_only=True)``: a checkpoint from an untrusted source cannot run code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from bnnas.errors import CheckpointError

FORMAT_VERSION = 1
_EPOCH_FILE = re.compile(r"^epoch-(\d+)\.pt$")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus the format version) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            torch.save({"format_version": FORMAT_VERSION, **state}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; refuse anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} not found; check the path")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for corrupt or foreign files
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or not a bnnas checkpoint "
            f"({type(error).__name__}); use another checkpoint"
        ) from None
    if not isinstance(state, dict) or "format_version" not in state:
        raise CheckpointError(f"{str(path)!r} is not a bnnas checkpoint; use another checkpoint")
    if state["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {state['format_version']}, this "
            f"bnnas reads version {FORMAT_VERSION}; use the bnnas version that wrote it"
        )
    return state


def epoch_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """``(epoch, path)`` of the ``epoch-N.pt`` files in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = _EPOCH_FILE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry))
    return sorted(found)


def save_epoch_checkpoint(
    folder: str | Path, epoch: int, state: dict[str, Any], keep: int = 2
) -> Path:
    """Write ``epoch-N.pt`` and delete all but the newest ``keep`` epoch checkpoints."""
    path = save_checkpoint(Path(folder) / f"epoch-{epoch:04d}.pt", state)
    for _, old in epoch_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def latest_checkpoint(
    folder: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[Path, dict[str, Any]] | None:
    """The newest epoch checkpoint that loads; corrupt newer files are skipped."""
    for _, path in reversed(epoch_checkpoints(folder)):
        try:
            return path, load_checkpoint(path, map_location)
        except CheckpointError:
            continue
    return None

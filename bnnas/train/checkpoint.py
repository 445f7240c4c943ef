"""Atomic checkpoints that can be loaded without executing code.

A checkpoint is written to a temporary file in the same folder, flushed to disk and renamed
into place, so a crash mid-write leaves either the old file or the new one, never half of
one. It holds only tensors and plain Python values and is loaded with
``torch.load(weights_only=True)``: a checkpoint from an untrusted source cannot run code.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path
from typing import IO, Any

import torch

from bnnas.errors import CheckpointError
from bnnas.interrupt import deferred_signals

FORMAT_VERSION = 1
_EPOCH_FILE = re.compile(r"^epoch-(\d+)\.pt$")
PAUSE_ENV = "BNNAS_TEST_CHECKPOINT_PAUSE"
"""Test hook, unset in normal use: ``SECONDS`` or ``NAME:SECONDS`` pauses half-way through
writing the temporary file of every checkpoint (or of the one named ``NAME``), so that the
kill-and-resume tests can kill a run in the middle of a write."""


def _write(handle: Any, state: dict[str, Any], name: str) -> None:
    only, _, pause = os.environ.get(PAUSE_ENV, "").rpartition(":")
    if not pause or only not in ("", name):
        torch.save(state, handle)
        return
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    handle.write(data[: len(data) // 2])
    handle.flush()
    time.sleep(float(pause))
    handle.write(data[len(data) // 2 :])


class _WriteRecorder:
    """A binary file for ``torch.save`` that remembers the OSError of a failed write: torch's
    zip writer reports a full disk as a bare RuntimeError ("unexpected pos"), which this
    turns back into the cause."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            written = self.handle.write(data)
        except OSError as error:
            self.error = error
            raise
        if written is not None and written < len(data):
            self.error = OSError(f"short write ({written} of {len(data)} bytes)")
        return written

    def flush(self) -> None:
        self.handle.flush()


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus the format version) to ``path`` atomically; a stop signal
    (:mod:`bnnas.interrupt`) waits until the file is in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with deferred_signals():
        recorder: _WriteRecorder | None = None
        try:
            with open(tmp, "wb") as handle:
                recorder = _WriteRecorder(handle)
                try:
                    _write(recorder, {"format_version": FORMAT_VERSION, **state}, path.name)
                except RuntimeError:
                    if recorder.error is None:
                        raise  # not a write failure: a bug, keep its traceback
                    raise recorder.error from None
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as error:  # a full disk, a quota, a folder made read-only meanwhile
            raise CheckpointError(
                f"cannot write checkpoint {str(path)!r} ({error.strerror or error}); the "
                "previous checkpoints are kept; free space, then resume the run"
            ) from None
        finally:
            if tmp.exists():
                tmp.unlink()
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", *,
                    lazy: bool = False) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; refuse anything else.

    ``lazy`` maps the file's tensors into memory instead of reading them (``torch.load``'s
    ``mmap``), for callers that only look at its small entries (the epoch, the progress of
    a mid-epoch checkpoint): a large network's checkpoint is then not read whole."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} not found; check the path")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=lazy)
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
    with deferred_signals():
        path = save_checkpoint(Path(folder) / f"epoch-{epoch:04d}.pt", state)
        for _, old in epoch_checkpoints(folder)[:-keep]:
            old.unlink(missing_ok=True)
    return path


def latest_checkpoint(
    folder: str | Path, map_location: str | torch.device = "cpu", *, lazy: bool = False
) -> tuple[Path, dict[str, Any]] | None:
    """The newest epoch checkpoint that loads; corrupt newer files are skipped. ``lazy``:
    see :func:`load_checkpoint`."""
    for _, path in reversed(epoch_checkpoints(folder)):
        try:
            return path, load_checkpoint(path, map_location, lazy=lazy)
        except CheckpointError:
            continue
    return None

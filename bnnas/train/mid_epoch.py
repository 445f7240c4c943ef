"""Stopping inside an epoch without losing it.

An epoch of a large network on a CPU, or of ImageNet on anything, lasts long enough that a
stop signal (Ctrl-C, SIGTERM at the end of a machine's lease) usually lands mid-epoch, and a
resume from the last epoch checkpoint would train that part of the epoch again. So when a
signal stops training between two steps, the trainer (and the bilevel search loop of UBNAS
and BARS, :mod:`bnnas.search.bilevel_search`, and MO-TS-BNAS's stage-1 supernet training,
:mod:`bnnas.search.mots`) writes ``checkpoints/mid-epoch.pt``:
the usual checkpoint state (model, optimizer, scheduler, global RNG) after the last whole
step, plus an :class:`EpochProgress` (steps done and the epoch's running sums). A resume that
finds it, for the epoch the newest epoch checkpoint ends, continues at the next step: the
data loader yields the epoch's batches in the same order with the same augmentation
(:class:`bnnas.data.BatchLoader`), the skipped ones being drawn and dropped, so the run ends
with the same weights and metrics as one never stopped. Each step runs inside
:func:`bnnas.interrupt.deferred_signals`, so a signal waits for the step to end; a second
signal cuts the step short, and then no mid-epoch file is written (its state would be half
a step). The first step of each epoch a process trains is not shielded: ``torch.compile``
may spend a minute in it, which a Ctrl-C should not wait for, and a stop there loses no
more than that step. Data-parallel runs do not write one: their ranks stop at different
steps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import torch

from bnnas.errors import CheckpointError
from bnnas.interrupt import Interrupted, deferred_signals
from bnnas.train.checkpoint import load_checkpoint, save_checkpoint

log = logging.getLogger("bnnas")
Batch = TypeVar("Batch")

MID_EPOCH_FILE = "mid-epoch.pt"
STATE_KEY = "mid_epoch"


@dataclass
class EpochProgress:
    """How far the epoch under way has come: whole steps done (of ``steps``), the running
    sums the epoch's metrics are made of (``totals``: loss times images, correct answers,
    images, ...), the learning rate it started with and the seconds it has trained so far
    (over every session)."""

    steps: int
    step: int = 0
    totals: dict[str, float] = field(default_factory=dict)
    lr: float | None = None
    seconds: float = 0.0
    between_steps: bool = field(default=True, compare=False)  # False while a step runs

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "between_steps"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochProgress:
        names = {f.name for f in fields(cls)} - {"between_steps"}
        missing = sorted(names - set(data))
        if missing:
            raise KeyError(f"mid-epoch state lacks {', '.join(missing)}")
        return cls(**{k: data[k] for k in names})

    def add(self, **amounts: float) -> None:
        """Add to the running sums (a missing one starts at zero)."""
        for key, amount in amounts.items():
            self.totals[key] = self.totals.get(key, 0) + amount


def run_steps(batches: Iterable[Batch], progress: EpochProgress,
              train_step: Callable[[int, Batch], None]) -> Iterator[int]:
    """Run ``train_step(step, batch)`` on the epoch's batches after the ``progress.step``
    already done (the ones before are drawn and dropped, which keeps the data the same),
    yielding each step number once its step has run. Each step but the first this call
    runs is shielded from stop signals, so ``progress`` (``step`` is advanced here) always
    ends at a whole step; the first is not, as ``torch.compile`` may spend a minute in it."""
    first = progress.step
    for step, batch in enumerate(batches):
        if step < first:
            continue
        with nullcontext() if step == first else deferred_signals():
            progress.between_steps = False
            train_step(step, batch)
            progress.step = step + 1
            progress.between_steps = True
        yield step


@contextmanager
def keep_on_stop(checkpoint_dir: Path, progress: EpochProgress,
                 state: Callable[[], dict[str, Any]], *, writer: bool) -> Iterator[None]:
    """Around the steps of an epoch: when a stop signal ends them, add the seconds trained
    to ``progress`` and, if this process is the ``writer`` (a single-process run), write
    the mid-epoch checkpoint of ``state()``; then let the stop go on."""
    started = time.time()
    try:
        yield
    except Interrupted:
        progress.seconds += time.time() - started
        if writer:
            save_mid_epoch(checkpoint_dir, state(), progress)
        raise


def save_mid_epoch(checkpoint_dir: Path, state: dict[str, Any], progress: EpochProgress
                   ) -> Path | None:
    """Write the mid-epoch checkpoint, unless the stop cut a step short or came before the
    epoch's first step ended (None then: the epoch checkpoint is where a resume starts)."""
    if not progress.between_steps:
        log.info("stopped inside a step: no mid-epoch checkpoint; a resume repeats the epoch")
        return None
    if progress.step == 0:
        return None
    path = save_checkpoint(checkpoint_dir / MID_EPOCH_FILE,
                           {**state, STATE_KEY: progress.to_dict()})
    log.info("stopped after step %d of %d of epoch %d; saved %s", progress.step,
             progress.steps, int(state["epoch"]) + 1, path)
    return path


def load_mid_epoch(checkpoint_dir: Path, epoch: int, device: torch.device
                   ) -> dict[str, Any] | None:
    """The mid-epoch checkpoint of the epoch after ``epoch`` (the epochs done), or None.

    One of another epoch is stale (the epoch it was in finished, or the epoch checkpoint it
    continued was lost) and is deleted; one that does not load is ignored with a warning.
    Only single-process runs read (and write) one, so no other process owns the file."""
    path = checkpoint_dir / MID_EPOCH_FILE
    if not path.is_file():
        return None
    try:
        state = load_checkpoint(path, map_location=device)
    except CheckpointError as error:
        log.warning("ignoring %s: %s", path, error)
        return None
    if state.get("epoch") != epoch or STATE_KEY not in state:
        path.unlink(missing_ok=True)
        return None
    return state


def resume_mid_epoch(checkpoint_dir: Path, epoch: int, device: torch.device,
                     load: Callable[[dict[str, Any]], None]) -> EpochProgress | None:
    """After the epoch checkpoint is loaded (``epoch`` epochs done): load the mid-epoch
    checkpoint that continues it with ``load`` and return how far its epoch had come, or
    None if there is none (see :func:`load_mid_epoch`). One that loads but does not fit
    stops the resume with a one-line error."""
    state = load_mid_epoch(checkpoint_dir, epoch, device)
    if state is None:
        return None
    path = checkpoint_dir / MID_EPOCH_FILE
    try:
        load(state)
        progress = EpochProgress.from_dict(state[STATE_KEY])
    except (KeyError, TypeError, ValueError, RuntimeError, CheckpointError) as error:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is damaged or not from this run ({error}); delete it "
            "to resume from the last epoch checkpoint"
        ) from None
    log.info("resumed from %s (epoch %d done, step %d of %d of epoch %d)", path, epoch,
             progress.step, progress.steps, epoch + 1)
    return progress


def describe_mid_epoch(checkpoint_dir: Path, epoch: int | None) -> str | None:
    """``mid-epoch.pt (epoch 5 done, step 200 of 469 of epoch 6)`` when the folder holds a
    mid-epoch checkpoint that continues ``epoch`` (None: no epoch checkpoint yet, i.e. 0),
    else None: what a resume will continue from, for the line a stopped run prints."""
    try:
        state = load_checkpoint(checkpoint_dir / MID_EPOCH_FILE, lazy=True)
        progress = EpochProgress.from_dict(state[STATE_KEY])
    except (CheckpointError, KeyError, TypeError):
        return None
    done = int(state.get("epoch", -1))
    if done != (epoch or 0):
        return None
    return (f"{MID_EPOCH_FILE} (epoch {done} done, step {progress.step} of {progress.steps} "
            f"of epoch {done + 1})")


def clear_mid_epoch(checkpoint_dir: Path) -> None:
    """Delete the mid-epoch checkpoint once the epoch it was in is checkpointed whole."""
    (checkpoint_dir / MID_EPOCH_FILE).unlink(missing_ok=True)

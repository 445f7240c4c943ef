"""Stopping inside an epoch without losing it.

An epoch of a large network on a CPU, or of ImageNet on anything, lasts long enough that a
stop signal (Ctrl-C, SIGTERM at the end of a machine's lease) usually lands mid-epoch, and a
resume from the last epoch checkpoint would train that part of the epoch again. So when a
signal stops training between two steps, the trainer (and the bilevel search loop of UBNAS
and BARS, :mod:`bnnas.search.bilevel_search`, and MO-TS-BNAS's supernet training, its
stage-1 epochs and the stage-2 training of each generation, :mod:`bnnas.search.mots`)
writes ``checkpoints/mid-epoch.pt``:
the usual checkpoint state (model, optimizer, scheduler, global RNG) after the last whole
step, plus an :class:`EpochProgress` (steps done and the epoch's running sums). A resume that
finds it, for the epoch the newest epoch checkpoint ends (its :func:`position`),
continues at the next step: the
data loader yields the epoch's batches in the same order with the same augmentation
(:class:`bnnas.data.BatchLoader`), the skipped ones being drawn and dropped, so the run ends
with the same weights and metrics as one never stopped. Each step runs inside
:func:`bnnas.interrupt.deferred_signals`, so a signal waits for the step to end; a second
signal cuts the step short, and then no mid-epoch file is written (its state would be half
a step). The first step of each epoch a process trains is not shielded: ``torch.compile``
may spend a minute in it, which a Ctrl-C should not wait for, and a stop there loses no
more than that step.

Data-parallel processes (torchrun) receive a stop signal at slightly different moments,
each inside its own step. Left alone, each would stop after a different step and the file
would mix them, or one would wait forever in a collective the others left. So there every
step is shielded, the first too, and after each one the ranks agree whether to stop
(:meth:`bnnas.distributed.DistContext.largest` of the signal each holds): one signalled
rank stops them all after the same step. Rank 0 writes the file, with each rank's own
running sums and RNG state beside the shared model and optimizer state (gathered from the
ranks), and a resume with the same number of processes gives each rank its own back. What
follows the steps (evaluation, scoring, logs, the epoch checkpoint) is shielded as a whole
(:func:`epoch_together`): a signal there waits for the checkpoint, then every rank stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import torch

from bnnas.distributed import DistContext
from bnnas.errors import CheckpointError
from bnnas.interrupt import Interrupted, deferred_signals, pending_signal, take_pending_signal
from bnnas.train.checkpoint import load_checkpoint, save_checkpoint
from bnnas.train.resumable import capture_rng, restore_rng, units_done

log = logging.getLogger("bnnas")
Batch = TypeVar("Batch")

MID_EPOCH_FILE = "mid-epoch.pt"
STATE_KEY = "mid_epoch"
RANKS_KEY = "mid_epoch_ranks"  # data-parallel runs: each rank's progress and RNG state
OF_KEY = "mid_epoch_of"  # what the stopped steps belong to: "epoch 3", "generation 2"


def position(state: dict[str, Any]) -> int | None:
    """How many units of training a checkpoint state holds done: its ``index`` when it
    counts more than epochs (MO-TS-BNAS: stage-1 epochs plus generations), else its
    ``epoch``; None if it has neither. A mid-epoch file continues the epoch checkpoint of
    the same position."""
    value = state.get("index", state.get("epoch"))
    return None if value is None else int(value)


def _stopped_in(state: dict[str, Any]) -> str:
    return str(state.get(OF_KEY) or f"epoch {int(state['epoch']) + 1}")


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
              train_step: Callable[[int, Batch], None], dist: DistContext | None = None
              ) -> Iterator[int]:
    """Run ``train_step(step, batch)`` on the epoch's batches after the ``progress.step``
    already done (the ones before are drawn and dropped, which keeps the data the same),
    yielding each step number once its step has run. Each step but the first this call
    runs is shielded from stop signals, so ``progress`` (``step`` is advanced here) always
    ends at a whole step; the first is not, as ``torch.compile`` may spend a minute in it.
    Under data parallelism (``dist`` of several processes) every step is shielded and the
    ranks stop together (:func:`stop_together`)."""
    parallel = dist is not None and dist.enabled
    first = progress.step
    with deferred_signals() if parallel else nullcontext():
        for step, batch in enumerate(() if _all_steps_done(batches, first) else batches):
            if step < first:
                continue
            with nullcontext() if parallel or step == first else deferred_signals():
                progress.between_steps = False
                train_step(step, batch)
                progress.step = step + 1
                progress.between_steps = True
            if parallel:
                stop_together(dist)  # type: ignore[arg-type]
            yield step
        if parallel:  # a signal after the last step's agreement: still all together
            stop_together(dist)  # type: ignore[arg-type]


def _all_steps_done(batches: Iterable[Any], done: int) -> bool:
    """Whether a stop after the epoch's last step (possible under data parallelism, where
    the ranks agree once more after it) left no step to run: then the epoch's batches are
    not drawn at all, rather than drawn and dropped. A loader's batches come from its own
    per-epoch generators (:class:`bnnas.data.BatchLoader`), so skipping them changes no
    later draw."""
    return done > 0 and isinstance(batches, Sized) and done >= len(batches)


def stop_together(dist: DistContext) -> None:
    """After a step of a data-parallel epoch: raise :class:`Interrupted` (``together``) on
    every rank if any rank holds a stop signal, so that all stop after this same step."""
    signum = dist.largest(pending_signal())
    if signum:
        take_pending_signal()
        raise Interrupted(signum, together=True)


@contextmanager
def epoch_together(dist: DistContext) -> Iterator[None]:
    """Around a whole epoch of a data-parallel run, its steps to its checkpoint: a stop
    signal that lands after the steps (in evaluation, in a search's scoring, while the
    checkpoint is written) waits for the block to end and then stops every rank together
    (:func:`stop_together`), so the epoch's work is kept in its checkpoint instead of each
    rank stopping at its own point (one inside a collective the others left). Inside the
    steps :func:`run_steps` stops them together as before. A second signal cuts the block
    short. On one process it does nothing: a stop there writes a mid-epoch file that
    keeps the steps (:func:`keep_on_stop`)."""
    if not dist.enabled:
        yield
        return
    with deferred_signals():
        yield
        stop_together(dist)


@contextmanager
def keep_on_stop(checkpoint_dir: Path, progress: EpochProgress,
                 state: Callable[[], dict[str, Any]], dist: DistContext,
                 of: str | None = None) -> Iterator[None]:
    """Around the steps of an epoch: when a stop signal ends them, add the seconds trained
    to ``progress`` and write the mid-epoch checkpoint of ``state()`` (rank 0 of a
    data-parallel run, when the ranks stopped together, with every rank's progress and RNG
    state); then let the stop go on. ``of`` names what the steps belong to when it is not
    the epoch after ``state()["epoch"]`` (``"generation 3"``), for the log and stop lines."""
    started = time.time()
    try:
        yield
    except Interrupted as stop:
        progress.seconds += time.time() - started
        if not dist.enabled:
            save_mid_epoch(checkpoint_dir, state(), progress, of)
        elif stop.together:  # every rank is here, between the same two steps
            with deferred_signals():  # a late first signal waits for the file
                ranks = dist.all_gather_object({"progress": progress.to_dict(),
                                                **capture_rng()})
                if dist.is_main:
                    save_mid_epoch(checkpoint_dir, {**state(), RANKS_KEY: ranks}, progress,
                                   of)
        raise


def save_mid_epoch(checkpoint_dir: Path, state: dict[str, Any], progress: EpochProgress,
                   of: str | None = None) -> Path | None:
    """Write the mid-epoch checkpoint, unless the stop cut a step short or came before the
    epoch's first step ended (None then: the epoch checkpoint is where a resume starts)."""
    if not progress.between_steps:
        log.info("stopped inside a step: no mid-epoch checkpoint; a resume repeats the epoch")
        return None
    if progress.step == 0:
        return None
    state = {**state, STATE_KEY: progress.to_dict()}
    if of is not None:
        state[OF_KEY] = of
    path = save_checkpoint(checkpoint_dir / MID_EPOCH_FILE, state)
    log.info("stopped after step %d of %d of %s; saved %s", progress.step, progress.steps,
             _stopped_in(state), path)
    return path


def load_mid_epoch(checkpoint_dir: Path, epoch: int, device: torch.device,
                   dist: DistContext) -> dict[str, Any] | None:
    """The mid-epoch checkpoint that continues the epoch checkpoint at ``epoch`` (its
    :func:`position`: the epochs done), or None.

    One of another epoch is stale (the epoch it was in finished, or the epoch checkpoint it
    continued was lost) and is deleted (by rank 0 only, the one process that writes); one
    that does not load is ignored with a warning."""
    path = checkpoint_dir / MID_EPOCH_FILE
    if not path.is_file():
        return None
    try:
        state = load_checkpoint(path, map_location=device)
    except CheckpointError as error:
        log.warning("ignoring %s: %s", path, error)
        return None
    if position(state) != epoch or STATE_KEY not in state:
        if dist.is_main:
            path.unlink(missing_ok=True)
        return None
    return state


def resume_mid_epoch(checkpoint_dir: Path, epoch: int, device: torch.device,
                     load: Callable[[dict[str, Any]], None], dist: DistContext, where: str
                     ) -> EpochProgress | None:
    """After the epoch checkpoint is loaded (``epoch`` epochs done): load the mid-epoch
    checkpoint that continues it with ``load`` and return how far its epoch had come (this
    rank's share of it, under data parallelism), or None if there is none (see
    :func:`load_mid_epoch`); then check that every rank resumed at the same epoch and step
    (``where``: what resumed, for the error). One written by another number of processes
    is ignored with a warning (the ranks' shares of each batch differ), so the epoch
    restarts; one that loads but does not fit stops the resume with a one-line error."""
    progress = _load_progress(checkpoint_dir, epoch, device, load, dist)
    dist.check_resumed((epoch, 0 if progress is None else progress.step), where)
    return progress


def _load_progress(checkpoint_dir: Path, epoch: int, device: torch.device,
                   load: Callable[[dict[str, Any]], None], dist: DistContext
                   ) -> EpochProgress | None:
    state = load_mid_epoch(checkpoint_dir, epoch, device, dist)
    if state is None:
        return None
    path = checkpoint_dir / MID_EPOCH_FILE
    ranks = state.get(RANKS_KEY)
    written_by = len(ranks) if isinstance(ranks, list) else 1
    if written_by != dist.world_size:
        log.warning("ignoring %s: it was written by %d process(es) and this run has %d; "
                    "epoch %d starts again from its beginning", path, written_by,
                    dist.world_size, epoch + 1)
        return None
    try:
        load(state)
        progress = EpochProgress.from_dict(ranks[dist.rank]["progress"] if ranks
                                           else state[STATE_KEY])
        if ranks:
            restore_rng(ranks[dist.rank])
    except (KeyError, TypeError, ValueError, RuntimeError, CheckpointError) as error:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is damaged or not from this run ({error}); delete it "
            "to resume from the last epoch checkpoint"
        ) from None
    log.info("resumed from %s (step %d of %d of %s)", path, progress.step, progress.steps,
             _stopped_in(state))
    return progress


def describe_mid_epoch(checkpoint_dir: Path, epoch: int | None) -> str | None:
    """``mid-epoch.pt (epoch 5 done, step 200 of 469 of epoch 6)`` when the folder holds a
    mid-epoch checkpoint that continues the epoch checkpoint at position ``epoch`` (None:
    no epoch checkpoint yet, i.e. 0), else None: what a resume will continue from, for the
    line a stopped run prints. A search that counts generations too says so: ``(epoch 10,
    generation 2 done, step 5 of 20 of generation 3)``."""
    try:
        state = load_checkpoint(checkpoint_dir / MID_EPOCH_FILE, lazy=True)
        progress = EpochProgress.from_dict(state[STATE_KEY])
        done = units_done(state)
        stopped_in = _stopped_in(state)
    except (CheckpointError, KeyError, TypeError, ValueError):
        return None
    if position(state) != (epoch or 0):
        return None
    return (f"{MID_EPOCH_FILE} ({done} done, step {progress.step} of {progress.steps} "
            f"of {stopped_in})")


def clear_mid_epoch(checkpoint_dir: Path) -> None:
    """Delete the mid-epoch checkpoint once the epoch it was in is checkpointed whole."""
    (checkpoint_dir / MID_EPOCH_FILE).unlink(missing_ok=True)

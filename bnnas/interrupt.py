"""Stopping a long run cleanly on Ctrl-C (SIGINT) or SIGTERM.

A run stopped by a signal must leave a run folder that ``--resume`` can continue. Checkpoint
and result writes are atomic (temporary file + rename), so abandoning the current training
step is always safe; the one thing worth waiting for is a checkpoint write already under way,
since finishing it saves the epoch it records. :class:`StopSignals` therefore turns both
signals into an :class:`Interrupted` exception in the main thread, except inside
:func:`deferred_signals` blocks (checkpoint writes), where the signal is held until the block
ends; a second signal during such a block stops at once (the write is atomic, so only that
write is lost). Previous handlers are restored on exit, so library users and test runners
keep theirs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; a KeyboardInterrupt so that ``except Exception`` never eats it."""

    def __init__(self, signum: int, *, together: bool = False) -> None:
        self.signum = int(signum)
        # raised on every data-parallel process after the same step
        # (bnnas.train.mid_epoch.stop_together), so they may still exchange state
        self.together = together
        super().__init__(self.name)

    @property
    def name(self) -> str:
        """``"SIGINT"`` or ``"SIGTERM"``."""
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """The shell convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


class StopSignals:
    """Context manager: SIGINT and SIGTERM raise :class:`Interrupted` while it is active.

    Outside the main thread (where Python cannot set handlers) it does nothing.
    """

    def __init__(self) -> None:
        self._previous: dict[int, object] = {}
        self._depth = 0
        self._pending: int | None = None

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._depth > 0 and self._pending is None:
            self._pending = signum  # raised when the deferred block ends
            return
        # Not deferred, or a second signal: the user insists (a write hangs on a dead
        # network drive, say); the write is atomic, so abandoning it loses only that write.
        self._pending = None
        raise Interrupted(signum)

    @property
    def pending(self) -> int:
        """The number of a stop signal a deferred block holds, else 0."""
        return 0 if self._pending is None else int(self._pending)

    def take(self) -> int:
        """The held stop signal (0 if none), which is then no longer raised."""
        signum, self._pending = self.pending, None
        return signum

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold a stop signal until the block ends, then raise it."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0 and self._pending is not None:
            signum, self._pending = self._pending, None
            raise Interrupted(signum)


def _active() -> StopSignals | None:
    """The :class:`StopSignals` whose handler is installed, found through the handler so
    that no module state is needed; None outside the main thread or without one."""
    if threading.current_thread() is not threading.main_thread():
        return None
    owner = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return owner if isinstance(owner, StopSignals) else None


def pending_signal() -> int:
    """The stop signal a :func:`deferred_signals` block holds (0 if none): data-parallel
    processes ask it after each step to agree on stopping together."""
    owner = _active()
    return 0 if owner is None else owner.pending


def take_pending_signal() -> int:
    """Take the held stop signal (0 if none) for the caller to raise: the end of the
    deferred block then no longer raises it."""
    owner = _active()
    return 0 if owner is None else owner.take()


def deferred_signals() -> AbstractContextManager[None]:
    """A block that a stop signal does not cut short (e.g. a checkpoint write).

    Finds the active :class:`StopSignals` through the installed handler, so no module state
    is needed; without one (library use) the block is unprotected, as any Python code is.
    """
    owner = _active()
    return nullcontext() if owner is None else owner.deferred()

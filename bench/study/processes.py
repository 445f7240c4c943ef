"""The processes of a study: which live ``bnnas`` process writes which run folder (read
from /proc, so that no folder is written twice, even across restarts of compare.py), and
starting, adopting and stopping the steps' processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from study.steps import Step, command, shown

Writers = dict[Path, tuple[int, list[str]]]  # live_writers(): folder -> (pid, command line)


def live_writers() -> dict[Path, tuple[int, list[str]]]:
    """Each folder a live ``bnnas`` process writes (its ``--out`` or ``--resume`` argument,
    relative to that process's working folder, resolved), with the process's id and command
    line; one pass over /proc."""
    writers = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = [a.decode(errors="replace")
                    for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if not any("bnnas" in a for a in args):
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            cwd = Path.cwd()
        for i, arg in enumerate(args):
            value = args[i + 1] if arg in ("--out", "--resume") and i + 1 < len(args) else None
            if arg.startswith(("--out=", "--resume=")):
                value = arg.split("=", 1)[1]
            if value:
                writers[(cwd / value).resolve()] = (int(entry.name), args)
    return writers


def live_pid(run_dir: Path) -> int | None:
    """The id of a live ``bnnas`` process writing ``run_dir``, or None."""
    found = live_writers().get(run_dir.resolve())
    return None if found is None else found[0]


def runs_step(args: Sequence[str], step: Step) -> bool:
    """Whether a process's command line is this step's command as compare.py starts it (fresh
    or resumed): a run another compare.py started, whose end this one may record."""
    if "-m" not in args:
        return False
    tail = list(args[args.index("-m") + 1:])
    resumed = [step.module, step.kind, "--resume", str(step.run_dir), "--no-progress"]
    return tail in ([step.module, *step.argv], resumed)


class TerminatedError(Exception):
    """SIGTERM reached compare.py; the running step is stopped cleanly first."""


def raise_stopped(signum: int, frame: object) -> None:
    raise TerminatedError


@dataclass
class Adopted:
    """A step another compare.py started that this one watches to its end."""

    step: Step
    pid: int


@dataclass
class Running:
    """A step compare.py started and has not seen end yet."""

    step: Step
    proc: subprocess.Popen
    started: float


def start_step(step: Step) -> Running:
    """Start one step, its output appended to its log."""
    argv = command(step)
    step.run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(step.log, "a", encoding="utf-8") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {shown(argv, step.module)}\n")
        log.flush()
        proc = subprocess.Popen([sys.executable, "-m", step.module, *argv], stdout=log,
                                stderr=subprocess.STDOUT)
    return Running(step, proc, time.time())


def write_command(step: Step) -> None:
    """The step's command line into its run folder, where the report finds it."""
    (step.run_dir / "command.txt").write_text(shown(step.argv, step.module) + "\n",
                                              encoding="utf-8")


def end_step(running: Running, code: int) -> None:
    """After a step ended: its command line into its run folder when it succeeded."""
    if code == 0:
        write_command(running.step)


def stop_all(running: Sequence[Running], adopted: Sequence[Adopted] = (),
             grace: float = 600.0) -> None:
    """SIGTERM to every step still running, its own and the adopted ones (train and search
    stop at a checkpoint), and wait for them (an adopted one for at most ``grace`` seconds:
    it is not this process's child)."""
    for item in running:
        if item.proc.poll() is None:
            item.proc.send_signal(signal.SIGTERM)
    for other in adopted:
        with contextlib.suppress(ProcessLookupError):
            os.kill(other.pid, signal.SIGTERM)
    for item in running:
        item.proc.wait()
    deadline = time.monotonic() + grace
    while any(alive(other.pid) for other in adopted) and time.monotonic() < deadline:
        time.sleep(0.2)


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, ended but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]



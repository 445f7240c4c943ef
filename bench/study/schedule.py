"""Which step of a study runs next, which wait for other processes, and the plan of what
is left as shell lines (``--only-plan``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from study.processes import Adopted, Writers, live_pid, live_writers, runs_step, write_command
from study.steps import Step, command, done, finished, ready_after, shown


def next_step(steps: Sequence[Step], failed: set[Path], *, wait_live: bool = False,
              writers: Writers | None = None) -> Step | None:
    """The first step by priority that is not done, not failed in this session, not being
    run by another process, and whose search has finished; with ``wait_live``, none while
    another process runs a step. ``writers``: a snapshot of :func:`live_writers` to use."""
    writers = live_writers() if writers is None else writers
    if wait_live and waiting_for(steps, failed, writers):
        return None
    ready = [s for s in steps if not done(s) and not s.stranded and s.run_dir not in failed
             and ready_after(s, steps) and s.run_dir.resolve() not in writers]
    return min(ready, key=lambda s: s.priority, default=None)


def waiting_for(steps: Sequence[Step], failed: set[Path], writers: Writers | None = None
                ) -> list[tuple[Step, int]]:
    """Steps not done because a live process runs them (with its id)."""
    return [(step, pid) for step, pid, _ in _written(steps, failed, writers)]


def _written(steps: Sequence[Step], failed: set[Path], writers: Writers | None = None
             ) -> list[tuple[Step, int, list[str]]]:
    """Steps not done that a live process runs: the step, the process id, its command line."""
    writers = live_writers() if writers is None else writers
    live = []
    for step in steps:
        found = writers.get(step.run_dir.resolve())
        if found is not None and not done(step) and step.run_dir not in failed:
            live.append((step, *found))
    return live


def adopt(steps: Sequence[Step], failed: set[Path], adopted: dict[Path, Adopted],
          writers: Writers | None = None) -> None:
    """Remember the steps another compare.py started (same command line) and still runs,
    so that this one records their end as if it had started them: after a restart of
    compare.py, a training the previous one left running keeps its ``command.txt``, and a
    deadline (``--stop-after``) stops it too."""
    for step, pid, args in _written(steps, failed, writers):
        if step.run_dir not in adopted and runs_step(args, step):
            adopted[step.run_dir] = Adopted(step, pid)


def end_adopted(adopted: dict[Path, Adopted], writers: Writers | None = None) -> list[Step]:
    """The adopted steps whose process has gone: a finished one gets its ``command.txt``
    (unless it has one); all are forgotten (an unfinished one is left to be resumed)."""
    writers = live_writers() if writers is None else writers
    ended = [item.step for path, item in adopted.items() if path.resolve() not in writers]
    for step in ended:
        del adopted[step.run_dir]
        if finished(step.run_dir) and not (step.run_dir / "command.txt").is_file():
            write_command(step)
    return ended


def plan_lines(steps: Sequence[Step]) -> list[str]:
    """The commands still to run, in the order a run would take them, assuming each ends
    well; runs of other processes are listed as comments and assumed to end first."""
    lines = []
    ended = {s.run_dir for s in steps if done(s)}
    pending = [s for s in steps if s.run_dir not in ended and not s.stranded]
    for step in list(pending):
        pid = live_pid(step.run_dir)
        if pid is not None:
            lines.append(f"# running in pid {pid}, not started again: {step.label}")
            ended.add(step.run_dir)
            pending.remove(step)
    while pending:
        ready = [s for s in pending if s.needs is None or s.needs in ended]
        if not ready:
            break
        step = min(ready, key=lambda s: s.priority)
        lines.append(f"{shown(command(step), step.module)} > {step.log} 2>&1")
        ended.add(step.run_dir)
        pending.remove(step)
    return lines + [stranded_line(s) for s in steps if s.stranded]


def stranded_line(step: Step) -> str:
    return (f"# cannot run {step.label}: it needs {step.needs}, whose files are gone (carried "
            "from the earlier report, not in the record)")



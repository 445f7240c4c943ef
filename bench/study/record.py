"""What a study keeps beyond its run folders: the steps an earlier report lists as
finished (carried, never run again), the steps that cannot run because what they need is
lost, and the record of finished searches and draws (copied without checkpoints beside
the report, and copied back where their folders are missing)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from study.steps import Step, done, finished

RECORD = "docs/results/searches"  # finished searches and draws, kept beside the report
RECORDED_KINDS = ("search", "random")
RECORD_MAX_BYTES = 4 * 1024 * 1024  # a log above this is not worth a place in the record


def carried_runs(rows_json: Path) -> set[Path]:
    """The run folders an earlier report of the study lists as finished: its rows' runs and
    its finished searches (an unreadable or missing file lists none)."""
    from bnnas.errors import BnnasError
    from bnnas.report.earlier import load_earlier_report

    if not rows_json.is_file():
        return set()
    try:
        earlier = load_earlier_report(rows_json)
    except BnnasError as error:
        print(f"{time.strftime('%H:%M:%S')} not carrying {rows_json}: {error}", flush=True)
        return set()
    return {Path(r.run).resolve() for r in earlier.rows} | \
        {s.path.resolve() for s in earlier.searches}


def mark_carried(steps: Sequence[Step], runs: set[Path]) -> None:
    """Flag the steps an earlier report finished and whose folders are gone; a control's
    draw counts as carried when all of its trainings are (nothing is left that needs it)."""
    for step in steps:
        step.carried = not finished(step.run_dir) and step.run_dir.resolve() in runs
    for step in steps:
        users = [other for other in steps if other.needs == step.run_dir]
        if step.kind == "random" and users and not finished(step.run_dir):
            step.carried = all(done(other) for other in users)


def mark_stranded(steps: Sequence[Step], root: Path, record: Path | None) -> None:
    """Flag the steps that cannot run because a step they need (directly or through another
    step) is carried from the earlier report with its folder gone and not in the record:
    e.g. a second training of a network whose search's genotype files were lost before the
    record kept them."""
    by_dir = {step.run_dir: step for step in steps}

    def blocked(step: Step) -> bool:
        needed = by_dir.get(step.needs) if step.needs is not None else None
        if needed is None:
            return False
        if needed.carried and not finished(needed.run_dir):
            return not restorable(needed, root, record)
        return not done(needed) and blocked(needed)

    for step in steps:
        step.stranded = not done(step) and blocked(step)


def record_step(step: Step, root: Path, record: Path) -> None:
    """Copy a finished search's or draw's own files into the record: not its checkpoints
    (``*.pt``), subfolders (checkpoints, the draw's trainings), the output of the draw's
    trainings (``train-<k>.log``, see :attr:`Step.log`) or hidden temporary files."""
    from bnnas.runs import write_bytes_atomic

    target = record / step.run_dir.relative_to(root)
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(step.run_dir.iterdir()):
        if path.is_file() and path.suffix not in (".pt", ".log") \
                and not path.name.startswith(".") and path.stat().st_size <= RECORD_MAX_BYTES:
            write_bytes_atomic(target / path.name, path.read_bytes())


def record_finished(steps: Sequence[Step], root: Path, record: Path | None) -> None:
    """Keep every finished search and draw of the study in the record."""
    if record is None:
        return
    for step in steps:
        if step.kind in RECORDED_KINDS and finished(step.run_dir):
            record_step(step, root, record)


def _recorded(step: Step, root: Path, record: Path | None) -> Path | None:
    """The record's finished copy of a search or draw not finished here, or None."""
    if record is None or step.kind not in RECORDED_KINDS or finished(step.run_dir):
        return None
    kept = record / step.run_dir.relative_to(root)
    return kept if (kept / "result.json").is_file() else None


def _occupied(folder: Path) -> bool:
    return folder.exists() and any(folder.iterdir())


def restorable(step: Step, root: Path, record: Path | None) -> bool:
    """Whether :func:`restore_recorded` would copy ``step`` back (recorded, and its folder
    here is missing or empty)."""
    return _recorded(step, root, record) is not None and not _occupied(step.run_dir)


def restore_recorded(steps: Sequence[Step], root: Path, record: Path | None) -> None:
    """Copy recorded searches and draws back into ``root`` where their folders are missing
    (a folder that exists is never touched: a run in it is resumed as usual)."""
    for step in steps:
        kept = _recorded(step, root, record)
        if kept is None:
            continue
        if _occupied(step.run_dir):
            print(f"{time.strftime('%H:%M:%S')} not restoring {step.label} from {kept}: "
                  f"{step.run_dir} is not empty", flush=True)
            continue
        shutil.copytree(kept, step.run_dir, dirs_exist_ok=True)
        print(f"{time.strftime('%H:%M:%S')} restored {step.label} from {kept}", flush=True)



"""One step of a study: a command and the run folder it writes; whether it is done, can
start, and the command line that starts or resumes it, all read from the folders."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CONTROL = "random-ops"  # bnnas.search.random_arch.CONTROL_FOLDER, which the report reads


@dataclass
class Step:
    """One command of the study and the run folder it writes."""

    kind: str  # "search", "train" or "random" (the random-ops control's genotypes)
    run_dir: Path
    argv: list[str]  # arguments of ``module`` that start it afresh
    priority: tuple[float, ...]
    needs: Path | None = None  # a step folder that must have finished first
    module: str = "bnnas"  # run as ``python -m <module>``
    carried: bool = False  # finished in an earlier report whose run folder is gone
    stranded: bool = False  # what it needs is carried but its files are gone: cannot run

    @property
    def label(self) -> str:
        parts = self.run_dir.parts[-3:] if self.run_dir.parent.name == CONTROL else \
            self.run_dir.parts[-2:]
        return "/".join(parts)

    @property
    def log(self) -> Path:
        return self.run_dir.parent / f"{self.run_dir.name}.log"


def finished(run_dir: Path) -> bool:
    return (run_dir / "result.json").is_file()


def done(step: Step) -> bool:
    """Finished here, or carried from an earlier report of the study."""
    return step.carried or finished(step.run_dir)


def ready_after(step: Step, steps: Sequence[Step]) -> bool:
    """Whether the step ``step`` needs has finished (here, or carried)."""
    return step.needs is None or finished(step.needs) or any(
        other.carried and other.run_dir == step.needs for other in steps)


def command(step: Step) -> list[str]:
    """Resume a folder a run already started in, else start afresh (the random genotypes
    are drawn again: the draw is deterministic and takes seconds)."""
    if step.module == "bnnas" and (step.run_dir / "config.yaml").is_file():
        return [step.kind, "--resume", str(step.run_dir), "--no-progress"]
    return step.argv


def shown(argv: Sequence[str], module: str = "bnnas") -> str:
    program = "bnnas" if module == "bnnas" else f"python -m {module}"
    return f"{program} {shlex.join(argv)}"



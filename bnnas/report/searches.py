"""What a search run folder tells a report: method, seed, time spent, its logs and its front.

The logs differ by method, and the report plots what each one actually records:

- UBNAS and BARS write one ``metrics.jsonl`` line per epoch with the supernet's training
  loss and accuracy (``train_loss``, ``train_acc``) and, once architecture steps have begun,
  ``arch_loss``: the loss of the architecture step, which is computed on the held-out half of
  the training data, so it is the search's validation loss.
- MO-TS-BNAS and its random baseline write ``history.jsonl``, one line per generation with
  the front's ``hypervolume`` and ``best_error`` (fast-evaluation error of the supernet, in
  percent), and ``pareto.json``: the final front with each member's error and OPs.

A search still running (or stopped) has no ``result.json`` yet; its logs so far are still worth
a plot, and :mod:`bnnas.report.progress` says how far it has come.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bnnas.errors import BnnasError
from bnnas.report.folders import read_config, read_json, read_log, stored_command
from bnnas.report.progress import MULTI_OBJECTIVE, search_progress


@dataclass
class FrontPoint:
    """One member of a final front: supernet error (percent), OPs and the size objective."""

    error: float
    ops: float
    size: float


@dataclass
class SearchRun:
    """One search folder, read once."""

    path: Path
    method: str
    seed: int | None
    finished: bool
    search_seconds: float | None
    epochs: list[dict[str, Any]] = field(default_factory=list)
    generations: list[dict[str, Any]] = field(default_factory=list)
    front: list[FrontPoint] = field(default_factory=list)
    size_objective: str | None = None
    qualify: bool = False  # another search of the report has the same method and seed
    progress: str = ""  # how far an unfinished search has come ("epoch 3 of 15 done")
    recorded_command: str | None = None  # carried from an earlier report (bnnas.report.earlier)

    @property
    def label(self) -> str:
        """``"ubnas seed 0"``; with the folder when the seed is unknown or not unique."""
        text = self.method + (f" seed {self.seed}" if self.seed is not None else "")
        if self.qualify or self.seed is None:
            text += f" ({self.path.parent.name}/{self.path.name})"
        return text + ("" if self.finished else " (unfinished)")

    @property
    def status(self) -> str:
        """``"finished"``, or ``"unfinished: epoch 3 of 15 done"``."""
        return "finished" if self.finished else f"unfinished: {self.progress}"

    def command(self) -> str:
        """The command line that made the search: ``command.txt`` if the folder keeps one,
        else the search rebuilt from the config it stored; for a search carried from an
        earlier report, the command that report recorded."""
        if self.recorded_command is not None:
            return self.recorded_command
        return stored_command(self.path) or (
            f"bnnas search --method {self.method} --config {self.path / 'config.yaml'}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "method": self.method,
            "seed": self.seed,
            "finished": self.finished,
            "status": self.status,
            "search_seconds": self.search_seconds,
            "command": self.command(),
            "front": [vars(point) for point in self.front],
            "size_objective": self.size_objective,
            "epochs": self.epochs,
            "generations": self.generations,
        }


def _front(path: Path) -> tuple[list[FrontPoint], str | None]:
    from bnnas.search.pareto import ParetoFront

    try:
        front = ParetoFront.load(path)
    except BnnasError:
        return [], None
    points = [FrontPoint(m.error, m.ops, m.size) for m in front.members]
    return points, front.size_objective


def load_search(path: Path) -> SearchRun:
    """Read a search folder; a search without ``result.json`` is read as unfinished (it may
    still be running)."""
    method = (path / "method.txt").read_text(encoding="utf-8").strip()
    config = read_config(path)
    seed = config.get("seed")
    result = read_json(path / "result.json") if (path / "result.json").is_file() else None
    run = SearchRun(
        path=path,
        method=method,
        seed=seed if isinstance(seed, int) else None,
        finished=result is not None,
        search_seconds=None if result is None else result.get("search_seconds"),
    )
    if method in MULTI_OBJECTIVE:
        run.generations = read_log(path / "history.jsonl", "generation")
        if (path / "pareto.json").is_file():
            run.front, run.size_objective = _front(path / "pareto.json")
    else:
        run.epochs = read_log(path / "metrics.jsonl", "epoch")
    if result is None:
        logged = run.generations if method in MULTI_OBJECTIVE else run.epochs
        run.progress = search_progress(path, method, config, logged)
    return run

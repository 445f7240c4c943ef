"""Everything a report shows, gathered once from the run folders: the measured rows, their
per-name summaries, the published rows, the searches, and what was skipped and why.

Unfinished train runs (a ``config.yaml`` but no ``result.json`` yet) are skipped with a
warning that says how far they have come, rather than failing the report, so that a report
over a study still in progress (as ``bench/compare.py`` makes after every step) shows what is
done. Only when nothing at all is finished is that an error. Rows and finished searches of
earlier reports (``rows.json`` files among the paths) fill in the runs whose folders are not
given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bnnas.errors import ReportError
from bnnas.report.aggregate import Summary, aggregate
from bnnas.report.controls import ControlComparison, control_comparisons
from bnnas.report.earlier import load_earlier_report, same_path
from bnnas.report.folders import find_run_folders
from bnnas.report.goals import Goal, GoalCheck, check_goal
from bnnas.report.literature import load_literature
from bnnas.report.methods import MethodSeeds, method_seeds
from bnnas.report.progress import train_progress
from bnnas.report.rows import Row, row_from_train_run
from bnnas.report.searches import SearchRun, load_search

DEFAULT_TITLE = "bnnas report"


@dataclass
class Report:
    title: str
    rows: list[Row] = field(default_factory=list)
    summaries: list[Summary] = field(default_factory=list)
    searches: list[SearchRun] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    carried: dict[str, int] = field(default_factory=dict)  # earlier rows.json -> rows taken
    controls: list[ControlComparison] = field(default_factory=list)
    methods: list[MethodSeeds] = field(default_factory=list)
    goal: GoalCheck | None = None

    def intro(self) -> str:
        nets = sum(1 for s in self.summaries if not s.published)
        return (f"Trained runs: {len(self.rows)} ({nets} networks); searches: "
                f"{len(self.searches)}.")

    def notes(self) -> list[str]:
        """How to read the table."""
        notes = [
            "test acc: test accuracy after the last epoch (percent); with several seeds the "
            "mean ± sample standard deviation over them (same for every number). seeds: the "
            "training seeds; a found network retrained with seeds other than its search's "
            "also names the seed that found it, and another search seed's network is a line "
            "of its own, as is a network trained for another number of epochs (its name then "
            "gives the epochs).",
            "BOPs: binary multiply-accumulates; FLOPs: real multiply-accumulates; "
            "OPs = BOPs / 64 + FLOPs; size: 1 bit per binary weight, 32 bits per real value. "
            "Measured by profiling each trained model at its training input size.",
            "search time: the search that found the network (hand-made networks have none); "
            "train time: the training run's epochs.",
        ]
        for path, count in self.carried.items():
            notes.append(f"{count} run(s) carried from the earlier report {path}: their run "
                         "folders are not here, so their numbers are as that report measured "
                         "them.")
        if any(s.published for s in self.summaries):
            notes.append("* published, not measured here: numbers as their papers print them.")
        return notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [r.to_dict() for r in self.rows],
            "summaries": [s.to_dict() for s in self.summaries],
            "searches": [s.to_dict() for s in self.searches],
            "controls": [c.to_dict() for c in self.controls],
            "methods": [m.to_dict() for m in self.methods],
            "goal": self.goal.to_dict() if self.goal else None,
            "warnings": self.warnings,
        }


def collect_report(
    paths: Sequence[str | Path],
    *,
    title: str = DEFAULT_TITLE,
    literature: str | Path | None = None,
    goal: Goal | None = None,
) -> Report:
    """Read and measure the runs in ``paths`` (see :mod:`bnnas.report.folders`); with a
    ``goal``, say how far each search method's networks are from it.

    Searches come from the folders given and from the genotype paths of the train runs.
    Raises :class:`ReportError` for bad folders, corrupt files, or nothing finished.
    """
    folders = find_run_folders(list(paths))
    published = load_literature(literature) if literature is not None else []
    report = Report(title=title)
    report.warnings += [f"skipped unfinished run {p} ({train_progress(p)}; no result.json yet)"
                        for p in folders.unfinished]
    for run in folders.train:
        row = row_from_train_run(run)
        report.rows.append(row)
        if row.search_run is not None:
            folders.add("search", Path(row.search_run))
    report.searches = [load_search(path) for path in folders.search]
    for path in folders.reports:
        _carry(report, path)
    keys = [(s.method, s.seed) for s in report.searches]
    for search, key in zip(report.searches, keys, strict=True):
        search.qualify = keys.count(key) > 1
    if not report.rows and not any(s.finished for s in report.searches):
        given = ", ".join(str(p) for p in paths)
        raise ReportError(f"no finished run in {given}; wait for a run to write result.json")
    report.summaries = aggregate(report.rows) + published
    report.controls = control_comparisons(report.summaries)
    report.methods = method_seeds(report.summaries)
    report.goal = check_goal(goal, report.summaries) if goal is not None else None
    return report


def _carry(report: Report, path: Path) -> None:
    """Take the rows and finished searches of an earlier report whose runs are not already in
    ``report`` (a run read from its folder wins over its earlier measurement)."""
    earlier = load_earlier_report(path)
    rows = [r for r in earlier.rows if not any(same_path(r.run, o.run) for o in report.rows)]
    report.rows += rows
    report.searches += [s for s in earlier.searches
                        if not any(same_path(s.path, o.path) for o in report.searches)]
    if rows:
        report.carried[str(path)] = len(rows)

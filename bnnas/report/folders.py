"""Find and classify the run folders a report is built from.

A report takes the folders a user names: a ``bnnas train`` run (``config.yaml`` and
``result.json``), a ``bnnas search`` run (``method.txt`` besides its ``config.yaml``), or a
folder that holds such runs at any depth (``runs/compare``, a demo folder), so that one
command covers a whole study; or an earlier report's ``rows.json``, whose rows are carried
(:mod:`bnnas.report.earlier`). Folders that ``--overwrite`` moved aside (``*.replaced-*``) and
the ``checkpoints``/``tb`` subfolders are not runs of their own and are skipped.

A trained genotype network names its genotype file in ``model.genotype``; the folder holding
that file is the search that found it. Paths in a config are as the user typed them, relative
to wherever the run was started, so they are tried relative to the current folder and to each
folder above the train run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bnnas.errors import ReportError

_NOT_RUNS = ("checkpoints", "tb", "fronts")
MAX_DEPTH = 4  # runs/compare/<method>-seed<S>/search is depth 2 below runs/compare


@dataclass
class Folders:
    """Run folders by kind, in the order found, each once; ``unfinished`` train runs have no
    ``result.json`` yet and only produce a warning; ``reports`` are earlier ``rows.json``
    files."""

    train: list[Path] = field(default_factory=list)
    search: list[Path] = field(default_factory=list)
    unfinished: list[Path] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)

    def add(self, kind: str, path: Path) -> None:
        group = getattr(self, kind)
        if all(p.resolve() != path.resolve() for p in group):
            group.append(path)


def is_search_run(path: Path) -> bool:
    """A ``bnnas search`` folder: it stores which method made it in ``method.txt``."""
    return (path / "config.yaml").is_file() and (path / "method.txt").is_file()


def is_run(path: Path) -> bool:
    return (path / "config.yaml").is_file()


def _runs_below(path: Path, depth: int = 0) -> list[Path]:
    if depth > MAX_DEPTH or not path.is_dir():
        return []
    if is_run(path):
        return [path]
    found: list[Path] = []
    for child in sorted(path.iterdir()):
        if child.is_dir() and child.name not in _NOT_RUNS and ".replaced-" not in child.name:
            found += _runs_below(child, depth + 1)
    return found


def find_run_folders(paths: list[str | Path]) -> Folders:
    """Classify ``paths`` (and the runs inside folders that are not runs themselves).

    Raises :class:`ReportError` for a path that does not exist, is neither a folder nor a
    ``.json`` file, or is a folder that neither is nor holds a run folder.
    """
    from bnnas.report.earlier import is_earlier_report

    if not paths:
        raise ReportError("no run folders given; pass the folders bnnas train/search wrote")
    folders = Folders()
    for given in paths:
        path = Path(given)
        if is_earlier_report(path):
            folders.add("reports", path)
            continue
        if not path.is_dir():
            raise ReportError(f"{str(path)!r} is neither a folder nor a report's rows.json; "
                              "pass run folders bnnas wrote")
        runs = _runs_below(path)
        if not runs:
            raise ReportError(
                f"{str(path)!r} is not a run folder (no config.yaml) and holds none; pass "
                "folders that bnnas train or bnnas search wrote"
            )
        for run in runs:
            if is_search_run(run):
                folders.add("search", run)
            elif (run / "result.json").is_file():
                folders.add("train", run)
            else:
                folders.add("unfinished", run)
    return folders


def read_json(path: Path) -> Any:
    """A JSON file of a run; a corrupt one is a :class:`ReportError` naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"cannot read {str(path)!r} ({error}); is the run intact?") from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a ``*.jsonl`` log; a line cut short by a crash ends it (as in
    :class:`bnnas.runs.MetricsLog`). A missing file is an empty log."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break
        if isinstance(record, dict):
            records.append(record)
    return records


def read_log(path: Path, key: str) -> list[dict[str, Any]]:
    """The records of a ``*.jsonl`` log numbered by ``key`` (``epoch``, ``generation``), one
    per number in order: the last record of each, as a resumed run may repeat one."""
    latest = {r[key]: r for r in read_jsonl(path) if isinstance(r.get(key), int)}
    return [latest[k] for k in sorted(latest)]


def read_config(run: Path) -> dict[str, Any]:
    """The resolved config a run stored, as plain data."""
    try:
        data = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ReportError(f"cannot read {str(run / 'config.yaml')!r} ({error})") from None
    if not isinstance(data, dict):
        raise ReportError(f"{str(run / 'config.yaml')!r} is not a bnnas config (not a mapping)")
    return data


def resolve_config_path(text: str, run: Path) -> Path | None:
    """A path from ``run``'s config: as given (absolute, or relative to the current folder),
    else relative to each folder above ``run``; None when no such file exists."""
    path = Path(text)
    if path.is_absolute():
        return path if path.exists() else None
    for base in (Path.cwd(), *run.resolve().parents):
        candidate = base / path
        if candidate.exists():
            return candidate
    return None


def search_folder_of(genotype: str | None, run: Path) -> Path | None:
    """The search run folder that wrote ``genotype`` (a ``genotype.json``/``pareto.json``),
    or None for a hand-written genotype file or one that moved."""
    if not genotype:
        return None
    path = resolve_config_path(genotype, run)
    if path is None:
        return None
    folder = path.parent
    return folder if is_search_run(folder) else None


COMMAND_FILE = "command.txt"


def stored_command(run: Path) -> str | None:
    """The command line a run folder keeps in ``command.txt`` (tools that start runs, such
    as ``bench/compare.py``, write it), or None."""
    path = run / COMMAND_FILE
    if not path.is_file():
        return None
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return next((line for line in lines if line), None)

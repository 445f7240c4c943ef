"""An earlier report's ``rows.json`` as an input of a new report.

Run folders do not always outlive their results: a study's runs may have been made on another
machine, cleaned up for disk space, or lost with a scratch disk, while the report they fed
(``rows.json``, which :func:`bnnas.report.write_report` writes beside ``report.md``) was kept.
Passing that file to ``bnnas report`` next to run folders carries its rows and its finished
searches into the new report, as the earlier report measured them, so that results gathered
over several machines or sessions stay in one table. A run that is also present as a folder is
read from the folder (fresh measurement wins); unfinished searches are not carried, since
their progress line would be stale.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from bnnas.bounded_read import read_small_text
from bnnas.errors import ReportError
from bnnas.report.rows import HAND_MADE, Row
from bnnas.report.searches import FrontPoint, SearchRun

REPORT_FILE = "rows.json"
MAX_BYTES = 64 * 1024 * 1024
_ROW_FIELDS = tuple(f.name for f in fields(Row))
_REQUIRED_ROW_FIELDS = tuple(f.name for f in fields(Row) if f.default is MISSING)


@dataclass
class EarlierReport:
    """What one earlier ``rows.json`` carries: its rows and its finished searches."""

    path: Path
    rows: list[Row] = field(default_factory=list)
    searches: list[SearchRun] = field(default_factory=list)


def is_earlier_report(path: Path) -> bool:
    """A file given to ``bnnas report`` (rather than a folder) is an earlier ``rows.json``."""
    return path.is_file() and path.suffix == ".json"


def _bad(path: Path, what: str) -> ReportError:
    return ReportError(f"{str(path)!r} is not a bnnas report rows.json ({what}); pass the "
                       f"rows.json that bnnas report wrote, or a run folder")


def _row(item: Any, path: Path, index: int) -> Row:
    if not isinstance(item, dict):
        raise _bad(path, f"rows[{index}] is not an object")
    missing = [name for name in _REQUIRED_ROW_FIELDS if name not in item]
    if missing:
        raise _bad(path, f"rows[{index}] has no {missing[0]!r}")
    row = Row(**{name: item[name] for name in _ROW_FIELDS if name in item})
    if not isinstance(row.test_acc, (int, float)) or not isinstance(row.run, str):
        raise _bad(path, f"rows[{index}] has no numeric test_acc or no run path")
    if "search_seed" not in item and row.method != HAND_MADE:
        # Written before rows kept it: such a network was trained with the seed of the
        # search or draw that made it, as bench/compare.py has always done.
        row.search_seed = row.seed
    from bnnas.search.random_arch import CONTROL_FOLDER

    run = Path(row.run)
    if "control_of" not in item and run.parent.name == CONTROL_FOLDER:
        # Likewise: bench/compare.py draws a control beside the search it is drawn against.
        row.control_of = str(run.parent.parent / "search")
    return row


def _search(item: Any, path: Path, index: int) -> SearchRun | None:
    if not isinstance(item, dict) or not isinstance(item.get("path"), str) \
            or not isinstance(item.get("method"), str):
        raise _bad(path, f"searches[{index}] has no path or method")
    if not item.get("finished"):
        return None
    try:
        front = [FrontPoint(float(p["error"]), float(p["ops"]), float(p["size"]))
                 for p in item.get("front") or []]
    except (KeyError, TypeError, ValueError):
        raise _bad(path, f"searches[{index}] has a front member without error/ops/size"
                   ) from None
    seed = item.get("seed")
    return SearchRun(
        path=Path(item["path"]),
        method=item["method"],
        seed=seed if isinstance(seed, int) else None,
        finished=True,
        search_seconds=item.get("search_seconds"),
        epochs=[r for r in item.get("epochs") or [] if isinstance(r, dict)],
        generations=[r for r in item.get("generations") or [] if isinstance(r, dict)],
        front=front,
        size_objective=item.get("size_objective"),
        recorded_command=item.get("command") if isinstance(item.get("command"), str)
        else None,
    )


def load_earlier_report(path: str | Path) -> EarlierReport:
    """Read an earlier report's ``rows.json``; a :class:`ReportError` names what is wrong."""
    path = Path(path)
    text = read_small_text(path, MAX_BYTES, "report rows", ReportError)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise _bad(path, f"not JSON: {error.msg} at line {error.lineno}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise _bad(path, "no 'rows' list")
    earlier = EarlierReport(path=path)
    earlier.rows = [_row(item, path, i) for i, item in enumerate(data["rows"])]
    searches = data.get("searches") or []
    if not isinstance(searches, list):
        raise _bad(path, "'searches' is not a list")
    earlier.searches = [s for i, item in enumerate(searches)
                        if (s := _search(item, path, i)) is not None]
    return earlier


def same_path(a: str | Path, b: str | Path) -> bool:
    """Whether two run paths, each as its report or folder names it, are the same folder."""
    return Path(a).resolve() == Path(b).resolve()

"""The study's report: ``bnnas.report`` over the run folders and the previous rows.json,
and ``compare.json``, rebuilt after every finished step."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from study.record import record_finished
from study.steps import Step

TITLE = "Fashion-MNIST: searched and hand-made binary networks, one training recipe"
GOAL = dict(accuracy=94.0, reference="birealnet18", divisor=10.0)  # the study's aim


def _holds_runs(root: Path) -> bool:
    return root.is_dir() and any(root.rglob("config.yaml"))


def update_results(root: Path, results: Path, literature: str | None) -> None:
    """Rebuild the report and ``compare.json`` from everything finished under ``root`` and
    what the previous report (``results/rows.json``) holds of runs no longer there."""
    from bnnas.errors import BnnasError
    from bnnas.report import collect_report, write_report
    from bnnas.report.goals import Goal
    from bnnas.runs import write_text_atomic

    inputs = [path for path in (root, results / "rows.json")
              if (path.is_file() if path.suffix == ".json" else _holds_runs(path))]
    if not inputs:
        print(f"{time.strftime('%H:%M:%S')} no report yet: nothing finished", flush=True)
        return
    try:
        report = collect_report(inputs, title=TITLE, literature=literature, goal=Goal(**GOAL))
        write_report(report, results)
    except BnnasError as error:
        print(f"{time.strftime('%H:%M:%S')} no report yet: {error}", flush=True)
        return
    # the table's rows, the published ones too (marked "published": true, no command)
    rows = [s.to_dict() for s in report.summaries]
    write_text_atomic(results / "compare.json", json.dumps(rows, indent=2) + "\n")
    measured = sum(not s.published for s in report.summaries)
    print(f"{time.strftime('%H:%M:%S')} report: {measured} networks in {results}", flush=True)


def safe_update(steps: Sequence[Step], root: Path, results: Path, literature: str | None,
                 record: Path | None) -> None:
    """Record the finished searches and rebuild the report; a failure there must not end
    hours of runs: say so and carry on."""
    try:
        record_finished(steps, root, record)
        update_results(root, results, literature)
    except Exception:  # noqa: BLE001
        traceback.print_exc()



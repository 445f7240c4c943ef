"""Shared helpers of the tests of ``bench/compare.py`` and ``bench/study``: finished run
folders, a process that looks like a ``bnnas`` run, and rows of an earlier report."""

import json
import subprocess
import sys
import time
from pathlib import Path

from study.processes import live_pid

REPO = Path(__file__).resolve().parents[1]


def finish(run: Path, **result: object) -> None:
    """A run folder as a finished run leaves it (config.yaml and result.json)."""
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 0\n")
    (run / "result.json").write_text(json.dumps(result or {"test_acc": 80.0}))


def pretend_bnnas(run_dir: Path, flag: str = "--out", cwd: Path | None = None
                  ) -> subprocess.Popen:
    """A sleeping process whose command line looks like ``bnnas search ... --out DIR``;
    returned once /proc shows it (between fork and exec it still shows ours)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "bnnas",
                             "search", flag, str(run_dir)], cwd=cwd)
    wait_for_writer(run_dir if cwd is None else cwd / run_dir, proc)
    return proc


def wait_for_writer(run_dir: Path, proc: subprocess.Popen) -> None:
    """Wait until /proc shows ``proc`` writing ``run_dir``."""
    deadline = time.monotonic() + 30
    while live_pid(run_dir) != proc.pid:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)


def earlier_row(run: Path, acc: float = 90.0) -> dict:
    """A row as an earlier report of the study stored it."""
    from bnnas.report import Row

    return Row(name=run.parent.name, method="hand-made", dataset="fashion-mnist", seed=0,
               epochs=7, test_acc=acc, best_test_acc=acc, bops=1e6, flops=1e4, ops=2.6e4,
               params=1000, model_bytes=500.0, search_seconds=None, train_seconds=60.0,
               command=f"bnnas train --out {run}", search_command=None, run=str(run),
               search_run=None).to_dict()


def write_earlier_report(results: Path, rows: list[dict], searches: tuple = ()) -> None:
    """A rows.json as an earlier report wrote it: its rows and finished searches."""
    results.mkdir(parents=True, exist_ok=True)
    (results / "rows.json").write_text(json.dumps({
        "title": "t", "rows": rows, "summaries": [], "warnings": [],
        "searches": [{"path": str(p), "method": "ubnas", "seed": 0, "finished": True,
                      "search_seconds": 5.0, "command": "bnnas search", "front": []}
                     for p in searches]}))

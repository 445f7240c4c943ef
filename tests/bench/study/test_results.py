"""``study.results``: the report and compare.json rebuilt from the run folders and the
earlier rows.json."""

import json

from study.results import update_results
from study_helpers import earlier_row, write_earlier_report


def test_an_empty_root_keeps_the_earlier_reports_rows(tmp_path):
    root, results = tmp_path / "compare", tmp_path / "results"
    run = root / "bresnet_small-seed0" / "train"
    write_earlier_report(results, [earlier_row(run, 88.5)])
    update_results(root, results, None)
    rows = json.loads((results / "compare.json").read_text())
    assert [(r["name"], r["test_acc"]) for r in rows] == [("bresnet_small-seed0", 88.5)]
    assert "1 run(s) carried" in (results / "report.md").read_text()


def test_nothing_finished_writes_no_report(tmp_path, capsys):
    results = tmp_path / "results"
    update_results(tmp_path / "compare", results, None)
    assert "no report yet: nothing finished" in capsys.readouterr().out
    assert not results.exists()

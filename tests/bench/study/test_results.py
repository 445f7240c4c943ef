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
    goal = json.loads((results / "rows.json").read_text())["goal"]
    # the study's aim, 94% at a tenth of birealnet18's OPs; no birealnet18 row yet
    assert (goal["accuracy"], goal["reference"], goal["divisor"]) == (94.0, "birealnet18", 10)
    assert goal["ops_bound"] is None
    assert goal["rows"][-1]["shortfall"] == 94.0 - 88.5


def test_compare_json_holds_the_published_rows_of_the_table_marked_as_such(tmp_path, capsys):
    root, results = tmp_path / "compare", tmp_path / "results"
    write_earlier_report(results, [earlier_row(root / "bresnet_small-seed0" / "train", 88.5)])
    literature = tmp_path / "literature.yaml"
    literature.write_text('- {name: "ResNet-18 (float)", dataset: fashion-mnist, '
                          'test_acc: 94.9, source: "a paper"}\n')
    update_results(root, results, str(literature))
    rows = {r["name"]: r for r in json.loads((results / "compare.json").read_text())}
    assert set(rows) == {"bresnet_small-seed0", "ResNet-18 (float)"}
    assert rows["ResNet-18 (float)"]["published"] is True
    assert rows["ResNet-18 (float)"]["test_acc"] == 94.9
    assert rows["ResNet-18 (float)"]["source"] == "a paper"
    assert rows["ResNet-18 (float)"]["command"] is None
    assert rows["bresnet_small-seed0"]["published"] is False
    assert "report: 1 networks" in capsys.readouterr().out


def test_nothing_finished_writes_no_report(tmp_path, capsys):
    results = tmp_path / "results"
    update_results(tmp_path / "compare", results, None)
    assert "no report yet: nothing finished" in capsys.readouterr().out
    assert not results.exists()

"""An earlier report's rows.json as an input: rows of runs whose folders are gone come back as
that report measured them, a folder present wins over its earlier row, finished searches keep
their fronts and curves, and a file that is not such a report is one error line."""

import json
import shutil

import pytest
from cli_helpers import assert_user_error, run_cli

from bnnas.errors import ReportError
from bnnas.report.earlier import load_earlier_report


def _report(capsys, out, *inputs):
    code, _, err = run_cli(capsys, "report", *inputs, "--out", out)
    assert code == 0, err
    return json.loads((out / "rows.json").read_text())


@pytest.fixture
def copied(study, tmp_path):
    """A copy of the tiny study (so folders can be removed) and the report made over it."""
    root = tmp_path / "study"
    shutil.copytree(study.root, root)
    return root


def test_rows_of_removed_folders_are_carried_unchanged(copied, tmp_path, capsys):
    first = _report(capsys, tmp_path / "first", copied)
    shutil.rmtree(copied / "hand-seed1")
    shutil.rmtree(copied / "mots-train")
    shutil.rmtree(copied / "mots-search")
    second = _report(capsys, tmp_path / "second", copied, tmp_path / "first" / "rows.json")
    assert sorted(second["rows"], key=lambda r: r["run"]) == \
        sorted(first["rows"], key=lambda r: r["run"])
    assert second["summaries"] == first["summaries"]
    by_path = {s["path"]: s for s in first["searches"]}
    carried = {s["path"]: s for s in second["searches"]}
    assert carried == by_path  # the mots search: its front, generations and command
    mots = carried[str(copied / "mots-search")]
    assert mots["front"] and mots["generations"] and mots["command"].startswith("bnnas search")
    text = (tmp_path / "second" / "report.md").read_text()
    assert "2 run(s) carried from the earlier report" in text
    assert (tmp_path / "second" / "pareto-fronts.png").is_file()


def test_a_folder_that_is_present_wins_over_its_earlier_row(copied, tmp_path, capsys):
    _report(capsys, tmp_path / "first", copied)
    result = copied / "hand-seed0" / "result.json"
    data = json.loads(result.read_text())
    data["test_acc"] = 12.5
    result.write_text(json.dumps(data))
    second = _report(capsys, tmp_path / "second", copied, tmp_path / "first" / "rows.json")
    rows = [r for r in second["rows"] if r["run"] == str(copied / "hand-seed0")]
    assert [r["test_acc"] for r in rows] == [12.5]
    assert "carried" not in (tmp_path / "second" / "report.md").read_text()


def test_unfinished_searches_are_not_carried(copied, tmp_path, capsys):
    data = _report(capsys, tmp_path / "first", copied)
    data["searches"][0]["finished"] = False
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    earlier = load_earlier_report(edited)
    assert len(earlier.searches) == len(data["searches"]) - 1
    assert len(earlier.rows) == len(data["rows"])


def test_rows_written_before_search_seeds_and_controls_get_them(copied, tmp_path, capsys):
    data = _report(capsys, tmp_path / "first", copied)
    searched = {r["run"]: r["search_seed"] for r in data["rows"] if r["method"] != "hand-made"}
    assert searched and set(searched.values()) == {0}  # the smoke searches' seed
    drawn = dict(data["rows"][0], run="/r/mots-seed0/random-ops/train-0",
                 method="random-equal-ops (mots space)")
    data["rows"].append(drawn)
    for item in data["rows"]:
        del item["search_seed"], item["control_of"]
        item["seed"] = 7
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    rows = load_earlier_report(old).rows
    assert {r.run: r.search_seed for r in rows if r.method != "hand-made"} == \
        dict.fromkeys([*searched, drawn["run"]], 7)
    assert {r.search_seed for r in rows if r.method == "hand-made"} == {None}
    # a control beside its search, as bench/compare.py lays them out
    assert {r.run: r.control_of for r in rows if r.control_of} == {
        drawn["run"]: "/r/mots-seed0/search"}


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "not JSON"),
    ('{"title": "x"}', "no 'rows' list"),
    ('{"rows": [{"name": "a"}]}', "rows[0] has no 'method'"),
    ('{"rows": [], "searches": [{"finished": true}]}', "searches[0] has no path"),
])
def test_a_file_that_is_not_a_report_is_one_error_line(tmp_path, capsys, content, fragment):
    path = tmp_path / "rows.json"
    path.write_text(content)
    with pytest.raises(ReportError, match="is not a bnnas report rows.json"):
        load_earlier_report(path)
    code, _, err = run_cli(capsys, "report", path, "--out", tmp_path / "out")
    assert_user_error(code, err, fragment, "rows.json")
    assert not (tmp_path / "out").exists()

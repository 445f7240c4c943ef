"""The table of each method over its search seeds."""

import statistics

import pytest

from bnnas.report.aggregate import aggregate, unseeded_name
from bnnas.report.document import Report
from bnnas.report.html import render_html
from bnnas.report.markdown import render_markdown
from bnnas.report.methods import HEADERS, TITLE, method_seeds
from bnnas.report.rows import Row, control_method


def row(name, method, acc, ops, *, seed=0, search_seed=0, search_run="s", control_of=None,
        search_seconds=100.0):
    return Row(name=name, method=method, dataset="fashion-mnist", seed=seed, epochs=15,
               test_acc=acc, best_test_acc=None, bops=ops * 64, flops=0.0, ops=ops,
               params=1, model_bytes=1.0, search_seconds=search_seconds, train_seconds=1.0,
               command="bnnas train", search_command=None, run=f"{name}-{seed}-{search_seed}",
               search_run=search_run, search_seed=search_seed, control_of=control_of)


def study():
    return aggregate([
        row("mots (best)", "mots", 90.0, 700.0, search_seed=0, search_run="mots-seed0"),
        row("mots (best)", "mots", 91.0, 700.0, seed=1, search_seed=0, search_run="mots-seed0"),
        row("mots (best)", "mots", 90.0, 500.0, seed=1, search_seed=1, search_run="mots-seed1",
            search_seconds=300.0),
        row("ubnas", "ubnas", 89.0, 990.0, search_run="ubnas-seed0"),
        row("random-equal-ops (mots space) #0", control_method("mots"), 95.0, 710.0,
            control_of="mots-seed0"),
        Row(name="bresnet_small", method="hand-made", dataset="fashion-mnist", seed=0,
            epochs=15, test_acc=90.3, best_test_acc=None, bops=1.0, flops=1.0, ops=1.0,
            params=1, model_bytes=1.0, search_seconds=None, train_seconds=1.0,
            command="bnnas train", search_command=None, run="b", search_run=None),
    ])


def test_search_seeds_of_a_method_are_averaged_after_their_training_seeds():
    groups = {g.method: g for g in method_seeds(study())}
    assert set(groups) == {"mots", "ubnas"}  # no control draw, no hand-made network
    mots = groups["mots"]
    assert mots.network == "mots (best)"
    assert [s.search_seed for s in mots.found] == [0, 1]
    mean, std = mots.mean_std("test_acc")
    # search seed 0 is 90.5 over its two trainings, search seed 1 is 90.0
    assert mean == pytest.approx(90.25)
    assert std == pytest.approx(statistics.stdev([90.5, 90.0]))
    assert mots.mean_std("ops") == (600.0, pytest.approx(statistics.stdev([700.0, 500.0])))
    assert mots.cells()[2:5] == ["2", "seed 0: 90.50; seed 1: 90.00", "90.25 ± 0.35"]
    assert groups["ubnas"].mean_std("test_acc") == (89.0, None)
    assert groups["ubnas"].cells()[4] == "89.00"


def test_no_table_while_every_method_has_one_search_seed():
    summaries = [s for s in study() if s.search_seed != 1]
    assert method_seeds(summaries) == []


def test_unseeded_name_undoes_the_search_seed_in_the_name():
    names = {unseeded_name(s) for s in study() if s.method == "mots"}
    assert names == {"mots (best)"}
    assert {s.name for s in study() if s.method == "mots"} == {
        "mots (best) (search seed 0)", "mots (best) (search seed 1)"}


def test_markdown_and_html_show_the_table_and_json_holds_it():
    summaries = study()
    report = Report(title="t", summaries=summaries, methods=method_seeds(summaries))
    text = render_markdown(report, {})
    assert f"## {TITLE}" in text
    assert "| " + " | ".join(HEADERS) + " |" in text
    assert f"<h2>{TITLE}</h2>" in render_html(report, {})
    empty = Report(title="t", summaries=summaries)
    assert TITLE not in render_markdown(empty, {}) + render_html(empty, {})
    seeds = {m["method"]: m["search_seeds"] for m in report.to_dict()["methods"]}
    assert seeds == {"ubnas": [0], "mots": [0, 1]}

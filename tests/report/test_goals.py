"""The accuracy goal: the OPs bound read from the reference row, each method's best network
within it, and the shortfall; on the command line, bad goals are one error line."""

import json

import pytest
from cli_helpers import assert_user_error, run_cli

from bnnas.errors import ReportError
from bnnas.report.aggregate import aggregate
from bnnas.report.goals import ANY, Goal, check_goal
from bnnas.report.rows import Row, control_method


def row(name, method, acc, ops, *, seed=0, search_seed=0, search_run="s", control_of=None,
        epochs=15):
    return Row(name=name, method=method, dataset="fashion-mnist", seed=seed, epochs=epochs,
               test_acc=acc, best_test_acc=None, bops=ops * 64, flops=0.0, ops=ops,
               params=1, model_bytes=1.0, search_seconds=1.0, train_seconds=1.0,
               command="bnnas train", search_command=None, run=f"{name}-{seed}-{search_seed}",
               search_run=search_run, search_seed=search_seed, control_of=control_of)


def hand(name, acc, ops, epochs=15):
    return row(name, "hand-made", acc, ops, search_seed=None, search_run=None, epochs=epochs)


def study():
    return aggregate([
        hand("big", 93.0, 10_000.0),
        hand("small", 90.0, 400.0),
        row("mots (best)", "mots", 90.0, 700.0, search_run="mots-seed0"),
        row("mots (best)", "mots", 91.0, 700.0, seed=1, search_run="mots-seed0"),
        row("mots (best) (seed 1)", "mots", 92.5, 1_500.0, search_seed=1,
            search_run="mots-seed1"),
        row("ubnas", "ubnas", 89.0, 1_200.0, search_run="ubnas-seed0"),
        row("random-equal-ops (mots space) #0", control_method("mots"), 91.2, 710.0,
            control_of="mots-seed0"),
    ])


def test_the_bound_comes_from_the_reference_row_and_each_method_gets_its_best_within_it():
    check = check_goal(Goal(92.0, "big", 10.0), study())
    assert check.bound == pytest.approx(1_000.0)
    rows = {r.group: r for r in check.rows}
    assert list(rows) == ["ubnas", "mots", ANY]  # the control is not a method's network
    mots = rows["mots"]
    # the 92.5% network is over the bound; the other is the mean of its two trainings
    assert mots.best.name == "mots (best)"
    assert mots.best.value("test_acc") == pytest.approx(90.5)
    assert mots.shortfall == pytest.approx(1.5)
    assert mots.verdict() == "missed by 1.50 points"
    assert mots.cells()[2:6] == ["0, 1", "90.50 ± 0.71", "700", "1.50"]
    assert rows["ubnas"].best is None
    assert rows["ubnas"].verdict() == ("no network within the bound "
                                                  "(its best is at 1.20x it)")
    # any network: the random draw is counted there, the big reference is not within bound
    assert rows[ANY].best.name == "random-equal-ops (mots space) #0"
    assert "OPs at most 10.00 k / 10 = 1.00 k (big's, as measured here)" in check.note()


def test_a_network_at_the_goal_meets_it_and_no_bound_admits_every_network():
    check = check_goal(Goal(92.5), study())
    assert check.bound is None
    rows = {r.group: r for r in check.rows}
    assert rows["mots"].best.value("test_acc") == 92.5
    assert rows["mots"].shortfall == 0 and rows["mots"].verdict() == "met"
    assert rows[ANY].best.name == "big"
    assert "no OPs bound" in check.note()


def test_the_reference_is_found_by_its_own_name_when_its_lines_name_their_epochs():
    summaries = aggregate([hand("big", 93.0, 10_000.0), hand("big", 93.5, 10_000.0, epochs=45),
                           row("ubnas", "ubnas", 89.0, 900.0)])
    assert {s.name for s in summaries} >= {"big (15 epochs)", "big (45 epochs)"}
    assert check_goal(Goal(92.0, "big", 10.0), summaries).bound == pytest.approx(1_000.0)


def test_an_unmeasured_reference_applies_no_bound_and_says_so():
    check = check_goal(Goal(94.0, "birealnet18", 10.0), study())
    assert check.bound is None
    assert "no measured row is named 'birealnet18'" in check.note()
    assert check_goal(Goal(94.0), []) is None


@pytest.mark.parametrize(("acc", "ops_of", "message"), [
    (0.0, None, "not a percentage"),
    (101.0, None, "not a percentage"),
    (94.0, "birealnet18/0", "not NAME/N"),
    (94.0, "birealnet18/ten", "not NAME/N"),
    (94.0, "/10", "not NAME/N"),
])
def test_bad_goals_are_refused(acc, ops_of, message):
    with pytest.raises(ReportError, match=message):
        Goal.parse(acc, ops_of)


def test_goals_parse():
    assert Goal.parse(94, "birealnet18/10") == Goal(94.0, "birealnet18", 10.0)
    assert Goal.parse(94, "birealnet18") == Goal(94.0, "birealnet18", 1.0)
    assert Goal.parse(94, None) == Goal(94.0)


def test_report_shows_the_goal(study, tmp_path, capsys):
    out = tmp_path / "out"
    reference = "bresnet_small(blocks_per_stage=1)"  # the hand-made network of the study
    code, _, err = run_cli(capsys, "report", study.root, "--out", out, "--goal-acc", "99",
                           "--goal-ops-of", f"{reference}/2")
    assert code == 0, err
    data = json.loads((out / "rows.json").read_text())
    hand_ops = next(s["ops"] for s in data["summaries"] if s["name"] == reference)
    assert data["goal"]["ops_bound"] == pytest.approx(hand_ops / 2)
    rows = {r["networks"]: r for r in data["goal"]["rows"]}
    assert set(rows) == {"ubnas", "mots", ANY}
    assert rows[ANY]["best"] not in (None, reference)  # the reference is over half its OPs
    for r in rows.values():
        if r["best"] is not None:
            assert r["ops"] <= hand_ops / 2
            assert r["shortfall"] == pytest.approx(99 - r["test_acc"])
    assert "## Accuracy goal" in (out / "report.md").read_text()
    assert "<h2>Accuracy goal</h2>" in (out / "report.html").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["--goal-ops-of", "x/10"], "needs --goal-acc"),
    (["--goal-acc", "140"], "not a percentage"),
    (["--goal-acc", "94", "--goal-ops-of", "x/-1"], "not NAME/N"),
])
def test_bad_goal_options_are_one_error_line(study, tmp_path, capsys, args, message):
    code, _, err = run_cli(capsys, "report", study.hand[0], "--out", tmp_path / "o", *args)
    assert_user_error(code, err, message, alone=True)
    assert not (tmp_path / "o").exists()

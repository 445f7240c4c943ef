"""A searched network against the trained networks of its random control: pairing by search
folder and OPs, margin and verdict, and the section of a real report over a drawn control."""

import json

import pytest

from bnnas.cli import main
from bnnas.report.aggregate import Summary
from bnnas.report.controls import control_comparisons
from bnnas.search.random_arch import write_controls


def summary(name, acc, ops, *, search_run=None, control_of=None, epochs=15, std=None):
    return Summary(name=name, method="m", dataset="fashion-mnist", epochs=epochs, seeds=[0],
                   search_run=search_run, control_of=control_of,
                   mean={"test_acc": acc, "ops": ops}, std={"test_acc": std})


def draws(search, *accs, ops=9e5, epochs=15):
    return [summary(f"random-equal-ops (bars space) #{k}", acc, ops, control_of=search,
                    epochs=epochs) for k, acc in enumerate(accs)]


def test_margin_and_verdict_against_the_best_draw():
    found = summary("bars", 89.81, 9.2e5, search_run="/s/bars", std=0.1)
    (pair,) = control_comparisons([found, *draws("/s/bars", 89.15, 89.90, 89.50)])
    assert pair.network is found and pair.best_draw.name.endswith("#1")
    assert pair.margin == pytest.approx(-0.09)
    assert pair.beaten_by == 1
    assert pair.verdict() == "beaten by 1 of 3 draws, within the seed spread"  # 0.09 < 0.10
    cells = pair.cells()
    assert cells[2] == "89.81 ± 0.10" and cells[6] == "-0.09" and cells[7] == "0.10"
    assert cells[4].startswith("#0 89.15 (900.0 k); #1 89.90")
    (alone,) = control_comparisons([found, *draws("/s/bars", 89.15)])
    assert alone.verdict() == "beats its 1 draw" and alone.to_dict()["margin"] == \
        pytest.approx(0.66)
    (tie,) = control_comparisons([found, *draws("/s/bars", 89.81, 80.0)])
    assert tie.verdict() == "beaten by 1 of 2 draws, within the seed spread"  # a tie loses


def test_the_seed_spread_is_the_widest_among_the_network_and_its_draws():
    """Unknown while every network has one seed; else the largest std, and a margin inside
    it is said to be so."""
    one_seed = summary("bars", 89.81, 9.2e5, search_run="/s/bars")
    (pair,) = control_comparisons([one_seed, *draws("/s/bars", 89.15, 89.76)])
    assert pair.seed_spread is None and pair.cells()[7] == "–"
    assert pair.verdict() == "beats all 2 draws"
    spread_draws = draws("/s/bars", 89.33, 89.76)
    spread_draws[0].std["test_acc"] = 0.25
    two_seeds = summary("bars", 89.89, 9.2e5, search_run="/s/bars", std=0.11)
    (pair,) = control_comparisons([two_seeds, *spread_draws])
    assert pair.seed_spread == pytest.approx(0.25)
    assert pair.verdict() == "beats all 2 draws, within the seed spread"
    assert pair.to_dict()["seed_spread"] == pytest.approx(0.25)
    (clear,) = control_comparisons([two_seeds, *draws("/s/bars", 89.33, 89.50)])
    assert clear.verdict() == "beats all 2 draws"  # 0.39 points against a spread of 0.11


def test_pairs_by_search_folder_epochs_and_nearest_ops():
    small = summary("mots [cells=5]", 90.0, 7.5e5, search_run="/s/mots")
    large = summary("mots", 91.0, 4e6, search_run="/s/mots")
    other = summary("ubnas", 89.0, 9.9e5, search_run="/s/ubnas")
    pairs = control_comparisons([
        other, large, small, *draws("/s/mots", 89.0, ops=7.2e5),
        *draws("/s/mots", 88.0, epochs=5), *draws("/s/gone", 95.0)])
    assert [(p.network.name, len(p.draws)) for p in pairs] == [("mots [cells=5]", 1)]
    assert control_comparisons([other]) == []


def test_report_pairs_a_trained_control_with_the_network_it_was_drawn_against(
        study, tmp_path, capsys):
    control = tmp_path / "ctl" / "random-ops"
    write_controls(study.ubnas / "genotype.json", None, "ubnas", study.ubnas / "config.yaml", 0,
                   2, 0.5, control)
    for k in range(2):
        assert main(["train", *study.train_args, "--genotype",
                     str(control / f"genotype-{k}.json"), "--out", str(control / f"train-{k}")]
                    ) == 0
    out = tmp_path / "report"
    assert main(["report", str(study.root), str(tmp_path / "ctl"), "--out", str(out)]) == 0
    capsys.readouterr()
    data = json.loads((out / "rows.json").read_text())
    rows = {r["run"]: r for r in data["rows"]}
    assert {rows[str(control / f"train-{k}")]["control_of"] for k in range(2)} == \
        {str(study.ubnas)}
    accs = [json.loads((control / f"train-{k}" / "result.json").read_text())["test_acc"]
            for k in range(2)]
    found = json.loads((study.ubnas_train / "result.json").read_text())["test_acc"]
    (pair,) = data["controls"]
    assert pair["network"] == "ubnas" and len(pair["draws"]) == 2
    assert pair["margin"] == pytest.approx(found - max(accs))
    assert pair["beaten_by"] == sum(a >= found for a in accs)
    text = (out / "report.md").read_text()
    assert "## Searched networks against random networks of equal OPs" in text
    assert "Searched networks against random networks of equal OPs</h2>" in \
        (out / "report.html").read_text()

"""Mean ± sample std over seeds, grouping, and the Pareto-optimal set."""

import statistics

import pytest

from bnnas.report.aggregate import aggregate, pareto_optimal, unseeded_name
from bnnas.report.rows import Row


def row(name="net", seed=0, acc=80.0, method="hand-made", epochs=30, ops=1e5, search=None,
        search_seed=None):
    return Row(name=name, method=method, dataset="fashion-mnist", seed=seed, epochs=epochs,
               test_acc=acc, best_test_acc=acc + 1, bops=64 * ops, flops=0.0, ops=ops,
               params=1000, model_bytes=500.0, search_seconds=search, train_seconds=60.0,
               command=f"bnnas train --seed {seed}", search_command=None,
               run=f"runs/{name}-{seed}-{search_seed}", search_run=None,
               search_seed=search_seed)


def test_two_seeds_mean_and_sample_std():
    (summary,) = aggregate([row(seed=1, acc=90.0), row(seed=0, acc=86.0)])
    assert summary.seeds == [0, 1]
    assert summary.commands == ["bnnas train --seed 0", "bnnas train --seed 1"]
    assert summary.mean["test_acc"] == 88.0
    assert summary.std["test_acc"] == pytest.approx(statistics.stdev([86.0, 90.0]))
    assert summary.std["test_acc"] == pytest.approx(2.8284271, rel=1e-6)  # n - 1, not n
    assert summary.std["ops"] == 0.0
    assert summary.mean["search_seconds"] is None and summary.std["search_seconds"] is None
    flat = summary.to_dict()
    assert flat["test_acc"] == 88.0 and flat["command"] == "bnnas train --seed 0"
    assert flat["runs"] == 2 and flat["published"] is False


def test_one_seed_has_no_std_and_partial_values_average_what_exists():
    (one,) = aggregate([row(search=100.0)])
    assert one.std["test_acc"] is None
    (mixed,) = aggregate([row(seed=0, search=100.0), row(seed=1, search=None)])
    assert mixed.mean["search_seconds"] == 100.0


def test_retrains_of_one_found_network_average_and_another_search_seed_is_its_own_line():
    summaries = aggregate([
        row("mots (best)", method="mots", seed=0, acc=90.0, search_seed=0),
        row("mots (best)", method="mots", seed=1, acc=91.0, search_seed=0),
        row("mots (best)", method="mots", seed=1, acc=85.0, search_seed=1),
    ])
    assert [(s.name, s.search_seed, s.seeds, s.mean["test_acc"]) for s in summaries] == [
        ("mots (best) (search seed 0)", 0, [0, 1], 90.5),
        ("mots (best) (search seed 1)", 1, [1], 85.0)]
    assert summaries[0].to_dict()["search_seed"] == 0
    (alone,) = aggregate([row("ubnas", method="ubnas", seed=1, search_seed=0)])
    assert alone.name == "ubnas"  # one search seed: the name says no more


def test_groups_by_name_dataset_and_epochs_searched_methods_first():
    summaries = aggregate([
        row("bresnet_small"), row("bresnet_small", epochs=5), row("mots (best)", method="mots"),
        row("ubnas", method="ubnas"), row("bresnet_small", seed=1),
    ])
    assert [(s.name, s.epochs, s.runs) for s in summaries] == [
        ("ubnas", 30, 1), ("mots (best)", 30, 1), ("bresnet_small (5 epochs)", 5, 1),
        ("bresnet_small (30 epochs)", 30, 2),
    ]
    assert {s.plain_name for s in summaries[2:]} == {"bresnet_small"}


def test_a_longer_retrain_of_a_found_network_is_named_apart_from_its_other_seeds():
    summaries = aggregate([
        row("mots (best)", method="mots", seed=1, epochs=15, acc=92.2, search_seed=1),
        row("mots (best)", method="mots", seed=1, epochs=30, acc=92.8, search_seed=1),
        row("mots (best)", method="mots", seed=0, epochs=15, acc=90.6, search_seed=0),
        row("mots (best)", method="mots", seed=1, epochs=100, acc=93.0, search_seed=1),
    ])
    assert [s.name for s in summaries] == [
        "mots (best) (15 epochs) (search seed 0)",
        "mots (best) (15 epochs) (search seed 1)",
        "mots (best) (30 epochs)",
        "mots (best) (100 epochs)",  # ordered by epochs, not by the text of the name
    ]
    assert len({s.name for s in summaries}) == len(summaries)
    # the 15-epoch lines of both search seeds stay one network for the methods table
    assert {unseeded_name(s) for s in summaries[:2]} == {"mots (best) (15 epochs)"}


def test_pareto_optimal_points():
    points = [(1.0, 80.0), (2.0, 85.0), (2.0, 84.0), (3.0, 85.0), (0.5, 70.0), (4.0, 90.0)]
    assert pareto_optimal(points) == [4, 0, 1, 5]
    assert pareto_optimal([(1.0, 1.0), (1.0, 1.0)]) == [0, 1]  # ties beat nobody
    assert pareto_optimal([]) == []

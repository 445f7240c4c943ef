"""Cells of the report table."""

from bnnas.report.aggregate import Summary
from bnnas.report.table import HEADERS, cells, format_duration


def test_durations():
    assert format_duration(None) == "–"
    assert format_duration(45.4) == "45 s"
    assert format_duration(600) == "10.0 min"
    assert format_duration(4 * 3600) == "4.00 h"


def test_mean_and_std_cells():
    summary = Summary(
        name="ubnas", method="ubnas", dataset="fashion-mnist", epochs=30, seeds=[0, 1],
        mean={"test_acc": 88.123, "bops": 9.86e6, "model_bytes": 91304.0,
              "search_seconds": 3 * 3600.0, "train_seconds": 1500.0},
        std={"test_acc": 0.5, "bops": 0.0, "model_bytes": 0.0},
        commands=["bnnas train --seed 0", "bnnas train --seed 1"],
    )
    row = dict(zip(HEADERS, cells(summary), strict=True))
    assert row["test acc (%)"] == "88.12 ± 0.50"
    assert row["BOPs"] == "9.86 M"  # a zero std is not shown
    assert row["size"] == "89.16 KiB"
    assert row["search time"] == "3.00 h" and row["train time"] == "25.0 min"
    assert row["seeds"] == "0, 1" and row["FLOPs"] == "–"
    assert row["command"].startswith("bnnas train --seed 0  (first seed; 1 more")


def test_seeds_cell_names_the_search_seed_only_when_retrained_with_others():
    def seeds_cell(seeds, search_seed):
        summary = Summary(name="bars", method="bars", dataset="fashion-mnist", epochs=15,
                          seeds=seeds, search_seed=search_seed, mean={"test_acc": 89.0})
        return dict(zip(HEADERS, cells(summary), strict=True))["seeds"]

    assert seeds_cell([0, 1], 0) == "0, 1 (found with seed 0)"
    assert seeds_cell([1], 1) == "1"
    assert seeds_cell([0, 1], None) == "0, 1"  # a hand-made network

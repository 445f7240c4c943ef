"""The summary table: human units, and an exact golden snapshot of one zoo model."""

import os
import re
from pathlib import Path

import pytest
from torch import nn

from bnnas.metrics import format_bytes, format_count, profile, summary_table
from bnnas.models import create_model

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(
    "n,text",
    [
        (1.68e9, "1.68 G"),
        (1.392e8, "139.2 M"),
        (4_816_896_000, "4.82 G"),
        (11_862_016, "11.86 M"),
        (999_999_999, "1.00 G"),
        (99_999, "100.0 k"),
        (1000, "1.00 k"),
        (512, "512"),
        (0, "0"),
        (290.5, "290.50"),
        (2.5e12, "2.50 T"),
        (-3_000_000, "-3.00 M"),
    ],
)
def test_format_count(n, text):
    assert format_count(n) == text


def test_format_bytes():
    assert format_bytes(812) == "812 B"
    assert format_bytes(44_544) == "43.50 KiB"
    assert format_bytes(4_204_704) == "4.01 MiB"


def test_table_has_a_row_per_layer_and_the_totals():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    text = summary_table(profile(model, (1, 4, 4)))
    lines = text.splitlines()
    assert lines[0] == "Profile for an input of 1x4x4 (batch of 1, eval mode)"
    assert sum(line.startswith("| 0 ") or line.startswith("| 3 ") for line in lines) == 2
    # conv: 2x2x2 outputs x 9 taps = 72 MACs; linear 8 x 3 = 24.
    assert re.search(r"^FLOPs \(real MACs\) +96  \(96\)$", text, re.MULTILINE)
    assert re.search(r"^BOPs \(binary MACs\) +0  \(0\)$", text, re.MULTILINE)
    assert all(line == line.rstrip() for line in lines)
    assert len({len(line) for line in lines[1:6]}) == 1  # the table is rectangular


def test_golden_summary_of_bresnet_small():
    """The whole table of a zoo model, byte for byte.

    After an intended change to the model or the table, regenerate with
    ``BNNAS_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/metrics/test_table.py`` and review
    the diff of tests/metrics/golden/ before committing it.
    """
    path = GOLDEN / "bresnet_small_1x28x28.txt"
    text = summary_table(profile(create_model("bresnet_small"), (1, 28, 28)))
    if os.environ.get("BNNAS_UPDATE_GOLDEN") == "1":
        path.write_text(text)
        pytest.skip(f"rewrote {path}")
    assert path.exists(), f"{path} is missing; create it with BNNAS_UPDATE_GOLDEN=1"
    expected = path.read_text()
    assert text == expected, (
        f"summary table differs from {path}; if the change is intended, rerun with "
        "BNNAS_UPDATE_GOLDEN=1 and review the diff"
    )

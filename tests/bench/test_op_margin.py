"""``bench/op_margin.py``: per-epoch margins of the op distributions from ``alphas.jsonl``."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("bench_op_margin", REPO / "bench" / "op_margin.py")
op_margin = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = op_margin
SPEC.loader.exec_module(op_margin)


def _cell(op):
    return {"nodes": [[[op, 0], [op, 1]]], "concat": [2]}


def test_margins_per_cell_and_epoch(tmp_path):
    lines = [
        {"epoch": 1, "alphas_normal": [[0.25] * 4, [0.25] * 4], "alphas_reduce": [[0.25] * 4],
         "genotype": {"normal": _cell("a"), "reduce": _cell("b")}},
        {"epoch": 2, "alphas_normal": [[0.7, 0.1, 0.1, 0.1], [0.4, 0.3, 0.2, 0.1]],
         "alphas_reduce": [[0.3, 0.3, 0.2, 0.2]],
         "genotype": {"normal": _cell("a"), "reduce": _cell("a")}},
    ]
    (tmp_path / "alphas.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    first, second = op_margin.margins(tmp_path)
    assert (first["normal"], first["reduce"], first["ops"]) == (0.0, 0.0, ["a", "b"])
    assert second["normal"] == pytest.approx((0.6 + 0.1) / 2)
    assert second["reduce"] == 0.0 and second["ops"] == ["a"]
    assert second["decisive"] == 0.5 / 4
    assert second["first_edge"] == [0.1, 0.7]

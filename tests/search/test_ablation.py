import json
from pathlib import Path

import pytest

from bnnas.errors import ConfigError
from bnnas.search.ablation import run_structure_ablation

TINY = [
    "data.batch_size=32", "space.cells=3", "space.channels=8", "space.steps=2",
    "space.partial_k_normal=2", "space.partial_k_reduce=2", "arch.warmup_epochs=0",
    "epochs=1", "early_stop.skip_connects=null", "early_stop.stable_epochs=null",
]
STRUCTURES = ["sign-conv-bn+shortcut", "bn-sign-conv+rprelu"]


def test_ablation_runs_each_structure_and_resumes_without_rework(tmp_path, tiny_dataset):
    rows = run_structure_ablation(tmp_path, STRUCTURES, None, TINY, retrain_epochs=1,
                                  dataset=tiny_dataset, progress=False)
    assert [r["structure"] for r in rows] == STRUCTURES
    for row in rows:
        assert 0 <= row["test_acc"] <= 100 and row["bops"] > 0 and row["params"] > 0
        genotype = json.loads(Path(row["genotype"]).read_text())
        assert genotype["structure"] == row["structure"]
    table = (tmp_path / "ablation.md").read_text()
    assert all(f"`{s}`" in table for s in STRUCTURES)
    # The two structures build different networks (RPReLU adds parameters, no shortcut).
    assert rows[0]["params"] != rows[1]["params"]

    stamp = (tmp_path / "sign-conv-bn_shortcut" / "train" / "final.pt").stat().st_mtime_ns
    again = run_structure_ablation(tmp_path, STRUCTURES, None, TINY, retrain_epochs=1,
                                   dataset=tiny_dataset, progress=False)
    assert again == rows
    assert (tmp_path / "sign-conv-bn_shortcut" / "train" / "final.pt").stat().st_mtime_ns == stamp


def test_bad_structure_fails_before_any_work(tmp_path, tiny_dataset):
    with pytest.raises(ConfigError):
        run_structure_ablation(tmp_path, ["sign-conv-bn", "conv-sign"], None, TINY,
                               dataset=tiny_dataset, progress=False)
    assert not any(p.is_dir() for p in tmp_path.iterdir())


def test_cli_ablate_writes_the_table_and_refuses_a_foreign_resume(tmp_path, capsys):
    from bnnas.cli import main

    out = tmp_path / "ab"
    code = main(["ablate", "--config", "configs/ubnas-smoke.yaml", "--out", str(out),
                 "--structures", "sign-conv-bn+shortcut", "--retrain-epochs", "1",
                 "--no-progress", "--set", "epochs=1", "--set", "data.limit=256",
                 "--set", "space.final_cells=2", "--set", "space.final_channels=4"])
    assert code == 0 and "`sign-conv-bn+shortcut`" in capsys.readouterr().out
    assert json.loads((out / "ablation.json").read_text())[0]["search_epochs"] == 1
    assert main(["ablate", "--resume", str(tmp_path)]) == 2
    assert "not an ablation folder" in capsys.readouterr().err

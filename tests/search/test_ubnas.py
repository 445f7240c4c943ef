import json
import logging
import shutil

import pytest
import torch

from bnnas.cli import main
from bnnas.config import load_config
from bnnas.errors import ConfigError
from bnnas.search.config import UBNASConfig
from bnnas.search.ubnas import UBNASSearch
from bnnas.space.genotype import Genotype
from bnnas.train.checkpoint import load_checkpoint

TINY = [
    "data.batch_size=32", "space.cells=3", "space.channels=8", "space.steps=2",
    "space.partial_k_normal=2", "space.partial_k_reduce=2", "arch.warmup_epochs=1",
    "arch.lr=0.01", "optim.lr=0.005", "early_stop.skip_connects=null",
    "early_stop.stable_epochs=null",
]


def _search(tmp_path, dataset, name, *extra):
    config = load_config(UBNASConfig, overrides=[*TINY, *extra])
    run = tmp_path / name
    run.mkdir()
    search = UBNASSearch(config, run, dataset=dataset, progress=False)
    return search, search.run(), run


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_search_writes_genotype_history_plots_and_follows_the_k_schedule(tmp_path,
                                                                          tiny_dataset):
    search, result, run = _search(tmp_path, tiny_dataset, "s", "epochs=3",
                                  "space.k_schedule=[[2, 1, 1]]", "space.final_cells=4")
    genotype = Genotype.load(run / "genotype.json")
    assert genotype.layout.cells == 4 and genotype.layout.channels == 8
    assert all(op != "none" for node in genotype.normal.nodes for op, _ in node)
    metrics = _lines(run / "metrics.jsonl")
    assert [m["k_normal"] for m in metrics] == [2, 2, 1]
    assert [m["arch_updated"] for m in metrics] == [False, True, True]
    alphas = _lines(run / "alphas.jsonl")
    assert len(alphas) == 3 and len(alphas[0]["alphas_normal"]) == 5  # 2 + 3 edges
    assert alphas[0]["alphas_normal"] == alphas[0]["alphas_normal"]
    # Warm-up epoch: architecture untouched; later epochs move it.
    assert alphas[1]["alphas_normal"] != alphas[2]["alphas_normal"]
    for png in ("normal.png", "reduce.png", "alphas.png"):
        assert (run / png).stat().st_size > 1000
    assert result["epochs_run"] == 3 and result["stopped_by"] is None
    assert "alphas_normal" in load_checkpoint(run / "checkpoints" / "epoch-0003.pt")["model"]


def test_early_stop_by_stable_genotype_saves_epochs(tmp_path, tiny_dataset):
    # A vanishing architecture learning rate keeps the derived genotype fixed.
    _, result, run = _search(tmp_path, tiny_dataset, "s", "epochs=8", "arch.lr=1e-9",
                             "early_stop.stable_epochs=2")
    assert result["stopped_by"] == "stable_epochs"
    assert result["epochs_run"] == 4 and result["epochs_saved"] == 4
    assert len(_lines(run / "metrics.jsonl")) == 4
    assert "unchanged for 2 epochs" in result["stop_detail"]


def test_a_stop_on_a_near_tie_warns_and_decisive_waits_for_a_choice(tmp_path, tiny_dataset,
                                                                    caplog):
    # A vanishing architecture learning rate leaves the op distributions uniform.
    with caplog.at_level(logging.WARNING, logger="bnnas"):
        _, result, _ = _search(tmp_path, tiny_dataset, "tie", "epochs=5", "arch.lr=1e-9",
                               "early_stop.stable_epochs=2")
    assert result["stopped_by"] == "stable_epochs"
    assert result["op_margin"] < 0.001 < result["op_margin_decisive"] == 0.5 / 8  # 8 ops
    assert [r for r in caplog.records if "near-tie" in r.getMessage()]
    _, strict, _ = _search(tmp_path, tiny_dataset, "strict", "epochs=5", "arch.lr=1e-9",
                           "early_stop.stable_epochs=2", "early_stop.decisive=true")
    assert strict["stopped_by"] is None and strict["epochs_run"] == 5


def test_resume_after_a_crash_gives_the_same_genotype(tmp_path, tiny_dataset):
    _, _, full = _search(tmp_path, tiny_dataset, "full", "epochs=3", "keep_checkpoints=3")
    crashed = tmp_path / "crashed"
    shutil.copytree(full, crashed)
    (crashed / "checkpoints" / "epoch-0003.pt").unlink()
    (crashed / "genotype.json").unlink()
    config = load_config(UBNASConfig, overrides=[*TINY, "epochs=3", "keep_checkpoints=3"])
    search = UBNASSearch(config, crashed, dataset=tiny_dataset, progress=False)
    assert search.resume() and search.epoch == 2
    search.run()
    assert (crashed / "genotype.json").read_text() == (full / "genotype.json").read_text()
    a = load_checkpoint(full / "checkpoints" / "epoch-0003.pt")["model"]
    b = load_checkpoint(crashed / "checkpoints" / "epoch-0003.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a if torch.is_tensor(a[k]))
    strip = [{k: v for k, v in r.items() if k != "epoch_seconds"}
             for r in _lines(full / "metrics.jsonl")]
    assert strip == [{k: v for k, v in r.items() if k != "epoch_seconds"}
                     for r in _lines(crashed / "metrics.jsonl")]


def test_second_order_search_moves_alphas_differently(tmp_path, tiny_dataset):
    first, _, _ = _search(tmp_path, tiny_dataset, "first", "epochs=2")
    second, _, _ = _search(tmp_path, tiny_dataset, "second", "epochs=2", "arch.order=second")
    assert not torch.equal(first.model.alphas_normal, second.model.alphas_normal)
    assert torch.isfinite(second.model.alphas_normal).all()


def test_k_that_does_not_divide_the_channels_is_refused(tmp_path, tiny_dataset):
    config = load_config(UBNASConfig, overrides=[*TINY, "space.partial_k_normal=3"])
    with pytest.raises(ConfigError, match="K=3"):
        UBNASSearch(config, tmp_path, dataset=tiny_dataset, progress=False)


@pytest.mark.parametrize("override,message", [
    ("space.k_schedule=[[2, 2]]", "k_schedule entries"),
    ("space.k_schedule=[[3, 2, 2], [1, 1, 1]]", "epochs must increase"),
    ("data.val_fraction=1.0", "val_fraction"),
    ("arch.order=third", "arch.order"),
    ("space.ops=[bin_conv_3x3]", "at least two"),
])
def test_invalid_search_configs(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(UBNASConfig, overrides=[override])


def test_cli_smoke_search_then_retrain_the_genotype(tmp_path, capsys):
    run = tmp_path / "search"
    code = main(["search", "--config", "configs/ubnas-smoke.yaml", "--out", str(run),
                 "--no-progress", "--set", "epochs=2", "--set", "data.limit=256",
                 "--set", "space.final_cells=2", "--set", "space.final_channels=4"])
    out = capsys.readouterr().out
    assert code == 0 and "genotype" in out
    assert (run / "method.txt").read_text().strip() == "ubnas"
    train = tmp_path / "train"
    code = main(["train", "--genotype", str(run / "genotype.json"), "--out", str(train),
                 "--epochs", "1", "--no-progress", "--set", "data.batch_size=500"])
    assert code == 0
    assert json.loads((train / "result.json").read_text())["test_acc"] > 0
    # Resuming a finished search is a no-op that rewrites the same genotype.
    before = (run / "genotype.json").read_text()
    assert main(["search", "--resume", str(run), "--no-progress"]) == 0
    assert (run / "genotype.json").read_text() == before


def test_cli_resume_of_a_train_run_is_not_a_search(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("{}\n")
    assert main(["search", "--resume", str(tmp_path)]) == 2
    assert "not a search run folder" in capsys.readouterr().err


def test_search_data_smaller_than_a_batch_is_refused(tmp_path, tiny_dataset):
    config = load_config(UBNASConfig, overrides=[*TINY, "data.limit=40"])
    with pytest.raises(ConfigError, match="fewer than data.batch_size=32"):
        UBNASSearch(config, tmp_path, dataset=tiny_dataset, progress=False)

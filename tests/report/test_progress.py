import json

import yaml

from bnnas.report.progress import train_progress
from bnnas.report.searches import load_search


def _run(path, config: str, **logs):
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(config)
    for name, records in logs.items():
        (path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_train_progress_counts_the_last_epoch_and_its_test_accuracy(tmp_path):
    run = _run(tmp_path / "t", "optim:\n  epochs: 15\n", metrics=[
        {"epoch": 1, "test_acc": 80.0}, {"epoch": 2, "test_acc": 85.5},
        {"epoch": 2, "test_acc": 86.25}])  # epoch 2 again after a resume: its last record
    assert train_progress(run) == "epoch 2 of 15 done, test acc 86.25% after it"
    fresh = _run(tmp_path / "f", "optim:\n  epochs: 30\n")
    assert train_progress(fresh) == "no epoch of 30 done yet"
    unplanned = _run(tmp_path / "u", "optim: 7\n", metrics=[{"epoch": 4}])
    assert train_progress(unplanned) == "epoch 4 of ? done"


def _search(path, method, config: dict, **logs):
    run = _run(path, yaml.safe_dump(config), **logs)
    (run / "method.txt").write_text(method + "\n")
    return load_search(run).progress


def test_search_progress_by_method(tmp_path):
    assert _search(tmp_path / "b", "bars", {"epochs": 15},
                   metrics=[{"epoch": 1}, {"epoch": 3}]) == "epoch 3 of 15 done"
    config = {"supernet": {"stage1_epochs": 10}, "evolution": {"generations": 20}}
    assert _search(tmp_path / "m1", "mots", config, metrics=[
        {"epoch": 1, "stage": 1}, {"epoch": 4, "stage": 1}]) == \
        "supernet epoch 4 of 10 done, then 20 generations"
    evolving = {"metrics": [{"epoch": 10, "stage": 1}],
                "history": [{"generation": 1}, {"generation": 7}]}
    assert _search(tmp_path / "m2", "random", config, **evolving) == "generation 7 of 20 done"
    assert _search(tmp_path / "u", "ubnas", {"epochs": 25}, **evolving) == \
        "epoch 10 of 25 done"

"""Finding run folders, resolving a genotype back to its search, reading search logs."""

import json

import pytest

from bnnas.errors import ReportError
from bnnas.report.folders import find_run_folders, read_jsonl, search_folder_of
from bnnas.report.searches import load_search


def make_run(path, *, method=None, result=True, seed=0):
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(f"seed: {seed}\n")
    if method:
        (path / "method.txt").write_text(method + "\n")
    if result:
        (path / "result.json").write_text(json.dumps({"search_seconds": 12.5}))
    return path


def test_classifies_runs_found_at_any_depth_and_skips_set_aside_folders(tmp_path):
    search = make_run(tmp_path / "a-seed0" / "search", method="ubnas")
    train = make_run(tmp_path / "a-seed0" / "train")
    running = make_run(tmp_path / "b-seed0" / "train", result=False)
    make_run(tmp_path / "a-seed0" / "train.replaced-20260101-000000")
    make_run(tmp_path / "a-seed0" / "search" / "checkpoints" / "x")  # inside a run: not a run
    found = find_run_folders([tmp_path, train])  # a folder named twice counts once
    assert found.search == [search] and found.train == [train]
    assert found.unfinished == [running]


def test_not_a_folder_and_no_runs(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ReportError, match="is neither a folder nor"):
        find_run_folders([tmp_path / "file"])
    with pytest.raises(ReportError, match="holds none"):
        find_run_folders([tmp_path])
    with pytest.raises(ReportError, match="no run folders"):
        find_run_folders([])


def test_genotype_path_relative_to_a_folder_above_the_run(tmp_path, monkeypatch):
    search = make_run(tmp_path / "study" / "s", method="mots")
    (search / "pareto.json").write_text("{}")
    train = make_run(tmp_path / "study" / "t")
    monkeypatch.chdir(tmp_path / "study" / "t")  # neither cwd nor the run holds "study/s"
    assert search_folder_of("study/s/pareto.json", train).resolve() == search.resolve()
    assert search_folder_of(str(search / "pareto.json"), train) == search
    assert search_folder_of("study/s/missing.json", train) is None
    hand_written = tmp_path / "g.json"
    hand_written.write_text("{}")
    assert search_folder_of(str(hand_written), train) is None  # no method.txt beside it
    assert search_folder_of(None, train) is None


def test_search_logs_are_deduplicated_and_a_running_search_is_read(tmp_path):
    search = make_run(tmp_path / "s", method="ubnas", result=False, seed=3)
    lines = [{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 1.9},
             {"epoch": 2, "train_loss": 1.5}]  # epoch 2 again after a resume
    (search / "metrics.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in lines) + '{"epoch": 3, "tra')
    run = load_search(search)
    assert not run.finished and run.search_seconds is None and run.seed == 3
    assert [r["train_loss"] for r in run.epochs] == [2.0, 1.5]
    assert run.label == "ubnas seed 3 (unfinished)"
    assert run.status == "unfinished: epoch 2 of ? done"  # the config plans no epochs
    assert run.command() == f"bnnas search --method ubnas --config {search / 'config.yaml'}"
    assert len(read_jsonl(search / "metrics.jsonl")) == 3  # the cut line ends the log

import os

import pytest

from bnnas.errors import RunFolderError
from bnnas.runs import MetricsLog, create_run_dir, default_run_dir, existing_run_dir


def test_existing_folder_is_never_clobbered(tmp_path):
    run = create_run_dir(tmp_path / "run")
    (run / "precious.txt").write_text("keep me")
    with pytest.raises(RunFolderError, match="already exists.*--resume"):
        create_run_dir(run)
    assert (run / "precious.txt").read_text() == "keep me"


def test_overwrite_moves_the_old_folder_aside(tmp_path):
    run = create_run_dir(tmp_path / "run")
    (run / "precious.txt").write_text("keep me")
    create_run_dir(run, overwrite=True)
    assert list(run.iterdir()) == []
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.replaced-")]
    assert len(aside) == 1 and (aside[0] / "precious.txt").read_text() == "keep me"


def test_file_and_symlink_outputs_are_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="not a folder"):
        create_run_dir(tmp_path / "file")
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.symlink(target, tmp_path / "link")
    with pytest.raises(RunFolderError, match="not a folder"):
        create_run_dir(tmp_path / "link")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_parent_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(RunFolderError, match="cannot write"):
        create_run_dir(locked / "run")


def test_unwritable_path_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="cannot write"):
        create_run_dir(tmp_path / "file" / "run")


def test_default_run_dirs_are_unique(tmp_path):
    first = create_run_dir(default_run_dir("train", tmp_path))
    (first / "x").write_text("")
    second = default_run_dir("train", tmp_path)
    assert second != first and second.name.startswith("train-")


def test_resume_needs_a_run_folder(tmp_path):
    with pytest.raises(RunFolderError, match="not a run folder"):
        existing_run_dir(tmp_path)


def test_metrics_log_survives_a_cut_line_and_truncates(tmp_path):
    log = MetricsLog(tmp_path / "m.jsonl")
    for epoch in (1, 2, 3):
        log.append({"epoch": epoch})
    with open(log.path, "a") as handle:
        handle.write('{"epoch": 4, "lo')
    assert [r["epoch"] for r in log.read()] == [1, 2, 3]
    log.truncate_after("epoch", 2)
    assert [r["epoch"] for r in log.read()] == [1, 2]


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    from bnnas import runs

    target = tmp_path / "result.json"
    runs.write_text_atomic(target, "old\n")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs.os, "fsync", full)
    with pytest.raises(RunFolderError, match="No space left on device"):
        runs.write_text_atomic(target, "new\n")
    monkeypatch.undo()
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_a_failed_metrics_append_is_a_run_folder_error(tmp_path):
    log = MetricsLog(tmp_path / "missing-folder" / "metrics.jsonl")
    with pytest.raises(RunFolderError, match="cannot write .*metrics.jsonl"):
        log.append({"epoch": 1})

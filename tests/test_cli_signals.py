"""Ctrl-C and SIGTERM stop ``bnnas train`` and ``bnnas search`` cleanly: exit 130/143, one
line naming the checkpoint a resume continues from and the exact resume command, and a resume
that ends exactly where an uninterrupted run ends. Real subprocesses, real signals."""

import re
import signal

import pytest

from bnnas.train.checkpoint import PAUSE_ENV, load_checkpoint

CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _resume_line(err: str, command: str, run, signum: int) -> re.Match:
    lines = [line for line in err.splitlines() if "--resume" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    pattern = (rf"bnnas: stopped by {signal.Signals(signum).name}; a resume continues from "
               rf"(?:(epoch-(\d+)\.pt) \(epoch \d+(, generation \d+)? done\)|"
               rf"(mid-epoch\.pt) \(epoch (\d+) done, step \d+ of \d+ of epoch \d+\)); "
               rf"resume with: bnnas {command} --resume {re.escape(str(run))}")
    match = re.fullmatch(pattern, lines[0])
    assert match, lines[0]
    return match


def _stop_and_resume(bnnas_process, tmp_path, kind: str, signum: int, **env: str) -> None:
    """Start a reference run and a run that gets ``signum`` once its first checkpoint is on
    disk; check the stop, resume, and compare the two finished runs."""
    args = bnnas_process.tiny[kind]
    command = args[0]
    reference = bnnas_process.start(*args, "--out", tmp_path / "reference")
    run = tmp_path / "run"
    proc = bnnas_process.start(*args, "--out", run, **env)
    assert bnnas_process.wait_for(proc, lambda: bnnas_process.checkpoints(run))
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == CODES[signum], err
    match = _resume_line(err, command, run, signum)
    newest = bnnas_process.checkpoints(run)[-1]
    if match.group(4):  # train stopped mid-epoch: the steps done of the epoch are kept
        mid = load_checkpoint(run / "checkpoints" / match.group(4))
        assert mid["epoch"] == load_checkpoint(newest)["epoch"] == int(match.group(5))
        assert 0 <= mid["mid_epoch"]["step"] <= mid["mid_epoch"]["steps"]
    else:
        assert newest.name == match.group(1)
        assert load_checkpoint(newest)["epoch"] >= 0  # valid: it loads
    assert not (run / "result.json").exists()  # it really stopped before the end
    resumed = bnnas_process.run(command, "--no-progress", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    reference.communicate(timeout=600)
    assert reference.returncode == 0
    assert bnnas_process.outcome(run) == bnnas_process.outcome(tmp_path / "reference")


def test_ctrl_c_stops_train_and_the_resume_matches_an_uninterrupted_run(bnnas_process,
                                                                         tmp_path):
    _stop_and_resume(bnnas_process, tmp_path, "train", signal.SIGINT)


def test_sigterm_stops_a_ubnas_search_and_the_resume_matches(bnnas_process, tmp_path):
    _stop_and_resume(bnnas_process, tmp_path, "ubnas", signal.SIGTERM)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bars", "mots", "random"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_every_search_method_stops_and_resumes(bnnas_process, tmp_path, kind, signum):
    _stop_and_resume(bnnas_process, tmp_path, kind, signum)


@pytest.mark.slow
def test_sigterm_stops_train_too(bnnas_process, tmp_path):
    _stop_and_resume(bnnas_process, tmp_path, "train", signal.SIGTERM)


def test_a_signal_during_a_checkpoint_write_waits_for_the_write(bnnas_process, tmp_path):
    """SIGTERM while epoch 2's checkpoint is half written: the write completes, and the resume
    line names epoch 2, not epoch 1."""
    run = tmp_path / "run"
    pause = {PAUSE_ENV: "epoch-0002.pt:1"}
    proc = bnnas_process.start(*bnnas_process.tiny["train"], "--out", run, **pause)
    writing = ".epoch-0002.pt.tmp-*"
    assert bnnas_process.wait_for(proc, lambda: bnnas_process.checkpoints(run, writing))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 143, err
    assert _resume_line(err, "train", run, signal.SIGTERM).group(2) == "0002"
    assert load_checkpoint(run / "checkpoints" / "epoch-0002.pt")["epoch"] == 2
    assert bnnas_process.checkpoints(run, ".*tmp*") == []


def test_a_signal_early_in_a_run_names_what_is_on_disk(bnnas_process, tmp_path):
    """Stopped as soon as its log exists: the line names the newest checkpoint on disk, or
    says that there is none and the resume starts from the beginning."""
    run = tmp_path / "run"
    proc = bnnas_process.start(*bnnas_process.tiny["ubnas"], "--out", run)
    assert bnnas_process.wait_for(proc, lambda: (run / "log.txt").is_file())
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if "--resume" in line]
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].endswith(f"resume with: bnnas search --resume {run}")
    on_disk = bnnas_process.checkpoints(run)
    expected = f"from {on_disk[-1].name} " if on_disk else "no checkpoint yet"
    assert expected in lines[0]


def test_the_stop_line_names_the_newest_checkpoint_that_loads(tmp_path):
    from bnnas.cli import stopped_line
    from bnnas.interrupt import Interrupted
    from bnnas.train.checkpoint import save_checkpoint

    run = tmp_path / "my run"
    stop = Interrupted(signal.SIGTERM)
    assert stopped_line("search", run, stop) == (
        "bnnas: stopped by SIGTERM; no checkpoint yet, a resume starts from the beginning; "
        f"resume with: bnnas search --resume '{run}'")
    save_checkpoint(run / "checkpoints" / "epoch-0003.pt", {"epoch": 1, "generation": 2})
    (run / "checkpoints" / "epoch-0004.pt").write_bytes(b"torn")
    assert stopped_line("search", run, stop).startswith(
        "bnnas: stopped by SIGTERM; a resume continues from epoch-0003.pt "
        "(epoch 1, generation 2 done); resume with: bnnas search --resume ")

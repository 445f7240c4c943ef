"""Kill -9 and resume: ``bnnas train`` and every search method killed at seeded random points
(and in the middle of a checkpoint write) resume to exactly the result of a run that was never
killed; a half-written checkpoint never takes a checkpoint's name and is never loaded."""

import random
import shutil
import signal

import pytest

from bnnas.errors import CheckpointError
from bnnas.train.checkpoint import PAUSE_ENV, latest_checkpoint, load_checkpoint

KINDS = ["train", "ubnas", "bars", "mots", "random"]


def _check_run_folder(bnnas_process, run) -> None:
    """After a kill: every file named like a checkpoint loads."""
    for path in bnnas_process.checkpoints(run):
        load_checkpoint(path)


def _finish_and_compare(bnnas_process, tmp_path, kind, run, proc, reference) -> None:
    command = bnnas_process.tiny[kind][0]
    while proc is not None:  # the last resume runs to the end
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        proc = None
    if not (run / "result.json").is_file():
        resumed = bnnas_process.run(command, "--no-progress", "--resume", run)
        assert resumed.returncode == 0, resumed.stderr
    reference.communicate(timeout=600)
    assert reference.returncode == 0
    assert bnnas_process.outcome(run) == bnnas_process.outcome(tmp_path / "reference")


def _log_size(run) -> int:
    return (run / "log.txt").stat().st_size if (run / "log.txt").is_file() else 0


def _kill_at_random_points(bnnas_process, tmp_path, kind: str, seed: int, kills: int) -> int:
    """Kill the run ``kills`` times at random moments of real work (after its first checkpoint,
    then after each resumed process has started logging), resuming after each; return how
    many kills landed before the run ended."""
    rng = random.Random(seed)
    args = bnnas_process.tiny[kind]
    reference = bnnas_process.start(*args, "--out", tmp_path / "reference")
    run = tmp_path / "run"
    proc = bnnas_process.start(*args, "--out", run)
    assert bnnas_process.wait_for(proc, lambda: bnnas_process.checkpoints(run))
    landed = 0
    for _ in range(kills):
        bnnas_process.wait_for(proc, lambda: False, timeout=rng.uniform(0.0, 1.5))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        landed += 1
        _check_run_folder(bnnas_process, run)
        logged = _log_size(run)
        proc = bnnas_process.start(args[0], "--no-progress", "--resume", run)
        bnnas_process.wait_for(proc, lambda logged=logged: _log_size(run) > logged)
    _finish_and_compare(bnnas_process, tmp_path, kind, run, proc, reference)
    print(f"KILLS {kind} seed={seed} landed={landed}")
    return landed


def _kill_during_a_write(bnnas_process, tmp_path, kind: str) -> None:
    """Kill while the second checkpoint is half written, then make things worse: a torn copy
    of it under the checkpoint's own name (what a non-atomic writer would leave). The resume
    skips it, continues from the first checkpoint and still ends like the reference."""
    args = bnnas_process.tiny[kind]
    reference = bnnas_process.start(*args, "--out", tmp_path / "reference")
    run = tmp_path / "run"
    proc = bnnas_process.start(*args, "--out", run, **{PAUSE_ENV: "epoch-0002.pt:60"})
    writing = ".epoch-0002.pt.tmp-*"
    assert bnnas_process.wait_for(proc, lambda: bnnas_process.checkpoints(run, writing))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    [torn] = bnnas_process.checkpoints(run, writing)
    with pytest.raises(CheckpointError):
        load_checkpoint(torn)
    assert [p.name for p in bnnas_process.checkpoints(run)] == ["epoch-0001.pt"]
    shutil.copy(torn, run / "checkpoints" / "epoch-0002.pt")
    path, state = latest_checkpoint(run / "checkpoints")
    assert path.name == "epoch-0001.pt"
    resumed = bnnas_process.start(args[0], "--no-progress", "--resume", run)
    _finish_and_compare(bnnas_process, tmp_path, kind, run, resumed, reference)
    log = (run / "log.txt").read_text()
    assert "resumed from" in log and "epoch-0001.pt" in log
    assert bnnas_process.checkpoints(run, ".*tmp*") == []  # the resume cleared the torn file


def test_train_killed_during_a_checkpoint_write_resumes_exactly(bnnas_process, tmp_path):
    _kill_during_a_write(bnnas_process, tmp_path, "train")


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS[1:])
def test_search_killed_during_a_checkpoint_write_resumes_exactly(bnnas_process, tmp_path,
                                                                 kind):
    _kill_during_a_write(bnnas_process, tmp_path, kind)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", KINDS)
def test_killed_at_random_points_resumes_exactly(bnnas_process, tmp_path, kind, seed):
    assert _kill_at_random_points(bnnas_process, tmp_path, kind, seed, kills=3) >= 1

"""``study.processes``: which process writes which folder, which runs a step's own command,
and that an ended process still unreaped counts as gone."""

import subprocess
import sys
import time

from study.processes import alive, live_writers, runs_step
from study.steps import Step
from study_helpers import pretend_bnnas


def test_a_live_writer_is_found_by_its_out_or_resume_folder(tmp_path):
    run = tmp_path / "ubnas-seed0" / "search"
    proc = pretend_bnnas(run, "--resume")
    try:
        pid, args = live_writers()[run.resolve()]
        assert pid == proc.pid and args[-2:] == ["--resume", str(run)]
    finally:
        proc.kill()
        proc.wait()
    assert run.resolve() not in live_writers()


def test_a_step_runs_its_own_command_fresh_or_resumed(tmp_path):
    run = tmp_path / "train"
    step = Step("train", run, ["train", "--seed", "0", "--out", str(run)], (0,))
    python = [sys.executable, "-m", "bnnas"]
    assert runs_step([*python, *step.argv], step)
    assert runs_step([*python, "train", "--resume", str(run), "--no-progress"], step)
    assert not runs_step([*python, "train", "--seed", "1", "--out", str(run)], step)
    assert not runs_step(["bnnas", *step.argv], step)  # not started as compare.py starts it


def test_an_ended_process_is_not_alive_before_it_is_reaped():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while alive(proc.pid):  # a zombie until wait() below
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert proc.poll() == 0

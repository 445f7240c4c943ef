"""``study.schedule``: the next step by priority, steps another process runs (waited for,
never started twice, adopted when their command line is the step's), the plan's lines."""

import subprocess
import sys

from study.plan import plan_steps
from study.processes import Adopted, live_pid
from study.schedule import adopt, end_adopted, next_step, plan_lines, waiting_for
from study.steps import Step, finished
from study_helpers import finish, pretend_bnnas, wait_for_writer


def test_a_folder_a_live_process_writes_is_not_started_again(half_done):
    root = half_done
    live = root / "ubnas-seed0" / "search"
    proc = pretend_bnnas(live.relative_to(root.parent), cwd=root.parent)  # a relative --out
    try:
        assert live_pid(root / "mots-seed0" / "search") is None
        steps = plan_steps(root, ["mots", "ubnas"], ["bresnet_small"], [0], 7)
        lines = plan_lines(steps)
        assert lines[0] == f"# running in pid {proc.pid}, not started again: ubnas-seed0/search"
        assert not any("ubnas-seed0/search --no-progress" in line for line in lines)
        # the retrain of a search still running waits; the other steps go on
        assert next_step(steps, set()).run_dir == root / "mots-seed0" / "random-ops"
        for step in steps:
            if step.run_dir != live and not finished(step.run_dir):
                finish(step.run_dir)
        assert next_step(steps, set()) is None
        assert [(s.run_dir, pid) for s, pid in waiting_for(steps, set())] == [(live, proc.pid)]
    finally:
        proc.kill()
        proc.wait()
    assert live_pid(live) is None


def test_a_step_another_compare_started_gets_its_command_recorded_at_its_end(tmp_path):
    """After a restart, compare.py adopts the steps the previous one left running (same
    command line) and writes their command.txt when they finish; a process in the same
    folder with another command line is not adopted."""
    run = tmp_path / "net-seed0" / "train"
    step = Step("train", run, ["train", "--seed", "0", "--out", str(run)], (0,))
    other = Step("train", run, ["train", "--seed", "5", "--out", str(run)], (0,))
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "-m",
                             "bnnas", *step.argv])
    try:
        wait_for_writer(run, proc)
        adopted = {}
        adopt([other], set(), adopted)
        assert adopted == {}
        adopt([step], {run}, adopted)  # failed here: left alone
        assert adopted == {}
        adopt([step], set(), adopted)
        assert adopted == {run: Adopted(step, proc.pid)}
        assert end_adopted(adopted) == [] and list(adopted) == [run]
        finish(run)
    finally:
        proc.kill()
        proc.wait()
    assert end_adopted(adopted) == [step] and adopted == {}
    assert (run / "command.txt").read_text() == f"bnnas train --seed 0 --out {run}\n"


def test_wait_live_starts_nothing_meanwhile(half_done):
    root = half_done
    live = root / "ubnas-seed0" / "search"
    proc = pretend_bnnas(live, "--resume")
    try:
        steps = plan_steps(root, ["mots", "ubnas"], ["bresnet_small"], [0], 7)
        assert next_step(steps, set()) is not None
        assert next_step(steps, set(), wait_live=True) is None
    finally:
        proc.kill()
        proc.wait()


def test_the_plan_orders_by_priority_once_what_each_step_needs_is_done(tmp_path):
    """A step is listed only after the step it needs, whatever its priority; a stranded
    step is listed last, as a comment."""
    first, second = tmp_path / "a" / "search", tmp_path / "a" / "train"
    steps = [Step("train", second, ["train", "--out", str(second)], (0,), needs=first),
             Step("search", first, ["search", "--out", str(first)], (5,)),
             Step("train", tmp_path / "b" / "train", ["train", "b"], (1,), stranded=True,
                  needs=tmp_path / "gone")]
    lines = plan_lines(steps)
    assert [line.split(" > ")[0] for line in lines[:2]] == [
        f"bnnas search --out {first}", f"bnnas train --out {second}"]
    assert lines[2].startswith("# cannot run b/train: it needs ")
    assert len(lines) == 3

"""``bench/compare.py``: which commands remain on a half-done study, in which order, one
short real pass, and the run loop (jobs, deadline, steps of other processes)."""

import json
import subprocess
import sys
import time

import compare
import pytest
from study.plan import plan_steps
from study.processes import Running, live_pid
from study.schedule import plan_lines
from study.steps import CONTROL, Step, finished, ready_after
from study_helpers import REPO, earlier_row, finish, pretend_bnnas, write_earlier_report


def plan(capsys, root, *extra):
    """The plan's lines for the study in ``root``; its report and record (by default the
    repository's own, which the real study fills) live beside it unless ``extra`` says."""
    isolated = ["--results", str(root.parent / "results"), "--record",
                str(root.parent / "record")]
    code = compare.main(["--only-plan", "--root", str(root), *isolated, "--methods",
                         "mots,ubnas", "--baselines", "bresnet_small,birealnet18", "--seeds",
                         "0,1", "--epochs", "7", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out.splitlines()


def test_plan_skips_finished_resumes_stopped_and_orders_cheap_first(half_done, capsys):
    root = half_done
    lines = plan(capsys, root)
    commands = [line.split(" > ")[0] for line in lines if "/random-ops" not in line]
    assert commands == [
        f"bnnas train --config bench/compare-recipe.yaml --model bresnet_small --seed 1 "
        f"--epochs 7 --out {root}/bresnet_small-seed1/train --no-progress",
        f"bnnas train --config bench/compare-recipe.yaml --genotype "
        f"{root}/mots-seed0/search/pareto.json --pick best --seed 0 --epochs 7 "
        f"--out {root}/mots-seed0/train --no-progress",
        f"bnnas search --resume {root}/ubnas-seed0/search --no-progress",
        f"bnnas train --config bench/compare-recipe.yaml --genotype "
        f"{root}/ubnas-seed0/search/genotype.json --seed 0 --epochs 7 "
        f"--out {root}/ubnas-seed0/train --no-progress",
        f"bnnas train --config bench/compare-recipe.yaml --model birealnet18 --seed 0 "
        f"--epochs 7 --out {root}/birealnet18-seed0/train --no-progress",
        f"bnnas search --method mots --config configs/mots-fashion.yaml --seed 1 "
        f"--out {root}/mots-seed1/search --no-progress",
        f"bnnas train --config bench/compare-recipe.yaml --genotype "
        f"{root}/mots-seed1/search/pareto.json --pick best --seed 1 --epochs 7 "
        f"--out {root}/mots-seed1/train --no-progress",
        f"bnnas search --method ubnas --config configs/ubnas-fashion.yaml --seed 1 "
        f"--out {root}/ubnas-seed1/search --no-progress",
        f"bnnas train --config bench/compare-recipe.yaml --genotype "
        f"{root}/ubnas-seed1/search/genotype.json --seed 1 --epochs 7 "
        f"--out {root}/ubnas-seed1/train --no-progress",
        f"bnnas train --config bench/compare-recipe.yaml --model birealnet18 --seed 1 "
        f"--epochs 7 --out {root}/birealnet18-seed1/train --no-progress",
    ]
    assert lines[0].endswith(f" > {root}/bresnet_small-seed1/train.log 2>&1")
    assert len(lines) == len(commands) + 4 * (1 + 3)  # each search's random-ops control
    # random search runs the MO-TS-BNAS config with the random method
    lines = plan(capsys, root, "--methods", "random", "--search-set", "data.limit=1024")
    searches = [line for line in lines if "--method" in line]
    assert "--method random --config configs/mots-fashion.yaml --seed 0 --set data.limit=1024 "\
        in searches[0]
    assert not any("data.limit" in line for line in lines if line.startswith("bnnas train"))


def test_it_runs_as_a_script_from_the_repository_root(half_done):
    """As the README starts it: ``python bench/compare.py`` finds bench/study by itself."""
    root = half_done
    out = subprocess.run([sys.executable, "bench/compare.py", "--only-plan", "--root",
                          str(root), "--methods", "mots", "--baselines", "", "--seeds", "0",
                          "--results", str(root.parent / "results"),
                          "--record", str(root.parent / "record")],
                         cwd=REPO, capture_output=True, text=True, env={"PATH": "/usr/bin"},
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("python -m bnnas.search.random_arch --genotype ")


def test_a_short_real_pass_trains_reports_and_then_has_nothing_left(tmp_path, monkeypatch):
    """Two one-epoch trainings on 64 bundled images: logs, command.txt, report, compare.json
    with the std over the two seeds; a second pass runs nothing."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    root, results = tmp_path / "root", tmp_path / "results"
    argv = ["--root", str(root), "--results", str(results), "--record", str(tmp_path / "record"),
            "--methods", "",
            "--baselines", "bresnet_small", "--seeds", "0,1", "--epochs", "1",
            "--train-set", "data.name=fashion-mnist-small", "--train-set", "data.limit=64",
            "--train-set", "model.args.blocks_per_stage=1", "--literature", ""]
    assert compare.main(argv) == 0
    for seed in (0, 1):
        run = root / f"bresnet_small-seed{seed}" / "train"
        assert finished(run)
        assert (run / "command.txt").read_text().startswith(
            "bnnas train --config bench/compare-recipe.yaml --model bresnet_small "
            f"--seed {seed} --epochs 1 --set data.name=fashion-mnist-small")
        assert "test accuracy" in (run.parent / "train.log").read_text()
    rows = json.loads((results / "compare.json").read_text())
    assert [(r["name"], r["runs"]) for r in rows] == [("bresnet_small(blocks_per_stage=1)", 2)]
    assert rows[0]["test_acc_std"] is not None and rows[0]["bops"] > 0
    assert rows[0]["command"] == (root / "bresnet_small-seed0" / "train" / "command.txt"
                                  ).read_text().strip()
    for name in ("report.md", "report.html", "rows.json", "accuracy-vs-ops.png"):
        assert (results / name).is_file()
    assert not (root / "compare.pid").exists()
    steps = plan_steps(root, [], ["bresnet_small"], [0, 1], 1)
    assert plan_lines(steps) == []


def test_each_finished_search_gets_its_random_ops_control_after_the_retrains(tmp_path, capsys,
                                                                             monkeypatch):
    """Draw the control just before the retrain, train its 3 networks after every retrain
    of the seed; a drawn control leaves only its trainings."""
    from bnnas.search.random_arch import CONTROL_FOLDER

    monkeypatch.chdir(REPO)
    root = tmp_path / "compare"
    for method in ("mots", "ubnas"):
        finish(root / f"{method}-seed0" / "search")
        (root / f"{method}-seed0" / "search" / "method.txt").write_text(f"{method}\n")
    finish(root / "bresnet_small-seed0" / "train")
    lines = plan(capsys, root, "--seeds", "0", "--baselines", "bresnet_small")
    recipe = "bnnas train --config bench/compare-recipe.yaml"

    def trains(method):
        ops = root / f"{method}-seed0" / CONTROL_FOLDER
        return [f"{recipe} --genotype {ops}/genotype-{k}.json --seed 0 --epochs 7 "
                f"--out {ops}/train-{k} --no-progress > {ops}/train-{k}.log 2>&1"
                for k in range(3)]

    def draw(method, found):
        search, ops = root / f"{method}-seed0" / "search", root / f"{method}-seed0" / "random-ops"
        return (f"python -m bnnas.search.random_arch --genotype {search}/{found} --space "
                f"{method} --config {search}/config.yaml --seed 0 --count 3 --out {ops} "
                f"> {ops}.log 2>&1")

    assert lines == [
        draw("mots", "pareto.json --pick best"),
        f"{recipe} --genotype {root}/mots-seed0/search/pareto.json --pick best --seed 0 "
        f"--epochs 7 --out {root}/mots-seed0/train --no-progress > {root}/mots-seed0/train.log "
        "2>&1",
        draw("ubnas", "genotype.json"),
        f"{recipe} --genotype {root}/ubnas-seed0/search/genotype.json --seed 0 --epochs 7 "
        f"--out {root}/ubnas-seed0/train --no-progress > {root}/ubnas-seed0/train.log 2>&1",
        *trains("mots"),
        *trains("ubnas"),
    ]
    finish(root / "ubnas-seed0" / "train")
    (root / "ubnas-seed0" / "random-ops").mkdir()
    (root / "ubnas-seed0" / "random-ops" / "result.json").write_text('{"space": "ubnas"}')
    lines = plan(capsys, root, "--seeds", "0", "--baselines", "bresnet_small",
                 "--methods", "ubnas")
    assert lines == trains("ubnas")
    steps = plan_steps(root, ["ubnas"], [], [0], 7)
    assert [s.label for s in steps][-1] == "ubnas-seed0/random-ops/train-2"
    assert CONTROL == CONTROL_FOLDER


def test_retrain_seeds_train_each_found_network_and_its_control_again(tmp_path, capsys,
                                                                     monkeypatch):
    """With --retrain-seeds, a finished search's network and its drawn control's networks
    get one more training per other seed (same genotype, layout and recipe), after the
    seed's own retrains and controls; the search seed itself adds nothing."""
    monkeypatch.chdir(REPO)
    root = tmp_path / "compare"
    for method in ("mots", "ubnas"):
        finish(root / f"{method}-seed0" / "search")
        finish(root / f"{method}-seed0" / "train")
    finish(root / "mots-seed0" / "random-ops")
    for k in range(3):
        finish(root / "mots-seed0" / "random-ops" / f"train-{k}")
    lines = plan(capsys, root, "--seeds", "0", "--baselines", "", "--retrain-seeds", "0,1",
                 "--layout", "mots:cells=5")
    mots, ubnas = root / "mots-seed0", root / "ubnas-seed0"
    recipe = "bnnas train --config bench/compare-recipe.yaml"
    assert lines[0].startswith("python -m bnnas.search.random_arch") and "ubnas" in lines[0]
    assert [line.split(" > ")[0] for line in lines[4:]] == [
        f"{recipe} --genotype {mots}/search/pareto.json --pick best --seed 1 --epochs 7 "
        f"--set model.args.cells=5 --out {mots}/train-seed1 --no-progress",
        *(f"{recipe} --genotype {mots}/random-ops/genotype-{k}.json --seed 1 --epochs 7 "
          f"--out {mots}/random-ops/train-{k}-seed1 --no-progress" for k in range(3)),
        f"{recipe} --genotype {ubnas}/search/genotype.json --seed 1 --epochs 7 "
        f"--out {ubnas}/train-seed1 --no-progress",
        *(f"{recipe} --genotype {ubnas}/random-ops/genotype-{k}.json --seed 1 --epochs 7 "
          f"--out {ubnas}/random-ops/train-{k}-seed1 --no-progress" for k in range(3)),
    ]
    assert not any("--seed 0" in line and "seed0/train-seed" in line for line in lines)
    unsearched = plan_steps(root, ["bars"], [], [0], 7, retrain_seeds=[1])
    again = [s for s in unsearched if s.run_dir.name == "train-seed1"]
    assert len(again) == 1 and not ready_after(again[0], unsearched)
    gone = tmp_path / "gone"  # seed 0's searches and trainings known only from rows.json
    write_earlier_report(tmp_path / "results", [earlier_row(gone / "mots-seed0" / "train")],
                         [gone / "mots-seed0" / "search"])
    lines = plan(capsys, gone, "--results", str(tmp_path / "results"), "--methods", "mots",
                 "--seeds", "0", "--baselines", "", "--controls", "", "--retrain-seeds", "1")
    assert lines == [f"# cannot run mots-seed0/train-seed1: it needs {gone}/mots-seed0/search, "
                     "whose files are gone (carried from the earlier report, not in the record)"]
    with pytest.raises(SystemExit):
        compare.main(["--only-plan", "--root", str(root), "--retrain-seeds", "one"])
    assert "--retrain-seeds takes comma-separated integers" in capsys.readouterr().err


def test_random_search_gets_no_control_unless_asked(tmp_path, capsys, monkeypatch):
    """Random search's pick is the control of MO-TS-BNAS's space: by default it gets no
    equal-OPs draws of its own; --controls adds them, an unknown name is refused."""
    monkeypatch.chdir(REPO)
    root = tmp_path / "compare"
    for method in ("mots", "random"):
        finish(root / f"{method}-seed0" / "search")
    lines = plan(capsys, root, "--methods", "mots,random", "--seeds", "0", "--baselines", "")
    assert any("mots-seed0/random-ops" in line for line in lines)
    assert not any("random-seed0/random-ops" in line for line in lines)
    lines = plan(capsys, root, "--methods", "mots,random", "--seeds", "0", "--baselines", "",
                 "--controls", "random")
    assert any("random-seed0/random-ops/train-2" in line for line in lines)
    assert not any("mots-seed0/random-ops" in line for line in lines)
    with pytest.raises(SystemExit):
        compare.main(["--only-plan", "--root", str(root), "--controls", "evolution"])
    assert "unknown method 'evolution'" in capsys.readouterr().err


def test_control_seeds_give_only_those_searches_a_control(tmp_path, capsys, monkeypatch):
    """--control-seeds 0: seed 1's searches are retrained (and trained again with the
    retrain seeds) but get no equal-OPs draws."""
    monkeypatch.chdir(REPO)
    root = tmp_path / "compare"
    for seed in (0, 1):
        finish(root / f"bars-seed{seed}" / "search")
    argv = ["--methods", "bars", "--baselines", "", "--retrain-seeds", "0"]
    lines = plan(capsys, root, *argv, "--control-seeds", "0")
    assert any("bars-seed0/random-ops/train-2 " in line for line in lines)
    assert not any("bars-seed1/random-ops" in line for line in lines)
    assert any(f"--out {root}/bars-seed1/train-seed0 " in line for line in lines)
    assert len(plan(capsys, root, *argv)) == len(lines) + 1 + 3 + 3  # draw, trainings, again
    with pytest.raises(SystemExit):
        compare.main(["--only-plan", "--root", str(root), "--control-seeds", "zero"])
    assert "--control-seeds takes comma-separated integers" in capsys.readouterr().err


def test_layout_moves_one_methods_retrain_and_its_control(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    root = tmp_path / "compare"
    for method in ("mots", "ubnas"):
        finish(root / f"{method}-seed0" / "search")
    finish(root / "bresnet_small-seed0" / "train")
    lines = plan(capsys, root, "--seeds", "0", "--baselines", "bresnet_small",
                 "--layout", "ubnas:cells=5", "--layout", "ubnas:channels=8")
    ubnas = [line for line in lines if "ubnas-seed0" in line]
    mots = [line for line in lines if "mots-seed0" in line]
    assert "--set model.args.cells=5 --set model.args.channels=8" in ubnas[1]
    assert ubnas[0].startswith("python -m bnnas.search.random_arch")
    assert "--arg cells=5 --arg channels=8" in ubnas[0]
    assert not any("model.args" in line for line in ubnas[2:] + mots)
    assert not any("--arg" in line for line in mots)
    with pytest.raises(SystemExit):
        compare.main(["--only-plan", "--root", str(root), "--layout", "ubnas-cells=5"])
    assert "--layout takes METHOD:KEY=VALUE" in capsys.readouterr().err


def run_fake_steps(tmp_path, monkeypatch, jobs, external=None, on_last=None):
    """Four fake steps (each sleeps, then writes its result.json) run by ``compare.run``;
    returns the order they started in and how many were alive at each start (``on_last``
    is called when the fourth starts)."""
    root = tmp_path / "root"
    steps = [Step("train", root / f"net{k}-seed0" / "train", ["train", str(k)], (0, k))
             for k in range(4)]
    if external is not None:
        steps.append(Step("search", external, ["search"], (9,)))
    started, alive = [], []
    writer = ("import pathlib, sys, time; time.sleep(0.5); p = pathlib.Path(sys.argv[1]); "
              "p.mkdir(parents=True); (p / 'result.json').write_text('{}')")

    def fake_start(step):
        started.append(step.run_dir)
        alive.append(sum(not finished(d) for d in started))
        if len(started) == 4 and on_last is not None:
            on_last()
        proc = subprocess.Popen([sys.executable, "-c", writer, str(step.run_dir)])
        return Running(step, proc, time.time())

    monkeypatch.setattr(compare, "start_step", fake_start)
    monkeypatch.setattr(compare, "safe_update", lambda *args: None)
    assert compare.run(steps, root, tmp_path / "results", None, poll=0.05, jobs=jobs) == 0
    for step in steps:
        assert finished(step.run_dir)
        assert (step.run_dir / "command.txt").read_text().startswith("bnnas ")
    return started, alive, [s.run_dir for s in steps]


@pytest.mark.parametrize("text, seconds", [
    ("90m", 5400), ("1.5h", 5400), ("2h30m", 9000), ("45s", 45), ("5400", 5400),
    ("1h 5s", 3605)])
def test_stop_after_durations(text, seconds):
    assert compare.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "h", "1.5.2h"])
def test_a_duration_that_is_not_one_is_refused(text, capsys):
    with pytest.raises(ValueError, match="--stop-after takes a duration"):
        compare.parse_duration(text)
    with pytest.raises(SystemExit):
        compare.main(["--only-plan", "--stop-after", text])
    assert "--stop-after takes a duration" in capsys.readouterr().err


STOPPABLE = ("import pathlib, signal, sys, time\n"
             "out = pathlib.Path(sys.argv[-1])\n"
             "def stop(*_):\n"
             "    out.mkdir(parents=True, exist_ok=True)\n"
             "    (out / 'stopped').write_text('at a checkpoint')\n"
             "    sys.exit(143)\n"
             "signal.signal(signal.SIGTERM, stop)\n"
             "time.sleep(120)\n")


def test_at_the_deadline_every_running_step_stops_at_a_checkpoint(tmp_path, monkeypatch):
    """--stop-after: the steps it started and one a previous compare.py left running (same
    command line) get SIGTERM at the deadline; the run ends with 0, nothing finished."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "root"
    steps = [Step("train", root / f"net{k}-seed0" / "train",
                          ["train", "--out", str(root / f"net{k}-seed0" / "train")], (0, k))
             for k in range(3)]
    left = subprocess.Popen([sys.executable, "-c", STOPPABLE, "-m", "bnnas", *steps[2].argv])

    def fake_start(step):
        proc = subprocess.Popen([sys.executable, "-c", STOPPABLE, "-m", "bnnas", *step.argv])
        return Running(step, proc, time.time())

    monkeypatch.setattr(compare, "start_step", fake_start)
    monkeypatch.setattr(compare, "safe_update", lambda *args: None)
    try:
        deadline = time.monotonic() + 30
        while live_pid(steps[2].run_dir) != left.pid:
            assert time.monotonic() < deadline and left.poll() is None
            time.sleep(0.01)
        time.sleep(0.5)  # each stoppable process has its handler in place by then
        code = compare.run(steps, root, tmp_path / "results", None, poll=0.05, jobs=3,
                           deadline=time.time() + 2)
        assert left.wait(timeout=30) == 143
    finally:
        left.kill()
    assert code == 0
    for step in steps:
        assert (step.run_dir / "stopped").is_file() and not finished(step.run_dir)


def test_jobs_runs_that_many_steps_at_once_and_each_to_its_end(tmp_path, monkeypatch):
    started, alive, order = run_fake_steps(tmp_path, monkeypatch, 2)
    assert started == order and max(alive) == 2


def test_jobs_counts_a_step_another_process_runs(tmp_path, monkeypatch):
    """With --jobs 2 and a search another process runs, compare.py runs one step at a time;
    once that process is gone (without finishing), it takes the search up itself."""
    external = tmp_path / "root" / "ubnas-seed0" / "search"
    proc = pretend_bnnas(external)

    def end_external():
        proc.kill()
        proc.wait()

    try:
        started, alive, order = run_fake_steps(tmp_path, monkeypatch, 2, external, end_external)
        assert started == order and alive[:4] == [1, 1, 1, 1]
    finally:
        end_external()


def test_steps_an_earlier_report_finished_are_not_run_again(tmp_path, capsys, monkeypatch):
    """Run folders gone, rows.json kept: the finished steps stay done (a control's draw too,
    once all its trainings are); a training it lacks is planned with its draw."""
    monkeypatch.chdir(REPO)
    root, results = tmp_path / "compare", tmp_path / "results"
    ubnas = root / "ubnas-seed0"
    runs = [root / "bresnet_small-seed0" / "train", ubnas / "train",
            *(ubnas / "random-ops" / f"train-{k}" for k in range(3))]
    write_earlier_report(results, [earlier_row(run) for run in runs], [ubnas / "search"])
    argv = ["--results", str(results), "--methods", "ubnas", "--baselines", "bresnet_small",
            "--seeds", "0"]
    assert plan(capsys, root, *argv) == ["# nothing left to run"]
    write_earlier_report(results, [earlier_row(run) for run in runs[:-1]], [ubnas / "search"])
    assert plan(capsys, root, *argv) == [  # the search's genotype is gone with its folder
        f"# cannot run ubnas-seed0/random-ops: it needs {ubnas / 'search'}, whose files are "
        "gone (carried from the earlier report, not in the record)",
        f"# cannot run ubnas-seed0/random-ops/train-2: it needs {ubnas / 'random-ops'}, whose "
        "files are gone (carried from the earlier report, not in the record)"]
    finish(ubnas / "search")  # back, e.g. restored from the record
    lines = plan(capsys, root, *argv)
    assert [line.split(" > ")[0].split()[-1] if "random_arch" in line else
            line.split(" --out ")[1].split()[0] for line in lines] == [
        str(ubnas / "random-ops"), str(ubnas / "random-ops" / "train-2")]

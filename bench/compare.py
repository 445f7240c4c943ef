"""Benchmark: every search method and the hand-made baselines on Fashion-MNIST, one recipe.

For each method (MO-TS-BNAS, its random-search baseline, UBNAS, BARS) and seed: search with
the method's Fashion-MNIST config in ``ROOT/<method>-seed<S>/search``, then train the found
network from scratch in ``ROOT/<method>-seed<S>/train`` with the shared recipe
(``bench/compare-recipe.yaml``; for MO-TS-BNAS and random search the lowest-error member of
the front: ``--genotype pareto.json --pick best``); the hand-made baselines are trained with
the same recipe in ``ROOT/<model>-seed<S>/train``. Each search (but random search, which is
that control for MO-TS-BNAS's space; ``--controls``) also gets a random control
(Li & Talwalkar, UAI 2019; Yu et al., ICLR 2020): 3 random architectures of its own space within
10% of the found network's OPs (``bnnas.search.random_arch``), drawn into
``ROOT/<method>-seed<S>/random-ops/genotype-<k>.json`` and trained with the same recipe and
seed in ``ROOT/<method>-seed<S>/random-ops/train-<k>``; the report lists them as
``random-equal-ops (<method> space)``. ``--layout METHOD:KEY=VALUE`` retrains a method's
found cells on another layout (``--set model.args.KEY=VALUE``; its random control is drawn on
that layout too), e.g. to bring a search's derived network under an OPs budget.
``--retrain-seeds 1`` trains every found network and its control's networks once more with
seed 1 (``train-seed1``, ``random-ops/train-<k>-seed1``): the report averages the trainings of
one network over their seeds and keeps the network another search seed found on a line of its
own. Each test accuracy is the trainer's, after the last epoch. After every finished step the
report is rebuilt (``bnnas.report``) into ``docs/results/`` (``report.md``, ``report.html``,
plots, ``rows.json``) together with ``docs/results/compare.json``, one object per network (mean
and std over its training seeds done).

Hours on 2 cores, so it is resumable and runs one step at a time, in this order:

1. cheap baselines (under 5e7 MACs per image; ``bresnet_small``, about 25 min for 30 epochs),
   every seed, so the table has rows within the first hour;
2. as soon as a search has finished, the drawing of its random control (seconds) and the
   retrain of its network; then the control's trainings (each as long as a retrain); then
   the trainings with ``--retrain-seeds``;
3. then seed by seed: the searches, cheapest first (MO-TS-BNAS and random about an hour each,
   UBNAS three hours or more, BARS about six on the full training set and one on the
   16,000 images of ``--search-set bars:data.limit=16000``: docs/RESULTS.md), then the
   expensive baselines (``birealnet18`` takes about 18 min per epoch, 9 hours for 30;
   ``reactnet_a`` has similar MACs).

Restarting it continues where it stopped: a step whose folder has ``result.json`` is done;
one with only a ``config.yaml`` is continued with ``--resume`` (with the settings it
started with). A step whose folder a live ``bnnas`` process is writing (found in /proc by
its ``--out``/``--resume`` argument) is never started twice: compare.py runs other steps
meanwhile (``--wait-live``: nothing meanwhile, so that no two steps share the cores and
distort each other's times) and waits for it at the end. Each command's output goes to
``<folder>.log`` beside its run folder (``ROOT/<method>-seed<S>/search.log``; a run folder
must be empty when it starts) and, once it succeeds, the command line to ``command.txt`` in
its run folder, which the report shows. A step the previous compare.py started and left
running is adopted: its ``command.txt`` is written when it finishes. ``--stop-after 2h``
stops every running step at a checkpoint after two hours and exits, for a machine lent for
a known time.

Run folders may not outlive the study (another machine, a cleaned or lost disk), so the study
keeps its own record beside its report: every rebuild of the report also reads the previous
``docs/results/rows.json`` (:mod:`bnnas.report.earlier`), so rows whose run folders are gone
stay in the table as they were measured, and a step that rows.json lists as finished is not
run again (to drop or redo one, delete its row from rows.json as well as its folder); every
finished search and random-control draw is copied, without its checkpoints (``*.pt``) and
subfolders, to ``docs/results/searches/<method>-seed<S>/...`` (``--record``), and copied back
into the root when its folder is missing, so that a retrain or a control still to run finds
its genotype files. Run from the repository root:

    nohup .venv/bin/python bench/compare.py > runs/compare.log 2>&1 &
    .venv/bin/python bench/compare.py --only-plan        # the commands still to run, in order
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SEARCH_CONFIGS = {
    "mots": "configs/mots-fashion.yaml",
    "random": "configs/mots-fashion.yaml",  # the random baseline of the same search
    "ubnas": "configs/ubnas-fashion.yaml",
    "bars": "configs/bars-fashion.yaml",
}
MULTI_OBJECTIVE = ("mots", "random")
DEFAULT_METHODS = "mots,random,ubnas,bars"  # cheapest search first
DEFAULT_BASELINES = "bresnet_small,birealnet18,reactnet_a"
RECIPE = "bench/compare-recipe.yaml"
LITERATURE = "bench/literature-fashion.yaml"
CHEAP_MACS = 5e7  # baselines below this many MACs per 1x28x28 image run first
INPUT = (1, 28, 28)
TITLE = "Fashion-MNIST: searched and hand-made binary networks, one training recipe"
POLL_SECONDS = 60
CONTROL = "random-ops"  # bnnas.search.random_arch.CONTROL_FOLDER, which the report reads
RANDOM_MODULE = "bnnas.search.random_arch"
RANDOM_NETS = 3  # random networks of equal OPs per search: the searched one must beat all
RECORD = "docs/results/searches"  # finished searches and draws, kept beside the report
RECORDED_KINDS = ("search", "random")
RECORD_MAX_BYTES = 4 * 1024 * 1024  # a log above this is not worth a place in the record
# Searches whose found network gets that control. Random search is itself the control of
# MO-TS-BNAS's space: its pick is a random sample ranked by the same supernet, so equal-OPs
# draws of the same space would repeat the MO-TS-BNAS control at the cost of three retrains.
DEFAULT_CONTROLS = "mots,ubnas,bars"


@dataclass
class Step:
    """One command of the study and the run folder it writes."""

    kind: str  # "search", "train" or "random" (the random-ops control's genotypes)
    run_dir: Path
    argv: list[str]  # arguments of ``module`` that start it afresh
    priority: tuple[float, ...]
    needs: Path | None = None  # a step folder that must have finished first
    module: str = "bnnas"  # run as ``python -m <module>``
    carried: bool = False  # finished in an earlier report whose run folder is gone
    stranded: bool = False  # what it needs is carried but its files are gone: cannot run

    @property
    def label(self) -> str:
        parts = self.run_dir.parts[-3:] if self.run_dir.parent.name == CONTROL else \
            self.run_dir.parts[-2:]
        return "/".join(parts)

    @property
    def log(self) -> Path:
        return self.run_dir.parent / f"{self.run_dir.name}.log"


def finished(run_dir: Path) -> bool:
    return (run_dir / "result.json").is_file()


def done(step: Step) -> bool:
    """Finished here, or carried from an earlier report of the study."""
    return step.carried or finished(step.run_dir)


def ready_after(step: Step, steps: Sequence[Step]) -> bool:
    """Whether the step ``step`` needs has finished (here, or carried)."""
    return step.needs is None or finished(step.needs) or any(
        other.carried and other.run_dir == step.needs for other in steps)


def carried_runs(rows_json: Path) -> set[Path]:
    """The run folders an earlier report of the study lists as finished: its rows' runs and
    its finished searches (an unreadable or missing file lists none)."""
    from bnnas.errors import BnnasError
    from bnnas.report.earlier import load_earlier_report

    if not rows_json.is_file():
        return set()
    try:
        earlier = load_earlier_report(rows_json)
    except BnnasError as error:
        print(f"{time.strftime('%H:%M:%S')} not carrying {rows_json}: {error}", flush=True)
        return set()
    return {Path(r.run).resolve() for r in earlier.rows} | \
        {s.path.resolve() for s in earlier.searches}


def mark_carried(steps: Sequence[Step], runs: set[Path]) -> None:
    """Flag the steps an earlier report finished and whose folders are gone; a control's
    draw counts as carried when all of its trainings are (nothing is left that needs it)."""
    for step in steps:
        step.carried = not finished(step.run_dir) and step.run_dir.resolve() in runs
    for step in steps:
        users = [other for other in steps if other.needs == step.run_dir]
        if step.kind == "random" and users and not finished(step.run_dir):
            step.carried = all(done(other) for other in users)


def mark_stranded(steps: Sequence[Step], root: Path, record: Path | None) -> None:
    """Flag the steps that cannot run because a step they need (directly or through another
    step) is carried from the earlier report with its folder gone and not in the record:
    e.g. a second training of a network whose search's genotype files were lost before the
    record kept them."""
    by_dir = {step.run_dir: step for step in steps}

    def blocked(step: Step) -> bool:
        needed = by_dir.get(step.needs) if step.needs is not None else None
        if needed is None:
            return False
        if needed.carried and not finished(needed.run_dir):
            return not restorable(needed, root, record)
        return not done(needed) and blocked(needed)

    for step in steps:
        step.stranded = not done(step) and blocked(step)


def command(step: Step) -> list[str]:
    """Resume a folder a run already started in, else start afresh (the random genotypes
    are drawn again: the draw is deterministic and takes seconds)."""
    if step.module == "bnnas" and (step.run_dir / "config.yaml").is_file():
        return [step.kind, "--resume", str(step.run_dir), "--no-progress"]
    return step.argv


def shown(argv: Sequence[str], module: str = "bnnas") -> str:
    program = "bnnas" if module == "bnnas" else f"python -m {module}"
    return f"{program} {shlex.join(argv)}"


def live_writers() -> dict[Path, tuple[int, list[str]]]:
    """Each folder a live ``bnnas`` process writes (its ``--out`` or ``--resume`` argument,
    relative to that process's working folder, resolved), with the process's id and command
    line; one pass over /proc."""
    writers = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = [a.decode(errors="replace")
                    for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if not any("bnnas" in a for a in args):
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            cwd = Path.cwd()
        for i, arg in enumerate(args):
            value = args[i + 1] if arg in ("--out", "--resume") and i + 1 < len(args) else None
            if arg.startswith(("--out=", "--resume=")):
                value = arg.split("=", 1)[1]
            if value:
                writers[(cwd / value).resolve()] = (int(entry.name), args)
    return writers


def live_pid(run_dir: Path) -> int | None:
    """The id of a live ``bnnas`` process writing ``run_dir``, or None."""
    found = live_writers().get(run_dir.resolve())
    return None if found is None else found[0]


def runs_step(args: Sequence[str], step: Step) -> bool:
    """Whether a process's command line is this step's command as compare.py starts it (fresh
    or resumed): a run another compare.py started, whose end this one may record."""
    if "-m" not in args:
        return False
    tail = list(args[args.index("-m") + 1:])
    resumed = [step.module, step.kind, "--resume", str(step.run_dir), "--no-progress"]
    return tail in ([step.module, *step.argv], resumed)


def training_macs(model: str) -> float:
    """MACs per image of a zoo model as the recipe trains it (small stem at 28x28): the
    order of the baselines."""
    from bnnas.metrics import profile
    from bnnas.train.builder import build_model
    from bnnas.train.config import ModelConfig

    return profile(build_model(ModelConfig(name=model), 10, INPUT), INPUT).totals["macs"]


def _sets(pairs: Sequence[str], flag: str = "--set") -> list[str]:
    """``["a=1", "b=2"]`` -> ``["--set", "a=1", "--set", "b=2"]`` (or another ``flag``)."""
    return [item for pair in pairs for item in (flag, pair)]


def search_overrides(items: Sequence[str], method: str) -> list[str]:
    """The ``KEY=VALUE`` overrides of ``method``'s search: those given for every search and
    those given for it alone as ``METHOD:KEY=VALUE``."""
    chosen = []
    for item in items:
        scope, colon, pair = item.partition(":")
        if colon and "=" not in scope and scope in SEARCH_CONFIGS:
            if scope == method:
                chosen.append(pair)
        else:
            chosen.append(item)
    return chosen


def control_steps(folder: Path, method: str, seed: int, rank: int, found: list[str],
                  epochs: int, training: list[str], layout: Sequence[str] = ()) -> list[Step]:
    """The random-ops control of one search: draw RANDOM_NETS random genotypes of its space
    within 10% of the found network's OPs (seconds, just before its retrain, so that the draw
    is recorded even when the retrain is cut short), then train each with the same recipe and
    seed. The trainings cost as much as a retrain, so they run after every retrain of the
    seed, before the next seed's searches."""
    search, control = folder / "search", folder / CONTROL
    draw = Step("random", control, [
        *found, "--space", method, "--config", str(search / "config.yaml"), "--seed", str(seed),
        "--count", str(RANDOM_NETS), "--out", str(control),
        *_sets(layout, "--arg"),
    ], (1, seed, 0, rank, 0), needs=search, module=RANDOM_MODULE)
    steps = [draw]
    for k in range(RANDOM_NETS):
        run = control / f"train-{k}"
        steps.append(Step("train", run, [
            "train", "--config", RECIPE, "--genotype", str(control / f"genotype-{k}.json"),
            "--seed", str(seed), "--epochs", str(epochs), *training, "--out", str(run),
            "--no-progress",
        ], (1, seed, 1, rank, k), needs=control))
    return steps


def retrain_seed_steps(folder: Path, seed: int, rank: int, found: list[str], epochs: int,
                       training: list[str], relaid: list[str], retrain_seeds: Sequence[int],
                       controlled: bool) -> list[Step]:
    """The found network of search seed ``seed`` (and, if it has one, its control's networks)
    trained again with each other seed of ``retrain_seeds``, in ``train-seed<T>`` (and
    ``random-ops/train-<k>-seed<T>``): the spread over training seeds of one network, the
    "mean ± std over runs of the final architecture" of DARTS (Liu et al., ICLR 2019), at the
    cost of a retrain each rather than a search. They run after the seed's own retrains and
    controls, before the next seed's searches."""
    steps = []
    control = folder / CONTROL
    for other in (s for s in retrain_seeds if s != seed):
        run = folder / f"train-seed{other}"
        steps.append(Step("train", run, [
            "train", "--config", RECIPE, *found, "--seed", str(other), "--epochs", str(epochs),
            *relaid, *training, "--out", str(run), "--no-progress",
        ], (1, seed, 2, other, rank, 0), needs=folder / "search"))
        for k in range(RANDOM_NETS if controlled else 0):
            run = control / f"train-{k}-seed{other}"
            steps.append(Step("train", run, [
                "train", "--config", RECIPE, "--genotype", str(control / f"genotype-{k}.json"),
                "--seed", str(other), "--epochs", str(epochs), *training, "--out", str(run),
                "--no-progress",
            ], (1, seed, 2, other, rank, 1 + k), needs=control))
    return steps


def plan_steps(root: Path, methods: Sequence[str], baselines: Sequence[str],
               seeds: Sequence[int], epochs: int, *, search_set: Sequence[str] = (),
               train_set: Sequence[str] = (),
               layouts: dict[str, list[str]] | None = None,
               controlled: Sequence[str] | None = None,
               retrain_seeds: Sequence[int] = ()) -> list[Step]:
    """Every step of the study, done or not, with its priority (lower runs first);
    ``layouts`` maps a method to the ``KEY=VALUE`` layout changes of its retrain;
    ``controlled`` names the methods whose found network gets a random-ops control
    (default: ``DEFAULT_CONTROLS``); ``retrain_seeds`` are training seeds each found network
    (and its control's) is trained with besides its search's (:func:`retrain_seed_steps`)."""
    training = _sets(train_set)
    layouts = layouts or {}
    controlled = _names(DEFAULT_CONTROLS) if controlled is None else controlled
    steps = []
    for seed in seeds:
        for rank, method in enumerate(methods):
            folder = root / f"{method}-seed{seed}"
            search = folder / "search"
            steps.append(Step("search", search, [
                "search", "--method", method, "--config", SEARCH_CONFIGS[method],
                "--seed", str(seed), *_sets(search_overrides(search_set, method)),
                "--out", str(search), "--no-progress",
            ], (2, seed, 0, rank)))
            found = ["--genotype", str(search / "pareto.json"), "--pick", "best"] \
                if method in MULTI_OBJECTIVE else ["--genotype", str(search / "genotype.json")]
            layout = layouts.get(method, [])
            relaid = _sets([f"model.args.{pair}" for pair in layout])
            steps.append(Step("train", folder / "train", [
                "train", "--config", RECIPE, *found, "--seed", str(seed),
                "--epochs", str(epochs), *relaid, *training, "--out", str(folder / "train"),
                "--no-progress",
            ], (1, seed, 0, rank, 1), needs=search))
            if method in controlled:
                steps += control_steps(folder, method, seed, rank, found, epochs, training,
                                       layout)
            steps += retrain_seed_steps(folder, seed, rank, found, epochs, training, relaid,
                                        retrain_seeds, method in controlled)
    costs = {model: training_macs(model) for model in baselines}
    for seed in seeds:
        for model in baselines:
            run = root / f"{model}-seed{seed}" / "train"
            tier = (0, seed, costs[model]) if costs[model] < CHEAP_MACS else \
                (2, seed, 1, costs[model])
            steps.append(Step("train", run, [
                "train", "--config", RECIPE, "--model", model, "--seed", str(seed),
                "--epochs", str(epochs), *training, "--out", str(run), "--no-progress",
            ], tier))
    return steps


Writers = dict[Path, tuple[int, list[str]]]  # live_writers(): folder -> (pid, command line)


def next_step(steps: Sequence[Step], failed: set[Path], *, wait_live: bool = False,
              writers: Writers | None = None) -> Step | None:
    """The first step by priority that is not done, not failed in this session, not being
    run by another process, and whose search has finished; with ``wait_live``, none while
    another process runs a step. ``writers``: a snapshot of :func:`live_writers` to use."""
    writers = live_writers() if writers is None else writers
    if wait_live and waiting_for(steps, failed, writers):
        return None
    ready = [s for s in steps if not done(s) and not s.stranded and s.run_dir not in failed
             and ready_after(s, steps) and s.run_dir.resolve() not in writers]
    return min(ready, key=lambda s: s.priority, default=None)


def waiting_for(steps: Sequence[Step], failed: set[Path], writers: Writers | None = None
                ) -> list[tuple[Step, int]]:
    """Steps not done because a live process runs them (with its id)."""
    return [(step, pid) for step, pid, _ in _written(steps, failed, writers)]


def _written(steps: Sequence[Step], failed: set[Path], writers: Writers | None = None
             ) -> list[tuple[Step, int, list[str]]]:
    """Steps not done that a live process runs: the step, the process id, its command line."""
    writers = live_writers() if writers is None else writers
    live = []
    for step in steps:
        found = writers.get(step.run_dir.resolve())
        if found is not None and not done(step) and step.run_dir not in failed:
            live.append((step, *found))
    return live


def adopt(steps: Sequence[Step], failed: set[Path], adopted: dict[Path, Adopted],
          writers: Writers | None = None) -> None:
    """Remember the steps another compare.py started (same command line) and still runs,
    so that this one records their end as if it had started them: after a restart of
    compare.py, a training the previous one left running keeps its ``command.txt``, and a
    deadline (``--stop-after``) stops it too."""
    for step, pid, args in _written(steps, failed, writers):
        if step.run_dir not in adopted and runs_step(args, step):
            adopted[step.run_dir] = Adopted(step, pid)


def end_adopted(adopted: dict[Path, Adopted], writers: Writers | None = None) -> list[Step]:
    """The adopted steps whose process has gone: a finished one gets its ``command.txt``
    (unless it has one); all are forgotten (an unfinished one is left to be resumed)."""
    writers = live_writers() if writers is None else writers
    ended = [item.step for path, item in adopted.items() if path.resolve() not in writers]
    for step in ended:
        del adopted[step.run_dir]
        if finished(step.run_dir) and not (step.run_dir / "command.txt").is_file():
            write_command(step)
    return ended


def plan_lines(steps: Sequence[Step]) -> list[str]:
    """The commands still to run, in the order a run would take them, assuming each ends
    well; runs of other processes are listed as comments and assumed to end first."""
    lines = []
    ended = {s.run_dir for s in steps if done(s)}
    pending = [s for s in steps if s.run_dir not in ended and not s.stranded]
    for step in list(pending):
        pid = live_pid(step.run_dir)
        if pid is not None:
            lines.append(f"# running in pid {pid}, not started again: {step.label}")
            ended.add(step.run_dir)
            pending.remove(step)
    while pending:
        ready = [s for s in pending if s.needs is None or s.needs in ended]
        if not ready:
            break
        step = min(ready, key=lambda s: s.priority)
        lines.append(f"{shown(command(step), step.module)} > {step.log} 2>&1")
        ended.add(step.run_dir)
        pending.remove(step)
    return lines + [_stranded_line(s) for s in steps if s.stranded]


def _stranded_line(step: Step) -> str:
    return (f"# cannot run {step.label}: it needs {step.needs}, whose files are gone (carried "
            "from the earlier report, not in the record)")


class TerminatedError(Exception):
    """SIGTERM reached compare.py; the running step is stopped cleanly first."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise TerminatedError


@dataclass
class Adopted:
    """A step another compare.py started that this one watches to its end."""

    step: Step
    pid: int


@dataclass
class Running:
    """A step compare.py started and has not seen end yet."""

    step: Step
    proc: subprocess.Popen
    started: float


def start_step(step: Step) -> Running:
    """Start one step, its output appended to its log."""
    argv = command(step)
    step.run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(step.log, "a", encoding="utf-8") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {shown(argv, step.module)}\n")
        log.flush()
        proc = subprocess.Popen([sys.executable, "-m", step.module, *argv], stdout=log,
                                stderr=subprocess.STDOUT)
    return Running(step, proc, time.time())


def write_command(step: Step) -> None:
    """The step's command line into its run folder, where the report finds it."""
    (step.run_dir / "command.txt").write_text(shown(step.argv, step.module) + "\n",
                                              encoding="utf-8")


def end_step(running: Running, code: int) -> None:
    """After a step ended: its command line into its run folder when it succeeded."""
    if code == 0:
        write_command(running.step)


def stop_all(running: Sequence[Running], adopted: Sequence[Adopted] = (),
             grace: float = 600.0) -> None:
    """SIGTERM to every step still running, its own and the adopted ones (train and search
    stop at a checkpoint), and wait for them (an adopted one for at most ``grace`` seconds:
    it is not this process's child)."""
    for item in running:
        if item.proc.poll() is None:
            item.proc.send_signal(signal.SIGTERM)
    for other in adopted:
        with contextlib.suppress(ProcessLookupError):
            os.kill(other.pid, signal.SIGTERM)
    for item in running:
        item.proc.wait()
    deadline = time.monotonic() + grace
    while any(_alive(other.pid) for other in adopted) and time.monotonic() < deadline:
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, ended but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def parse_duration(text: str) -> float:
    """Seconds in ``90m``, ``1.5h``, ``2h30m``, ``45s`` or ``5400`` (seconds)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                         r"(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not text.strip() or match is None:
        raise ValueError(f"--stop-after takes a duration such as 90m, 1.5h, 2h30m or 5400s, "
                         f"got {text!r}")
    return sum(float(value) * units[unit] for value, unit in zip(match.groups(), "hms",
                                                                   strict=True) if value)


def record_step(step: Step, root: Path, record: Path) -> None:
    """Copy a finished search's or draw's own files into the record: not its checkpoints
    (``*.pt``), subfolders (checkpoints, the draw's trainings), the output of the draw's
    trainings (``train-<k>.log``, see :attr:`Step.log`) or hidden temporary files."""
    from bnnas.runs import write_bytes_atomic

    target = record / step.run_dir.relative_to(root)
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(step.run_dir.iterdir()):
        if path.is_file() and path.suffix not in (".pt", ".log") \
                and not path.name.startswith(".") and path.stat().st_size <= RECORD_MAX_BYTES:
            write_bytes_atomic(target / path.name, path.read_bytes())


def record_finished(steps: Sequence[Step], root: Path, record: Path | None) -> None:
    """Keep every finished search and draw of the study in the record."""
    if record is None:
        return
    for step in steps:
        if step.kind in RECORDED_KINDS and finished(step.run_dir):
            record_step(step, root, record)


def _recorded(step: Step, root: Path, record: Path | None) -> Path | None:
    """The record's finished copy of a search or draw not finished here, or None."""
    if record is None or step.kind not in RECORDED_KINDS or finished(step.run_dir):
        return None
    kept = record / step.run_dir.relative_to(root)
    return kept if (kept / "result.json").is_file() else None


def _occupied(folder: Path) -> bool:
    return folder.exists() and any(folder.iterdir())


def restorable(step: Step, root: Path, record: Path | None) -> bool:
    """Whether :func:`restore_recorded` would copy ``step`` back (recorded, and its folder
    here is missing or empty)."""
    return _recorded(step, root, record) is not None and not _occupied(step.run_dir)


def restore_recorded(steps: Sequence[Step], root: Path, record: Path | None) -> None:
    """Copy recorded searches and draws back into ``root`` where their folders are missing
    (a folder that exists is never touched: a run in it is resumed as usual)."""
    for step in steps:
        kept = _recorded(step, root, record)
        if kept is None:
            continue
        if _occupied(step.run_dir):
            print(f"{time.strftime('%H:%M:%S')} not restoring {step.label} from {kept}: "
                  f"{step.run_dir} is not empty", flush=True)
            continue
        shutil.copytree(kept, step.run_dir, dirs_exist_ok=True)
        print(f"{time.strftime('%H:%M:%S')} restored {step.label} from {kept}", flush=True)


def _holds_runs(root: Path) -> bool:
    return root.is_dir() and any(root.rglob("config.yaml"))


def update_results(root: Path, results: Path, literature: str | None) -> None:
    """Rebuild the report and ``compare.json`` from everything finished under ``root`` and
    what the previous report (``results/rows.json``) holds of runs no longer there."""
    from bnnas.errors import BnnasError
    from bnnas.report import collect_report, write_report
    from bnnas.runs import write_text_atomic

    inputs = [path for path in (root, results / "rows.json")
              if (path.is_file() if path.suffix == ".json" else _holds_runs(path))]
    if not inputs:
        print(f"{time.strftime('%H:%M:%S')} no report yet: nothing finished", flush=True)
        return
    try:
        report = collect_report(inputs, title=TITLE, literature=literature)
        write_report(report, results)
    except BnnasError as error:
        print(f"{time.strftime('%H:%M:%S')} no report yet: {error}", flush=True)
        return
    rows = [s.to_dict() for s in report.summaries if not s.published]
    write_text_atomic(results / "compare.json", json.dumps(rows, indent=2) + "\n")
    print(f"{time.strftime('%H:%M:%S')} report: {len(rows)} networks in {results}", flush=True)


def _safe_update(steps: Sequence[Step], root: Path, results: Path, literature: str | None,
                 record: Path | None) -> None:
    """Record the finished searches and rebuild the report; a failure there must not end
    hours of runs: say so and carry on."""
    try:
        record_finished(steps, root, record)
        update_results(root, results, literature)
    except Exception:  # noqa: BLE001
        traceback.print_exc()


def _lock(root: Path) -> Path:
    """Refuse a second compare.py on the same root while the first is alive."""
    lock = root / "compare.pid"
    if lock.is_file():
        text = lock.read_text().strip()
        pid = int(text) if text.isdigit() else None
        cmdline = Path(f"/proc/{pid}/cmdline") if pid else None
        if pid and pid != os.getpid() and cmdline is not None and cmdline.is_file() \
                and b"compare.py" in cmdline.read_bytes():
            raise SystemExit(f"compare.py already runs on {root} (pid {pid})")
    root.mkdir(parents=True, exist_ok=True)
    lock.write_text(f"{os.getpid()}\n")
    return lock


def _nap(seconds: float, deadline: float | None) -> None:
    """Sleep ``seconds``, but not past ``deadline``."""
    if deadline is not None:
        seconds = min(seconds, max(0.0, deadline - time.time()))
    time.sleep(seconds)


def run(steps: list[Step], root: Path, results: Path, literature: str | None, *,
        wait_live: bool = False, poll: float = POLL_SECONDS, jobs: int | None = None,
        record: Path | None = None, deadline: float | None = None) -> int:
    """Run every step; 0 if all finished, 1 if any failed. With ``jobs`` None one at a time,
    whatever other processes run; else up to ``jobs`` steps at once counting the steps
    other processes run (on a machine of ``jobs`` cores no more than that many share it).
    At ``deadline`` (a ``time.time()``) every step still running, its own or adopted, is
    stopped at a checkpoint and the study ends for now (0): a machine lent for some hours
    is left with every run resumable."""
    failed: set[Path] = set()
    announced: set[int] = set()
    running: list[Running] = []
    adopted: dict[Path, Adopted] = {}
    _safe_update(steps, root, results, literature, record)
    try:
        while True:
            writers = live_writers()  # one look at /proc per round
            adopt(steps, failed | {item.step.run_dir for item in running}, adopted, writers)
            if deadline is not None and time.time() >= deadline:
                print(f"{time.strftime('%H:%M:%S')} time is up: stopping "
                      f"{len(running) + len(adopted)} running step(s) at a checkpoint; run "
                      "compare.py again to continue", flush=True)
                stop_all(running, list(adopted.values()))
                _safe_update(steps, root, results, literature, record)
                return 0
            ended = end_adopted(adopted, writers)
            for step in ended:
                state = "done" if finished(step.run_dir) else "stopped unfinished"
                print(f"{time.strftime('%H:%M:%S')} {state} {step.label} (run by another "
                      "process)", flush=True)
            if any(finished(step.run_dir) for step in ended):
                _safe_update(steps, root, results, literature, record)
            for item in [r for r in running if r.proc.poll() is not None]:
                running.remove(item)
                code = item.proc.returncode
                end_step(item, code)
                minutes = (time.time() - item.started) / 60
                if code != 0:
                    failed.add(item.step.run_dir)
                    print(f"{time.strftime('%H:%M:%S')} FAILED {item.step.label} (exit {code}, "
                          f"{minutes:.1f} min); see {item.step.log}", flush=True)
                else:
                    print(f"{time.strftime('%H:%M:%S')} done {item.step.label} "
                          f"({minutes:.1f} min)", flush=True)
                    _safe_update(steps, root, results, literature, record)
            ours = {item.step.run_dir for item in running}
            step = None
            if len(running) < (jobs or 1) and (jobs is None or len(running) + len(
                    waiting_for(steps, failed | ours, writers)) < jobs):
                step = next_step(steps, failed | ours, wait_live=wait_live, writers=writers)
            if step is not None:
                print(f"{time.strftime('%H:%M:%S')} start {step.label}: "
                      f"{shown(command(step), step.module)}", flush=True)
                running.append(start_step(step))
                continue
            if not running:
                live = waiting_for(steps, failed, writers)
                if not live:
                    if announced:  # what other processes finished meanwhile
                        _safe_update(steps, root, results, literature, record)
                    break
                for other, pid in live:
                    if pid not in announced:
                        print(f"{time.strftime('%H:%M:%S')} waiting for pid {pid} "
                              f"({other.label})", flush=True)
                        announced.add(pid)
                _nap(poll, deadline)
            else:
                _nap(min(poll, 5.0), deadline)
    except (TerminatedError, KeyboardInterrupt):
        stop_all(running)
        raise
    left = [s.label for s in steps if not done(s) and not s.stranded]
    if left:
        print(f"not finished: {', '.join(left)}", flush=True)
    for step in steps:
        if step.stranded:
            print(_stranded_line(step), flush=True)
    return 1 if failed else 0


def _names(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _layouts(items: Sequence[str], methods: Sequence[str]) -> dict[str, list[str]]:
    """``["ubnas:cells=5", "ubnas:channels=8"]`` -> ``{"ubnas": ["cells=5", "channels=8"]}``."""
    layouts: dict[str, list[str]] = {}
    for item in items:
        method, _, pair = item.partition(":")
        if method not in methods or "=" not in pair:
            raise ValueError(f"--layout takes METHOD:KEY=VALUE with METHOD one of "
                             f"{', '.join(methods)}, e.g. ubnas:cells=5; got {item!r}")
        layouts.setdefault(method, []).append(pair)
    return layouts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="runs/compare", help="folder of all runs")
    parser.add_argument("--methods", default=DEFAULT_METHODS,
                        help=f"comma-separated search methods (default {DEFAULT_METHODS})")
    parser.add_argument("--baselines", default=DEFAULT_BASELINES,
                        help=f"comma-separated zoo models (default {DEFAULT_BASELINES})")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds (default 0,1)")
    parser.add_argument("--retrain-seeds", default="",
                        help="comma-separated training seeds every found network (and its "
                        "control's networks) is also trained with, besides its search's seed "
                        "(default none; e.g. 1: a second training of seed 0's networks)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    parser.add_argument("--search-set", action="append", default=[], metavar="[METHOD:]KEY=VALUE",
                        help="a config override for every search, or for one method's "
                        "(repeatable; a quick trial: --search-set data.limit=1024; "
                        "--search-set bars:data.limit=16000)")
    parser.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every train (repeatable)")
    parser.add_argument("--layout", action="append", default=[], metavar="METHOD:KEY=VALUE",
                        help="retrain a method's found cells on another layout, e.g. "
                        "ubnas:cells=5 (repeatable; its random control uses it too)")
    parser.add_argument("--controls", default=DEFAULT_CONTROLS,
                        help="comma-separated methods whose found network gets 3 random "
                        f"networks of equal OPs as a control (default {DEFAULT_CONTROLS}; "
                        "'' for none)")
    parser.add_argument("--results", default="docs/results",
                        help="folder of the report and compare.json (default docs/results)")
    parser.add_argument("--record", default=RECORD,
                        help="folder that keeps the finished searches and draws without "
                        f"checkpoints (default {RECORD}; '' for none)")
    parser.add_argument("--literature", default=LITERATURE,
                        help="published results for the report ('' for none)")
    parser.add_argument("--wait-live", action="store_true",
                        help="start nothing while another process runs a step (its times "
                        "stay undisturbed; by default other steps run meanwhile)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="steps running at once, counting those of other processes "
                        "(default: one of its own, whatever others run; 2 on two cores with "
                        "OMP_NUM_THREADS=1 finishes sooner than 1 with two threads)")
    parser.add_argument("--stop-after", default=None, metavar="DURATION",
                        help="stop every running step at a checkpoint after this long (90m, "
                        "1.5h, 2h30m, 5400s) and exit, e.g. before a machine lent for some "
                        "hours goes away; run it again to continue")
    parser.add_argument("--only-plan", action="store_true",
                        help="print the commands still to run, in order, and exit")
    args = parser.parse_args(argv)

    methods, baselines = _names(args.methods), _names(args.baselines)
    unknown = [m for m in [*methods, *_names(args.controls)] if m not in SEARCH_CONFIGS]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; choose from {', '.join(SEARCH_CONFIGS)}")
    try:
        seeds = [int(s) for s in _names(args.seeds)]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    try:
        retrain_seeds = [int(s) for s in _names(args.retrain_seeds)]
    except ValueError:
        parser.error(f"--retrain-seeds takes comma-separated integers, got "
                     f"{args.retrain_seeds!r}")
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    if args.jobs is not None and args.jobs < 1:
        parser.error("--jobs must be >= 1")
    try:
        deadline = None if args.stop_after is None else \
            time.time() + parse_duration(args.stop_after)
    except ValueError as error:
        parser.error(str(error))
    if not Path(RECIPE).is_file():
        parser.error(f"{RECIPE} not found; run compare.py from the repository root")
    try:
        layouts = _layouts(args.layout, methods)
    except ValueError as error:
        parser.error(str(error))
    root = Path(args.root)
    steps = plan_steps(root, methods, baselines, seeds, args.epochs,
                       search_set=args.search_set, train_set=args.train_set, layouts=layouts,
                       controlled=_names(args.controls), retrain_seeds=retrain_seeds)
    record = Path(args.record) if args.record else None
    mark_carried(steps, carried_runs(Path(args.results) / "rows.json"))
    mark_stranded(steps, root, record)
    if args.only_plan:
        for step in steps:  # a run restores these before it starts anything
            step.carried = step.carried or restorable(step, root, record)
        print("\n".join(plan_lines(steps)) or "# nothing left to run")
        return 0
    lock = _lock(root)
    signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        restore_recorded(steps, root, record)
        return run(steps, root, Path(args.results), args.literature or None,
                   wait_live=args.wait_live, jobs=args.jobs, record=record,
                   deadline=deadline)
    except (TerminatedError, KeyboardInterrupt):
        print("stopped; run compare.py again to continue", flush=True)
        return 143
    finally:
        lock.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())

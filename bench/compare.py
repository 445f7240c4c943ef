"""Benchmark: every search method and the hand-made baselines on Fashion-MNIST, one recipe.

For each method (MO-TS-BNAS, its random-search baseline, UBNAS, BARS) and seed: search with
the method's Fashion-MNIST config in ``ROOT/<method>-seed<S>/search``, then train the found
network from scratch in ``ROOT/<method>-seed<S>/train`` with the shared recipe
(``bench/compare-recipe.yaml``; for MO-TS-BNAS and random search the lowest-error member of
the front: ``--genotype pareto.json --pick best``); the hand-made baselines are trained with
the same recipe in ``ROOT/<model>-seed<S>/train``. Each search (but random search, which is
that control for MO-TS-BNAS's space; ``--controls``; ``--control-seeds 0`` for seed 0's
searches only) also gets a random control
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
plots, ``rows.json``) together with ``docs/results/compare.json``, one object per line of the
table: per network the mean and std over its training seeds done, then the published rows of
``--literature`` (``"published": true``, no command).

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
its genotype files. The parts live in ``bench/study/`` (steps, plan, schedule,
processes, record, results); this script is the loop and its command line. Run from the
repository root:

    nohup .venv/bin/python bench/compare.py > runs/compare.log 2>&1 &
    .venv/bin/python bench/compare.py --only-plan        # the commands still to run, in order
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from study.plan import (
    DEFAULT_BASELINES,
    DEFAULT_CONTROLS,
    DEFAULT_METHODS,
    RECIPE,
    SEARCH_CONFIGS,
    comma_list,
    plan_steps,
)
from study.processes import (
    Adopted,
    Running,
    TerminatedError,
    end_step,
    live_writers,
    raise_stopped,
    start_step,
    stop_all,
)
from study.record import (
    RECORD,
    carried_runs,
    mark_carried,
    mark_stranded,
    restorable,
    restore_recorded,
)
from study.results import safe_update
from study.schedule import adopt, end_adopted, next_step, plan_lines, stranded_line, waiting_for
from study.steps import Step, command, done, finished, shown

LITERATURE = "bench/literature-fashion.yaml"
POLL_SECONDS = 60


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
    safe_update(steps, root, results, literature, record)
    try:
        while True:
            writers = live_writers()  # one look at /proc per round
            adopt(steps, failed | {item.step.run_dir for item in running}, adopted, writers)
            if deadline is not None and time.time() >= deadline:
                print(f"{time.strftime('%H:%M:%S')} time is up: stopping "
                      f"{len(running) + len(adopted)} running step(s) at a checkpoint; run "
                      "compare.py again to continue", flush=True)
                stop_all(running, list(adopted.values()))
                safe_update(steps, root, results, literature, record)
                return 0
            ended = end_adopted(adopted, writers)
            for step in ended:
                state = "done" if finished(step.run_dir) else "stopped unfinished"
                print(f"{time.strftime('%H:%M:%S')} {state} {step.label} (run by another "
                      "process)", flush=True)
            if any(finished(step.run_dir) for step in ended):
                safe_update(steps, root, results, literature, record)
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
                    safe_update(steps, root, results, literature, record)
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
                        safe_update(steps, root, results, literature, record)
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
            print(stranded_line(step), flush=True)
    return 1 if failed else 0


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
    parser.add_argument("--control-seeds", default=None,
                        help="comma-separated search seeds whose found networks get that "
                        "control (default: every seed; e.g. 0: the other seeds' searches and "
                        "retrains come sooner)")
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

    methods, baselines = comma_list(args.methods), comma_list(args.baselines)
    unknown = [m for m in [*methods, *comma_list(args.controls)] if m not in SEARCH_CONFIGS]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; choose from {', '.join(SEARCH_CONFIGS)}")
    try:
        seeds = [int(s) for s in comma_list(args.seeds)]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    try:
        retrain_seeds = [int(s) for s in comma_list(args.retrain_seeds)]
    except ValueError:
        parser.error(f"--retrain-seeds takes comma-separated integers, got "
                     f"{args.retrain_seeds!r}")
    try:
        control_seeds = None if args.control_seeds is None else \
            [int(s) for s in comma_list(args.control_seeds)]
    except ValueError:
        parser.error(f"--control-seeds takes comma-separated integers, got "
                     f"{args.control_seeds!r}")
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
                       controlled=comma_list(args.controls), control_seeds=control_seeds,
                       retrain_seeds=retrain_seeds)
    record = Path(args.record) if args.record else None
    mark_carried(steps, carried_runs(Path(args.results) / "rows.json"))
    mark_stranded(steps, root, record)
    if args.only_plan:
        for step in steps:  # a run restores these before it starts anything
            step.carried = step.carried or restorable(step, root, record)
        print("\n".join(plan_lines(steps)) or "# nothing left to run")
        return 0
    lock = _lock(root)
    signal.signal(signal.SIGTERM, raise_stopped)
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

"""Benchmark: candidates scored per second by the local and the Ray evaluation backends.

Builds the supernet and fast evaluator of a MO-TS-BNAS config (no training needed: the cost
of scoring does not depend on the weights), samples ``--candidates`` distinct paths, and
scores the same list with each backend in one process:

* local: this process, once per torch thread count in ``--threads``;
* Ray, cold: a fresh local Ray (``--ray-cpus`` CPUs, tasks of ``--cpus-per-task``) whose
  worker processes start and import torch during the call, as in a search's first generation;
* Ray, warm: after one supernet training step, as in every later generation (the workers run,
  the new weights are put in the object store once).

Ray's start-up (``ray.init``) is timed apart. Both backends must give identical errors; the
script fails otherwise. Prints a Markdown table row and the command. Run by hand; results go
to docs/RESULTS.md.

    .venv/bin/python bench/backends.py --config configs/mots-smoke.yaml --candidates 20
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shlex
import sys
import tempfile
import time

import numpy as np
import torch

from bnnas.config import load_config
from bnnas.search.backends import LocalBackend
from bnnas.search.mots import EvolutionarySearch
from bnnas.search.mots_config import MOTSConfig


def timed(call):
    tic = time.perf_counter()
    result = call()
    return result, time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/mots-smoke.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--threads", default=f"1,{os.cpu_count() or 1}",
                        help="torch thread counts of the local backend (default: 1,all CPUs)")
    parser.add_argument("--ray-cpus", type=int, default=os.cpu_count() or 1,
                        help="CPUs of the local Ray (default: all)")
    parser.add_argument("--cpus-per-task", type=float, default=1.0)
    args = parser.parse_args()

    import ray

    from bnnas.search.ray_backend import RayBackend

    overrides = [*args.set, "device=cpu", "supernet.steps_per_generation=1"]
    config = load_config(MOTSConfig, args.config, overrides)
    config.evolution.ray_cpus_per_task = args.cpus_per_task
    with tempfile.TemporaryDirectory() as run:
        search = EvolutionarySearch(config, run, progress=False)
        rng = np.random.default_rng(config.seed)
        vectors: list = []
        while len(vectors) < args.candidates:
            vectors = list(dict.fromkeys([*vectors, search.encoding.sample(rng)]))
        paths = [search.encoding.decode(v) for v in vectors]
        evaluator = search.evaluator

        local_s = {}
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            local, local_s[threads] = timed(lambda: LocalBackend().errors(evaluator, paths))
        torch.set_num_threads(min(local_s))

        _, start_s = timed(lambda: ray.init(address="local", num_cpus=args.ray_cpus,
                                            include_dashboard=False,
                                            logging_level=logging.WARNING))
        backend = RayBackend(config.evolution)
        cold, cold_s = timed(lambda: backend.errors(evaluator, paths))

        search.population = vectors  # one stage-2 step: new weights, as in a next generation
        search.stage2_training()
        local_next = LocalBackend().errors(evaluator, paths)
        warm, warm_s = timed(lambda: backend.errors(evaluator, paths))
        backend.close()
        ray.shutdown()

    identical = cold == local and warm == local_next
    n = len(paths)
    command = " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv])
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"ray {ray.__version__}; {n} candidates; supernet {config.space.cells} cells x "
          f"{config.space.channels} channels; evaluator {len(evaluator.calibration)} + "
          f"{len(evaluator.validation)} batches of {config.evaluation.batch_size}")
    print("| candidates | local, cand/s (threads) | Ray cold | Ray warm | ray.init | weight puts | "
          "identical errors |")
    print("|---|---|---|---|---|---|---|")
    local_rates = ", ".join(f"{n / s:.2f} ({t})" for t, s in local_s.items())
    print(f"| {n} | {local_rates} | {n / cold_s:.2f} cand/s | "
          f"{n / warm_s:.2f} cand/s ({args.ray_cpus} CPUs, {args.cpus_per_task:g} per task) | "
          f"{start_s:.1f} s | {backend.weight_puts} | {'yes' if identical else 'NO'} |")
    print(f"command: {command}")
    if not identical:
        raise SystemExit("the backends disagree")


if __name__ == "__main__":
    main()

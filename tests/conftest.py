"""Shared test settings: deterministic, single-threaded torch (tests run two at a time),
and a tiny learnable dataset so training and search tests run in seconds."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import bnnas
from bnnas.data.datasets import Dataset
from bnnas.data.tensors import ImageTensors
from bnnas.train.checkpoint import PAUSE_ENV


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def make_images(n: int, seed: int) -> ImageTensors:
    """Class c lights up quadrant c of a 12x12 image, plus noise: easy but not trivial."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = torch.randint(0, 90, (n, 1, 12, 12), generator=g)
    for c in range(4):
        r, q = divmod(c, 2)
        images[labels == c, :, 6 * r : 6 * r + 6, 6 * q : 6 * q + 6] += 140
    return ImageTensors(images.clamp(0, 255).to(torch.uint8), labels.to(torch.int64))


@pytest.fixture
def tiny_dataset() -> Dataset:
    return Dataset(
        name="tiny",
        train=make_images(192, 0),
        test=make_images(64, 1),
        num_classes=4,
        input_shape=(1, 12, 12),
        mean=(0.4,),
        std=(0.3,),
        classes=("a", "b", "c", "d"),
    )


# ------------------------------------------------------------------ bnnas in a subprocess
CONFIGS = Path(bnnas.__file__).resolve().parent / "configs"
_SEARCH = ["--set", "data.limit=128", "--set", "data.batch_size=32", "--set", "space.steps=2"]
_MOTS = [*_SEARCH, "--set", "space.cells=2", "--set", "space.final_cells=2",
         "--set", "evolution.population=4", "--set", "evolution.generations=3",
         "--set", "supernet.stage1_epochs=1", "--set", "supernet.steps_per_generation=2",
         "--set", "evaluation.calibration_batches=1", "--set", "evaluation.validation_batches=1",
         "--set", "evaluation.batch_size=32"]
TINY_RUNS: dict[str, list[object]] = {
    # About 0.5 s per epoch on one core: long enough to stop, short enough to test often.
    "train": ["train", "--no-progress", "--epochs", "8", "--seed", "0",
              "--set", "data.batch_size=64", "--set", "data.limit=256",
              "--set", "model.args.blocks_per_stage=1"],
    "ubnas": ["search", "--no-progress", "--method", "ubnas",
              "--config", CONFIGS / "ubnas-smoke.yaml", *_SEARCH,
              "--set", "epochs=4", "--set", "space.cells=3", "--set", "space.final_cells=3",
              "--set", "early_stop.stable_epochs=null", "--set", "early_stop.skip_connects=null"],
    "bars": ["search", "--no-progress", "--method", "bars",
             "--config", CONFIGS / "bars-smoke.yaml", *_SEARCH,
             "--set", "space.stages=2", "--set", "budget.ops=null",
             "--set", "derive.macro=argmax"],
    "mots": ["search", "--no-progress", "--method", "mots",
             "--config", CONFIGS / "mots-smoke.yaml", *_MOTS],
    "random": ["search", "--no-progress", "--method", "random",
               "--config", CONFIGS / "mots-smoke.yaml", *_MOTS],
}
"""Tiny ``bnnas`` invocations (add ``--out DIR``) of every resumable command and method."""


class BnnasProcess:
    """Runs ``python -m bnnas`` as a user's shell would, so that signals, exit codes and
    kills are real; one torch thread each, so two runs side by side give equal numbers."""

    tiny = TINY_RUNS

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k != PAUSE_ENV}
        return {**base, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}

    def start(self, *argv: object, **env: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "bnnas", *map(str, argv)], cwd=self.cwd, env=self.env(**env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def run(self, *argv: object, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
        proc = self.start(*argv, **env)
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    @staticmethod
    def wait_for(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 300) -> bool:
        """Poll until ``ready()``; False if the process ended first (or the time ran out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return True
            if proc.poll() is not None:
                return ready()
            time.sleep(0.02)
        return False

    @staticmethod
    def checkpoints(run: Path, pattern: str = "epoch-*.pt") -> list[Path]:
        """Checkpoint files of a run folder matching ``pattern`` (temporary: ``.epoch-*``)."""
        folder = run / "checkpoints"
        return sorted(folder.glob(pattern)) if folder.is_dir() else []

    @staticmethod
    def outcome(run: Path) -> dict[str, object]:
        """What two runs of one config must share, whether stopped and resumed or not: the final
        architecture or front, the per-epoch logs without timings, and the final weights."""
        out: dict[str, object] = {}
        for name in ("genotype.json", "pareto.json"):
            if (run / name).is_file():
                out[name] = json.loads((run / name).read_text())
        for name in ("metrics.jsonl", "history.jsonl"):
            if (run / name).is_file():
                out[name] = [{k: v for k, v in json.loads(line).items() if "seconds" not in k}
                             for line in (run / name).read_text().splitlines()]
        if (run / "final.pt").is_file():
            state = torch.load(run / "final.pt", weights_only=True)
            out["final.pt"] = {k: v.tolist() for k, v in state["model"].items()}
        return out


@pytest.fixture
def bnnas_process(tmp_path: Path) -> BnnasProcess:
    return BnnasProcess(tmp_path)

"""A tiny study made once per session with the smoke configs: a UBNAS and a MO-TS-BNAS
search on 64 bundled images, the networks they found trained for one epoch, and a
hand-made network trained with two seeds; all in a few seconds."""

from dataclasses import dataclass
from pathlib import Path

import pytest

import bnnas
from bnnas.cli import main

CONFIGS = Path(bnnas.__file__).resolve().parent / "configs"
SMALL = ["--no-progress", "--set", "data.limit=64", "--set", "data.batch_size=16"]
SEARCH = [*SMALL, "--set", "space.steps=2", "--set", "space.channels=4"]
TRAIN = [*SMALL, "--epochs", "1", "--set", "data.eval_batch_size=1000"]


@dataclass
class Study:
    root: Path
    ubnas: Path
    mots: Path
    ubnas_train: Path
    mots_train: Path
    hand: list[Path]
    train_args: tuple[str, ...] = tuple(TRAIN)  # how the study's networks were trained


def bnnas(*argv: object) -> None:
    assert main([str(a) for a in argv]) == 0, argv


@pytest.fixture(scope="session")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    root = tmp_path_factory.mktemp("study")
    s = Study(root, root / "ubnas-search", root / "mots-search", root / "ubnas-train",
              root / "mots-train", [root / "hand-seed0", root / "hand-seed1"])
    bnnas("search", "--method", "ubnas", "--config", CONFIGS / "ubnas-smoke.yaml", *SEARCH,
          "--set", "epochs=2", "--set", "space.cells=3", "--set", "space.final_cells=3",
          "--set", "early_stop.stable_epochs=null", "--set", "space.final_channels=4",
          "--out", s.ubnas)
    bnnas("search", "--method", "mots", "--config", CONFIGS / "mots-smoke.yaml", *SEARCH,
          "--set", "space.cells=2", "--set", "space.final_cells=2",
          "--set", "evolution.population=4", "--set", "evolution.generations=2",
          "--set", "supernet.stage1_epochs=1", "--set", "supernet.steps_per_generation=1",
          "--set", "evaluation.calibration_batches=1",
          "--set", "evaluation.validation_batches=1", "--set", "evaluation.batch_size=16",
          "--set", "space.final_channels=4", "--out", s.mots)
    bnnas("train", *TRAIN, "--genotype", s.ubnas / "genotype.json", "--out", s.ubnas_train)
    bnnas("train", *TRAIN, "--genotype", s.mots / "pareto.json", "--pick", "best",
          "--out", s.mots_train)
    for seed, run in enumerate(s.hand):
        bnnas("train", *TRAIN, "--model", "bresnet_small", "--seed", seed,
              "--set", "model.args.blocks_per_stage=1", "--out", run)
    return s

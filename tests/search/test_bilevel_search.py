"""The bilevel search loop (UBNAS, BARS) stopped by a signal mid-epoch: ``mid-epoch.pt``
after the last whole step, and a resume at the next step that ends with the genotype,
metrics and supernet of an uninterrupted search."""

import json
import os
import signal

import pytest
import torch

from bnnas.config import load_config
from bnnas.interrupt import Interrupted, StopSignals
from bnnas.search.bars import BARSSearch
from bnnas.search.bars_config import BARSConfig
from bnnas.search.config import UBNASConfig
from bnnas.search.ubnas import UBNASSearch
from bnnas.train.checkpoint import load_checkpoint
from bnnas.train.mid_epoch import MID_EPOCH_FILE

UBNAS = [
    "data.batch_size=32", "space.cells=3", "space.channels=8", "space.steps=2",
    "space.partial_k_normal=2", "space.partial_k_reduce=2", "arch.warmup_epochs=1",
    "arch.lr=0.01", "optim.lr=0.005", "early_stop.skip_connects=null",
    "early_stop.stable_epochs=null", "epochs=3", "keep_checkpoints=3",
]
BARS = [
    "data.batch_size=32", "data.augment=false", "space.stages=2", "space.channels=8",
    "space.max_depth=2", "space.steps=2", "arch.warmup_epochs=1", "arch.lr=0.01",
    "optim.lr=0.005", "budget.ops=20000", "space.output=add", "epochs=3", "keep_checkpoints=3",
]
KINDS = {"ubnas": (UBNASSearch, UBNASConfig, UBNAS), "bars": (BARSSearch, BARSConfig, BARS)}


def _search(kind, run, dataset):
    cls, config_cls, overrides = KINDS[kind]
    run.mkdir(exist_ok=True)
    return cls(load_config(config_cls, overrides=overrides), run, dataset=dataset,
               progress=False)


def _signal_at(search, calls):
    """SIGTERM to this process inside the ``calls``-th weight forward of the run."""
    forward, seen = search.forward, []

    def signalling(x):
        seen.append(1)
        if len(seen) == calls:
            os.kill(os.getpid(), signal.SIGTERM)
        return forward(x)

    search.forward = signalling


def _outcome(run):
    rows = [{k: v for k, v in json.loads(line).items() if k != "epoch_seconds"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]
    weights = load_checkpoint(run / "checkpoints" / "epoch-0003.pt")["model"]
    return ((run / "genotype.json").read_text(), rows,
            {k: v.tolist() for k, v in weights.items() if torch.is_tensor(v)})


@pytest.mark.parametrize("kind", ["ubnas", "bars"])
def test_a_stop_mid_epoch_resumes_at_the_next_step_to_the_same_search(kind, tmp_path,
                                                                      tiny_dataset):
    reference = tmp_path / "reference"
    _search(kind, reference, tiny_dataset).run()
    run = tmp_path / "stopped"
    search = _search(kind, run, tiny_dataset)
    steps = search.steps_per_epoch()
    assert steps >= 3
    _signal_at(search, steps + 2)  # the second step of epoch 2, the first with alphas moving
    with pytest.raises(Interrupted), StopSignals():
        search.run()
    mid = load_checkpoint(run / "checkpoints" / MID_EPOCH_FILE)
    assert mid["epoch"] == 1 and mid["mid_epoch"]["step"] == 2
    assert mid["mid_epoch"]["totals"]["arch_steps"] == 2
    resumed = _search(kind, run, tiny_dataset)
    assert resumed.resume() and resumed.epoch == 1 and resumed.progress_in_epoch.step == 2
    resumed.run()
    assert _outcome(run) == _outcome(reference)
    assert not (run / "checkpoints" / MID_EPOCH_FILE).exists()

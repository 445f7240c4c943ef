"""The GPU switches (mixed precision, torch.compile, pinned memory) on the code paths a CPU
can run: the decisions are the same functions, and CPU autocast takes the bf16 branch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from torch._dynamo.eval_frame import OptimizedModule

from bnnas.config import load_config
from bnnas.search.config import UBNASConfig
from bnnas.search.mots import EvolutionarySearch
from bnnas.search.mots_config import MOTSConfig
from bnnas.search.ubnas import UBNASSearch
from bnnas.train import TrainConfig, Trainer

pytestmark = pytest.mark.filterwarnings("ignore:.*script_method.*:DeprecationWarning")

SEARCH = ["data.batch_size=16", "epochs=1", "arch.warmup_epochs=0", "space.cells=3",
          "space.channels=4", "space.steps=2", "device=cpu"]


def test_compile_switch_wraps_the_training_forward_only_when_asked(tiny_dataset, tmp_path):
    base = ["data.batch_size=32", "device=cpu"]
    plain = Trainer(load_config(TrainConfig, overrides=base), tmp_path, dataset=tiny_dataset,
                    progress=False)
    assert plain.forward is plain.model and not plain.train_loader.pin_memory
    compiled = Trainer(load_config(TrainConfig, overrides=[*base, "compile=true"]), tmp_path,
                       dataset=tiny_dataset, progress=False)
    assert isinstance(compiled.forward, OptimizedModule)  # built lazily: nothing compiles yet
    search = UBNASSearch(load_config(UBNASConfig, overrides=[*SEARCH, "compile=true"]),
                         tmp_path, dataset=tiny_dataset, progress=False)
    assert isinstance(search.forward, OptimizedModule)
    assert search.amp is None  # CPU runs stay float32 whatever amp says


def test_search_step_runs_under_bf16_autocast(tiny_dataset, tmp_path):
    search = UBNASSearch(load_config(UBNASConfig, overrides=[*SEARCH, "amp=bf16"]), tmp_path,
                         dataset=tiny_dataset, progress=False)
    before = torch.cat([p.detach().flatten().clone() for p in search.model.arch_parameters()])
    search.amp = torch.bfloat16  # what amp_dtype picks on CUDA; CPU autocast runs it too
    stats = search.search_epoch()
    after = torch.cat([p.detach().flatten() for p in search.model.arch_parameters()])
    assert stats["arch_loss"] is not None and torch.isfinite(torch.tensor(stats["train_loss"]))
    assert not torch.equal(before, after)
    assert all(p.dtype == torch.float32 for p in search.model.parameters())


def test_mots_weight_step_runs_under_bf16_autocast(tiny_dataset, tmp_path):
    config = load_config(MOTSConfig, overrides=[
        "data.batch_size=16", "space.cells=2", "space.channels=4", "space.steps=2",
        "supernet.stage1_epochs=1", "device=cpu", "amp=bf16",
    ])
    search = EvolutionarySearch(config, tmp_path, dataset=tiny_dataset, progress=False)
    search.amp = torch.bfloat16
    stats = search.stage1_epoch()
    assert torch.isfinite(torch.tensor(stats["train_loss"]))


def test_the_package_never_hard_codes_cuda():
    package = Path(__file__).resolve().parents[1] / "bnnas"
    found = subprocess.run(["grep", "-rn", "--include=*.py", r"\.cuda()", str(package)],
                           capture_output=True, text=True)
    offenders = [line for line in found.stdout.splitlines() if "never hard-coded" not in line]
    assert offenders == []

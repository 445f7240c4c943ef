"""Data-parallel training on two CPU processes (gloo) against one process on the same batches.

The two-process run is launched once per module (``tests/ddp_worker.py``, with torchrun's
environment variables) and does everything the tests below compare: a training run, its
resume, and UBNAS searches. Batches are sharded so that the ranks' shares of a global batch
are that batch; what keeps a two-process step from equalling a one-process step is
BatchNorm, whose statistics are per rank. The trainer test therefore uses a network without
BN, and the exact alpha test freezes BN in both runs (see ``ddp_worker.frozen_batch_norm``);
with live BN the alphas must still be identical on both ranks, and a run that skips the
explicit averaging must show them drifting apart, or the test could not fail.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from bnnas.data import BatchLoader
from bnnas.data.transforms import Transform
from bnnas.device import amp_dtype, loader_options
from bnnas.distributed import DistContext, backend_name, current, torchrun_env
from bnnas.errors import ConfigError
from bnnas.search.ubnas import UBNASSearch
from bnnas.train import Trainer
from bnnas.train.checkpoint import load_checkpoint
from bnnas.train.mid_epoch import MID_EPOCH_FILE, RANKS_KEY

WORKER = Path(__file__).with_name("ddp_worker.py")


def _worker_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ddp_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def worker() -> ModuleType:
    return _worker_module()


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """Two ranks of ``ddp_worker.py``; their saved results, rank 0 first."""
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
           "WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), str(out)],
                         env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for r in range(2)
    ]
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=300)[0])
        finally:
            p.kill()
    for p, text in zip(procs, logs, strict=True):
        assert p.returncode == 0, text[-3000:]
    return out, [torch.load(out / f"rank-{r}.pt") for r in range(2)]


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


# ----------------------------------------------------------------- two processes
def test_ddp_training_equals_one_process_on_the_global_batch(ddp_run, worker, tmp_path):
    _, (rank0, rank1) = ddp_run
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert _max_diff(rank0["train"], rank1["train"]) == 0.0  # DDP keeps replicas equal
    (tmp_path / "run").mkdir()
    single = worker.train(tmp_path / "run")
    assert _max_diff(rank0["train"], single) < 1e-5
    torch.manual_seed(0)
    untrained = worker.RealNet(num_classes=4).state_dict()
    assert _max_diff(single, untrained) > 1e-2  # training moved the weights


def test_ddp_resume_ends_where_the_uninterrupted_run_did(ddp_run):
    _, ranks = ddp_run
    for result in ranks:
        assert _max_diff(result["train_resumed"], result["train"]) < 1e-6


def test_ranks_stop_together_when_one_is_signalled_and_resume_inside_the_epoch(ddp_run):
    out, ranks = ddp_run
    assert [result["stopped_together"] for result in ranks] == [True, True]
    mid = load_checkpoint(out / "stopped-copy" / "checkpoints" / MID_EPOCH_FILE)
    assert mid["epoch"] == 1  # one epoch done, then steps 1-3 of the second
    shares = [share["progress"] for share in mid[RANKS_KEY]]
    assert [share["step"] for share in shares] == [3, 3]
    assert [share["totals"]["count"] for share in shares] == [48, 48]  # 3 x 16 per rank
    assert shares[0]["totals"]["loss"] != shares[1]["totals"]["loss"]  # each rank's own
    for result in ranks:
        assert _max_diff(result["stopped_resumed"], result["train"]) < 1e-6
    # the epoch's metrics add both ranks' sums, the ones before the stop too
    stopped, whole = ([json.loads(line) for line in (out / run / "metrics.jsonl")
                       .read_text().splitlines()] for run in ("stopped-run", "train-run"))
    for key in ("train_loss", "train_acc", "test_acc"):
        assert stopped[1][key] == pytest.approx(whole[1][key], abs=1e-6)


def test_a_stop_in_evaluation_waits_for_the_epoch_checkpoint_on_every_rank(ddp_run):
    out, ranks = ddp_run
    assert [result["stopped_in_evaluation"] for result in ranks] == [(True, 1), (True, 1)]
    checkpoints = out / "stopped-in-evaluation-copy" / "checkpoints"
    assert (checkpoints / "epoch-0001.pt").is_file()
    assert not (checkpoints / MID_EPOCH_FILE).exists()  # nothing of epoch 2 to keep
    for result in ranks:
        assert _max_diff(result["stopped_in_evaluation_resumed"], result["train"]) < 1e-6


def test_one_process_does_not_continue_a_two_process_mid_epoch_file(ddp_run, worker,
                                                                     tmp_path, caplog):
    out, _ = ddp_run
    run = tmp_path / "copy"
    shutil.copytree(out / "stopped-copy", run)
    trainer = Trainer(worker.train_config(), run, dataset=worker.dataset(), progress=False)
    with caplog.at_level(logging.WARNING, logger="bnnas"):
        assert trainer.resume()
    assert trainer.epoch == 1 and trainer.progress_in_epoch is None
    assert "written by 2 process(es) and this run has 1" in caplog.text


def test_only_rank_0_writes(ddp_run):
    out, _ = ddp_run
    assert not (out / "train-run-rank1").exists()
    assert not (out / "search-rank1").exists()
    run = out / "train-run"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert (run / "final.pt").is_file() and (run / "result.json").is_file()
    assert (out / "search-rank0" / "genotype.json").is_file()
    assert len((out / "search-rank0" / "alphas.jsonl").read_text().splitlines()) == 2


def test_alphas_equal_on_both_ranks_and_to_one_process(ddp_run, worker, tmp_path):
    _, (rank0, rank1) = ddp_run
    assert torch.equal(rank0["alphas_frozen_bn"], rank1["alphas_frozen_bn"])
    (tmp_path / "search").mkdir()
    with worker.frozen_batch_norm():
        single = worker.ubnas(tmp_path / "search")
        torch.manual_seed(0)
        start = worker.alphas(UBNASSearch(worker.ubnas_config(), tmp_path / "unused",
                                          dataset=worker.dataset(), progress=False))
    assert float((single - start).abs().max()) > 1e-2  # the search moved them
    assert float((rank0["alphas_frozen_bn"] - single).abs().max()) < 1e-5


def test_alphas_stay_in_sync_with_batch_norm_only_because_they_are_averaged(ddp_run):
    _, (rank0, rank1) = ddp_run
    assert torch.equal(rank0["alphas_bn"], rank1["alphas_bn"])
    drift = float((rank0["alphas_not_averaged"] - rank1["alphas_not_averaged"]).abs().max())
    assert drift > 1e-3


# ----------------------------------------------------------------- one process
def test_torchrun_environment_is_read():
    assert torchrun_env({}) is None
    ctx = torchrun_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert ctx == DistContext(1, 4, 1) and ctx.enabled and not ctx.is_main
    with pytest.raises(ConfigError, match="outside WORLD_SIZE"):
        torchrun_env({"RANK": "4", "WORLD_SIZE": "4", "LOCAL_RANK": "0"})
    with pytest.raises(ConfigError, match="must be integers"):
        torchrun_env({"RANK": "a", "WORLD_SIZE": "4", "LOCAL_RANK": "0"})


def test_without_a_process_group_everything_is_rank_0_of_1():
    ctx = current()
    assert ctx == DistContext() and ctx.is_main and not ctx.enabled
    grads = [torch.ones(3)]
    ctx.average_(grads)
    assert torch.equal(grads[0], torch.ones(3))
    assert ctx.mean(2.5) == 2.5 and ctx.sum(1.0, 3.0) == (1.0, 3.0) and ctx.largest(15) == 15
    assert ctx.broadcast_object({"a": 1}) == {"a": 1}
    model = torch.nn.Linear(2, 2)
    assert ctx.wrap(model, torch.device("cpu")) is model


def test_global_batch_must_split_over_the_ranks():
    assert DistContext(0, 4, 0).per_rank_batch(128, "data.batch_size") == 32
    with pytest.raises(ConfigError, match="data.batch_size=130 .* multiple of 4"):
        DistContext(0, 4, 0).per_rank_batch(130, "data.batch_size")


def test_backend_is_gloo_on_cpu_and_adds_nccl_for_cuda_tensors():
    assert backend_name(False, False) == "gloo"
    assert backend_name(True, False) == "gloo"
    assert backend_name(True, True) == "cpu:gloo,cuda:nccl"


def test_placement_maps_cuda_to_the_local_rank_and_leaves_cpu():
    assert DistContext(1, 2, 1).place(torch.device("cpu")) == torch.device("cpu")
    assert DistContext().place(torch.device("cuda", 3)) == torch.device("cuda", 3)


def test_loader_pins_memory_on_cuda_only():
    assert loader_options(torch.device("cpu")) == {"device": torch.device("cpu"),
                                                   "pin_memory": False}
    assert loader_options(torch.device("cuda", 1))["pin_memory"] is True
    assert amp_dtype("auto", torch.device("cuda", 1)) is torch.bfloat16


def test_rank_shares_of_a_batch_are_the_one_process_batch(tiny_dataset):
    identity: Transform = lambda x, generator=None: x.float()  # noqa: E731
    args = {"shuffle": True, "transform": identity, "seed": 3, "drop_last": True}
    whole = BatchLoader(tiny_dataset.train, 32, **args)
    shards = [BatchLoader(tiny_dataset.train, 32, rank=r, world_size=2, **args)
              for r in range(2)]
    for loader in (whole, *shards):
        loader.set_epoch(1)
    for (x, y), (x0, y0), (x1, y1) in zip(whole, *shards, strict=True):
        assert len(y0) == len(y1) == 16
        assert torch.equal(x[0::2], x0) and torch.equal(x[1::2], x1)
        assert torch.equal(y[0::2], y0) and torch.equal(y[1::2], y1)
    assert len(whole) == len(shards[0]) == 6


def test_eval_shards_cover_every_image_once(tiny_dataset):
    identity: Transform = lambda x, generator=None: x.float()  # noqa: E731
    seen = []
    for r in range(3):
        loader = BatchLoader(tiny_dataset.test, 50, shuffle=False, transform=identity,
                             rank=r, world_size=3)
        seen += [y for _, y in loader]
    assert sum(len(y) for y in seen) == len(tiny_dataset.test)


@pytest.mark.slow
def test_torchrun_trains_and_resumes_through_the_command_line(tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "bnnas", "train"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run([*command, "--model", "bresnet_small", "--epochs", "2", "--set",
                            "data.limit=256", "--device", "cpu", "--no-progress", "--out",
                            str(run)], env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("test accuracy") == 1  # printed by rank 0 only
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    (run / "checkpoints" / "epoch-0002.pt").unlink()
    again = subprocess.run([*command, "--resume", str(run), "--no-progress"], env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]

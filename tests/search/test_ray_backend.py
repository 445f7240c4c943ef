"""The Ray backend on a real two-CPU Ray started once for this module: same scores and
searches as the local backend, weights shipped once per version, failed tasks retried."""

import json
import logging
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from bnnas.cli import main
from bnnas.config import load_config
from bnnas.errors import ConfigError
from bnnas.search.backends import BACKENDS
from bnnas.search.evaluate import FastEvaluator
from bnnas.search.mots import EvolutionarySearch
from bnnas.search.mots_config import EvolutionConfig, MOTSConfig
from bnnas.search.ray_backend import RayBackend, score_path
from bnnas.search.ray_cluster import RayClusterError

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'bnnas[ray]')")

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "mots-smoke.yaml"
TINY_SMOKE = [
    "data.limit=128", "data.batch_size=32", "space.steps=2", "space.cells=2",
    "space.final_cells=2", "evolution.population=4", "evolution.generations=2",
    "supernet.stage1_epochs=1", "supernet.steps_per_generation=2",
    "evaluation.calibration_batches=1", "evaluation.validation_batches=1",
    "evaluation.batch_size=32", "device=cpu",
]


@pytest.fixture(scope="module")
def ray_session():
    term = signal.getsignal(signal.SIGTERM)
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             logging_level=logging.WARNING)
    signal.signal(signal.SIGTERM, term)  # ray.init replaces it; other tests rely on it
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def search(ray_session, tmp_path_factory):
    """A smoke supernet after one stage-1 epoch, and eight distinct candidate paths."""
    config = load_config(MOTSConfig, SMOKE, TINY_SMOKE)
    found = EvolutionarySearch(config, tmp_path_factory.mktemp("supernet"), progress=False)
    found.stage1_epoch()
    rng = np.random.default_rng(0)
    vectors = list(dict.fromkeys(found.encoding.sample(rng) for _ in range(8)))
    return found, [found.encoding.decode(v) for v in vectors]


def _backend(**settings):
    return RayBackend(EvolutionConfig(**settings))


def test_scores_equal_the_local_backend_in_the_order_of_the_paths(search):
    found, paths = search
    asked = [paths[3], paths[0], paths[3], *paths[::-1]]  # repeats and a new order
    local = BACKENDS.get("local")().errors(found.evaluator, asked)
    backend = BACKENDS.get("ray")(EvolutionConfig())
    assert isinstance(backend, RayBackend)
    assert not backend.owns_connection  # the session this module opened is reused
    assert backend.errors(found.evaluator, asked) == local
    assert len(set(local)) > 1  # distinct scores, so a mix-up of the order would show
    assert backend.errors(found.evaluator, []) == []
    backend.close()
    assert ray.is_initialized()  # not its session to end


def test_weights_and_batches_are_put_once_per_version(search):
    found, paths = search
    backend = _backend()
    backend.errors(found.evaluator, paths[:4])
    backend.errors(found.evaluator, paths[4:])
    assert (backend.weight_puts, backend.batch_puts) == (1, 1)
    with_new_weights = found.stage2_training  # any training step moves the weights
    found.population = [found.encoding.sample(np.random.default_rng(1))]
    with_new_weights()
    moved = backend.errors(found.evaluator, paths[:4])
    assert backend.weight_puts == 2 and backend.batch_puts == 1
    assert moved == found.evaluator.errors(paths[:4])
    other = FastEvaluator(found.evaluator.model, found.evaluator.calibration[:0],
                          found.evaluator.validation)
    backend.errors(other, paths[:1])
    assert backend.batch_puts == 2  # another evaluator: its own batches


def test_a_search_gives_the_same_front_and_history_as_local(ray_session, tmp_path):
    outcomes, puts = [], []
    for backend in ("local", "ray"):
        config = load_config(MOTSConfig, SMOKE, [*TINY_SMOKE, f"evolution.backend={backend}"])
        run = tmp_path / backend
        run.mkdir()
        found = EvolutionarySearch(config, run, progress=False)
        result = found.run()
        puts.append(getattr(found.backend, "weight_puts", None))
        history = [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                   for line in (run / "history.jsonl").read_text().splitlines()]
        outcomes.append(((run / "pareto.json").read_text(), history, result["evaluated"]))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][2] == 2 * 2 * 4  # two generations of population + children
    assert puts[1] == 2  # one weight version per generation, though each scores twice


def test_cli_random_search_with_backend_ray_matches_local(ray_session, bnnas_process,
                                                          tmp_path, capsys):
    argv = [*map(str, bnnas_process.tiny["random"]), "--set", "evolution.generations=2"]
    assert main([*argv, "--out", str(tmp_path / "local")]) == 0
    assert main([*argv, "--backend", "ray", "--out", str(tmp_path / "ray")]) == 0
    assert "random: 2 generations" in capsys.readouterr().out
    assert "backend: ray" in (tmp_path / "ray" / "config.yaml").read_text()
    assert bnnas_process.outcome(tmp_path / "ray") == bnnas_process.outcome(tmp_path / "local")


def _first_time():
    """A function, shipped to workers by value, that says True the first time any process
    asks it about a marker file, False ever after."""

    def first_time(marker: str) -> bool:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True

    return first_time


def test_a_worker_that_dies_is_replaced_and_its_task_retried(search, tmp_path):
    found, paths = search
    marker = str(tmp_path / "crashed")
    first_time = _first_time()

    def crash_once(*args):
        if first_time(marker):
            os._exit(1)  # the worker process dies mid-task
        return score_path(*args)

    backend = RayBackend(EvolutionConfig(ray_max_retries=2), task=crash_once)
    assert backend.errors(found.evaluator, paths[:3]) == found.evaluator.errors(paths[:3])
    assert Path(marker).exists()


def test_a_transient_error_is_retried_and_a_bug_is_not(search, tmp_path):
    found, paths = search
    marker, attempts = str(tmp_path / "oserror"), str(tmp_path / "attempts")
    first_time = _first_time()

    def flaky_disk(*args):
        if first_time(marker):
            raise OSError("disk hiccup")
        return score_path(*args)

    backend = RayBackend(EvolutionConfig(), task=flaky_disk)
    assert backend.errors(found.evaluator, paths[:2]) == found.evaluator.errors(paths[:2])

    def buggy(*args):
        with open(attempts, "a") as out:
            out.write("x")
        raise ValueError("a bug in the evaluator")

    backend = RayBackend(EvolutionConfig(ray_max_retries=3), task=buggy)
    with pytest.raises(ValueError, match="a bug in the evaluator"):
        backend.errors(found.evaluator, paths[:1])
    assert Path(attempts).read_text() == "x"  # not retried


def test_user_errors_on_a_worker_and_lost_workers_are_one_line(search, tmp_path):
    found, paths = search

    def misconfigured(*args):
        raise ConfigError("device 'cuda' requested but CUDA is not available; use device=cpu")

    backend = RayBackend(EvolutionConfig(), task=misconfigured)
    with pytest.raises(ConfigError) as caught:
        backend.errors(found.evaluator, paths[:1])
    assert str(caught.value).count("\n") == 0 and "use device=cpu" in str(caught.value)

    def always_crash(*args):
        os._exit(1)

    backend = RayBackend(EvolutionConfig(ray_max_retries=0), task=always_crash)
    with pytest.raises(RayClusterError) as lost:
        backend.errors(found.evaluator, paths[:1])
    message = str(lost.value)
    assert "\n" not in message and "ray_max_retries" in message and "--backend local" in message


def test_a_task_no_node_can_hold_is_refused(ray_session):
    with pytest.raises(RayClusterError, match="ray_gpus_per_task=1"):
        _backend(ray_gpus_per_task=1.0)
    with pytest.raises(RayClusterError, match="ray_cpus_per_task=3"):
        _backend(ray_cpus_per_task=3.0)
    assert _backend(ray_cpus_per_task=2.0).threads == 2


def test_workers_use_as_many_torch_threads_as_cpus_reserved(search):
    found, paths = search

    def threads(*args):
        import torch

        score_path(*args)
        return float(torch.get_num_threads())

    backend = RayBackend(EvolutionConfig(ray_cpus_per_task=2.0), task=threads)
    assert backend.errors(found.evaluator, paths[:1]) == [2.0]
    backend = RayBackend(EvolutionConfig(ray_cpus_per_task=0.5), task=threads)
    assert backend.errors(found.evaluator, paths[:1]) == [1.0]

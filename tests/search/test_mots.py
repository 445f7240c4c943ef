import json
import os
import re
import signal

import numpy as np
import pytest

from bnnas.cli import main
from bnnas.config import load_config
from bnnas.errors import ConfigError
from bnnas.interrupt import Interrupted, StopSignals
from bnnas.search.mots import EvolutionarySearch, RandomSearch
from bnnas.search.mots_config import MOTSConfig
from bnnas.search.pareto import ParetoFront
from bnnas.train.checkpoint import load_checkpoint
from bnnas.train.mid_epoch import MID_EPOCH_FILE, describe_mid_epoch

TINY = [
    "data.batch_size=32", "data.augment=false", "space.cells=3", "space.channels=4",
    "space.steps=2", "space.ops=[skip_connect, max_pool_3x3, bin_conv_3x3, bin_dil_conv_3x3]",
    "supernet.stage1_epochs=1", "supernet.steps_per_generation=2", "evolution.population=4",
    "evolution.generations=2", "evaluation.calibration_batches=1",
    "evaluation.validation_batches=1", "evaluation.batch_size=32",
]


def _search(tmp_path, dataset, name, *extra, cls=EvolutionarySearch):
    config = load_config(MOTSConfig, overrides=[*TINY, *extra])
    run = tmp_path / name
    run.mkdir()
    return cls(config, run, dataset=dataset, progress=False), run


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_search_writes_front_history_and_plots(tmp_path, tiny_dataset):
    search, run = _search(tmp_path, tiny_dataset, "s", "space.final_cells=4")
    result = search.run()
    front = ParetoFront.load(run / "pareto.json")
    assert len(front.members) == result["front_size"] >= 1
    sizes = [m.size for m in front.members]
    assert sizes == sorted(sizes)
    errors = [m.error for m in front.members]
    assert errors == sorted(errors, reverse=True)  # a front: smaller costs more error
    assert all(m.genotype.layout.cells == 4 for m in front.members)
    assert all(m.size == m.memory_bits for m in front.members)
    history = _lines(run / "history.jsonl")
    assert [h["generation"] for h in history] == [1, 2]
    assert all(0 < h["hypervolume"] <= 1 for h in history)
    assert [h["aux_weight"] for h in history] == [0.5, 0.0]
    # each generation scores the re-trained population and as many children
    assert history[-1]["evaluated_total"] == result["evaluated"] == 2 * 8
    assert len(set(search.population)) == 4
    for png in ("fronts/gen-001.png", "fronts/gen-002.png", "hypervolume.png"):
        assert (run / png).stat().st_size > 1000
    stages = [m["stage"] for m in _lines(run / "metrics.jsonl")]
    assert stages == [1, 2, 2]


def test_random_baseline_scores_as_many_architectures(tmp_path, tiny_dataset):
    search, run = _search(tmp_path, tiny_dataset, "r", cls=RandomSearch)
    result = search.run()
    assert result["method"] == "random" and result["evaluated"] == 16
    assert all(h["aux_weight"] == 0.0 for h in _lines(run / "history.jsonl"))
    assert ParetoFront.load(run / "pareto.json").method == "random"


def test_resume_after_a_crash_gives_the_same_front(tmp_path, tiny_dataset, monkeypatch):
    whole, whole_run = _search(tmp_path, tiny_dataset, "whole")
    whole.run()

    crashed, run = _search(tmp_path, tiny_dataset, "crashed")
    original = EvolutionarySearch.generation_step

    def crash_in_second_generation(self, *args):
        if self.generation == 1:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(EvolutionarySearch, "generation_step", crash_in_second_generation)
    with pytest.raises(KeyboardInterrupt):
        crashed.run()
    monkeypatch.setattr(EvolutionarySearch, "generation_step", original)
    resumed = EvolutionarySearch(crashed.config, run, dataset=tiny_dataset, progress=False)
    assert resumed.resume()
    assert resumed.generation == 1
    resumed.run()
    assert (run / "pareto.json").read_text() == (whole_run / "pareto.json").read_text()
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in
             _lines(whole_run / "history.jsonl")]
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in
            _lines(run / "history.jsonl")] == strip


@pytest.mark.parametrize(("override", "message"), [
    ("evolution.population=3", "even number >= 4"),
    ("evolution.population=5", "even number >= 4"),
    ("evolution.population=0", "even number >= 4"),
    ("evolution.mutation_rate=1.5", "mutation_rate must be in [0, 1]"),
    ("evolution.mutation_rate=-0.1", "mutation_rate must be in [0, 1]"),
    ("evolution.objectives=[error, latency]", "unknown objective 'latency'"),
    ("supernet.path_dropout=1.0", "path_dropout must be in [0, 1)"),
    ("evaluation.batch_size=0", "evaluation.batch_size must be >= 1"),
])
def test_bad_settings_are_one_line_config_errors(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(MOTSConfig, overrides=[override])


def test_cli_rejects_bad_population_with_exit_2(capsys, tmp_path):
    code = main(["search", "--method", "mots", "--config", "configs/mots-smoke.yaml",
                 "--set", "evolution.population=3", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "even number >= 4" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_aux_weight_follows_the_generations():
    config = load_config(MOTSConfig, overrides=["evolution.generations=5",
                                                "evolution.aux_weight_start=0.8",
                                                "evolution.aux_weight_end=0.0"])
    weights = [config.evolution.aux_weight(g) for g in range(5)]
    assert np.allclose(weights, [0.8, 0.6, 0.4, 0.2, 0.0])


def _same_search(run, whole_run):
    assert (run / "pareto.json").read_text() == (whole_run / "pareto.json").read_text()
    for name in ("history.jsonl", "metrics.jsonl"):
        assert [{k: v for k, v in h.items() if k != "seconds"} for h in _lines(run / name)] \
            == [{k: v for k, v in h.items() if k != "seconds"} for h in _lines(whole_run / name)]
    assert not (run / "checkpoints" / MID_EPOCH_FILE).exists()


def _stop_at_step(search, call):
    """Run ``search``, sending SIGTERM during its ``call``-th supernet training step."""
    forward, calls = search.forward, []

    def signalling(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), signal.SIGTERM)
        return forward(*args, **kwargs)

    search.forward = signalling
    with pytest.raises(Interrupted), StopSignals():
        search.run()


def _run_counting_steps(search):
    """Run ``search``; the number of supernet training steps it took."""
    forward, calls = search.forward, []
    search.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    search.run()
    return len(calls)


def test_a_stop_mid_stage1_epoch_resumes_at_the_next_step_to_the_same_front(tmp_path,
                                                                          tiny_dataset):
    """A stop signal inside a stage-1 epoch: mid-epoch.pt after the last whole step (the
    path sampler's state with it), and a resume at the next step that ends with the front
    and logs of an uninterrupted search."""
    extra = ["supernet.stage1_epochs=2"]
    whole, whole_run = _search(tmp_path, tiny_dataset, "whole", *extra)
    whole.run()
    stopped, run = _search(tmp_path, tiny_dataset, "stopped", *extra)
    _stop_at_step(stopped, len(stopped.weight_loader) + 2)  # step 2 of stage-1 epoch 2
    mid = load_checkpoint(run / "checkpoints" / MID_EPOCH_FILE)
    assert mid["epoch"] == 1 and mid["generation"] == 0 and mid["mid_epoch"]["step"] == 2
    resumed = EvolutionarySearch(stopped.config, run, dataset=tiny_dataset, progress=False)
    assert resumed.resume() and resumed.epoch == 1 and resumed.progress_in_epoch.step == 2
    resumed.run()
    _same_search(run, whole_run)


@pytest.mark.parametrize("cls", [EvolutionarySearch, RandomSearch])
def test_a_stop_inside_a_generation_resumes_at_the_next_step_to_the_same_front(
        tmp_path, tiny_dataset, cls):
    """A stop signal inside generation 2's stage-2 training: mid-epoch.pt after its last
    whole step, named for the generation, and a resume that trains only the step left and
    ends with the front and logs of an uninterrupted search."""
    extra = ["supernet.steps_per_generation=3"]
    whole, whole_run = _search(tmp_path, tiny_dataset, "whole", *extra, cls=cls)
    whole.run()
    stopped, run = _search(tmp_path, tiny_dataset, "stopped", *extra, cls=cls)
    before_generation_2 = len(stopped.weight_loader) + 3  # stage 1, then generation 1
    _stop_at_step(stopped, before_generation_2 + 2)
    mid = load_checkpoint(run / "checkpoints" / MID_EPOCH_FILE)
    assert (mid["epoch"], mid["generation"], mid["index"]) == (1, 1, 2)
    assert mid["mid_epoch"]["step"] == 2 and mid["mid_epoch_of"] == "generation 2"
    assert describe_mid_epoch(run / "checkpoints", 2) == \
        f"{MID_EPOCH_FILE} (epoch 1, generation 1 done, step 2 of 3 of generation 2)"

    resumed = cls(stopped.config, run, dataset=tiny_dataset, progress=False)
    assert resumed.resume() and resumed.generation == 1
    assert resumed.progress_in_epoch.step == 2
    assert _run_counting_steps(resumed) == 1  # only generation 2's last step, trained again
    _same_search(run, whole_run)


def test_a_stop_while_a_generation_scores_keeps_its_training(tmp_path, tiny_dataset,
                                                              monkeypatch):
    """A stop after generation 2 has trained and bred (its children are being scored):
    the mid-epoch file holds the state as training left it (population, generators), so
    the resume trains nothing and breeds the same children."""
    whole, whole_run = _search(tmp_path, tiny_dataset, "whole")
    whole.run()
    stopped, run = _search(tmp_path, tiny_dataset, "stopped")
    original, calls = EvolutionarySearch.score, []

    def signalling_score(self, vectors):
        calls.append(1)
        if len(calls) == 4:  # generation 2 scores its population, then the children
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, vectors)

    monkeypatch.setattr(EvolutionarySearch, "score", signalling_score)
    with pytest.raises(Interrupted), StopSignals():
        stopped.run()
    monkeypatch.setattr(EvolutionarySearch, "score", original)
    mid = load_checkpoint(run / "checkpoints" / MID_EPOCH_FILE)
    assert mid["generation"] == 1 and mid["mid_epoch"]["step"] == 2  # all of its steps

    resumed = EvolutionarySearch(stopped.config, run, dataset=tiny_dataset, progress=False)
    assert resumed.resume()
    assert _run_counting_steps(resumed) == 0
    _same_search(run, whole_run)

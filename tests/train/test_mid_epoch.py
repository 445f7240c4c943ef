"""A stop signal mid-epoch keeps the epoch's steps done: ``mid-epoch.pt`` after the last
whole step, a resume that continues at the next step and ends as an uninterrupted run, no
file when a second signal cuts a step short, stale files dropped."""

import json
import os
import signal

import pytest

from bnnas.config import load_config
from bnnas.errors import CheckpointError
from bnnas.interrupt import Interrupted, StopSignals
from bnnas.train import TrainConfig, Trainer
from bnnas.train.checkpoint import load_checkpoint, save_checkpoint
from bnnas.train.mid_epoch import MID_EPOCH_FILE, EpochProgress, describe_mid_epoch

# 192 images in batches of 32: 6 steps per epoch. No augmentation: a flip would swap the
# quadrant classes of the tiny dataset.
SETTINGS = ["data.batch_size=32", "data.eval_batch_size=64", "optim.lr=0.005",
            "data.augment=false", "optim.epochs=2", "keep_checkpoints=3"]


def _trainer(run, dataset):
    run.mkdir(exist_ok=True)
    return Trainer(load_config(TrainConfig, overrides=SETTINGS), run, dataset=dataset,
                   progress=False)


def _signal_at(trainer, calls, signals=1):
    """SIGTERM to this process during the ``calls``-th step (counted over the run), sent
    ``signals`` times: one waits for the step's end, a second cuts the step short."""
    loss, seen = trainer._loss, []

    def signalling(*args):
        seen.append(1)
        if len(seen) == calls:
            for _ in range(signals):
                os.kill(os.getpid(), signal.SIGTERM)
        return loss(*args)

    trainer._loss = signalling


def _stopped_run(tmp_path, dataset, calls, signals=1):
    """A run stopped by :func:`_signal_at`; its folder."""
    run = tmp_path / "stopped"
    trainer = _trainer(run, dataset)
    _signal_at(trainer, calls, signals)
    with pytest.raises(Interrupted), StopSignals():
        trainer.fit()
    return run


def _outcome(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    weights = load_checkpoint(run / "final.pt")["model"]
    return ([{k: v for k, v in r.items() if k != "epoch_seconds"} for r in rows],
            {k: v.tolist() for k, v in weights.items()})


@pytest.fixture
def reference(tmp_path, tiny_dataset):
    run = tmp_path / "reference"
    _trainer(run, tiny_dataset).fit()
    return _outcome(run)


def test_a_stop_mid_epoch_resumes_at_the_next_step_and_ends_as_if_never_stopped(
        tmp_path, tiny_dataset, reference):
    run = tmp_path / "stopped"
    trainer = _trainer(run, tiny_dataset)
    _signal_at(trainer, 6 + 3)  # the third step of epoch 2
    with pytest.raises(Interrupted), StopSignals():
        trainer.fit()
    mid = load_checkpoint(run / "checkpoints" / MID_EPOCH_FILE)
    assert mid["epoch"] == 1
    assert mid["mid_epoch"]["step"] == 3 and mid["mid_epoch"]["steps"] == 6
    assert mid["mid_epoch"]["seconds"] > 0  # the part-epoch's time, added to the epoch's
    assert describe_mid_epoch(run / "checkpoints", 1) == \
        f"{MID_EPOCH_FILE} (epoch 1 done, step 3 of 6 of epoch 2)"
    assert describe_mid_epoch(run / "checkpoints", 2) is None  # it does not continue epoch 2

    resumed = _trainer(run, tiny_dataset)
    assert resumed.resume() and resumed.epoch == 1
    assert resumed.progress_in_epoch.step == 3
    resumed.fit()
    assert _outcome(run) == reference
    assert not (run / "checkpoints" / MID_EPOCH_FILE).exists()  # gone with epoch 2's checkpoint


def test_a_stop_in_the_first_epoch_resumes_without_an_epoch_checkpoint(tmp_path, tiny_dataset,
                                                                        reference):
    run = _stopped_run(tmp_path, tiny_dataset, 2)
    assert not list((run / "checkpoints").glob("epoch-*.pt"))
    resumed = _trainer(run, tiny_dataset)
    assert resumed.resume() and resumed.progress_in_epoch.step == 2
    resumed.fit()
    assert _outcome(run) == reference


def test_a_second_signal_cuts_the_step_short_and_leaves_no_mid_epoch_file(tmp_path,
                                                                         tiny_dataset, reference):
    run = _stopped_run(tmp_path, tiny_dataset, 6 + 2, signals=2)
    assert not (run / "checkpoints" / MID_EPOCH_FILE).exists()
    resumed = _trainer(run, tiny_dataset)
    assert resumed.resume() and resumed.epoch == 1 and resumed.progress_in_epoch is None
    resumed.fit()
    assert _outcome(run) == reference


def test_a_stop_in_the_first_step_a_process_trains_does_not_wait_for_it(tmp_path,
                                                                         tiny_dataset):
    """That step may be compiling the model: the stop cuts it short and keeps nothing."""
    run = _stopped_run(tmp_path, tiny_dataset, 1)
    assert not (run / "checkpoints" / MID_EPOCH_FILE).exists()
    assert not list((run / "checkpoints").glob("epoch-*.pt"))


def test_a_mid_epoch_file_of_another_epoch_is_dropped(tmp_path, tiny_dataset):
    run = tmp_path / "run"
    trainer = _trainer(run, tiny_dataset)
    trainer.run_epoch()  # epoch-0001.pt
    stale = {**trainer.state_dict(), "epoch": 0,
             "mid_epoch": EpochProgress(steps=6, step=4).to_dict()}
    save_checkpoint(run / "checkpoints" / MID_EPOCH_FILE, stale)
    resumed = _trainer(run, tiny_dataset)
    assert resumed.resume() and resumed.epoch == 1 and resumed.progress_in_epoch is None
    assert not (run / "checkpoints" / MID_EPOCH_FILE).exists()


def test_a_damaged_mid_epoch_file_is_named_with_the_way_out(tmp_path, tiny_dataset):
    run = tmp_path / "run"
    trainer = _trainer(run, tiny_dataset)
    trainer.run_epoch()
    broken = {**trainer.state_dict(), "mid_epoch": {"steps": 6}}  # its progress lacks fields
    save_checkpoint(run / "checkpoints" / MID_EPOCH_FILE, broken)
    with pytest.raises(CheckpointError, match="delete it to resume from the last epoch"):
        _trainer(run, tiny_dataset).resume()


def test_nothing_is_written_before_the_epochs_first_step_ends_or_inside_a_step(tmp_path):
    from bnnas.train.mid_epoch import save_mid_epoch

    assert save_mid_epoch(tmp_path, {"epoch": 0}, EpochProgress(steps=6)) is None
    cut = EpochProgress(steps=6, step=2)
    cut.between_steps = False
    assert save_mid_epoch(tmp_path, {"epoch": 0}, cut) is None
    assert list(tmp_path.iterdir()) == []
    assert save_mid_epoch(tmp_path, {"epoch": 0}, EpochProgress(steps=6, step=2)) == \
        tmp_path / MID_EPOCH_FILE


def test_epoch_progress_round_trips_and_refuses_a_partial_record():
    progress = EpochProgress(steps=6, step=2, totals={"loss": 1.5, "count": 64}, lr=0.01,
                             seconds=3.0)
    progress.between_steps = False
    data = progress.to_dict()
    assert "between_steps" not in data
    assert EpochProgress.from_dict(data) == progress
    with pytest.raises(KeyError, match="lacks"):
        EpochProgress.from_dict({"steps": 6})


def test_position_counts_generations_when_a_state_has_them():
    from bnnas.train.mid_epoch import position

    assert position({"epoch": 10, "generation": 3, "index": 13}) == 13
    assert position({"epoch": 4}) == 4
    assert position({}) is None


class _Batches:
    """Three batches, counting how many were drawn."""

    def __init__(self):
        self.drawn = 0

    def __len__(self):
        return 3

    def __iter__(self):
        for index in range(3):
            self.drawn += 1
            yield index


def test_a_resume_with_every_step_done_draws_no_batch():
    from bnnas.train.mid_epoch import run_steps

    trained = []
    batches = _Batches()
    assert list(run_steps(batches, EpochProgress(steps=3, step=3),
                          lambda step, batch: trained.append(step))) == []
    assert (batches.drawn, trained) == (0, [])
    # one step left: the two done are drawn and dropped, keeping the third batch the same
    progress = EpochProgress(steps=3, step=2)
    assert list(run_steps(batches, progress, lambda step, batch: trained.append(batch))) == [2]
    assert (batches.drawn, trained, progress.step) == (3, [2], 3)

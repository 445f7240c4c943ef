import dataclasses
import json
import shutil

import pytest
import torch

from bnnas.config import load_config
from bnnas.errors import CheckpointError, NonFiniteError
from bnnas.train import TrainConfig, Trainer, load_trained_model
from bnnas.train.checkpoint import epoch_checkpoints, load_checkpoint

# No augmentation: a flip would swap the quadrant classes of the tiny dataset.
FAST = ["data.batch_size=32", "data.eval_batch_size=64", "optim.lr=0.005", "data.augment=false"]


def _config(*extra: str) -> TrainConfig:
    return load_config(TrainConfig, overrides=[*FAST, *extra])


def _train(tmp_path, dataset, name, *extra):
    run = tmp_path / name
    run.mkdir()
    trainer = Trainer(_config(*extra), run, dataset=dataset, progress=False)
    return trainer, trainer.fit(), run


def test_training_learns_and_writes_the_run_folder(tmp_path, tiny_dataset):
    trainer, result, run = _train(tmp_path, tiny_dataset, "a", "optim.epochs=3")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert result["test_acc"] > 60.0  # 4 classes: chance is 25%
    assert [e for e, _ in epoch_checkpoints(run / "checkpoints")] == [2, 3]
    assert json.loads((run / "result.json").read_text())["epochs"] == 3
    model, state = load_trained_model(run / "final.pt")
    x = torch.randn(2, 1, 12, 12)
    trainer.model.eval()
    assert torch.equal(model(x), trainer.model(x))
    assert state["meta"] == {"num_classes": 4, "input_shape": [1, 12, 12]}


def test_resume_after_a_crash_gives_the_same_weights_and_metrics(tmp_path, tiny_dataset):
    _, _, full = _train(tmp_path, tiny_dataset, "full", "optim.epochs=3", "keep_checkpoints=3")
    crashed = tmp_path / "crashed"
    shutil.copytree(full, crashed)
    # Simulate a crash during epoch 3: its checkpoint, final weights and metrics line are gone,
    # and a half-written temp file is left behind.
    (crashed / "checkpoints" / "epoch-0003.pt").unlink()
    (crashed / "final.pt").unlink()
    (crashed / "checkpoints" / ".epoch-0003.pt.tmp-123").write_bytes(b"half")
    lines = (crashed / "metrics.jsonl").read_text().splitlines()
    (crashed / "metrics.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])

    trainer = Trainer(_config("optim.epochs=3", "keep_checkpoints=3"), crashed,
                      dataset=tiny_dataset, progress=False)
    assert trainer.resume() and trainer.epoch == 2
    trainer.fit()
    a = load_checkpoint(full / "final.pt")["model"]
    b = load_checkpoint(crashed / "final.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    def strip(path):
        rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in rows]

    assert strip(full) == strip(crashed)


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_checkpoint(tmp_path, tiny_dataset,
                                                                     monkeypatch):
    run = tmp_path / "nan"
    run.mkdir()
    trainer = Trainer(_config("optim.epochs=3"), run, dataset=tiny_dataset, progress=False)
    original = trainer._loss

    def poisoned(logits, x, y):
        loss = original(logits, x, y)
        return loss * float("nan") if trainer.epoch == 1 else loss

    monkeypatch.setattr(trainer, "_loss", poisoned)
    with pytest.raises(NonFiniteError, match=r"loss became nan at epoch 2 step 1.*epoch-0001\.pt"):
        trainer.fit()
    assert load_checkpoint(run / "checkpoints" / "epoch-0001.pt")["epoch"] == 1


def test_distillation_from_a_teacher_checkpoint(tmp_path, tiny_dataset):
    _, _, teacher_run = _train(
        tmp_path, tiny_dataset, "teacher", "optim.epochs=1",
        "model.args={act_quantizer: identity, weight_quantizer: identity}",
    )
    teacher_ckpt = teacher_run / "final.pt"
    trainer, result, _ = _train(
        tmp_path, tiny_dataset, "student", "optim.epochs=1",
        f"distill.teacher={teacher_ckpt}", "distill.alpha=0.5", "distill.temperature=2.0",
    )
    assert trainer.teacher is not None and not trainer.teacher.training
    assert result["test_acc"] is not None


def test_teacher_for_other_classes_is_refused(tmp_path, tiny_dataset):
    seven_classes = dataclasses.replace(tiny_dataset, num_classes=7, classes=tuple("abcdefg"))
    _, _, teacher_run = _train(tmp_path, seven_classes, "teacher", "optim.epochs=1")
    run = tmp_path / "student"
    run.mkdir()
    with pytest.raises(CheckpointError, match="predicts 7 classes, the data has 4"):
        Trainer(_config(f"distill.teacher={teacher_run / 'final.pt'}"), run,
                dataset=tiny_dataset, progress=False)


def test_tensorboard_scalars_when_installed(tmp_path, tiny_dataset):
    pytest.importorskip("tensorboard", reason="the tb extra is not installed")
    _, _, run = _train(tmp_path, tiny_dataset, "tb", "optim.epochs=1")
    assert any((run / "tb").iterdir())


def test_two_step_training_starts_step_two_from_step_one(tmp_path, tiny_dataset):
    """ReActNet's two steps: binary activations with real weights, then the fully binary
    network initialised from it. Step 1's checkpoint rebuilds with real weights; step 2
    starts from step 1's weights and ends binary."""
    trainer1, _, run1 = _train(tmp_path, tiny_dataset, "step1", "optim.epochs=1",
                               "model.binary_weights=false")
    layers = [m for m in trainer1.model.modules() if hasattr(m, "weight_quantizer")]
    assert layers and all(m.weight_precision == 32 and m.input_precision == 1 for m in layers)
    rebuilt, _ = load_trained_model(run1 / "final.pt")
    assert all(m.weight_precision == 32 for m in rebuilt.modules()
               if hasattr(m, "weight_quantizer"))
    step1_weights = {k: v.clone() for k, v in trainer1.model.state_dict().items()}

    run2 = tmp_path / "step2"
    run2.mkdir()
    trainer2 = Trainer(_config("optim.epochs=1", f"init_from={run1 / 'final.pt'}"), run2,
                       dataset=tiny_dataset, progress=False)
    for key, value in trainer2.model.state_dict().items():
        assert torch.equal(value, step1_weights[key]), key
    assert all(m.weight_precision == 1 for m in trainer2.model.modules()
               if hasattr(m, "weight_quantizer"))
    x = torch.randn(3, 1, 12, 12)
    trainer1.model.eval()
    trainer2.model.eval()
    assert not torch.equal(trainer1.model(x), trainer2.model(x))  # same weights, now binary
    assert trainer2.fit()["epochs"] == 1


@pytest.mark.parametrize("problem", ["missing", "classes", "architecture"])
def test_init_from_a_checkpoint_that_does_not_fit_is_refused(tmp_path, tiny_dataset, problem):
    if problem == "missing":
        source, match = tmp_path / "nope.pt", "nope.pt"
    elif problem == "classes":
        seven = dataclasses.replace(tiny_dataset, num_classes=7, classes=tuple("abcdefg"))
        _, _, other = _train(tmp_path, seven, "other", "optim.epochs=1")
        source, match = other / "final.pt", "predicts 7 classes, the data has 4"
    else:
        _, _, other = _train(tmp_path, tiny_dataset, "other", "optim.epochs=1",
                             "model.args={blocks_per_stage: 1}")
        source, match = other / "final.pt", "does not fit this run's model"
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(CheckpointError, match=match):
        Trainer(_config(f"init_from={source}"), run, dataset=tiny_dataset, progress=False)

"""``study.record``: finished searches and draws kept without checkpoints and copied back
where their folders are missing; steps carried from an earlier report."""

import shutil

from study.plan import plan_steps
from study.record import mark_carried, record_finished, restorable, restore_recorded
from study.steps import finished
from study_helpers import finish


def test_finished_searches_are_recorded_without_checkpoints_and_restored(tmp_path):
    root, record = tmp_path / "compare", tmp_path / "record"
    search = root / "ubnas-seed0" / "search"
    finish(search)
    (search / "genotype.json").write_text('{"normal": []}')
    (search / "last.pt").write_bytes(b"weights")
    (search / "checkpoints").mkdir()
    (search / "checkpoints" / "epoch-1.pt").write_bytes(b"weights")
    draw = root / "ubnas-seed0" / "random-ops"
    finish(draw)
    (draw / "genotype-0.json").write_text("{}")
    (draw / "train-0.log").write_text("epoch 1/7")  # the output of a control's training
    unfinished = root / "ubnas-seed1" / "search"
    unfinished.mkdir(parents=True)
    (unfinished / "config.yaml").write_text("seed: 1\n")
    steps = plan_steps(root, ["ubnas"], [], [0, 1], 7)
    record_finished(steps, root, record)
    kept = record / "ubnas-seed0" / "search"
    assert sorted(p.name for p in kept.iterdir()) == ["config.yaml", "genotype.json",
                                                      "result.json"]
    assert not (record / "ubnas-seed1").exists()
    assert sorted(p.name for p in (record / "ubnas-seed0" / "random-ops").iterdir()) == [
        "config.yaml", "genotype-0.json", "result.json"]
    shutil.rmtree(search)
    finish(record / "ubnas-seed1" / "search")  # recorded, but its folder here holds a run
    assert [restorable(s, root, record) for s in steps if s.kind == "search"] == [True, False]
    restore_recorded(steps, root, record)
    assert finished(search)
    assert (search / "genotype.json").read_text() == '{"normal": []}'
    assert not (search / "last.pt").exists()
    assert not finished(unfinished)


def test_a_draw_is_carried_once_all_its_trainings_are(tmp_path):
    """A control's draw whose folder is gone is done only when nothing left needs it."""
    root = tmp_path / "compare"
    steps = plan_steps(root, ["ubnas"], [], [0], 7)
    control = root / "ubnas-seed0" / "random-ops"
    trainings = {control / f"train-{k}" for k in range(3)}
    mark_carried(steps, {p.resolve() for p in trainings})
    draw = next(s for s in steps if s.run_dir == control)
    assert draw.carried
    mark_carried(steps, {(control / "train-0").resolve()})
    assert not draw.carried
    assert [s.run_dir for s in steps if s.carried] == [control / "train-0"]

import pytest
import torch

from bnnas.errors import CheckpointError
from bnnas.train.checkpoint import (
    epoch_checkpoints,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    save_epoch_checkpoint,
)


def test_round_trip_and_no_temp_files(tmp_path):
    state = {"model": {"w": torch.arange(4.0)}, "epoch": 3, "config": {"a": [1, 2]}}
    path = save_checkpoint(tmp_path / "c.pt", state)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["w"], torch.arange(4.0))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_a_lazy_load_holds_the_same_state_and_refuses_the_same_files(tmp_path):
    state = {"model": {"w": torch.randn(1000)}, "epoch": 3}
    path = save_checkpoint(tmp_path / "c.pt", state)
    lazy = load_checkpoint(path, lazy=True)
    assert lazy["epoch"] == 3 and torch.equal(lazy["model"]["w"], state["model"]["w"])
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "cut.pt", lazy=True)
    torch.save({"w": torch.ones(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a bnnas checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt", lazy=True)


def test_failed_write_keeps_the_old_file(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"epoch": 1})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        save_checkpoint(path, {"epoch": 2, "bad": Unpicklable()})
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_truncated_and_foreign_files_are_refused(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.randn(100)}})
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"w": torch.ones(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a bnnas checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")


def test_code_in_a_checkpoint_is_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format_version": 1, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "evil.pt")


def test_version_mismatch_is_refused(tmp_path):
    torch.save({"format_version": 99}, tmp_path / "v.pt")
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(tmp_path / "v.pt")


def test_rotation_and_newest_valid_checkpoint(tmp_path):
    for epoch in range(1, 5):
        save_epoch_checkpoint(tmp_path, epoch, {"epoch": epoch}, keep=2)
    assert [e for e, _ in epoch_checkpoints(tmp_path)] == [3, 4]
    (tmp_path / "epoch-0004.pt").write_bytes(b"garbage")
    path, state = latest_checkpoint(tmp_path)
    assert state["epoch"] == 3 and path.name == "epoch-0003.pt"
    assert latest_checkpoint(tmp_path / "missing") is None


def test_a_full_disk_is_a_checkpoint_error_that_keeps_the_old_file(tmp_path, monkeypatch):
    import errno

    from bnnas.train import checkpoint

    path = save_checkpoint(tmp_path / "c.pt", {"epoch": 1})

    def full(handle, state, name):
        handle.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "_write", full)
    with pytest.raises(CheckpointError, match="No space left on device.*previous checkpoints"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


@pytest.mark.parametrize("spec,paused", [("0.01", True), ("c.pt:0.01", True),
                                         ("other.pt:0.01", False), ("", False)])
def test_the_pause_hook_writes_the_same_bytes(tmp_path, monkeypatch, spec, paused):
    from bnnas.train import checkpoint

    sleeps = []
    monkeypatch.setattr(checkpoint.time, "sleep", sleeps.append)
    monkeypatch.setenv(checkpoint.PAUSE_ENV, spec)
    state = {"model": {"w": torch.arange(6.0)}, "epoch": 4}
    path = save_checkpoint(tmp_path / "c.pt", state)
    assert (sleeps == [0.01]) == paused
    assert load_checkpoint(path)["epoch"] == 4
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.arange(6.0))

"""The set-up every training and search shares (``bnnas.train.resumable.set_up_run``)."""

from types import SimpleNamespace

import pytest
import torch

from bnnas.errors import UnknownNameError
from bnnas.train.resumable import set_up_run


def test_a_given_dataset_is_used_and_the_folders_and_device_follow_the_config(tmp_path,
                                                                              tiny_dataset):
    data = SimpleNamespace(name="no-such-dataset", data_dir=None, download=False)
    setup = set_up_run(tmp_path / "run", data, "cpu", deterministic=True, progress=True,
                       dataset=tiny_dataset)
    assert setup.dataset is tiny_dataset  # data.name is not even looked up
    assert setup.run_dir == tmp_path / "run"
    assert setup.checkpoint_dir == tmp_path / "run" / "checkpoints"
    assert setup.device == torch.device("cpu")
    assert setup.progress and setup.dist.is_main and not setup.dist.enabled
    assert not set_up_run(tmp_path, data, "cpu", deterministic=False, progress=False,
                          dataset=tiny_dataset).progress
    assert not (tmp_path / "run").exists()  # setting up writes nothing


def test_without_a_dataset_the_configured_one_is_loaded_or_refused(tmp_path):
    data = SimpleNamespace(name="fashion-mnist-small", data_dir=None, download=False)
    setup = set_up_run(tmp_path, data, "cpu", deterministic=True, progress=False)
    assert setup.dataset.name == "fashion-mnist-small" and len(setup.dataset.train) > 0
    with pytest.raises(UnknownNameError, match="unknown dataset .nope.; choose one of"):
        set_up_run(tmp_path, SimpleNamespace(name="nope", data_dir=None, download=False), "cpu",
                   deterministic=True, progress=False)

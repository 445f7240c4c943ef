import pytest
import torch

from bnnas.data import DATASETS, Dataset, ImageTensors, load_dataset
from bnnas.errors import ConfigError, DataError, UnknownNameError


def test_registered_names():
    assert DATASETS.names() == [
        "cifar10",
        "cifar100",
        "fashion-mnist",
        "fashion-mnist-small",
        "imagefolder",
    ]


def test_unknown_name_lists_choices():
    with pytest.raises(UnknownNameError, match="unknown dataset 'mnist'; choose one of: cifar10"):
        load_dataset("mnist")


def test_unknown_option_is_a_config_error():
    with pytest.raises(
        ConfigError, match="'cifar10' has no option image_size; it takes: no option"
    ):
        load_dataset("cifar10", image_size=32)
    with pytest.raises(ConfigError, match="has no option colour; it takes: image_size"):
        load_dataset("imagefolder", "/x", colour=True)


def _tiny(n=4, c=1):
    return ImageTensors(
        torch.zeros(n, c, 2, 2, dtype=torch.uint8), torch.zeros(n, dtype=torch.int64)
    )


def test_dataset_checks_its_own_consistency():
    src = _tiny()
    ok = Dataset("x", src, src, 2, (1, 2, 2), (0.5,), (0.2,), ("a", "b"))
    assert ok.num_classes == 2
    with pytest.raises(DataError, match="mean/std have 2/1 values for 1 channels"):
        Dataset("x", src, src, 2, (1, 2, 2), (0.5, 0.5), (0.2,), ("a", "b"))
    with pytest.raises(DataError, match="1 class names for 2 classes"):
        Dataset("x", src, src, 2, (1, 2, 2), (0.5,), (0.2,), ("a",))


def test_dataset_is_frozen():
    src = _tiny()
    ds = Dataset("x", src, src, 1, (1, 2, 2), (0.5,), (0.2,), ("a",))
    with pytest.raises(AttributeError):
        ds.name = "y"

import pytest
import torch

from bnnas.data import ImageTensors, split_train_val
from bnnas.errors import ConfigError, DataError


def _source(counts):
    labels = torch.cat([torch.full((n,), c, dtype=torch.int64) for c, n in enumerate(counts)])
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(5))]
    images = torch.arange(len(labels), dtype=torch.int64).remainder(256).to(torch.uint8)
    # Each image's four pixels hold its position so subsets can be traced back.
    return ImageTensors(images.view(-1, 1, 1, 1).expand(-1, 1, 2, 2).clone(), labels)


def _positions(subset):
    return subset.images[:, 0, 0, 0].to(torch.int64)


def test_half_half_is_class_balanced_disjoint_and_complete():
    source = _source([20, 40, 10])
    train, val = split_train_val(source)
    assert len(train) == len(val) == 35
    assert torch.bincount(train.labels).tolist() == [10, 20, 5]
    assert torch.bincount(val.labels).tolist() == [10, 20, 5]
    both = torch.cat([_positions(train), _positions(val)])
    assert sorted(both.tolist()) == list(range(70))
    # Kept in original order, with each sample's own label.
    assert _positions(train).tolist() == sorted(_positions(train).tolist())
    assert torch.equal(val.labels, source.labels[_positions(val)])


def test_fraction_applies_per_class():
    train, val = split_train_val(_source([20, 40, 10]), val_fraction=0.2)
    assert torch.bincount(val.labels).tolist() == [4, 8, 2]
    assert torch.bincount(train.labels).tolist() == [16, 32, 8]


def test_same_seed_same_split_other_seed_other_split():
    source = _source([30, 30])
    a = _positions(split_train_val(source, seed=3)[1])
    b = _positions(split_train_val(source, seed=3)[1])
    c = _positions(split_train_val(source, seed=4)[1])
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_global_rng_is_not_used():
    source = _source([30, 30])
    torch.manual_seed(1)
    a = _positions(split_train_val(source)[1])
    state = torch.get_rng_state()
    torch.manual_seed(2)
    b = _positions(split_train_val(source)[1])
    assert torch.equal(a, b)
    torch.manual_seed(1)
    split_train_val(source)
    assert torch.equal(torch.get_rng_state(), state)


def test_unstratified_split_sizes():
    train, val = split_train_val(_source([90, 10]), val_fraction=0.3, stratified=False)
    assert len(val) == 30 and len(train) == 70
    assert sorted(torch.cat([_positions(train), _positions(val)]).tolist()) == list(range(100))


def test_tiny_classes_keep_a_sample_on_each_side():
    train, val = split_train_val(_source([1, 2, 3, 10]), val_fraction=0.1)
    assert torch.bincount(val.labels, minlength=4).tolist() == [0, 1, 1, 1]
    assert torch.bincount(train.labels, minlength=4).tolist() == [1, 1, 2, 9]


@pytest.mark.parametrize("fraction", [0, 1, 0.0, 1.0, -0.2, 1.5, True, "0.5", None])
def test_fraction_must_lie_in_open_interval(fraction):
    with pytest.raises(ConfigError, match="val_fraction"):
        split_train_val(_source([4, 4]), val_fraction=fraction)


def test_one_sample_cannot_be_split():
    with pytest.raises(DataError, match="cannot split 1 samples"):
        split_train_val(_source([1]))

import numpy as np
import pytest
import torch

from bnnas.data import ImageSource, ImageTensors
from bnnas.errors import DataError


def _set(n=5):
    images = torch.arange(n * 4, dtype=torch.uint8).reshape(n, 1, 2, 2)
    return ImageTensors(images, torch.arange(n, dtype=torch.int64) * 10)


def test_fetch_and_subset_follow_the_given_order():
    data = _set()
    x, y = data.fetch(torch.tensor([3, 0]))
    assert y.tolist() == [30, 0] and torch.equal(x[0], data.images[3])
    sub = data.subset([4, 1])
    assert isinstance(sub, ImageTensors) and len(sub) == 2 and sub.labels.tolist() == [40, 10]
    assert sub.subset(np.array([1])).labels.tolist() == [10]
    assert isinstance(data, ImageSource) and data.image_shape == (1, 2, 2)


def test_fetch_returns_copies():
    data = _set()
    x, _ = data.fetch(torch.tensor([0]))
    x.fill_(99)
    assert int(data.images[0].max()) == 3


def test_out_of_range_index():
    with pytest.raises(IndexError, match="out of range for a set of 5"):
        _set().fetch(torch.tensor([5]))


def test_from_numpy_adds_channel_axis_and_widens_labels():
    data = ImageTensors.from_numpy(np.zeros((3, 4, 5), np.uint8), np.array([1, 2, 3], np.uint8))
    assert data.images.shape == (3, 1, 4, 5) and data.labels.dtype == torch.int64


@pytest.mark.parametrize(
    "images,labels,match",
    [
        (torch.zeros(2, 1, 2, 2), torch.zeros(2, dtype=torch.int64), "uint8 tensor"),
        (torch.zeros(2, 2, 2, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64), "uint8"),
        (torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(2), "int64 tensor"),
        (torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64), "2 images"),
    ],
)
def test_malformed_tensors_are_refused(images, labels, match):
    with pytest.raises(DataError, match=match):
        ImageTensors(images, labels)

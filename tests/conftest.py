"""Shared test settings: deterministic, single-threaded torch (tests run two at a time),
and a tiny learnable dataset so training and search tests run in seconds."""

import pytest
import torch

from bnnas.data.datasets import Dataset
from bnnas.data.tensors import ImageTensors


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def make_images(n: int, seed: int) -> ImageTensors:
    """Class c lights up quadrant c of a 12x12 image, plus noise: easy but not trivial."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = torch.randint(0, 90, (n, 1, 12, 12), generator=g)
    for c in range(4):
        r, q = divmod(c, 2)
        images[labels == c, :, 6 * r : 6 * r + 6, 6 * q : 6 * q + 6] += 140
    return ImageTensors(images.clamp(0, 255).to(torch.uint8), labels.to(torch.int64))


@pytest.fixture
def tiny_dataset() -> Dataset:
    return Dataset(
        name="tiny",
        train=make_images(192, 0),
        test=make_images(64, 1),
        num_classes=4,
        input_shape=(1, 12, 12),
        mean=(0.4,),
        std=(0.3,),
        classes=("a", "b", "c", "d"),
    )

"""Batch transforms on tensors: uint8 to float, normalisation, random crop and flip.

They act on a whole (N, C, H, W) batch on whatever device it lives on, with no Python loop
over samples, so augmentation runs on the GPU after a single uint8 copy instead of in
per-image CPU workers. Random transforms take a ``generator``: the per-sample random numbers
(a few per image) are drawn on the generator's device, the CPU for a CPU generator, and then
moved to the batch, so a seeded run augments identically on CPU and GPU and never touches the
global RNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from bnnas.errors import ConfigError

if TYPE_CHECKING:
    from bnnas.data.datasets import Dataset


class Transform(Protocol):
    """A batch transform; deterministic ones ignore ``generator``."""

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor: ...


def _draw_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


class ToFloat:
    """uint8 in 0..255 to float32 in [0, 1]."""

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if x.dtype != torch.uint8:
            raise TypeError(f"ToFloat expects a uint8 batch, got {x.dtype}")
        return x.to(torch.float32).div_(255.0)

    def __repr__(self) -> str:
        return "ToFloat()"


class Normalize:
    """Per-channel ``(x - mean) / std``, with mean and std on the [0, 1] scale."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std) or not mean:
            raise ConfigError(f"Normalize needs one mean and one std per channel: {mean}, {std}")
        if any(s <= 0 for s in std):
            raise ConfigError(f"Normalize needs positive std values, got {tuple(std)}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if x.dim() != 4 or x.shape[1] != len(self.mean):
            raise ValueError(
                f"Normalize for {len(self.mean)} channels got a batch of shape {tuple(x.shape)}"
            )
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class RandomCrop:
    """Pad every side by ``padding`` with ``fill``, then cut a ``size`` window per sample.

    Each sample gets its own offset, so the result is each image shifted by up to
    ``padding`` pixels in each direction (the CIFAR augmentation of He et al. 2016). The
    windows are gathered with index arithmetic in one indexing call for the whole batch.
    """

    def __init__(self, size: int | tuple[int, int], padding: int = 0, fill: float = 0.0) -> None:
        height, width = (size, size) if isinstance(size, int) else size
        if height < 1 or width < 1 or padding < 0:
            raise ConfigError(
                f"RandomCrop needs a positive size and padding >= 0: {size}, {padding}"
            )
        self.size = (int(height), int(width))
        self.padding = int(padding)
        self.fill = float(fill)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        n, c = x.shape[:2]
        p = self.padding
        if p:
            x = F.pad(x, (p, p, p, p), mode="constant", value=self.fill)
        th, tw = self.size
        ph, pw = x.shape[2:]
        if th > ph or tw > pw:
            raise ValueError(f"RandomCrop of {self.size} is larger than the padded {(ph, pw)}")
        draw = _draw_device(generator)
        top = torch.randint(0, ph - th + 1, (n,), generator=generator, device=draw).to(x.device)
        left = torch.randint(0, pw - tw + 1, (n,), generator=generator, device=draw).to(x.device)
        rows = top[:, None] + torch.arange(th, device=x.device)
        cols = left[:, None] + torch.arange(tw, device=x.device)
        batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
        chan = torch.arange(c, device=x.device).view(1, c, 1, 1)
        return x[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding}, fill={self.fill})"


class RandomHorizontalFlip:
    """Mirror each sample left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"flip probability must lie in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        draw = _draw_device(generator)
        flip = torch.rand(x.shape[0], generator=generator, device=draw) < self.p
        return torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    """Apply transforms in order, handing each the same generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = tuple(transforms)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        for transform in self.transforms:
            x = transform(x, generator=generator)
        return x

    def __repr__(self) -> str:
        return f"Compose([{', '.join(repr(t) for t in self.transforms)}])"


def crop_padding(height: int) -> int:
    """Shift range of the random crop: 2 pixels up to 28x28, 4 for 32x32, height/8 above."""
    return 2 if height <= 28 else height // 8


def default_train_transform(dataset: Dataset, augment: bool = True) -> Compose:
    """Training pipeline: to float, then (if ``augment``) pad-and-crop and flip, normalise.

    Left-right flips keep the label of every registered dataset (clothes, objects, ImageNet
    classes); a set where they do not (digits, text) should be trained with ``augment``
    off or its own pipeline. Cropping pads with 0, i.e. black, before normalisation.
    """
    steps: list[Transform] = [ToFloat()]
    if augment:
        _, height, width = dataset.input_shape
        steps += [RandomCrop((height, width), crop_padding(height)), RandomHorizontalFlip()]
    steps.append(Normalize(dataset.mean, dataset.std))
    return Compose(steps)


def default_eval_transform(dataset: Dataset) -> Compose:
    """Evaluation pipeline: to float and normalise, nothing random."""
    return Compose([ToFloat(), Normalize(dataset.mean, dataset.std)])

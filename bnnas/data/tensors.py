"""In-memory image sets and the small protocol every image source follows.

The training loop never sees files: it asks a *source* for a batch of samples by index and
gets ``uint8`` images in NCHW layout plus ``int64`` labels. Keeping images as ``uint8`` until
the batch is on its device costs a quarter of the memory and host-to-device bandwidth of
float32; the float conversion and normalisation happen in :mod:`bnnas.data.transforms`.

:class:`ImageTensors` holds a whole set in memory (Fashion-MNIST, CIFAR);
:class:`bnnas.data.imagefolder.ImageFolderSource` decodes files lazily but answers the same
calls, so splits and the batch loader work on either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from bnnas.errors import DataError

IndexLike = Tensor | Sequence[int] | np.ndarray


@runtime_checkable
class ImageSource(Protocol):
    """What splits and :class:`bnnas.data.loader.BatchLoader` need from a set of images."""

    @property
    def labels(self) -> Tensor:
        """All labels, ``int64`` of shape (N,), without decoding any image."""
        ...

    def __len__(self) -> int: ...

    def fetch(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        """Images (``uint8``, NCHW) and labels (``int64``) of the samples at ``indices``."""
        ...

    def subset(self, indices: IndexLike) -> ImageSource:
        """A source holding only the samples at ``indices``, in that order."""
        ...


def as_index_tensor(indices: IndexLike, length: int) -> Tensor:
    """Turn a list, array or tensor of positions into a checked 1-D ``int64`` CPU tensor.

    Out-of-range positions are refused here, with the range in the message, rather than deep
    inside an indexing kernel whose error names no dataset.
    """
    index = torch.as_tensor(indices, dtype=torch.int64, device="cpu").reshape(-1)
    if index.numel() and (int(index.min()) < -length or int(index.max()) >= length):
        raise IndexError(f"sample index out of range for a set of {length} samples")
    return index


@dataclass(frozen=True)
class ImageTensors:
    """An image set held in memory: ``images`` uint8 (N, C, H, W), ``labels`` int64 (N,)."""

    images: Tensor
    labels: Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(
                f"images must be a uint8 tensor of shape (N, C, H, W), got "
                f"{self.images.dtype} of shape {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.dim() != 1:
            raise DataError(
                f"labels must be an int64 tensor of shape (N,), got "
                f"{self.labels.dtype} of shape {tuple(self.labels.shape)}"
            )
        if len(self.images) != len(self.labels):
            raise DataError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        _, c, h, w = self.images.shape
        return (int(c), int(h), int(w))

    def fetch(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        """Images and labels at ``indices`` (copies, so callers may modify them)."""
        index = as_index_tensor(indices, len(self))
        return self.images[index], self.labels[index]

    def subset(self, indices: IndexLike) -> ImageTensors:
        """The samples at ``indices``, in that order, as a new in-memory set."""
        index = as_index_tensor(indices, len(self))
        return ImageTensors(self.images[index], self.labels[index])

    @classmethod
    def from_numpy(cls, images: np.ndarray, labels: np.ndarray) -> ImageTensors:
        """Build from NHW (grey) or NCHW uint8 images and integer labels of any width."""
        if images.ndim == 3:
            images = images[:, None, :, :]
        return cls(
            torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)),
            torch.from_numpy(np.asarray(labels).astype(np.int64)),
        )

"""Datasets, splits, batch transforms and the batch loader.

``load_dataset(name)`` returns a :class:`Dataset` whose train and test sources hand out uint8
image batches by index; :class:`BatchLoader` turns a source into reproducible float batches
on a device, augmented by :mod:`bnnas.data.transforms`. ``fashion-mnist-small`` ships with
the package and needs no network.
"""

from bnnas.data.datasets import DATASETS, Dataset, load_dataset
from bnnas.data.imagefolder import ImageFolderSource
from bnnas.data.loader import BatchLoader
from bnnas.data.splits import split_train_val
from bnnas.data.tensors import ImageSource, ImageTensors
from bnnas.data.transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    ToFloat,
    default_eval_transform,
    default_train_transform,
)

__all__ = [
    "DATASETS",
    "BatchLoader",
    "Compose",
    "Dataset",
    "ImageFolderSource",
    "ImageSource",
    "ImageTensors",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "ToFloat",
    "default_eval_transform",
    "default_train_transform",
    "load_dataset",
    "split_train_val",
]

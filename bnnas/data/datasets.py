"""Datasets by name: what a config or ``--dataset`` refers to.

A :class:`Dataset` bundles the train and test sources with what a model and its transforms
need to know (class count, input shape, normalisation). Loaders are registered in
:data:`DATASETS`; :func:`load_dataset` finds one by name and passes it the data folder.

``fashion-mnist-small`` is bundled with the package and is the offline default; the other
sets come from files on disk (see each loader for where it looks).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bnnas.data import bundled, cifar, fashion_mnist, imagefolder
from bnnas.data.splits import split_train_val
from bnnas.data.tensors import ImageSource
from bnnas.errors import ConfigError, DataError
from bnnas.registry import Registry

__all__ = ["DATASETS", "Dataset", "load_dataset", "split_train_val"]

PathArg = str | os.PathLike | None


@dataclass(frozen=True)
class Dataset:
    """A named image-classification dataset: sources plus the facts models need."""

    name: str
    train: ImageSource
    test: ImageSource
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        channels = self.input_shape[0]
        if len(self.mean) != channels or len(self.std) != channels:
            raise DataError(
                f"dataset {self.name!r}: mean/std have {len(self.mean)}/{len(self.std)} "
                f"values for {channels} channels"
            )
        if len(self.classes) != self.num_classes:
            raise DataError(
                f"dataset {self.name!r}: {len(self.classes)} class names for "
                f"{self.num_classes} classes"
            )


DatasetLoader = Callable[..., Dataset]
DATASETS: Registry[DatasetLoader] = Registry("dataset")


def load_dataset(
    name: str, data_dir: str | os.PathLike | None = None, *, download: bool = True, **options: Any
) -> Dataset:
    """Load the dataset registered as ``name``.

    ``data_dir`` overrides the places a loader searches; ``download`` allows fetching files
    that can be fetched (Fashion-MNIST). ``options`` are loader-specific settings, e.g.
    ``image_size`` for ``imagefolder``; an option the loader does not take is a ConfigError.
    """
    loader = DATASETS.get(name)
    accepted = [
        p for p in inspect.signature(loader).parameters if p not in ("data_dir", "download")
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) or "no options"
        raise ConfigError(f"dataset {name!r} has no option {', '.join(unknown)}; it takes: {takes}")
    return loader(data_dir, download=download, **options)


@DATASETS.register("fashion-mnist")
def _fashion_mnist(data_dir: PathArg, *, download: bool) -> Dataset:
    train, test = fashion_mnist.load_fashion_mnist(
        data_dir, download=download, expected_md5=fashion_mnist.FASHION_MNIST_MD5
    )
    return _fashion_dataset("fashion-mnist", train, test)


@DATASETS.register("fashion-mnist-small")
def _fashion_mnist_small(data_dir: PathArg, *, download: bool) -> Dataset:
    """Bundled with the package: ``data_dir`` and ``download`` are not needed and ignored."""
    train, test = bundled.load_fashion_mnist_small()
    return _fashion_dataset("fashion-mnist-small", train, test)


def _fashion_dataset(name: str, train: ImageSource, test: ImageSource) -> Dataset:
    return Dataset(
        name=name,
        train=train,
        test=test,
        num_classes=len(fashion_mnist.CLASSES),
        input_shape=(1, 28, 28),
        mean=fashion_mnist.MEAN,
        std=fashion_mnist.STD,
        classes=fashion_mnist.CLASSES,
    )


@DATASETS.register("cifar10")
def _cifar10(data_dir: PathArg, *, download: bool) -> Dataset:
    """Read from disk only; ``download`` is ignored (the upstream is an archive to unpack)."""
    train, test, classes = cifar.load_cifar(cifar.CIFAR10, data_dir)
    return Dataset(
        "cifar10", train, test, 10, (3, 32, 32), cifar.CIFAR10_MEAN, cifar.CIFAR10_STD, classes
    )


@DATASETS.register("cifar100")
def _cifar100(data_dir: PathArg, *, download: bool) -> Dataset:
    """Read from disk only, with the 100 fine labels; ``download`` is ignored."""
    train, test, classes = cifar.load_cifar(cifar.CIFAR100, data_dir)
    return Dataset(
        "cifar100", train, test, 100, (3, 32, 32), cifar.CIFAR100_MEAN, cifar.CIFAR100_STD, classes
    )


@DATASETS.register("imagefolder")
def _imagefolder(
    data_dir: PathArg, *, download: bool, image_size: int = imagefolder.DEFAULT_SIZE
) -> Dataset:
    """``data_dir`` holds ``train/`` and ``val/`` class folders; images decode on demand."""
    if data_dir is None:
        raise DataError(
            "the imagefolder dataset needs --data-dir: a folder with train/<class>/ and "
            "val/<class>/ image folders"
        )
    train, test, classes = imagefolder.load_imagefolder(data_dir, image_size)
    return Dataset(
        "imagefolder",
        train,
        test,
        len(classes),
        (3, image_size, image_size),
        imagefolder.IMAGENET_MEAN,
        imagefolder.IMAGENET_STD,
        classes,
    )

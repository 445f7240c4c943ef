"""ImageNet-style class folders (``root/train/<class>/*.jpg``, ``root/val/<class>/...``).

Images are only listed at load time; :meth:`ImageFolderSource.fetch` decodes the requested
ones with Pillow, so a million-image set costs a file list in memory, not the pixels. Each
image is converted to RGB, its shorter side resized to ``round(size * 256 / 224)`` (the
usual ImageNet evaluation ratio: 256 for 224) with bilinear filtering, then centre-cropped to
``size`` x ``size``. Random augmentation happens later, on the tensor batch.

Pillow is an optional extra (``pip install 'bnnas[images]'``) imported only here, when an
image folder is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bnnas.data.tensors import IndexLike, as_index_tensor
from bnnas.errors import ConfigError, DataError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
)
DEFAULT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TRAIN_DIR = "train"
EVAL_DIRS = ("val", "test")


def require_pillow() -> Any:
    """The ``PIL.Image`` module, or a DataError that says how to install it."""
    try:
        from PIL import Image
    except ImportError:
        raise DataError(
            "image folders need Pillow; install it with pip install 'bnnas[images]'"
        ) from None
    return Image


def resize_size(size: int) -> int:
    """The length the shorter side is resized to before the centre crop to ``size``."""
    return round(size * 256 / 224)


def decode_image(path: Path, size: int) -> np.ndarray:
    """One image file as uint8 (3, size, size): RGB, shorter side resized, centre-cropped."""
    image_module = require_pillow()
    try:
        with image_module.open(path) as img:
            rgb = img.convert("RGB")
    except (OSError, ValueError, image_module.DecompressionBombError) as err:
        raise DataError(f"cannot decode image {path} ({err}); delete or replace it") from None
    width, height = rgb.size
    short = resize_size(size)
    scale = short / min(width, height)
    new_w = max(size, round(width * scale))
    new_h = max(size, round(height * scale))
    rgb = rgb.resize((new_w, new_h), image_module.Resampling.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    rgb = rgb.crop((left, top, left + size, top + size))
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1))


@dataclass(frozen=True)
class ImageFolderSource:
    """A lazily decoded image set: file paths, their labels and the output size."""

    files: tuple[Path, ...]
    labels: Tensor
    size: int = DEFAULT_SIZE

    def __len__(self) -> int:
        return len(self.files)

    def fetch(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        """Decode the images at ``indices`` into a uint8 (n, 3, size, size) batch."""
        index = as_index_tensor(indices, len(self))
        images = np.empty((len(index), 3, self.size, self.size), dtype=np.uint8)
        for row, i in enumerate(index.tolist()):
            images[row] = decode_image(self.files[i], self.size)
        return torch.from_numpy(images), self.labels[index]

    def subset(self, indices: IndexLike) -> ImageFolderSource:
        """The samples at ``indices``, in that order (no image is decoded)."""
        index = as_index_tensor(indices, len(self))
        files = tuple(self.files[i] for i in index.tolist())
        return ImageFolderSource(files, self.labels[index], self.size)


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _class_dirs(split_dir: Path) -> list[Path]:
    return sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _list_images(class_dir: Path) -> list[Path]:
    return sorted(p for p in class_dir.rglob("*") if p.is_file() and _is_image(p))


def scan_split(
    split_dir: Path, classes: tuple[str, ...], size: int, *, every_class: bool = False
) -> ImageFolderSource:
    """List the images of one split; its class folders must be among ``classes``.

    With ``every_class`` (the train split) an empty class folder is an error, since a class
    without training images cannot be learnt.
    """
    index = {name: i for i, name in enumerate(classes)}
    files: list[Path] = []
    labels: list[int] = []
    for class_dir in _class_dirs(split_dir):
        if class_dir.name not in index:
            raise DataError(
                f"class folder {class_dir} has no counterpart in the train folder; every "
                f"class must have training images"
            )
        found = _list_images(class_dir)
        if every_class and not found:
            raise DataError(f"class folder {class_dir} holds no images; add some or remove it")
        files += found
        labels += [index[class_dir.name]] * len(found)
    if not files:
        raise DataError(
            f"no images in {split_dir}; expected <class>/<image> files with one of the "
            f"extensions {', '.join(sorted(IMAGE_EXTENSIONS))}"
        )
    return ImageFolderSource(tuple(files), torch.tensor(labels, dtype=torch.int64), size)


def load_imagefolder(
    root: str | os.PathLike, size: int = DEFAULT_SIZE
) -> tuple[ImageFolderSource, ImageFolderSource, tuple[str, ...]]:
    """Train and evaluation sources of ``root`` plus the class names (sorted folder names).

    The evaluation split is ``root/val`` or, if absent, ``root/test``.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"image size must be a positive integer, got {size!r}")
    require_pillow()
    root = Path(root)
    train_dir = root / TRAIN_DIR
    if not train_dir.is_dir():
        raise DataError(f"image folder {root} has no {TRAIN_DIR}/ folder of class folders")
    eval_dir = next((root / d for d in EVAL_DIRS if (root / d).is_dir()), None)
    if eval_dir is None:
        raise DataError(f"image folder {root} has no {'/ or '.join(EVAL_DIRS)}/ folder")
    classes = tuple(d.name for d in _class_dirs(train_dir))
    if not classes:
        raise DataError(f"{train_dir} holds no class folders; expected {train_dir}/<class>/<image>")
    train = scan_split(train_dir, classes, size, every_class=True)
    return train, scan_split(eval_dir, classes, size), classes

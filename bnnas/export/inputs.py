"""Inputs for ``bnnas predict``: image files and dataset samples as model-ready arrays.

A model takes float32 ``(N, C, H, W)`` batches normalised as in training. ``.npy`` files of
``uint8`` pixels (and PNG/JPEG images, with Pillow) are scaled to [0, 1] and normalised with
the mean and std stored in the model file; ``.npy`` files of floats are taken as already
normalised inputs. Nothing is resized: an image of another size is an error, since a
silently resized input gives confident nonsense.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bnnas.errors import ExportError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _as_batch(array: np.ndarray, input_shape: tuple[int, int, int], name: str) -> np.ndarray:
    """``array`` as ``(N, C, H, W)``: a single image may drop N, one channel may drop C."""
    c, h, w = input_shape
    if array.ndim == 4 and array.shape[1:] == input_shape:
        return array
    if array.ndim == 3 and array.shape == input_shape:
        return array[None]
    if c == 1 and array.ndim == 2 and array.shape == (h, w):
        return array[None, None]
    if c == 1 and array.ndim == 3 and array.shape[1:] == (h, w):
        return array[:, None]
    raise ExportError(f"{name} holds an array of shape {_shape_text(array.shape)}; the model "
                      f"takes {_shape_text(input_shape)} images (CxHxW, NxCxHxW, or HxW / NxHxW "
                      "for one channel): reshape or resize the input")


def normalize(pixels: np.ndarray, normalization: dict[str, Any] | None, name: str) -> np.ndarray:
    """``uint8`` pixels to the model's input scale: ``(x / 255 - mean) / std`` per channel."""
    if normalization is None:
        raise ExportError(f"{name} holds uint8 pixels but the model file records no input "
                          "normalisation; pass float32 arrays normalised as in training")
    mean = np.asarray(normalization["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(normalization["std"], np.float32).reshape(1, -1, 1, 1)
    return ((pixels.astype(np.float32) / np.float32(255.0)) - mean) / std


def _read_image(path: Path, channels: int) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise ExportError(f"reading {path.name} needs Pillow: pip install 'bnnas[images]', or "
                          "pass the pixels as a .npy array") from None
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    except OSError as error:
        raise ExportError(f"cannot read image {str(path)!r} ({error})") from None
    return pixels if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def load_file(path: str | Path, input_shape: tuple[int, int, int],
              normalization: dict[str, Any] | None) -> np.ndarray:
    """The model inputs held by one file, ``(N, C, H, W)`` float32."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"input file {str(path)!r} not found; check the path")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise ExportError(f"{path.name} is not a readable .npy array ({error})") from None
    elif suffix in IMAGE_SUFFIXES:
        array = _read_image(path, input_shape[0])
    else:
        raise ExportError(f"cannot read {path.name}: give .npy arrays or images "
                          f"({', '.join(IMAGE_SUFFIXES)})")
    batch = _as_batch(array, input_shape, path.name)
    if batch.dtype == np.uint8:
        return normalize(batch, normalization, path.name)
    if not np.issubdtype(batch.dtype, np.floating):
        raise ExportError(f"{path.name} holds {batch.dtype} values; give uint8 pixels or "
                          "normalised float inputs")
    return batch.astype(np.float32)


def dataset_inputs(name: str, data_dir: str | None, limit: int | None,
                   input_shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` test images of dataset ``name`` (normalised as in evaluation) and
    their labels."""
    import torch

    from bnnas.data import default_eval_transform, load_dataset

    dataset = load_dataset(name, data_dir)
    if tuple(dataset.input_shape) != tuple(input_shape):
        raise ExportError(f"dataset {name} has {_shape_text(dataset.input_shape)} images, the "
                          f"model takes {_shape_text(input_shape)}; use data of the shape it "
                          "was trained on")
    count = len(dataset.test) if limit is None else min(limit, len(dataset.test))
    pixels, labels = dataset.test.fetch(torch.arange(count))
    inputs = default_eval_transform(dataset)(pixels)
    return inputs.numpy().astype(np.float32), labels.numpy()

"""Inputs of ``bnnas predict``: shapes accepted, normalisation, refusals."""

import numpy as np
import pytest

from bnnas.errors import ExportError
from bnnas.export.inputs import load_file

NORM = {"mean": [0.5], "std": [0.25]}


@pytest.mark.parametrize("shape", [(28, 28), (1, 28, 28), (4, 28, 28), (4, 1, 28, 28)])
def test_uint8_pixels_are_scaled_and_normalised(tmp_path, shape):
    pixels = np.full(shape, 255, np.uint8)
    np.save(tmp_path / "x.npy", pixels)
    x = load_file(tmp_path / "x.npy", (1, 28, 28), NORM)
    assert x.dtype == np.float32 and x.shape[1:] == (1, 28, 28)
    assert x.shape[0] == (shape[0] if len(shape) == 4 or shape[0] == 4 else 1)
    np.testing.assert_allclose(x, 2.0)  # (1 - 0.5) / 0.25


def test_float_arrays_are_taken_as_model_inputs(tmp_path):
    np.save(tmp_path / "x.npy", np.full((3, 8, 8), 0.25, np.float64))
    x = load_file(tmp_path / "x.npy", (3, 8, 8), None)
    assert x.shape == (1, 3, 8, 8) and x.dtype == np.float32 and (x == 0.25).all()


def test_pixels_without_a_stored_normalisation_are_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((28, 28), np.uint8))
    with pytest.raises(ExportError, match="records no input normalisation"):
        load_file(tmp_path / "x.npy", (1, 28, 28), None)


def test_a_png_of_another_size_is_refused(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((30, 28), np.uint8)).save(tmp_path / "x.png")
    with pytest.raises(ExportError, match="shape 30x28.*1x28x28"):
        load_file(tmp_path / "x.png", (1, 28, 28), NORM)


def test_png_without_pillow_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    monkeypatch.setitem(__import__("sys").modules, "PIL", None)  # import PIL now fails
    with pytest.raises(ExportError, match=r"needs Pillow: pip install 'bnnas\[images\]'"):
        load_file(tmp_path / "x.png", (1, 28, 28), NORM)

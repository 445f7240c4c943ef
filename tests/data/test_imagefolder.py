import sys
from pathlib import Path

import pytest
import torch

from bnnas.data import imagefolder, load_dataset, split_train_val
from bnnas.data.imagefolder import ImageFolderSource, load_imagefolder, require_pillow
from bnnas.errors import ConfigError, DataError

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def _save(path: Path, size=(10, 8), color=RED, mode="RGB", halves=None):
    pil_image = pytest.importorskip("PIL.Image")
    path.parent.mkdir(parents=True, exist_ok=True)
    img = pil_image.new(mode, size, color)
    if halves is not None:  # left half / right half colours
        w, h = size
        img.paste(pil_image.new(mode, (w - w // 2, h), halves[1]), (w // 2, 0))
        img.paste(pil_image.new(mode, (w // 2, h), halves[0]), (0, 0))
    img.save(path)
    return path


@pytest.fixture
def root(tmp_path):
    pytest.importorskip("PIL.Image")
    root = tmp_path / "imgs"
    _save(root / "train" / "dog" / "a.png", color=BLUE)
    _save(root / "train" / "dog" / "sub" / "b.jpg", color=BLUE)
    _save(root / "train" / "cat" / "c.PNG", color=RED)
    _save(root / "train" / "cat" / "d.bmp", color=RED)
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    _save(root / "val" / "cat" / "e.png", color=RED)
    _save(root / "val" / "dog" / "f.png", size=(5, 30), color=GREEN)
    return root


def test_lists_classes_and_labels_without_decoding(root):
    dataset = load_dataset("imagefolder", root, image_size=16)
    assert dataset.classes == ("cat", "dog") and dataset.num_classes == 2
    assert dataset.input_shape == (3, 16, 16)
    assert dataset.mean == (0.485, 0.456, 0.406) and dataset.std == (0.229, 0.224, 0.225)
    assert len(dataset.train) == 4 and dataset.train.labels.tolist() == [0, 0, 1, 1]
    assert [p.name for p in dataset.train.files] == ["c.PNG", "d.bmp", "a.png", "b.jpg"]
    assert dataset.test.labels.tolist() == [0, 1]


def test_fetch_decodes_resizes_and_crops(root):
    dataset = load_dataset("imagefolder", root, image_size=16)
    x, y = dataset.test.fetch(torch.tensor([1, 0]))
    assert x.shape == (2, 3, 16, 16) and x.dtype == torch.uint8
    assert y.tolist() == [1, 0]
    assert torch.all(x[0, 1] == 255) and torch.all(x[0, [0, 2]] == 0)  # green, tall image
    assert torch.all(x[1, 0] == 255) and torch.all(x[1, 1:] == 0)  # red
    jpeg = dataset.train.fetch(torch.tensor([3]))[0][0]
    assert abs(int(jpeg[2].float().mean()) - 255) < 8 and int(jpeg[0].float().mean()) < 8


def test_default_size_is_224(root):
    dataset = load_dataset("imagefolder", root)
    assert dataset.input_shape == (3, 224, 224)
    assert dataset.train.fetch(torch.tensor([0]))[0].shape == (1, 3, 224, 224)


def test_shorter_side_is_resized_then_centre_cropped(tmp_path):
    # 80 x 40 image: left half red, right half blue. Shorter side 40 -> round(32*256/224) = 37,
    # width 80 -> 74, centre crop 32 keeps columns 21..52, split at 37 = crop column 16.
    path = _save(tmp_path / "wide.png", size=(80, 40), halves=(RED, BLUE))
    img = torch.from_numpy(imagefolder.decode_image(path, 32))
    assert img.shape == (3, 32, 32)
    assert torch.all(img[0, :, :14] == 255) and torch.all(img[2, :, :14] == 0)
    assert torch.all(img[2, :, 18:] == 255) and torch.all(img[0, :, 18:] == 0)


def test_grey_images_become_three_equal_channels(tmp_path):
    path = _save(tmp_path / "g.png", size=(9, 9), color=77, mode="L")
    img = imagefolder.decode_image(path, 8)
    assert img.shape == (3, 8, 8) and (img == 77).all()


def test_corrupt_image_is_named(root):
    (root / "val" / "cat" / "e.png").write_bytes(b"\x89PNG not really")
    dataset = load_dataset("imagefolder", root, image_size=8)
    with pytest.raises(DataError, match=r"cannot decode image .*e.png.*delete or replace it"):
        dataset.test.fetch(torch.tensor([0]))


def test_missing_pillow_says_how_to_install(root, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(DataError, match=r"pip install 'bnnas\[images\]'"):
        require_pillow()
    with pytest.raises(DataError, match="need Pillow"):
        load_dataset("imagefolder", root)


def test_folder_problems_are_data_errors(root, tmp_path):
    with pytest.raises(DataError, match="needs --data-dir"):
        load_dataset("imagefolder")
    with pytest.raises(DataError, match="has no train/ folder"):
        load_imagefolder(tmp_path / "nowhere")
    (root / "train" / "bird").mkdir()
    with pytest.raises(DataError, match=r"class folder .*bird holds no images"):
        load_imagefolder(root)
    (root / "train" / "bird").rmdir()
    _save(root / "val" / "fish" / "x.png")
    with pytest.raises(DataError, match=r"fish has no counterpart in the train folder"):
        load_imagefolder(root)


def test_val_may_be_named_test_and_must_exist(root):
    (root / "val").rename(root / "test")
    assert len(load_imagefolder(root, 8)[1]) == 2
    (root / "test").rename(root / "other")
    with pytest.raises(DataError, match="has no val/ or test/ folder"):
        load_imagefolder(root)


def test_empty_eval_split(root, tmp_path):
    for p in (root / "val").rglob("*.png"):
        p.unlink()
    with pytest.raises(DataError, match=r"no images in .*val"):
        load_imagefolder(root)


def test_subset_and_split_do_not_touch_files():
    files = tuple(Path(f"/does/not/exist/{i}.png") for i in range(20))
    source = ImageFolderSource(files, torch.arange(20) % 2, 8)
    train, val = split_train_val(source, 0.5, seed=1)
    assert isinstance(train, ImageFolderSource) and len(train) == len(val) == 10
    assert set(train.files).isdisjoint(val.files) and set(train.files) | set(val.files) == set(
        files
    )
    assert train.labels.tolist() == [int(f.stem) % 2 for f in train.files]


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_image_size_must_be_a_positive_integer(root, size):
    with pytest.raises(ConfigError, match="image size must be a positive integer"):
        load_dataset("imagefolder", root, image_size=size)

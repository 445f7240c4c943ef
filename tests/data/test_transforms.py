import pytest
import torch
import torch.nn.functional as F

from bnnas.data import (
    Compose,
    Dataset,
    ImageTensors,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    ToFloat,
    default_eval_transform,
    default_train_transform,
)
from bnnas.data.transforms import crop_padding
from bnnas.errors import ConfigError


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _batch(n=32, c=2, h=7, w=9):
    # Values in (0, 1], so zero padding is told apart from image content.
    return torch.rand(n, c, h, w, generator=_gen(99)) * 0.9 + 0.1


def _dataset(shape, mean, std):
    src = ImageTensors(torch.zeros(1, *shape, dtype=torch.uint8), torch.zeros(1, dtype=torch.int64))
    return Dataset("t", src, src, 1, shape, mean, std, ("a",))


def test_to_float_scales_to_unit_interval():
    x = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    y = ToFloat()(x)
    assert y.dtype == torch.float32 and y.flatten().tolist() == pytest.approx([0.0, 0.2, 1.0])
    with pytest.raises(TypeError, match="uint8"):
        ToFloat()(y)


def test_normalize_per_channel():
    x = torch.stack([torch.full((2, 2), 0.5), torch.full((2, 2), 0.1)]).unsqueeze(0)
    y = Normalize((0.25, 0.3), (0.5, 0.1))(x)
    assert torch.allclose(y[0, 0], torch.full((2, 2), 0.5))
    assert torch.allclose(y[0, 1], torch.full((2, 2), -2.0))
    with pytest.raises(ValueError, match="for 2 channels got a batch of shape"):
        Normalize((0.1, 0.2), (1.0, 1.0))(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ConfigError, match="positive std"):
        Normalize((0.1,), (0.0,))
    with pytest.raises(ConfigError, match="one mean and one std per channel"):
        Normalize((0.1, 0.2), (1.0,))


def _shift_of(out, img, pad):
    """The (dy, dx) for which ``out`` is the padded ``img`` window, or None."""
    padded = F.pad(img, (pad, pad, pad, pad))
    h, w = out.shape[-2:]
    for dy in range(padded.shape[-2] - h + 1):
        for dx in range(padded.shape[-1] - w + 1):
            if torch.equal(padded[:, dy : dy + h, dx : dx + w], out):
                return dy, dx
    return None


def test_random_crop_is_a_shifted_copy_with_zero_padding():
    x = _batch()
    out = RandomCrop((7, 9), padding=2)(x, generator=_gen(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    shifts = [_shift_of(out[i], x[i], 2) for i in range(len(x))]
    assert None not in shifts
    assert len(set(shifts)) > 5  # per-sample offsets, not one for the whole batch
    # Borders shifted in show the fill value, zero.
    dy, dx = shifts[0]
    if dy == 0:
        assert torch.all(out[0, :, :2] == 0)
    if dx == 4:
        assert torch.all(out[0, :, :, -2:] == 0)


def test_random_crop_fill_and_smaller_window():
    x = _batch(8)
    out = RandomCrop(4, padding=1, fill=-1.0)(x, generator=_gen(1))
    assert out.shape == (8, 2, 4, 4)
    padded = F.pad(x, (1, 1, 1, 1), value=-1.0)
    for i in range(8):
        found = any(
            torch.equal(padded[i, :, dy : dy + 4, dx : dx + 4], out[i])
            for dy in range(6)
            for dx in range(8)
        )
        assert found
    assert torch.equal(RandomCrop((7, 9))(x, generator=_gen(2)), x)


def test_random_crop_works_on_uint8_and_rejects_oversize():
    x = torch.randint(1, 255, (4, 1, 5, 5), dtype=torch.uint8, generator=_gen(3))
    out = RandomCrop(5, padding=1)(x, generator=_gen(4))
    assert out.dtype == torch.uint8 and all(_shift_of(out[i], x[i], 1) for i in range(4))
    with pytest.raises(ValueError, match="larger than the padded"):
        RandomCrop(8, padding=1)(x)


def test_flip_is_an_exact_mirror():
    x = _batch()
    assert torch.equal(RandomHorizontalFlip(1.0)(x, generator=_gen(0)), x.flip(-1))
    assert torch.equal(RandomHorizontalFlip(0.0)(x, generator=_gen(0)), x)
    out = RandomHorizontalFlip()(x, generator=_gen(0))
    flipped = [torch.equal(out[i], x[i].flip(-1)) for i in range(len(x))]
    kept = [torch.equal(out[i], x[i]) for i in range(len(x))]
    assert all(f != k for f, k in zip(flipped, kept, strict=True))
    assert 4 < sum(flipped) < 28
    with pytest.raises(ConfigError):
        RandomHorizontalFlip(1.5)


@pytest.mark.parametrize("transform", [RandomCrop((7, 9), 2), RandomHorizontalFlip()])
def test_same_seed_same_result_other_seed_other_result(transform):
    x = _batch()
    a = transform(x, generator=_gen(7))
    assert torch.equal(a, transform(x, generator=_gen(7)))
    assert not torch.equal(a, transform(x, generator=_gen(8)))


def test_random_transforms_leave_global_rng_alone():
    state = torch.get_rng_state()
    Compose([RandomCrop((7, 9), 2), RandomHorizontalFlip()])(_batch(), generator=_gen(0))
    assert torch.equal(torch.get_rng_state(), state)


def test_compose_hands_the_generator_on_in_order():
    x = _batch()
    crop, flip = RandomCrop((7, 9), 2), RandomHorizontalFlip()
    g = _gen(11)
    expected = flip(crop(x, generator=g), generator=g)
    assert torch.equal(Compose([crop, flip])(x, generator=_gen(11)), expected)


def test_default_transforms():
    fm = _dataset((1, 28, 28), (0.2860,), (0.3530,))
    cifar = _dataset((3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
    crop = default_train_transform(fm, True).transforms[1]
    assert isinstance(crop, RandomCrop) and crop.padding == 2 and crop.size == (28, 28)
    assert default_train_transform(cifar, True).transforms[1].padding == 4
    assert isinstance(default_train_transform(cifar, True).transforms[2], RandomHorizontalFlip)
    assert crop_padding(224) == 28
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=_gen(0))
    mean = torch.tensor(cifar.mean).view(1, 3, 1, 1)
    std = torch.tensor(cifar.std).view(1, 3, 1, 1)
    expected = (x.float() / 255 - mean) / std
    assert torch.allclose(default_eval_transform(cifar)(x), expected, atol=1e-6)
    assert torch.allclose(default_train_transform(cifar, False)(x, _gen(0)), expected, atol=1e-6)
    augmented = default_train_transform(cifar, True)(x, generator=_gen(0))
    assert augmented.shape == x.shape and not torch.allclose(augmented, expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batch_gets_the_same_augmentation_as_cpu():
    x = _batch()
    t = Compose([RandomCrop((7, 9), 2), RandomHorizontalFlip(), Normalize((0.5, 0.5), (0.2, 0.2))])
    on_gpu = t(x.cuda(), generator=_gen(5))
    assert on_gpu.is_cuda and torch.allclose(on_gpu.cpu(), t(x, generator=_gen(5)))

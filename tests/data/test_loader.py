import pytest
import torch

from bnnas.data import (
    BatchLoader,
    Compose,
    ImageTensors,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    ToFloat,
)
from bnnas.errors import ConfigError, DataError


def _source(n=103):
    # The label of a sample is its position, so batches can be traced back.
    images = torch.randint(0, 256, (n, 1, 6, 6), dtype=torch.uint8, generator=torch.Generator())
    return ImageTensors(images, torch.arange(n, dtype=torch.int64))


AUGMENT = Compose([ToFloat(), RandomCrop(6, 1), RandomHorizontalFlip(), Normalize((0.5,), (0.25,))])


def _epoch(loader, epoch=None):
    if epoch is not None:
        loader.set_epoch(epoch)
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_every_sample_once_per_epoch_in_shuffled_order():
    loader = BatchLoader(_source(), 10, shuffle=True, transform=ToFloat())
    assert len(loader) == 11 and loader.num_samples == 103
    sizes = [len(y) for _, y in loader]
    assert sizes == [10] * 10 + [3]
    _, y = _epoch(loader)
    assert sorted(y.tolist()) == list(range(103)) and y.tolist() != list(range(103))


def test_batches_are_float_normalized_and_match_labels():
    source = _source()
    loader = BatchLoader(
        source, 16, shuffle=True, transform=Compose([ToFloat(), Normalize((0.5,), (0.25,))])
    )
    x, y = next(iter(loader))
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.device.type == "cpu"
    expected = (source.images[y].float() / 255 - 0.5) / 0.25
    assert torch.allclose(x, expected)


def test_order_depends_only_on_seed_and_epoch():
    a = BatchLoader(_source(), 10, shuffle=True, transform=ToFloat(), seed=1)
    b = BatchLoader(_source(), 10, shuffle=True, transform=AUGMENT, seed=1)
    torch.manual_seed(123)
    ya = _epoch(a, 2)[1]
    torch.manual_seed(456)
    assert torch.equal(ya, _epoch(b, 2)[1])  # the transform does not change the order
    assert not torch.equal(ya, _epoch(a, 3)[1])
    c = BatchLoader(_source(), 10, shuffle=True, transform=ToFloat(), seed=2)
    assert not torch.equal(ya, _epoch(c, 2)[1])


def test_resuming_at_an_epoch_reproduces_it_exactly():
    source = _source()
    running = BatchLoader(source, 8, shuffle=True, transform=AUGMENT, seed=5)
    for epoch in range(3):
        x_run, y_run = _epoch(running, epoch)
    resumed = BatchLoader(source, 8, shuffle=True, transform=AUGMENT, seed=5)
    x_res, y_res = _epoch(resumed, 2)
    assert torch.equal(x_run, x_res) and torch.equal(y_run, y_res)
    x_again, _ = _epoch(resumed)  # no set_epoch: the same epoch again
    assert torch.equal(x_again, x_res)
    x_other, _ = _epoch(resumed, 1)
    assert not torch.equal(x_other, x_res)


def test_augmentation_differs_between_epochs_without_shuffle():
    loader = BatchLoader(_source(), 32, shuffle=False, transform=AUGMENT)
    x0, y0 = _epoch(loader, 0)
    x1, y1 = _epoch(loader, 1)
    assert y0.tolist() == list(range(103)) and torch.equal(y0, y1)
    assert not torch.equal(x0, x1)


def test_global_rng_untouched():
    loader = BatchLoader(_source(), 10, shuffle=True, transform=AUGMENT)
    state = torch.get_rng_state()
    _epoch(loader)
    assert torch.equal(torch.get_rng_state(), state)


def test_drop_last():
    loader = BatchLoader(_source(), 10, shuffle=True, transform=ToFloat(), drop_last=True)
    assert len(loader) == 10 and loader.num_samples == 100
    sizes = [len(y) for _, y in loader]
    assert sizes == [10] * 10
    exact = BatchLoader(_source(100), 10, shuffle=False, transform=ToFloat(), drop_last=True)
    assert len(exact) == 10 and exact.num_samples == 100
    small = BatchLoader(_source(5), 10, shuffle=False, transform=ToFloat(), drop_last=True)
    assert len(small) == 0 and list(small) == []


def test_pin_memory_is_ignored_off_cuda():
    loader = BatchLoader(_source(), 50, shuffle=False, transform=ToFloat(), pin_memory=True)
    assert not loader.pin_memory and len(list(loader)) == 3


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_batch_size(bad):
    with pytest.raises(ConfigError, match="batch_size"):
        BatchLoader(_source(), bad, shuffle=True, transform=ToFloat())


def test_bad_epoch_and_empty_source():
    loader = BatchLoader(_source(), 4, shuffle=True, transform=ToFloat())
    with pytest.raises(ConfigError, match="epoch"):
        loader.set_epoch(-1)
    with pytest.raises(DataError, match="empty"):
        BatchLoader(_source(0), 4, shuffle=True, transform=ToFloat())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_match_cpu_batches():
    source = _source()
    cpu = _epoch(BatchLoader(source, 16, shuffle=True, transform=AUGMENT))
    gpu = BatchLoader(source, 16, shuffle=True, transform=AUGMENT, device="cuda", pin_memory=True)
    x, y = _epoch(gpu)
    assert x.is_cuda and y.is_cuda
    assert torch.allclose(x.cpu(), cpu[0]) and torch.equal(y.cpu(), cpu[1])

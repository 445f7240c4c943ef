"""Re-estimating BatchNorm statistics from data instead of trusting the running averages.

A BatchNorm layer keeps running averages of its inputs' mean and variance for evaluation,
updated after every training step with momentum 0.1, so they mix the last ten or so
steps' weights. In a binary network one step flips the signs of thousands of latent
weights, and each flip changes what the layers after it see; the averages then describe
none of those weights, and in eval mode the shift compounds through the depth. A BN layer
of a deep searched cell stack can see inputs whose mean is more than a standard deviation
away from its running mean, and the network's eval-mode accuracy swings from step to step
(docs/RESULTS.md, "BN statistics of a searched network"). Recomputing the statistics as
a plain average over a few batches with the final weights removes that lag: the "BN
recalibration" that one-shot NAS uses for the same reason on paths of a shared supernet
(Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform Sampling", ECCV
2020), and which :mod:`bnnas.search.evaluate` applies to every candidate it scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from bnnas.errors import ConfigError

if TYPE_CHECKING:
    from bnnas.data.datasets import Dataset

__all__ = ["batch_norms", "fresh_batch_norm_statistics", "recalibrate_batch_norm",
           "recalibrate_on_training_images"]

_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BN layers of ``model`` that keep running statistics."""
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@contextmanager
def fresh_batch_norm_statistics(model: nn.Module) -> Iterator[None]:
    """Reset every BN's running statistics to be re-estimated as a plain average over the
    batches that follow (``momentum=None``); restore the originals on exit."""
    norms = batch_norms(model)
    saved = [(bn.momentum, {k: v.clone() for k, v in bn.state_dict().items() if k in _BUFFERS})
             for bn in norms]
    try:
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None
        yield
    finally:
        with torch.no_grad():
            for bn, (momentum, buffers) in zip(norms, saved, strict=True):
                bn.momentum = momentum
                for name, value in buffers.items():
                    getattr(bn, name).copy_(value)


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, images: Iterable[Tensor]) -> int:
    """Replace every BN's running statistics by their plain average over ``images`` (a
    batch per item), computed with the model's current weights; the weights, the BN
    momentum and the train/eval mode are left as they were. Returns the images seen.

    Raises ConfigError when ``images`` is empty (there would be nothing to average)."""
    norms = batch_norms(model)
    momenta = [bn.momentum for bn in norms]
    was_training = model.training
    seen = 0
    new: list[dict[str, Tensor]] = []
    with fresh_batch_norm_statistics(model):
        model.train()
        for x in images:
            model(x)
            seen += int(x.shape[0])
        new = [{k: getattr(bn, k).clone() for k in _BUFFERS} for bn in norms]
    model.train(was_training)
    if seen == 0:
        raise ConfigError("BN recalibration got no images; give it at least one batch")
    for bn, buffers, momentum in zip(norms, new, momenta, strict=True):
        for name, value in buffers.items():
            getattr(bn, name).copy_(value)
        bn.momentum = momentum
    return seen


def recalibrate_on_training_images(model: nn.Module, dataset: Dataset, batch_size: int,
                                   batches: int, device: torch.device | str = "cpu") -> int:
    """:func:`recalibrate_batch_norm` on ``batches`` batches of ``dataset``'s training
    images, drawn in a fixed order and without augmentation, so that the statistics
    describe images like the test images and the result is the same every call. Returns
    the images seen."""
    from bnnas.data import BatchLoader, default_eval_transform

    loader = BatchLoader(dataset.train, batch_size, shuffle=True, seed=0,
                         transform=default_eval_transform(dataset), device=device)
    return recalibrate_batch_norm(model, (x for x, _ in islice(loader, batches)))

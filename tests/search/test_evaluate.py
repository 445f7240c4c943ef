import numpy as np
import pytest
import torch

from bnnas.data import BatchLoader, default_eval_transform
from bnnas.errors import ConfigError
from bnnas.search.backends import BACKENDS
from bnnas.search.evaluate import FastEvaluator, fixed_batches
from bnnas.space.encoding import ArchEncoding
from bnnas.space.layout import Layout
from bnnas.space.network import SpaceSpec, SuperNetwork
from bnnas.train.batch_norm import fresh_batch_norm_statistics

OPS = ("skip_connect", "max_pool_3x3", "bin_conv_3x3", "bin_dil_conv_3x3")


@pytest.fixture
def setup(tiny_dataset):
    space = SpaceSpec(ops=OPS, steps=2, layout=Layout(3, 4), partial_k_normal=1,
                      partial_k_reduce=1)
    model = SuperNetwork(space, 4, 1)
    transform = default_eval_transform(tiny_dataset)
    calib = BatchLoader(tiny_dataset.train, 32, shuffle=True, seed=1, transform=transform)
    val = BatchLoader(tiny_dataset.test, 32, shuffle=True, seed=2, transform=transform)
    evaluator = FastEvaluator(model, fixed_batches(calib, 2), fixed_batches(val, 2))
    return model, evaluator, ArchEncoding(OPS, 2)


def test_fixed_batches_are_the_same_every_call(tiny_dataset):
    loader = BatchLoader(tiny_dataset.train, 16, shuffle=True, seed=3,
                         transform=default_eval_transform(tiny_dataset))
    first, again = fixed_batches(loader, 3), fixed_batches(loader, 3)
    assert len(first) == 3
    for (a, _), (b, _) in zip(first, again, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ConfigError):
        fixed_batches(loader, 0)


def test_bn_statistics_are_restored_after_recalibration(setup):
    model, evaluator, encoding = setup
    model.train()
    x = torch.randn(8, 1, 12, 12)
    model(x, path=encoding.decode(encoding.sample(np.random.default_rng(0))))
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    with fresh_batch_norm_statistics(model):
        model(x * 5 + 3, path=encoding.decode(encoding.sample(np.random.default_rng(1))))
        changed = any(not torch.equal(v, before[k])
                      for k, v in model.state_dict().items() if "running" in k)
    assert changed
    after = {k: v for k, v in model.state_dict().items() if "running" in k}
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_fast_evaluation_is_deterministic_and_order_free(setup):
    model, evaluator, encoding = setup
    rng = np.random.default_rng(0)
    paths = [encoding.decode(encoding.sample(rng)) for _ in range(4)]
    forward = evaluator.errors(paths)
    backward = evaluator.errors(paths[::-1])[::-1]
    assert forward == backward
    assert all(0.0 <= e <= 100.0 for e in forward)
    # scores move in steps of one validation image
    assert all(abs(e * evaluator.images / 100 - round(e * evaluator.images / 100)) < 1e-9
               for e in forward)
    assert BACKENDS.get("local")().errors(evaluator, paths) == forward
    assert model.training  # the evaluator puts the mode back


def test_recalibrated_score_does_not_depend_on_the_stored_bn_statistics(setup):
    model, evaluator, encoding = setup
    path = encoding.decode(encoding.sample(np.random.default_rng(5)))
    no_calibration = FastEvaluator(model, [], evaluator.validation)
    model.train()
    optimizer = torch.optim.Adam(model.weight_parameters(), lr=0.01)
    for _ in range(15):  # learn the (easy) task on this path
        for x, y in evaluator.calibration:
            loss = torch.nn.functional.cross_entropy(model(x, path=path), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    recalibrated, stored = evaluator.error(path), no_calibration.error(path)
    # the running statistics lag behind the weights they were gathered with; fresh ones fit
    assert recalibrated < 40.0 < stored
    with torch.no_grad():  # corrupt the stored statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d) and m.running_mean is not None:
                m.running_mean.fill_(50.0)
    assert evaluator.error(path) == recalibrated

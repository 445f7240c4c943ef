"""Numerical health: NaN/inf gradients and architecture parameters stop a run with a message
naming where it happened and the last good checkpoint; a collapsed search warns in the log."""

import json
import logging

import pytest
import torch

from bnnas.config import load_config
from bnnas.errors import NonFiniteError
from bnnas.search.config import UBNASConfig
from bnnas.search.ubnas import UBNASSearch
from bnnas.space.genotype import CellGenotype, Genotype
from bnnas.space.layout import Layout
from bnnas.train import TrainConfig, Trainer
from bnnas.train import trainer as trainer_module
from bnnas.train.health import collapsed_op, gradient_norm, warn_if_statistics_lag

SEARCH = ["data.batch_size=32", "space.cells=3", "space.channels=8", "space.steps=2",
          "space.partial_k_normal=2", "space.partial_k_reduce=2", "arch.warmup_epochs=0",
          "early_stop.skip_connects=null", "early_stop.stable_epochs=null"]


def _cell(*ops):
    return CellGenotype(tuple(((op, 0), (op, 1)) for op in ops), tuple(range(2, 2 + len(ops))))


def test_collapsed_op_names_the_one_op_every_edge_chose():
    layout = Layout(cells=3, channels=4)
    assert collapsed_op(Genotype(_cell("skip_connect"), _cell("skip_connect"), layout)) == \
        "skip_connect"
    assert collapsed_op(Genotype(_cell("skip_connect"), _cell("max_pool_3x3"), layout)) is None


def test_a_collapse_warning_needs_decisive_distributions(caplog):
    """All edges on one op warns only when the distributions chose it; near-uniform rows
    whose argmax happens to agree (the first architecture epochs) do not."""
    from bnnas.train.health import decisive, warn_if_collapsed

    genotype = Genotype(_cell("bin_conv_3x3"), _cell("bin_conv_3x3"), Layout(cells=3, channels=4))
    near_uniform = [[0.124, 0.125, 0.126, 0.125, 0.125, 0.125, 0.122, 0.128]] * 6
    chosen = [[0.05, 0.05, 0.6, 0.05, 0.05, 0.1, 0.05, 0.05]] * 6
    assert not decisive(near_uniform) and decisive(chosen)
    with caplog.at_level(logging.WARNING, logger="bnnas"):
        assert warn_if_collapsed(genotype, 6, near_uniform) is None
        assert not caplog.records
        assert warn_if_collapsed(genotype, 7, chosen) == "bin_conv_3x3"
        assert "collapsed to one op" in caplog.records[-1].getMessage()
    mixed = Genotype(_cell("bin_conv_3x3"), _cell("max_pool_3x3"), Layout(cells=3, channels=4))
    assert warn_if_collapsed(mixed, 8, chosen) is None


def test_a_stop_on_a_near_tie_warns_and_names_the_margin(caplog):
    from bnnas.train.health import op_margin, warn_if_undecided

    near_uniform = [[0.119, 0.116, 0.131, 0.121, 0.118, 0.12, 0.124, 0.151]] * 4
    chosen = [[0.05, 0.05, 0.6, 0.05, 0.05, 0.1, 0.05, 0.05]] * 4
    assert op_margin(near_uniform) == (pytest.approx(0.151 - 0.131), 0.0625)
    assert op_margin(chosen) == (pytest.approx(0.5), 0.0625)
    assert op_margin([]) is None
    with caplog.at_level(logging.WARNING, logger="bnnas"):
        assert not warn_if_undecided(12, chosen)
        assert not caplog.records
        assert warn_if_undecided(12, near_uniform)
    message = caplog.records[-1].getMessage()
    assert "near-tie" in message and "0.020" in message and "early_stop.decisive=true" in message


def test_gradient_norm_sees_nan_and_inf():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    assert gradient_norm([a, b]) == 0.0  # no gradients yet
    a.grad, b.grad = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([4.0, 0.0])
    assert gradient_norm([a, b]) == pytest.approx(5.0)
    b.grad[0] = float("inf")
    assert gradient_norm([a, b]) == float("inf")


def _poison(parameter: torch.nn.Parameter, value: float) -> None:
    parameter.register_hook(lambda grad: grad * value)


@pytest.mark.parametrize("clip", [[], ["optim.grad_clip=1.0"]])
def test_a_nan_gradient_stops_training_before_the_step(tmp_path, tiny_dataset, clip):
    config = load_config(TrainConfig, overrides=["data.batch_size=32", "optim.epochs=1",
                                                 "data.augment=false", *clip])
    trainer = Trainer(config, tmp_path, dataset=tiny_dataset, progress=False)
    first = next(p for p in trainer.model.parameters() if p.requires_grad)
    before = first.detach().clone()
    _poison(first, float("nan"))
    with pytest.raises(NonFiniteError, match="gradient norm became nan at epoch 1 step 1"):
        trainer.fit()
    assert torch.equal(first.detach(), before)  # the poisoned step was never taken


def test_an_inf_gradient_stops_a_search(tmp_path, tiny_dataset):
    config = load_config(UBNASConfig, overrides=[*SEARCH, "epochs=1", "optim.grad_clip=null"])
    search = UBNASSearch(config, tmp_path, dataset=tiny_dataset, progress=False)
    _poison(search.model.weight_parameters()[0], float("inf"))
    with pytest.raises(NonFiniteError, match="gradient norm became (inf|nan) at search epoch 1"):
        search.run()


def test_nan_architecture_parameters_stop_a_search(tmp_path, tiny_dataset):
    config = load_config(UBNASConfig, overrides=[*SEARCH, "epochs=1"])
    search = UBNASSearch(config, tmp_path, dataset=tiny_dataset, progress=False)
    _poison(search.model.arch_parameters()[0], float("nan"))
    with pytest.raises(NonFiniteError, match="architecture parameters became NaN/inf in "
                       "search epoch 1 step 1"):
        search.run()


def test_a_search_collapsed_to_one_op_warns_in_the_log(tmp_path, tiny_dataset):
    # A large architecture step makes the distributions decisive within two epochs.
    config = load_config(UBNASConfig, overrides=[*SEARCH, "epochs=2", "arch.lr=0.5",
                                                 "space.ops=[none, skip_connect]"])
    search = UBNASSearch(config, tmp_path, dataset=tiny_dataset, progress=False)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("bnnas")
    logger.addHandler(handler)
    try:
        search.run()
    finally:
        logger.removeHandler(handler)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert warnings and all("collapsed to one op" in w and "skip_connect" in w
                            for w in warnings)


def test_a_healthy_search_does_not_warn(tmp_path, tiny_dataset):
    config = load_config(UBNASConfig, overrides=[*SEARCH, "epochs=1"])
    search = UBNASSearch(config, tmp_path, dataset=tiny_dataset, progress=False)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("bnnas").addHandler(handler)
    try:
        search.run()
    finally:
        logging.getLogger("bnnas").removeHandler(handler)
    assert collapsed_op(search.derived()) is None
    assert not [r for r in records if r.levelno == logging.WARNING]


@pytest.mark.parametrize(("train_acc", "test_acc", "warns"), [
    (70.23, 17.81, True),  # the BARS seed-1 retrain's first epoch (docs/RESULTS.md)
    (70.0, 35.0, False),  # half exactly: no
    (90.0, 88.0, False),
    (30.0, 5.0, False),  # training near chance: the gap means nothing yet
])
def test_a_test_score_far_below_training_warns_about_bn_statistics(caplog, tmp_path,
                                                                   train_acc, test_acc, warns):
    checkpoint = tmp_path / "epoch-0001.pt"
    with caplog.at_level(logging.WARNING, logger="bnnas"):
        assert warn_if_statistics_lag(1, train_acc, test_acc, checkpoint) is warns
    if warns:
        assert f"bnnas eval {checkpoint} --recalibrate-bn 20" in caplog.text
        assert "17.81%" in caplog.text and "70.23%" in caplog.text
    else:
        assert not caplog.records


def test_the_trainer_checks_every_epoch_with_its_checkpoint(tmp_path, tiny_dataset,
                                                             monkeypatch):
    seen = []
    monkeypatch.setattr(trainer_module, "warn_if_statistics_lag",
                        lambda *args: seen.append(args) or False)
    config = load_config(TrainConfig, overrides=["data.batch_size=32", "data.augment=false",
                                                 "optim.epochs=2", "keep_checkpoints=2"])
    Trainer(config, tmp_path, dataset=tiny_dataset, progress=False).fit()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text()
               .splitlines()]
    assert [(e, tr, te, p.name) for e, tr, te, p in seen] == \
        [(r["epoch"], r["train_acc"], r["test_acc"], f"epoch-{r['epoch']:04d}.pt")
         for r in records]
    assert all(p.is_file() for *_, p in seen)

import pytest

from bnnas.config import from_dict
from bnnas.errors import ConfigError
from bnnas.search.early_stop import EarlyStopConfig, EarlyStopper

CONV = ((("bin_conv_3x3", 0), ("bin_conv_3x3", 1)),) * 4
ONE_SKIP = ((("skip_connect", 0), ("bin_conv_3x3", 1)),) + CONV[1:]
TWO_SKIPS = ((("skip_connect", 0), ("skip_connect", 1)),) + CONV[1:]


def test_skip_connect_criterion_fires_at_the_limit_and_not_below():
    stopper = EarlyStopper(EarlyStopConfig(skip_connects=2, stable_epochs=None))
    assert stopper.update(1, "a", CONV, arch_updated=True) is None
    assert stopper.update(2, "b", ONE_SKIP, arch_updated=True) is None
    decision = stopper.update(3, "c", TWO_SKIPS, arch_updated=True)
    assert decision is not None and decision.criterion == "skip_connects" and decision.epoch == 3
    assert "2 skip-connects" in decision.detail


def test_stable_genotype_criterion_counts_only_arch_epochs():
    stopper = EarlyStopper(EarlyStopConfig(skip_connects=None, stable_epochs=2))
    # Warm-up epochs without architecture updates never count.
    for epoch in (1, 2, 3):
        assert stopper.update(epoch, "same", CONV, arch_updated=False) is None
    assert stopper.update(4, "g1", CONV, arch_updated=True) is None
    assert stopper.update(5, "g1", CONV, arch_updated=True) is None  # unchanged once
    assert stopper.update(6, "g2", CONV, arch_updated=True) is None  # changed: reset
    assert stopper.update(7, "g2", CONV, arch_updated=True) is None
    decision = stopper.update(8, "g2", CONV, arch_updated=True)
    assert decision is not None and decision.criterion == "stable_epochs" and decision.epoch == 8


def test_changing_genotype_never_stops_and_state_round_trips():
    stopper = EarlyStopper(EarlyStopConfig(skip_connects=2, stable_epochs=2))
    for epoch in range(1, 20):
        assert stopper.update(epoch, f"g{epoch}", ONE_SKIP, arch_updated=True) is None
    clone = EarlyStopper(EarlyStopConfig(skip_connects=2, stable_epochs=2))
    clone.load_state_dict(stopper.state_dict())
    assert clone.state_dict() == stopper.state_dict()


def test_min_epochs_delays_stopping():
    stopper = EarlyStopper(EarlyStopConfig(skip_connects=1, stable_epochs=None, min_epochs=3))
    assert stopper.update(1, "a", TWO_SKIPS, arch_updated=True) is None
    assert stopper.update(2, "a", TWO_SKIPS, arch_updated=True) is None
    assert stopper.update(3, "a", TWO_SKIPS, arch_updated=True).criterion == "skip_connects"


@pytest.mark.parametrize("data", [{"skip_connects": 0}, {"stable_epochs": -1}])
def test_invalid_config(data):
    with pytest.raises(ConfigError):
        from_dict(EarlyStopConfig, data)


def test_with_decisive_on_undecided_epochs_do_not_count_as_stable():
    lenient = EarlyStopper(EarlyStopConfig(skip_connects=None, stable_epochs=2))
    strict = EarlyStopper(EarlyStopConfig(skip_connects=None, stable_epochs=2, decisive=True))
    for epoch in (1, 2):
        assert lenient.update(epoch, "g", CONV, arch_updated=True, decisive=False) is None
        assert strict.update(epoch, "g", CONV, arch_updated=True, decisive=False) is None
    # the argmax stood still on a near-tie: the default rule stops, the strict one waits
    assert lenient.update(3, "g", CONV, arch_updated=True, decisive=False).epoch == 3
    assert strict.update(3, "g", CONV, arch_updated=True, decisive=False) is None
    # once the distributions have chosen, each decided epoch that keeps the genotype counts
    assert strict.update(4, "g", CONV, arch_updated=True, decisive=True) is None
    assert strict.update(5, "g", CONV, arch_updated=False) is None  # no update: no count
    assert strict.update(6, "g", CONV, arch_updated=True, decisive=False) is None  # reset
    assert strict.update(7, "g", CONV, arch_updated=True, decisive=True) is None
    decision = strict.update(8, "g", CONV, arch_updated=True, decisive=True)
    assert decision is not None and decision.criterion == "stable_epochs"
    assert decision.epoch == 8
    assert from_dict(EarlyStopConfig, {"decisive": True}).decisive is True

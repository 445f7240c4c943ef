"""Stop signals: SIGINT/SIGTERM become Interrupted, checkpoint writes finish first, and the
handlers that were installed before are back afterwards."""

import os
import signal
import time

import pytest

from bnnas.interrupt import (
    Interrupted,
    StopSignals,
    deferred_signals,
    pending_signal,
    take_pending_signal,
)


def _deliver(signum: int) -> None:
    """Send ``signum`` to this process and give Python a chance to run its handler."""
    os.kill(os.getpid(), signum)
    for _ in range(100):
        time.sleep(0.001)


@pytest.mark.parametrize("signum,code,name", [(signal.SIGINT, 130, "SIGINT"),
                                              (signal.SIGTERM, 143, "SIGTERM")])
def test_a_stop_signal_raises_interrupted_with_the_shell_exit_code(signum, code, name):
    with pytest.raises(Interrupted) as caught, StopSignals():
        _deliver(signum)
    assert caught.value.exit_code == code and caught.value.name == name
    assert isinstance(caught.value, KeyboardInterrupt)  # `except Exception` cannot eat it


def test_previous_handlers_are_restored():
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda *_: calls.append("mine"))
    try:
        before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
        with StopSignals():
            assert signal.getsignal(signal.SIGTERM) is not before[0]
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
        _deliver(signal.SIGTERM)
        assert calls == ["mine"]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_deferred_block_finishes_before_the_signal_is_raised():
    done = []
    with pytest.raises(Interrupted) as caught, StopSignals():
        with deferred_signals():
            _deliver(signal.SIGTERM)
            done.append("write finished")
        done.append("after the block")  # never reached
    assert done == ["write finished"] and caught.value.name == "SIGTERM"


def test_nested_deferred_blocks_raise_at_the_outermost_end():
    done = []
    with pytest.raises(Interrupted), StopSignals(), deferred_signals():
        with deferred_signals():
            _deliver(signal.SIGINT)
        done.append("outer block still runs")
    assert done == ["outer block still runs"]


def test_without_stop_signals_deferred_blocks_change_nothing():
    # Compared with the handler found, not Python's default: a job started in the background
    # of a non-interactive shell inherits SIGINT ignored.
    before = signal.getsignal(signal.SIGINT)
    with deferred_signals():
        value = 1
    assert value == 1
    assert signal.getsignal(signal.SIGINT) is before


def test_a_second_signal_abandons_a_deferred_block():
    done = []
    with pytest.raises(Interrupted) as caught, StopSignals(), deferred_signals():
        _deliver(signal.SIGTERM)
        done.append("first signal held")
        _deliver(signal.SIGINT)
        done.append("never reached")
    assert done == ["first signal held"] and caught.value.name == "SIGINT"


def test_a_held_signal_can_be_read_and_taken_so_the_block_ends_without_it():
    assert pending_signal() == 0 and take_pending_signal() == 0  # no StopSignals: nothing
    seen = []
    with StopSignals():
        with deferred_signals():
            seen.append(pending_signal())
            _deliver(signal.SIGTERM)
            seen.append(pending_signal())
            seen.append(take_pending_signal())
            seen.append(pending_signal())
        seen.append("the block ended without raising")
    assert seen == [0, signal.SIGTERM, signal.SIGTERM, 0, "the block ended without raising"]


def test_a_stop_agreed_by_data_parallel_ranks_says_so():
    assert Interrupted(signal.SIGTERM, together=True).together
    assert not Interrupted(signal.SIGTERM).together

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnnas.errors import ConfigError
from bnnas.search.path_dropout import drop_path_pairs
from bnnas.space.encoding import ArchEncoding

ENCODING = ArchEncoding(steps=4)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), rate=st.floats(0.0, 0.99))
def test_dropout_keeps_at_least_one_input_per_node_and_only_drops(seed, rate):
    rng = np.random.default_rng(seed)
    normal, _ = ENCODING.decode(ENCODING.sample(rng))
    dropped = drop_path_pairs(normal, rate, rng)
    assert dropped.concat == normal.concat
    for kept, full in zip(dropped.nodes, normal.nodes, strict=True):
        assert 1 <= len(kept) <= len(full)
        assert set(kept) <= set(full)
    assert dropped.problem(ENCODING.ops, "cell") is None


def test_dropout_rate_sets_the_share_of_dropped_pairs():
    rng = np.random.default_rng(0)
    normal, _ = ENCODING.decode(ENCODING.sample(rng))
    kept = [sum(len(n) for n in drop_path_pairs(normal, 0.3, rng).nodes) for _ in range(2000)]
    share_dropped = 1 - np.mean(kept) / 8
    # 0.3 per pair, minus the nodes rescued from losing both (0.09 of them, one pair back)
    assert abs(share_dropped - (0.3 - 0.09 / 2)) < 0.02
    assert drop_path_pairs(normal, 0.0, rng) is normal


def test_bad_rate_is_a_config_error():
    normal, _ = ENCODING.decode(ENCODING.sample(np.random.default_rng(0)))
    with pytest.raises(ConfigError, match="path dropout"):
        drop_path_pairs(normal, 1.0, np.random.default_rng(0))

"""Property tests of config loading: any ``--set`` override and any YAML file either gives a
validated config or raises ConfigError (a BnnasError); never a crash, never a NaN setting."""

import dataclasses
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnnas.config import load_config, to_dict
from bnnas.errors import BnnasError
from bnnas.search.bars_config import BARSConfig
from bnnas.search.config import UBNASConfig
from bnnas.search.mots_config import MOTSConfig
from bnnas.train import TrainConfig

CLASSES = [TrainConfig, UBNASConfig, MOTSConfig, BARSConfig]
FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
LONG = settings(max_examples=1000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _keys(cls, prefix="") -> list[str]:
    out = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):
            out += _keys(type(default), f"{prefix}{f.name}.")
        else:
            out.append(f"{prefix}{f.name}")
    return out


VALUES = st.one_of(
    st.sampled_from(["0", "-1", "1", "1e400", "-1e400", ".nan", ".inf", "-.inf", "null", "[]",
                     "{}", "[1, 2, 3]", "true", "'x'", "~", "0x10", "1e-400", "!!binary aGk=",
                     "&a [*a]", "{a: 1}", "adam", "cosine", "[[1, 2, 2]]"]),
    st.integers(-10**12, 10**12).map(str),
    st.floats().map(repr),
    st.text(max_size=20),
)


@st.composite
def overrides(draw, cls) -> list[str]:
    keys = st.one_of(st.sampled_from(_keys(cls)), st.text(max_size=12))
    pairs = st.tuples(keys, VALUES).map(lambda kv: f"{kv[0]}={kv[1]}")
    return draw(st.lists(pairs, max_size=3))


def _finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _loads_or_refuses(cls, settings_: list[str]) -> None:
    defaults = to_dict(cls())
    try:
        config = load_config(cls, overrides=settings_)
    except BnnasError:
        return
    finally:
        assert to_dict(cls()) == defaults  # loading never changes the defaults
    assert _finite(to_dict(config)), settings_  # NaN and inf never get through


@FAST
@given(st.data())
def test_any_overrides_load_or_raise_config_errors(data):
    cls = data.draw(st.sampled_from(CLASSES))
    _loads_or_refuses(cls, data.draw(overrides(cls)))


@pytest.mark.slow
@LONG
@given(st.data())
def test_any_overrides_long(data):
    cls = data.draw(st.sampled_from(CLASSES))
    _loads_or_refuses(cls, data.draw(overrides(cls)))


YAML_TEXT = st.one_of(
    st.text(max_size=200),
    st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.sampled_from(["optim", "data", "lr", "epochs", "seed",
                                                    "space", "x"]), inner, max_size=3),
                 max_leaves=12).map(lambda d: yaml.safe_dump(d)),
)


def _file_loads_or_refuses(tmp_path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        config = load_config(TrainConfig, path)
    except BnnasError:
        return
    assert _finite(to_dict(config))


@FAST
@given(YAML_TEXT)
def test_any_yaml_file_loads_or_raises_config_errors(tmp_path, text):
    _file_loads_or_refuses(tmp_path, text)


@pytest.mark.slow
@LONG
@given(YAML_TEXT)
def test_any_yaml_file_long(tmp_path, text):
    _file_loads_or_refuses(tmp_path, text)

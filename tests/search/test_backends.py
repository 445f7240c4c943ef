"""Choosing an evaluation backend: the registry, its config keys and the search flags."""

import re

import pytest

from bnnas.config import load_config
from bnnas.errors import ConfigError
from bnnas.search.backends import BACKENDS, LocalBackend, backend_overrides
from bnnas.search.bars_config import BARSConfig
from bnnas.search.config import UBNASConfig
from bnnas.search.mots_config import MOTSConfig


def test_both_backends_are_registered():
    assert BACKENDS.names() == ["local", "ray"]
    assert isinstance(BACKENDS.get("local")(MOTSConfig().evolution), LocalBackend)


@pytest.mark.parametrize(("backend", "address", "expected"), [
    (None, None, []),
    ("ray", None, ["evolution.backend=ray"]),
    ("ray", "10.0.0.7:6379", ["evolution.backend=ray", 'evolution.ray_address="10.0.0.7:6379"']),
    (None, "auto", ['evolution.ray_address="auto"']),
])
def test_flags_become_overrides(backend, address, expected):
    assert backend_overrides("mots", MOTSConfig, backend, address) == expected


@pytest.mark.parametrize("address", ["10.0.0.7:6379", "1:20", "ray://head:10001", 'a"b'])
def test_an_address_stays_the_string_typed(address):
    # unquoted, YAML 1.1 would read 1:20 as the number 80
    config = load_config(MOTSConfig, overrides=backend_overrides("random", MOTSConfig, "ray",
                                                                 address))
    assert config.evolution.ray_address == address and config.evolution.backend == "ray"


@pytest.mark.parametrize(("method", "config_class"), [("ubnas", UBNASConfig),
                                                      ("bars", BARSConfig)])
def test_methods_without_candidate_evaluation_refuse_the_flags(method, config_class):
    assert backend_overrides(method, config_class, None, None) == []
    with pytest.raises(ConfigError, match=f"a {method} search scores none"):
        backend_overrides(method, config_class, "ray", None)


@pytest.mark.parametrize(("override", "message"), [
    ("evolution.backend=dask", "unknown evolution.backend 'dask'; choose one of: local, ray"),
    ("evolution.ray_cpus_per_task=0", "ray_cpus_per_task must be > 0"),
    ("evolution.ray_cpus_per_task=.nan", "ray_cpus_per_task must be a finite number"),
    ("evolution.ray_gpus_per_task=-1", "ray_gpus_per_task must be >= 0"),
    ("evolution.ray_max_retries=-1", "ray_max_retries must be >= 0"),
])
def test_bad_backend_settings_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(MOTSConfig, overrides=[override])


def test_defaults_keep_searches_local():
    evolution = MOTSConfig().evolution
    assert evolution.backend == "local" and evolution.ray_address is None
    assert (evolution.ray_cpus_per_task, evolution.ray_gpus_per_task) == (1.0, 0.0)

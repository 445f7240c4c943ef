import math

import pytest

from bnnas.config import apply_overrides, dump_yaml, load_config, read_yaml
from bnnas.errors import ConfigError
from bnnas.train.config import TrainConfig


def test_defaults_yaml_round_trip(tmp_path):
    config = load_config(TrainConfig)
    path = tmp_path / "c.yaml"
    path.write_text(dump_yaml(config))
    assert load_config(TrainConfig, path) == config


def test_file_then_overrides_take_precedence(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 0.5\n  epochs: 3\nmodel:\n  args: {stem: small}\n")
    config = load_config(TrainConfig, path, ["optim.lr=0.25", "data.augment=false"])
    assert config.optim.lr == 0.25 and config.optim.epochs == 3
    assert config.data.augment is False
    assert config.model.args == {"stem": "small"}


def test_int_accepted_for_float_and_null_for_optional():
    config = load_config(TrainConfig, overrides=["optim.lr=1", "optim.grad_clip=null"])
    assert isinstance(config.optim.lr, float) and config.optim.grad_clip is None


@pytest.mark.parametrize(
    "override,message",
    [
        ("optim.lrr=0.1", "unknown config key 'optim.lrr'"),
        ("nonsense=1", "unknown config key 'nonsense'"),
        ("optim.lr=-1", "optim.lr must be > 0"),
        ("optim.lr=.nan", "optim.lr must be a finite number"),
        ("optim.lr=.inf", "optim.lr must be a finite number"),
        ("optim.epochs=2.5", "optim.epochs must be an integer"),
        ("optim.epochs=0", "optim.epochs must be > 0"),
        ("data.batch_size=-4", "data.batch_size must be > 0"),
        ("optim.optimizer=rmsprop", "optim.optimizer must be one of adam, adamw, sgd"),
        ("data.augment=maybe", "data.augment must be true or false"),
        ("optim=3", "must be a mapping"),
        ("justakey", "must look like key=value"),
    ],
)
def test_invalid_values_are_rejected_with_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_config(TrainConfig, overrides=[override])


def test_unknown_key_in_file_is_rejected(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="unknown config key 'optim.learning_rate'"):
        load_config(TrainConfig, path)


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        read_yaml(listing)
    code = tmp_path / "code.yaml"
    code.write_text("x: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(code)


def test_apply_overrides_does_not_mutate_input():
    data = {"a": {"b": 1}}
    out = apply_overrides(data, ["a.b=2", "a.c=x"])
    assert data == {"a": {"b": 1}} and out == {"a": {"b": 2, "c": "x"}}
    assert math.isclose(apply_overrides({}, ["x=0.001"])["x"], 1e-3)


def test_exponent_without_dot_is_a_number(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 1e-3\n")
    assert load_config(TrainConfig, path).optim.lr == 1e-3
    assert load_config(TrainConfig, overrides=["optim.lr=5E-4"]).optim.lr == 5e-4

import pytest

from bnnas.errors import ConfigError
from bnnas.space.structure import (
    DEFAULT_STRUCTURE,
    STRUCTURE_PRESETS,
    OpStructure,
    parse_structure,
)


def test_default_spec_is_the_default_structure():
    assert parse_structure(DEFAULT_STRUCTURE) == OpStructure()
    assert OpStructure().spec == DEFAULT_STRUCTURE == "sign-conv-bn+shortcut"


@pytest.mark.parametrize(
    "spec,fields",
    [
        ("sign-conv-bn", {"shortcut": False}),
        ("bn-sign-conv+shortcut+rprelu", {"order": "bn_sign_conv", "activation": "rprelu"}),
        (
            "sign-conv-bn+shortcut;act=ste_sign;scaling=none",
            {"act_quantizer": "ste_sign", "scaling": "none"},
        ),
        ("bn-sign-conv;weight=approx_sign;reduce=pool",
         {"order": "bn_sign_conv", "shortcut": False, "weight_quantizer": "approx_sign",
          "reduce_skip": "pool"}),
    ],
)
def test_parse_reads_every_part(spec, fields):
    structure = parse_structure(spec)
    expected = {**OpStructure().__dict__, "shortcut": True, **fields}
    assert structure.__dict__ == expected


@pytest.mark.parametrize("spec", [*STRUCTURE_PRESETS, "bn-sign-conv+rprelu;act=swish_sign"])
def test_spec_round_trips(spec):
    structure = parse_structure(spec)
    assert parse_structure(structure.spec) == structure
    assert structure.spec == spec  # presets are written canonically


def test_non_canonical_spec_is_normalised():
    structure = parse_structure(" bn_sign_conv + rprelu+shortcut ; act = approx_sign ")
    assert structure.spec == "bn-sign-conv+shortcut+rprelu"


def test_presets_cover_orders_shortcut_and_rprelu():
    structures = [parse_structure(s) for s in STRUCTURE_PRESETS]
    for order in ("sign_conv_bn", "bn_sign_conv"):
        for shortcut in (False, True):
            assert any(s.order == order and s.shortcut == shortcut for s in structures)
    assert any(s.activation == "rprelu" for s in structures)


@pytest.mark.parametrize(
    "spec,fragment",
    [
        ("conv-sign-bn", "must start with an order"),
        ("sign-conv-bn+residual", "unknown flag 'residual'"),
        ("sign-conv-bn+shortcut+shortcut", "repeats"),
        ("sign-conv-bn;act", "KEY=VALUE"),
        ("sign-conv-bn;colour=red", "KEY=VALUE"),
        ("sign-conv-bn;act=magic_sign", "unknown act_quantizer 'magic_sign'"),
        ("sign-conv-bn;scaling=per_tensor", "unknown scaling"),
        ("sign-conv-bn;reduce=conv", "unknown reduce_skip"),
        ("sign-conv-bn;act=ste_sign;act=approx_sign", "repeats"),
        ("", "must start with an order"),
    ],
)
def test_bad_specs_raise_config_error(spec, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        parse_structure(spec)
    assert "\n" not in str(info.value)


def test_non_string_is_rejected():
    with pytest.raises(ConfigError, match="spec string"):
        parse_structure(3)  # type: ignore[arg-type]


def test_every_structure_round_trips():
    import itertools

    from bnnas.binary import QUANTIZERS, SCALINGS

    quantizers = QUANTIZERS.names()
    for order, shortcut, activation, act, weight, scaling, reduce_skip in itertools.product(
        ("sign_conv_bn", "bn_sign_conv"), (False, True), ("none", "rprelu"), quantizers,
        quantizers, SCALINGS, ("factorized", "pool"),
    ):
        structure = OpStructure(order, shortcut, activation, act, weight, scaling, reduce_skip)
        assert parse_structure(structure.spec) == structure

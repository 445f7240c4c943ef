"""How one binary op module is put together: the *structure* that UBNAS explores.

UBNAS (Tan et al., IEEE TCSVT 2024) searches not only which op sits on an edge but also how a
binary op is built ("explore the effect of diverse structures for various modules"), and keeps
the structure that works for all of them. The choices here are the ones the BNN literature
argues about:

* ``order``: ``sign -> conv -> BN`` (Bi-Real Net, Liu et al. ECCV 2018; EBNAS) normalises the
  integer popcount output, ``BN -> sign -> conv`` (BNAS, Kim et al.; BARS' "BN before conv")
  centres the distribution the sign thresholds;
* ``shortcut``: a real-valued identity around the binary conv (Bi-Real Net), a 2x2 average
  pool when the op downsamples;
* ``activation``: ReActNet's RPReLU (Liu et al. ECCV 2020) after the sum, or none;
* the activation and weight quantizers and the weight scaling (:mod:`bnnas.binary`);
* ``preprocess``: the 1x1 convs (and factorized reduces) that bring a cell's inputs to its
  width are binary (a fully binary backbone, as BARS keeps it) or real-valued (``pre=real``,
  as DARTS-space BNNs such as BNAS leave them);
* ``reduce_skip``: ``skip_connect`` at stride 2 as a binary factorized reduce (DARTS, Liu et
  al. ICLR 2019; BARS keeps the backbone fully binary this way) or a parameter-free 2x2 pool.

A structure travels through configs, the command line and genotype JSON as a compact spec::

    ORDER[+shortcut][+rprelu][;KEY=VALUE]...

``ORDER`` is ``sign-conv-bn`` or ``bn-sign-conv``; the flags may come in any order; the keys are
``act`` (activation quantizer), ``weight`` (weight quantizer), ``scaling``, ``reduce``
(``factorized`` or ``pool``) and ``pre`` (``binary`` or ``real``). Keys left out take their
defaults, e.g. the default ``"sign-conv-bn+shortcut"`` or
``"bn-sign-conv+shortcut+rprelu;act=ste_sign;scaling=none"``.
:attr:`OpStructure.spec` writes the canonical form (flags in the order above, only non-default
keys), so ``parse_structure(s.spec) == s``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from bnnas.binary import QUANTIZERS, SCALINGS
from bnnas.errors import ConfigError

Order = Literal["sign_conv_bn", "bn_sign_conv"]
Activation = Literal["none", "rprelu"]
ReduceSkip = Literal["factorized", "pool"]
Preprocess = Literal["binary", "real"]

ORDERS: tuple[str, ...] = ("sign_conv_bn", "bn_sign_conv")
ACTIVATIONS: tuple[str, ...] = ("none", "rprelu")
REDUCE_SKIPS: tuple[str, ...] = ("factorized", "pool")
PREPROCESSES: tuple[str, ...] = ("binary", "real")
DEFAULT_STRUCTURE = "sign-conv-bn+shortcut"

# Spec key -> OpStructure field, in the order the canonical spec writes them.
_KEYS = {
    "act": "act_quantizer",
    "weight": "weight_quantizer",
    "scaling": "scaling",
    "reduce": "reduce_skip",
    "pre": "preprocess",
}
_FLAGS = ("shortcut", "rprelu")

STRUCTURE_PRESETS: tuple[str, ...] = (
    "sign-conv-bn",
    "sign-conv-bn+shortcut",
    "sign-conv-bn+shortcut+rprelu",
    "bn-sign-conv",
    "bn-sign-conv+shortcut",
    "bn-sign-conv+shortcut+rprelu",
    "sign-conv-bn+shortcut;reduce=pool",
)
"""Structures for the UBNAS-style ablation: both orders, with and without the Bi-Real shortcut,
with RPReLU, and the parameter-free reduction skip."""


def _choice(what: str, value: str, choices: tuple[str, ...], fix: str) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {what} {value!r} in op structure; {fix}: {', '.join(choices)}")


@dataclass(frozen=True)
class OpStructure:
    """The construction of every binary op of a search space (see the module docstring)."""

    order: Order = "sign_conv_bn"
    shortcut: bool = True
    activation: Activation = "none"
    act_quantizer: str = "approx_sign"
    weight_quantizer: str = "ste_sign"
    scaling: str = "channel_mean"
    reduce_skip: ReduceSkip = "factorized"
    preprocess: Preprocess = "binary"

    def __post_init__(self) -> None:
        _choice("order", self.order, ORDERS, "choose one of")
        _choice("activation", self.activation, ACTIVATIONS, "choose one of")
        _choice("reduce_skip", self.reduce_skip, REDUCE_SKIPS, "choose one of")
        _choice("preprocess", self.preprocess, PREPROCESSES, "choose one of")
        _choice("scaling", self.scaling, SCALINGS, "choose one of")
        for field in ("act_quantizer", "weight_quantizer"):
            _choice(field, getattr(self, field), tuple(QUANTIZERS.names()), "choose one of")
        if not isinstance(self.shortcut, bool):
            raise ConfigError(f"op structure shortcut must be True or False, got {self.shortcut!r}")

    @property
    def spec(self) -> str:
        """The canonical compact spec; :func:`parse_structure` reads it back."""
        text = self.order.replace("_", "-")
        if self.shortcut:
            text += "+shortcut"
        if self.activation == "rprelu":
            text += "+rprelu"
        default = OpStructure()
        for key, field in _KEYS.items():
            value = getattr(self, field)
            if value != getattr(default, field):
                text += f";{key}={value}"
        return text

    def __str__(self) -> str:
        return self.spec

    def preprocess_structure(self) -> OpStructure:
        """The structure of a cell's input convs (1x1 and factorized reduce): this one for a
        fully binary backbone (BARS), or real-valued weights and inputs for ``pre=real``."""
        if self.preprocess == "binary":
            return self
        return dataclasses.replace(self, act_quantizer="identity", weight_quantizer="identity",
                                   scaling="none", shortcut=False, activation="none")


def parse_structure(text: str | OpStructure) -> OpStructure:
    """Read a structure spec such as ``"bn-sign-conv+shortcut+rprelu;act=ste_sign"``.

    An :class:`OpStructure` passes through. Unknown orders, flags, keys or values, and repeated
    parts raise a one-line :class:`ConfigError`.
    """
    if isinstance(text, OpStructure):
        return text
    if not isinstance(text, str):
        raise ConfigError(f"an op structure must be a spec string, got {type(text).__name__}")
    head, *pairs = [part.strip() for part in text.strip().split(";")]
    order, *flags = [part.strip() for part in head.split("+")]
    order = order.replace("-", "_")
    if order not in ORDERS:
        choices = ", ".join(o.replace("_", "-") for o in ORDERS)
        raise ConfigError(
            f"op structure {text!r} must start with an order; choose one of: {choices}"
        )
    fields: dict[str, object] = {"order": order, "shortcut": False, "activation": "none"}
    for flag in flags:
        if flag not in _FLAGS:
            raise ConfigError(
                f"unknown flag {flag!r} in op structure {text!r}; flags are: {', '.join(_FLAGS)}"
            )
        if flags.count(flag) > 1:
            raise ConfigError(f"flag {flag!r} repeats in op structure {text!r}; give it once")
    fields["shortcut"] = "shortcut" in flags
    fields["activation"] = "rprelu" if "rprelu" in flags else "none"
    for pair in pairs:
        key, sep, value = (s.strip() for s in pair.partition("="))
        if not sep or key not in _KEYS or not value:
            raise ConfigError(
                f"bad part {pair!r} in op structure {text!r}; use KEY=VALUE with KEY one of: "
                f"{', '.join(_KEYS)}"
            )
        if _KEYS[key] in fields:
            raise ConfigError(f"key {key!r} repeats in op structure {text!r}; give it once")
        fields[_KEYS[key]] = value
    return OpStructure(**fields)  # type: ignore[arg-type]

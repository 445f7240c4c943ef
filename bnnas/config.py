"""Typed configuration: dataclasses filled from YAML files and ``key=value`` overrides.

A config is a tree of dataclasses. Loading is strict, because a typo in a long search config
should fail at once rather than after hours: unknown keys, values of the wrong type, NaN or
infinite numbers and out-of-range values all raise :class:`ConfigError` with the dotted key.
The resolved config is stored in every run folder and inside every checkpoint (nanoGPT's
habit), so any result can be traced to the exact settings that produced it.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from bnnas.bounded_read import read_small_text
from bnnas.errors import ConfigError

C = TypeVar("C")

MAX_CONFIG_BYTES = 1 << 20  # a config is a page of YAML; /dev/zero is not
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain nested dicts (YAML/JSON/checkpoint friendly)."""
    return dataclasses.asdict(config)


def from_dict(cls: type[C], data: Mapping[str, Any], prefix: str = "") -> C:
    """Build dataclass ``cls`` from ``data``, checking keys and types; then validate it."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"config section {prefix or '<root>'!r} must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{prefix}{unknown[0]}"
        raise ConfigError(
            f"unknown config key {key!r}; valid keys here: {', '.join(sorted(fields))}"
        )
    values = {name: _coerce(hints[name], data[name], f"{prefix}{name}") for name in data}
    config = cls(**values)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Check ``value`` against the type ``hint``; ints are accepted where floats are."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except ConfigError as error:
                errors.append(error)
        raise errors[0]
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value if value is not None else {}, prefix=f"{key}.")
    if hint is Any:
        return value
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(
                f"{key} must be one of {', '.join(map(str, choices))}, got {value!r}"
            )
        return value
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        items = [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin or hint) is tuple else items
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            value = float(value)  # YAML 1.1 reads "1e-3" as a string; users mean a number
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into a key path and a YAML-parsed value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} must look like key=value, e.g. optim.lr=0.01")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def parse_model_args(pairs: Iterable[str]) -> dict[str, Any]:
    """``["stem=small", "width=2"]`` -> ``{"stem": "small", "width": 2}`` (YAML values): zoo
    model arguments or genotype layout changes given as ``--arg KEY=VALUE``."""
    kwargs = {}
    for pair in pairs:
        path, value = parse_override(pair)
        kwargs[".".join(path)] = value
    return kwargs


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``key=value`` override set (nested by dots)."""
    result = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = result
        for part in path[:-1]:
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = {}
                node[part] = child
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = _deep_copy(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = _deep_copy(value)
    return merged


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with the safe loader; errors name the file."""
    path = Path(path)
    text = read_small_text(path, MAX_CONFIG_BYTES, "config", ConfigError)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(f"config file {str(path)!r} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys to values")
    return data


def load_config(
    cls: type[C],
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    base: Mapping[str, Any] | None = None,
) -> C:
    """Defaults of ``cls``, updated by ``base``, then the YAML file, then the overrides."""
    data = to_dict(cls())
    if base is not None:
        data = _merge(data, base)
    if path is not None:
        data = _merge(data, read_yaml(path))
    data = apply_overrides(data, overrides)
    return from_dict(cls, data)


def dump_yaml(config: Any) -> str:
    """The config as YAML text, keys in declaration order."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)


def require(condition: bool, message: str) -> None:
    """Raise ConfigError(message) unless ``condition`` holds (for ``validate`` methods)."""
    if not condition:
        raise ConfigError(message)

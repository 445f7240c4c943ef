"""The model registry: ``@register_model`` and ``create_model(name, **kwargs)`` (timm's pattern).

Configs and the command line name models by string; every registered function takes at least
``num_classes``, ``in_channels``, ``act_quantizer``, ``weight_quantizer`` and ``scaling``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

from torch import nn

from bnnas.errors import ConfigError
from bnnas.registry import Registry

ModelFn = Callable[..., nn.Module]
ModelFnT = TypeVar("ModelFnT", bound=ModelFn)

MODELS: Registry[ModelFn] = Registry("model")


def register_model(fn: ModelFnT) -> ModelFnT:
    """Decorator: register a model function under its own ``__name__``."""
    MODELS.register()(fn)
    return fn


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return MODELS.names()


def create_model(name: str, **kwargs: object) -> nn.Module:
    """Build the model registered as ``name``.

    Raises UnknownNameError (listing the choices) for an unknown name and a one-line
    ConfigError for a keyword the model function does not take.
    """
    fn = MODELS.get(name)
    parameters = inspect.signature(fn).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    if not takes_any:
        accepted = [
            p.name
            for p in parameters.values()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        ]
        for key in kwargs:
            if key not in accepted:
                raise ConfigError(
                    f"model {name!r} does not accept argument {key!r}; "
                    f"it takes: {', '.join(accepted)}"
                )
    return fn(**kwargs)

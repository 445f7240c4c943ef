"""Build the network a training config names, and rebuild a trained one from its checkpoint.

A config names a zoo model (``model.name``) or a searched genotype file (``model.genotype``,
whose ``model.args`` may change the layout: ``cells``, ``channels``, ``stem_multiplier``,
``reductions``), or one member (``model.pick``) of a search's ``pareto.json``. A genotype
network keeps its genotype in its own ``state_dict`` (see :class:`bnnas.space.Network`), so
its checkpoints rebuild it even when the file has moved.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bnnas.binary import BinaryConv2d, BinaryLinear
from bnnas.binary.quantizers import make_quantizer
from bnnas.config import from_dict
from bnnas.errors import CheckpointError, GenotypeError
from bnnas.models import MODELS, create_model
from bnnas.search.pareto import load_genotype_file
from bnnas.space import Genotype, Network
from bnnas.train.checkpoint import load_checkpoint
from bnnas.train.config import ModelConfig

log = logging.getLogger("bnnas")

SMALL_INPUT = 64  # inputs up to this size get the small (stride-1, no max-pool) stem


def model_kwargs(config: ModelConfig, input_shape: tuple[int, int, int]) -> dict[str, Any]:
    """Constructor arguments: the config's ``args`` plus data-derived defaults.

    A model with a ``stem`` option gets ``stem="small"`` on small inputs unless the config
    chooses, since an ImageNet stem would shrink a 28x28 image to 7x7 before the first block.
    """
    kwargs = dict(config.args)
    if config.name in MODELS:
        params = inspect.signature(MODELS.get(config.name)).parameters
        if "stem" in params and "stem" not in kwargs and max(input_shape[1:]) <= SMALL_INPUT:
            kwargs["stem"] = "small"
    return kwargs


def load_genotype(config: ModelConfig) -> Genotype:
    """The genotype file (or the ``pick`` member of a pareto file) of ``config``, on the
    layout ``config.args`` asks for."""
    genotype = load_genotype_file(config.genotype, config.pick)  # type: ignore[arg-type]
    if config.args:
        genotype = genotype.with_layout(**config.args).validate()
    return genotype


def build_model(
    config: ModelConfig,
    num_classes: int,
    input_shape: tuple[int, int, int],
    *,
    genotype: Genotype | None = None,
) -> nn.Module:
    """The zoo model or genotype network of ``config`` sized for the data.

    ``genotype`` overrides the config's genotype file (and its layout args): a checkpoint
    passes the genotype it stored.
    """
    if genotype is not None or config.genotype is not None:
        genotype = genotype if genotype is not None else load_genotype(config)
        model = Network.from_genotype(genotype, num_classes, in_channels=input_shape[0])
    else:
        kwargs = model_kwargs(config, input_shape)
        model = create_model(
            config.name, num_classes=num_classes, in_channels=input_shape[0], **kwargs
        )
    if not config.binary_weights:
        keep_weights_real(model)
    return model


def keep_weights_real(model: nn.Module) -> int:
    """Make every binary layer of ``model`` use its latent weights as they are (an identity
    weight quantizer) while its input stays binary: the network of step 1 of ReActNet's
    two-step training (Liu et al., ECCV 2020). Returns how many layers changed."""
    changed = 0
    for module in model.modules():
        if isinstance(module, BinaryConv2d | BinaryLinear) and module.weight_precision == 1:
            module.weight_quantizer = make_quantizer("identity")
            changed += 1
    return changed


def init_weights_from(model: nn.Module, checkpoint: str | Path, num_classes: int) -> None:
    """Load the weights of a ``bnnas train`` checkpoint into ``model`` (same architecture;
    the quantizers may differ: a real-weight step 1 starts a binary step 2)."""
    state = load_checkpoint(checkpoint, map_location="cpu")
    try:
        stored_classes = state["meta"]["num_classes"]
        weights = state["model"]
    except (KeyError, TypeError) as error:
        raise CheckpointError(
            f"init_from {str(checkpoint)!r} lacks {error}; give a checkpoint written by "
            "bnnas train"
        ) from None
    if stored_classes != num_classes:
        raise CheckpointError(
            f"init_from {str(checkpoint)!r} predicts {stored_classes} classes, the data has "
            f"{num_classes}; start from a run on the same data"
        )
    load_weights(model, weights, f"init_from {str(checkpoint)!r} does not fit this run's model",
                 "; start from a run of the same model and layout")
    log.info("weights initialised from %s", checkpoint)


def load_weights(model: nn.Module, weights: dict[str, Any], misfit: str, fix: str = "") -> None:
    """``model.load_state_dict(weights)``; a mismatch becomes the one-line CheckpointError
    ``misfit (first line of torch's message)fix``."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{misfit} ({first}){fix}") from None


def _stored_genotype(model_state: dict[str, Any], checkpoint: str | Path) -> Genotype | None:
    """The genotype a genotype network saved in its state (``_extra_state``), if any."""
    extra = model_state.get("_extra_state")
    text = extra.get("genotype") if isinstance(extra, dict) else None
    if text is None:
        return None
    try:
        return Genotype.from_json(text)
    except GenotypeError as error:
        raise CheckpointError(
            f"checkpoint {str(checkpoint)!r} holds a broken genotype ({error})"
        ) from None


def model_meta(num_classes: int, input_shape: tuple[int, int, int]) -> dict[str, Any]:
    """What a checkpoint stores besides the config to rebuild its model without the data."""
    return {"num_classes": num_classes, "input_shape": list(input_shape)}


def load_trained_model(
    checkpoint: str | Path, device: torch.device | str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a ``bnnas train`` checkpoint and load its weights (eval mode)."""
    state = load_checkpoint(checkpoint, map_location=device)
    try:
        model_config = from_dict(ModelConfig, state["config"]["model"], prefix="model.")
        meta = state["meta"]
        input_shape = tuple(meta["input_shape"])
        genotype = None
        if model_config.genotype is not None:
            genotype = _stored_genotype(state["model"], checkpoint)
        model = build_model(
            model_config, meta["num_classes"], input_shape, genotype=genotype  # type: ignore[arg-type]
        )
        load_weights(model, state["model"],
                     f"checkpoint {str(checkpoint)!r} does not fit its model")
    except (KeyError, TypeError) as error:
        raise CheckpointError(
            f"checkpoint {str(checkpoint)!r} lacks {error}; it was not written by bnnas train"
        ) from None
    return model.to(device).eval(), state

"""What to export: a trained model with the facts a deployed copy needs to stand alone.

``bnnas export`` takes a training run folder, a genotype file and a checkpoint, or a zoo model
name and a checkpoint. Each way ends in an :class:`ExportSource`: the model in eval mode, its
architecture (a genotype, or a zoo name and its constructor arguments), input shape, class
count, and the input normalisation of the data it was trained on when that is known, so that
``bnnas predict`` can take raw images.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from bnnas.errors import BnnasError, CheckpointError, ConfigError
from bnnas.space import Network


@dataclass
class ExportSource:
    """A model ready to export, and its description."""

    model: nn.Module
    architecture: dict[str, Any]
    input_shape: tuple[int, int, int]
    num_classes: int
    normalization: dict[str, list[float]] | None = None
    classes: list[str] | None = None
    origin: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        """The JSON metadata every exported file carries."""
        from bnnas import __version__

        return {
            "format": "bnnas-packed",
            "bnnas_version": __version__,
            "architecture": self.architecture,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "normalization": self.normalization,
            "classes": self.classes,
            "origin": self.origin,
        }


def describe_architecture(model: nn.Module, name: str | None = None,
                          kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A genotype network's genotype, else the zoo ``name`` and ``kwargs`` (or the type)."""
    if isinstance(model, Network):
        try:
            return {"kind": "genotype", "genotype": model.genotype().to_dict()}
        except ConfigError:  # a Network not built from a genotype
            pass
    if name is not None:
        return {"kind": "zoo", "name": name, "kwargs": dict(kwargs or {})}
    return {"kind": "module", "type": type(model).__name__}


def data_facts(name: str | None, data_dir: str | None = None
               ) -> tuple[dict[str, list[float]] | None, list[str] | None]:
    """Normalisation (mean, std) and class names of dataset ``name``, if it can be read.

    The dataset's own loader knows them; one that needs files which are not here leaves them
    unknown (``bnnas predict`` then takes already normalised float arrays only).
    """
    if name is None:
        return None, None
    from bnnas.data import load_dataset

    try:
        dataset = load_dataset(name, data_dir, download=False)
    except BnnasError:
        return None, None
    norm = {"mean": [float(m) for m in dataset.mean], "std": [float(s) for s in dataset.std]}
    return norm, [str(c) for c in dataset.classes]


def _run_checkpoint(run_dir: Path) -> Path:
    from bnnas.train import latest_checkpoint

    if not run_dir.is_dir():
        raise ConfigError(f"run folder {str(run_dir)!r} not found; pass a folder `bnnas train` "
                          "made, or --genotype/--model with --checkpoint")
    final = run_dir / "final.pt"
    if final.is_file():
        return final
    found = latest_checkpoint(run_dir / "checkpoints")
    if found is None:
        raise ConfigError(f"{str(run_dir)!r} holds no checkpoint; train first")
    return found[0]


def _meta_of(state: Mapping[str, Any], checkpoint: Path) -> tuple[tuple[int, int, int], int]:
    try:
        meta = state["meta"]
        shape = tuple(int(d) for d in meta["input_shape"])
        return shape, int(meta["num_classes"])  # type: ignore[return-value]
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"checkpoint {str(checkpoint)!r} lacks its input shape and class "
                              "count (meta); use a checkpoint written by bnnas train") from None


def _data_name(state: Mapping[str, Any]) -> tuple[str | None, str | None]:
    data = state.get("config", {}).get("data", {}) if isinstance(state, Mapping) else {}
    return data.get("name"), data.get("data_dir")


def from_run(run_dir: str | Path) -> ExportSource:
    """The trained model of a ``bnnas train`` run folder (``final.pt`` or newest epoch)."""
    from bnnas.config import from_dict
    from bnnas.train import load_trained_model
    from bnnas.train.builder import model_kwargs
    from bnnas.train.config import ModelConfig

    checkpoint = _run_checkpoint(Path(run_dir))
    model, state = load_trained_model(checkpoint)
    shape, classes = _meta_of(state, checkpoint)
    config = from_dict(ModelConfig, state["config"]["model"], prefix="model.")
    architecture = describe_architecture(model, config.name, model_kwargs(config, shape))
    norm, names = data_facts(*_data_name(state))
    return ExportSource(model.eval(), architecture, shape, classes, norm, names,
                        {"checkpoint": str(checkpoint)})


def _load_state(model: nn.Module, state: Mapping[str, Any], checkpoint: Path) -> None:
    try:
        model.load_state_dict(state["model"])
    except KeyError:
        raise CheckpointError(f"checkpoint {str(checkpoint)!r} holds no model weights; use a "
                              "checkpoint written by bnnas train") from None
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"checkpoint {str(checkpoint)!r} does not fit the model ({first});"
                              " pass the genotype or model it was trained as") from None


def from_genotype(genotype_file: str | Path, checkpoint: str | Path,
                  layout: Mapping[str, Any] | None = None,
                  pick: str | int | None = None) -> ExportSource:
    """A genotype network (on the ``layout`` changes given, if any) with checkpoint weights;
    ``genotype_file`` may be a search's ``pareto.json`` with the member ``pick``."""
    from bnnas.search.pareto import load_genotype_file
    from bnnas.train import load_checkpoint

    checkpoint = Path(checkpoint)
    state = load_checkpoint(checkpoint)
    shape, classes = _meta_of(state, checkpoint)
    genotype = load_genotype_file(genotype_file, pick)
    if layout:
        genotype = genotype.with_layout(**layout).validate()
    model = Network.from_genotype(genotype, classes, in_channels=shape[0])
    _load_state(model, state, checkpoint)
    norm, names = data_facts(*_data_name(state))
    return ExportSource(model.eval(), describe_architecture(model), shape, classes, norm, names,
                        {"checkpoint": str(checkpoint), "genotype": str(genotype_file),
                         **({} if pick is None else {"pick": str(pick)})})


def from_zoo(name: str, checkpoint: str | Path,
             kwargs: Mapping[str, Any] | None = None) -> ExportSource:
    """Zoo model ``name`` (arguments: the checkpoint's, updated by ``kwargs``) with its
    weights."""
    from bnnas.models import create_model
    from bnnas.train import load_checkpoint
    from bnnas.train.builder import model_kwargs
    from bnnas.train.config import ModelConfig

    checkpoint = Path(checkpoint)
    state = load_checkpoint(checkpoint)
    shape, classes = _meta_of(state, checkpoint)
    stored = state.get("config", {}).get("model", {})
    args = dict(stored.get("args") or {}) if stored.get("name") == name else {}
    args.update(kwargs or {})
    arguments = model_kwargs(ModelConfig(name=name, args=args), shape)
    model = create_model(name, num_classes=classes, in_channels=shape[0], **arguments)
    _load_state(model, state, checkpoint)
    norm, names = data_facts(*_data_name(state))
    return ExportSource(model.eval(), describe_architecture(model, name, arguments), shape,
                        classes, norm, names, {"checkpoint": str(checkpoint)})


def resolve_source(run_dir: str | Path | None = None, *, genotype: str | Path | None = None,
                   model: str | None = None, checkpoint: str | Path | None = None,
                   args: Mapping[str, Any] | None = None,
                   pick: str | int | None = None) -> ExportSource:
    """One of: a run folder; a genotype file (or a ``pareto.json`` and the member ``pick``)
    and a checkpoint; a zoo name and a checkpoint.

    ``args`` change a genotype's layout or a zoo model's constructor arguments.
    """
    given = [run_dir is not None, genotype is not None, model is not None]
    if sum(given) != 1:
        raise ConfigError("export one model: a RUN_DIR, or --genotype FILE --checkpoint CKPT, "
                          "or --model NAME --checkpoint CKPT")
    if run_dir is not None:
        if checkpoint is not None or args:
            raise ConfigError("a run folder brings its own checkpoint and model arguments; "
                              "drop --checkpoint/--arg")
        if pick is not None:
            raise ConfigError("a run folder brings its own genotype; --pick goes with "
                              "--genotype pareto.json")
        return from_run(run_dir)
    if checkpoint is None:
        raise ConfigError("--genotype/--model needs --checkpoint CKPT (a bnnas train "
                          "checkpoint, e.g. RUN_DIR/final.pt)")
    if genotype is not None:
        return from_genotype(genotype, checkpoint, args, pick)
    if pick is not None:
        raise ConfigError("--pick chooses a member of a pareto.json given with --genotype; "
                          "drop it for a zoo model")
    return from_zoo(model, checkpoint, args)  # type: ignore[arg-type]

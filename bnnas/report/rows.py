"""One row per trained network: what it scored, what it costs, what it took to find and train.

Accuracy and times come from the run's ``result.json``; costs from profiling the trained model
itself, rebuilt from its ``final.pt`` (so a genotype network is measured with the genotype it
stored, even if the genotype file has moved, and a zoo model with the stem its data chose);
the search time and method from the search folder that wrote the genotype.

Rows are named so that runs differing only in their seed share a name and can be averaged:
a zoo model by its name (and constructor arguments), a searched network by the method that
found it (and the front member it took, ``mots (best)``), and a random network of a search's
random control (a genotype in a ``random-ops`` folder, :mod:`bnnas.search.random_arch`) by
the space it was drawn from and its number: ``random-equal-ops (ubnas space) #0``. A found
or drawn network also keeps the seed that found or drew it (``search_seed``), apart from the
seed it was trained with, so that one network retrained with several seeds averages into one
line while the network another search seed found stays a line of its own.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from bnnas.errors import BnnasError, ReportError
from bnnas.report.folders import (
    read_config,
    read_json,
    resolve_config_path,
    search_folder_of,
    stored_command,
)
from bnnas.report.searches import load_search

HAND_MADE = "hand-made"
_CONTROL_METHOD = re.compile(r"random-equal-ops \((?P<space>[^()]+) space\)")
NUMERIC_FIELDS = (
    "test_acc", "best_test_acc", "bops", "flops", "ops", "params", "model_bytes",
    "search_seconds", "train_seconds",
)


@dataclass
class Row:
    """A trained network measured here. ``test_acc`` is the test accuracy (percent) after the
    last epoch, as ``bnnas train`` reports it; ``model_bytes`` is the profile's memory (1 bit
    per binary weight, 32 per real value). ``search_seed`` is the seed of the search that found
    the network, or of the random draw that drew it; None for a hand-made one. ``control_of``
    is, for a network of a random control, the search folder of the found network it was
    drawn to match."""

    name: str
    method: str
    dataset: str
    seed: int | None
    epochs: int
    test_acc: float
    best_test_acc: float | None
    bops: float
    flops: float
    ops: float
    params: int
    model_bytes: float
    search_seconds: float | None
    train_seconds: float
    command: str
    search_command: str | None
    run: str
    search_run: str | None
    search_seed: int | None = None
    control_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _arguments(args: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(args.items()))


def train_command(run: Path) -> str:
    """The command line of a train run: the one it stored, else a train from the resolved
    config it stored (which holds every setting, seed included)."""
    return stored_command(run) or f"bnnas train --config {shlex.quote(str(run / 'config.yaml'))}"


class ControlDraw(NamedTuple):
    """What a random control's ``result.json`` says of one of its networks."""

    method: str  # "random-equal-ops (<space> space)"
    name: str  # the method and the draw's number
    seed: int | None  # of the draw
    controls: str | None  # the search folder of the found network it is drawn against


def control_method(space: str) -> str:
    """The method name of the networks a random control drew from ``space`` (a search
    method's space): ``random-equal-ops (ubnas space)``."""
    return f"random-equal-ops ({space} space)"


def control_space(method: str) -> str | None:
    """The space a random control's networks were drawn from (``"ubnas"``), or None when
    ``method`` is not a random control's."""
    match = _CONTROL_METHOD.fullmatch(method)
    return None if match is None else match.group("space")


def random_control_of(genotype: str | None, run: Path) -> ControlDraw | None:
    """How a network drawn by a random control is named: its genotype file lies in a
    ``random-ops`` folder whose ``result.json`` names the space, the draw's seed and the
    found network (``reference``) it matches in OPs; None for any other run."""
    from bnnas.search.random_arch import CONTROL_FOLDER

    path = resolve_config_path(genotype, run) if genotype else None
    if path is None or path.parent.name != CONTROL_FOLDER:
        return None
    info = read_json(path.parent / "result.json") if (path.parent / "result.json").is_file() \
        else {}
    info = info if isinstance(info, dict) else {}
    space, seed, reference = info.get("space"), info.get("seed"), info.get("reference")
    method = control_method(space if isinstance(space, str) else "unknown")
    number = path.stem.removeprefix("genotype-")
    search = search_folder_of(reference, path.parent) if isinstance(reference, str) else None
    return ControlDraw(method, f"{method} #{number}", seed if isinstance(seed, int) else None,
                       None if search is None else str(search))


def _profile_totals(run: Path) -> dict[str, float]:
    from bnnas.metrics import profile
    from bnnas.train import load_trained_model

    final = run / "final.pt"
    if not final.is_file():
        raise ReportError(f"{str(run)!r} has result.json but no final.pt; is the run intact?")
    try:
        model, state = load_trained_model(final, "cpu")
    except BnnasError as error:
        raise ReportError(f"cannot measure {str(run)!r}: {error}") from None
    return profile(model, tuple(state["meta"]["input_shape"])).totals


def row_from_train_run(run: Path) -> Row:
    """Read and measure one finished train run."""
    config = read_config(run)
    result = read_json(run / "result.json")
    if not isinstance(result, dict) or not isinstance(result.get("test_acc"), (int, float)):
        raise ReportError(f"{str(run / 'result.json')!r} holds no test_acc; is the run intact?")
    model = config.get("model") or {}
    args = model.get("args") or {}
    search_dir = search_folder_of(model.get("genotype"), run)
    search = load_search(search_dir) if search_dir is not None else None
    control = random_control_of(model.get("genotype"), run)
    search_seed = None if search is None else search.seed
    if control is not None:
        method, name, search_seed = control.method, control.name, control.seed
        if args:
            name += f" [{_arguments(args)}]"
    elif model.get("genotype"):
        method = search.method if search is not None else "genotype"
        name = method if search is not None else Path(model["genotype"]).stem
        if model.get("pick") is not None:
            name += f" ({model['pick']})"
        if args:
            name += f" [{_arguments(args)}]"
    else:
        method = HAND_MADE
        name = model.get("name", "?") + (f"({_arguments(args)})" if args else "")
    totals = _profile_totals(run)
    seed = config.get("seed")
    return Row(
        name=name,
        method=method,
        dataset=str(result.get("dataset") or (config.get("data") or {}).get("name")),
        seed=seed if isinstance(seed, int) else None,
        epochs=int(result.get("epochs") or 0),
        test_acc=float(result["test_acc"]),
        best_test_acc=result.get("best_test_acc"),
        bops=totals["bops"],
        flops=totals["flops"],
        ops=totals["ops"],
        params=int(totals["params"]),
        model_bytes=totals["memory_bytes"],
        search_seconds=None if search is None else search.search_seconds,
        train_seconds=float(result.get("train_seconds") or 0.0),
        command=train_command(run),
        search_command=None if search is None else search.command(),
        run=str(run),
        search_run=None if search_dir is None else str(search_dir),
        search_seed=search_seed if method != HAND_MADE else None,
        control_of=None if control is None else control.controls,
    )

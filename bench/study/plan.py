"""The steps of the Fashion-MNIST study: each method's searches, retrains and random
controls, second training seeds and the hand-made baselines, with the priorities that
order them (lower runs first)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from study.steps import CONTROL, Step

SEARCH_CONFIGS = {
    "mots": "configs/mots-fashion.yaml",
    "random": "configs/mots-fashion.yaml",  # the random baseline of the same search
    "ubnas": "configs/ubnas-fashion.yaml",
    "bars": "configs/bars-fashion.yaml",
}
MULTI_OBJECTIVE = ("mots", "random")
DEFAULT_METHODS = "mots,random,ubnas,bars"  # cheapest search first
DEFAULT_BASELINES = "bresnet_small,birealnet18,reactnet_a"
RECIPE = "bench/compare-recipe.yaml"
CHEAP_MACS = 5e7  # baselines below this many MACs per 1x28x28 image run first
INPUT = (1, 28, 28)
RANDOM_MODULE = "bnnas.search.random_arch"
RANDOM_NETS = 3  # random networks of equal OPs per search: the searched one must beat all
# Searches whose found network gets that control. Random search is itself the control of
# MO-TS-BNAS's space: its pick is a random sample ranked by the same supernet, so equal-OPs
# draws of the same space would repeat the MO-TS-BNAS control at the cost of three retrains.
DEFAULT_CONTROLS = "mots,ubnas,bars"


def comma_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [item.strip() for item in text.split(",") if item.strip()]


def training_macs(model: str) -> float:
    """MACs per image of a zoo model as the recipe trains it (small stem at 28x28): the
    order of the baselines."""
    from bnnas.metrics import profile
    from bnnas.train.builder import build_model
    from bnnas.train.config import ModelConfig

    return profile(build_model(ModelConfig(name=model), 10, INPUT), INPUT).totals["macs"]


def _sets(pairs: Sequence[str], flag: str = "--set") -> list[str]:
    """``["a=1", "b=2"]`` -> ``["--set", "a=1", "--set", "b=2"]`` (or another ``flag``)."""
    return [item for pair in pairs for item in (flag, pair)]


def search_overrides(items: Sequence[str], method: str) -> list[str]:
    """The ``KEY=VALUE`` overrides of ``method``'s search: those given for every search and
    those given for it alone as ``METHOD:KEY=VALUE``."""
    chosen = []
    for item in items:
        scope, colon, pair = item.partition(":")
        if colon and "=" not in scope and scope in SEARCH_CONFIGS:
            if scope == method:
                chosen.append(pair)
        else:
            chosen.append(item)
    return chosen


def control_steps(folder: Path, method: str, seed: int, rank: int, found: list[str],
                  epochs: int, training: list[str], layout: Sequence[str] = ()) -> list[Step]:
    """The random-ops control of one search: draw RANDOM_NETS random genotypes of its space
    within 10% of the found network's OPs (seconds, just before its retrain, so that the draw
    is recorded even when the retrain is cut short), then train each with the same recipe and
    seed. The trainings cost as much as a retrain, so they run after every retrain of the
    seed, before the next seed's searches."""
    search, control = folder / "search", folder / CONTROL
    draw = Step("random", control, [
        *found, "--space", method, "--config", str(search / "config.yaml"), "--seed", str(seed),
        "--count", str(RANDOM_NETS), "--out", str(control),
        *_sets(layout, "--arg"),
    ], (1, seed, 0, rank, 0), needs=search, module=RANDOM_MODULE)
    steps = [draw]
    for k in range(RANDOM_NETS):
        run = control / f"train-{k}"
        steps.append(Step("train", run, [
            "train", "--config", RECIPE, "--genotype", str(control / f"genotype-{k}.json"),
            "--seed", str(seed), "--epochs", str(epochs), *training, "--out", str(run),
            "--no-progress",
        ], (1, seed, 1, rank, k), needs=control))
    return steps


def retrain_seed_steps(folder: Path, seed: int, rank: int, found: list[str], epochs: int,
                       training: list[str], relaid: list[str], retrain_seeds: Sequence[int],
                       controlled: bool) -> list[Step]:
    """The found network of search seed ``seed`` (and, if it has one, its control's networks)
    trained again with each other seed of ``retrain_seeds``, in ``train-seed<T>`` (and
    ``random-ops/train-<k>-seed<T>``): the spread over training seeds of one network, the
    "mean ± std over runs of the final architecture" of DARTS (Liu et al., ICLR 2019), at the
    cost of a retrain each rather than a search. They run after the seed's own retrains and
    controls, before the next seed's searches."""
    steps = []
    control = folder / CONTROL
    for other in (s for s in retrain_seeds if s != seed):
        run = folder / f"train-seed{other}"
        steps.append(Step("train", run, [
            "train", "--config", RECIPE, *found, "--seed", str(other), "--epochs", str(epochs),
            *relaid, *training, "--out", str(run), "--no-progress",
        ], (1, seed, 2, other, rank, 0), needs=folder / "search"))
        for k in range(RANDOM_NETS if controlled else 0):
            run = control / f"train-{k}-seed{other}"
            steps.append(Step("train", run, [
                "train", "--config", RECIPE, "--genotype", str(control / f"genotype-{k}.json"),
                "--seed", str(other), "--epochs", str(epochs), *training, "--out", str(run),
                "--no-progress",
            ], (1, seed, 2, other, rank, 1 + k), needs=control))
    return steps


def plan_steps(root: Path, methods: Sequence[str], baselines: Sequence[str],
               seeds: Sequence[int], epochs: int, *, search_set: Sequence[str] = (),
               train_set: Sequence[str] = (),
               layouts: dict[str, list[str]] | None = None,
               controlled: Sequence[str] | None = None,
               control_seeds: Sequence[int] | None = None,
               retrain_seeds: Sequence[int] = ()) -> list[Step]:
    """Every step of the study, done or not, with its priority (lower runs first);
    ``layouts`` maps a method to the ``KEY=VALUE`` layout changes of its retrain;
    ``controlled`` names the methods whose found network gets a random-ops control
    (default: ``DEFAULT_CONTROLS``), for the searches of ``control_seeds`` (default: every
    seed; fewer, to spend the hours on more searches first); ``retrain_seeds`` are training
    seeds each found network (and its control's) is trained with besides its search's
    (:func:`retrain_seed_steps`)."""
    training = _sets(train_set)
    layouts = layouts or {}
    controlled = comma_list(DEFAULT_CONTROLS) if controlled is None else controlled
    steps = []
    for seed in seeds:
        for rank, method in enumerate(methods):
            folder = root / f"{method}-seed{seed}"
            search = folder / "search"
            steps.append(Step("search", search, [
                "search", "--method", method, "--config", SEARCH_CONFIGS[method],
                "--seed", str(seed), *_sets(search_overrides(search_set, method)),
                "--out", str(search), "--no-progress",
            ], (2, seed, 0, rank)))
            found = ["--genotype", str(search / "pareto.json"), "--pick", "best"] \
                if method in MULTI_OBJECTIVE else ["--genotype", str(search / "genotype.json")]
            layout = layouts.get(method, [])
            relaid = _sets([f"model.args.{pair}" for pair in layout])
            steps.append(Step("train", folder / "train", [
                "train", "--config", RECIPE, *found, "--seed", str(seed),
                "--epochs", str(epochs), *relaid, *training, "--out", str(folder / "train"),
                "--no-progress",
            ], (1, seed, 0, rank, 1), needs=search))
            has_control = method in controlled and (control_seeds is None
                                                    or seed in control_seeds)
            if has_control:
                steps += control_steps(folder, method, seed, rank, found, epochs, training,
                                       layout)
            steps += retrain_seed_steps(folder, seed, rank, found, epochs, training, relaid,
                                        retrain_seeds, has_control)
    costs = {model: training_macs(model) for model in baselines}
    for seed in seeds:
        for model in baselines:
            run = root / f"{model}-seed{seed}" / "train"
            tier = (0, seed, costs[model]) if costs[model] < CHEAP_MACS else \
                (2, seed, 1, costs[model])
            steps.append(Step("train", run, [
                "train", "--config", RECIPE, "--model", model, "--seed", str(seed),
                "--epochs", str(epochs), *training, "--out", str(run), "--no-progress",
            ], tier))
    return steps



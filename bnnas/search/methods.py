"""The search methods ``bnnas search --method NAME`` knows, in a registry."""

from __future__ import annotations

from dataclasses import dataclass

from bnnas.registry import Registry
from bnnas.search.bars import BARSSearch
from bnnas.search.bars_config import BARSConfig
from bnnas.search.config import UBNASConfig
from bnnas.search.mots import EvolutionarySearch, RandomSearch
from bnnas.search.mots_config import MOTSConfig
from bnnas.search.ubnas import UBNASSearch


@dataclass(frozen=True)
class SearchMethod:
    """A search strategy: its config dataclass and the runner class built from it.

    A runner takes ``(config, run_dir, progress=...)`` and offers ``resume() -> bool`` and
    ``run() -> dict`` (the result it also writes to ``result.json``) and
    ``summary_line(result) -> str`` (what the command prints at the end).
    """

    config_class: type
    runner_class: type
    description: str


SEARCH_METHODS: Registry[SearchMethod] = Registry("search method")
SEARCH_METHODS.register("ubnas")(
    SearchMethod(UBNASConfig, UBNASSearch,
                 "differentiable binary search with partial channels and early stopping (UBNAS)")
)
SEARCH_METHODS.register("mots")(
    SearchMethod(MOTSConfig, EvolutionarySearch,
                 "evolutionary NSGA-II search on a two-stage supernet (MO-TS-BNAS)")
)
SEARCH_METHODS.register("random")(
    SearchMethod(MOTSConfig, RandomSearch,
                 "random-search baseline through the MO-TS-BNAS supernet and evaluator")
)
SEARCH_METHODS.register("bars")(
    SearchMethod(BARSConfig, BARSSearch,
                 "joint differentiable search of macro layout and micro cell under an OPs "
                 "budget (BARS)")
)

"""BARS: joint differentiable search of the macro layout and the micro cell of a binary network
(Zhao et al., "BARS: Joint Search of Cell Topology and Layout for Accurate and Efficient Binary
ARchitectures", arXiv 2011.10804; details from the public aw_nas code, see REFERENCES.md).

What each part of the method is here:

* the two-level space and its supernet (:mod:`bnnas.space.bars`): width by channel masks,
  depth by sink-connect, op per edge of a dense binary cell;
* Gumbel-softmax relaxation with a falling temperature, or softmax (:mod:`bnnas.search.relax`);
* anti-collapse: entropy penalties on every distribution, and a derive rule that caps
  skip-connects per cell (:func:`bnnas.space.bars.derive_dense_cell`);
* a cost budget: the expected OPs of the relaxed network (:mod:`bnnas.space.bars_cost`)
  multiply the architecture loss MnasNet-style when over budget, and the macro derivation
  picks the most probable layout within the budget tolerance;
* the bilevel loop, checkpoints and resume of :class:`~bnnas.search.bilevel_search.BilevelSearch`.

A run folder holds what a UBNAS run holds (``config.yaml``, ``metrics.jsonl``, ``alphas.jsonl``
with op, width and depth probabilities and the expected OPs per epoch, ``checkpoints/``), and at
the end ``genotype.json`` (cells + layout with explicit widths), ``normal.png``,
``reduce.png``, ``layout.png``, ``alphas.png``, ``widths.png``, ``depths.png`` and
``result.json`` (budget, expected OPs, real OPs of the derived network).
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import torch
import torch.nn.functional as F

from bnnas.errors import ConfigError
from bnnas.metrics import profile
from bnnas.runs import write_text_atomic
from bnnas.search.bars_config import BARSConfig
from bnnas.search.bilevel_search import BilevelSearch
from bnnas.search.plots import plot_cell, plot_layout, plot_weight_history
from bnnas.search.relax import entropy
from bnnas.space.bars import (
    BARSSpace,
    BARSSuperNetwork,
    bars_genotype,
    cell_table,
    derive_dense_cell,
)
from bnnas.space.bars_cost import BARSCostModel, budget_penalty, one_hot_distributions
from bnnas.space.genotype import Genotype
from bnnas.space.network import Network


def derive_macro(
    cost_model: BARSCostModel,
    width_probs: torch.Tensor,
    depth_probs: torch.Tensor,
    normal_table: torch.Tensor,
    reduce_table: torch.Tensor,
    budget: float | None,
    tolerance: float,
) -> tuple[list[int], list[int]]:
    """Width choice and depth per stage.

    Without a budget: the most probable width and depth of each stage (sink-connect: the
    depth whose output weight is largest). With one: among all layouts whose OPs (cells
    fixed) are within ``tolerance`` of the budget, the most probable (sum of log
    probabilities); if none is, the layout closest to the budget.
    """
    space = cost_model.space
    if budget is None:
        return ([int(p.argmax()) for p in width_probs], [int(p.argmax()) + 1 for p in depth_probs])
    coefficients = cost_model.coefficients(normal_table, reduce_table)
    log_w = torch.log(width_probs.detach().double().clamp_min(1e-12)).tolist()
    log_d = torch.log(depth_probs.detach().double().clamp_min(1e-12)).tolist()
    per_stage = list(itertools.product(range(len(space.widths)), range(1, space.max_depth + 1)))
    best: tuple[float, list[int], list[int]] | None = None
    closest: tuple[float, list[int], list[int]] | None = None
    for choice in itertools.product(per_stage, repeat=space.stages):
        widths = [w for w, _ in choice]
        depths = [d for _, d in choice]
        ops = cost_model.macro_ops(coefficients, widths, depths)
        miss = abs(ops - budget) / budget
        if closest is None or miss < closest[0]:
            closest = (miss, widths, depths)
        if miss <= tolerance:
            score = sum(log_w[s][w] + log_d[s][d - 1] for s, (w, d) in enumerate(choice))
            if best is None or score > best[0]:
                best = (score, widths, depths)
    chosen = best if best is not None else closest
    assert chosen is not None
    return chosen[1], chosen[2]


class BARSSearch(BilevelSearch):
    """One BARS search in a run folder."""

    method = "bars"
    config: BARSConfig

    # ----------------------------------------------------------------- hooks
    def build_model(self) -> BARSSuperNetwork:
        self.bars_space: BARSSpace = self.config.space.build()
        self.space = self.bars_space
        model = BARSSuperNetwork(self.bars_space, self.dataset.num_classes,
                                 self.dataset.input_shape[0])
        model.relaxation = self.config.relax.mode
        model.hard = self.config.relax.hard
        self.cost_model = BARSCostModel(self.bars_space, self.dataset.input_shape,
                                        self.dataset.num_classes)
        self._check_budget_reachable()
        return model

    def _check_budget_reachable(self) -> None:
        """A budget no network of the space can meet is a config mistake, not a search result:
        say so before any epoch is spent."""
        budget = self.config.budget.ops
        if budget is None:
            return
        low, high = self.cost_model.ops_range()
        shape = "x".join(str(d) for d in self.dataset.input_shape)
        if budget < low:
            raise ConfigError(
                f"budget.ops={budget:.4g} is below the cheapest network of this space on "
                f"{shape} inputs ({low:.4g} OPs); raise budget.ops or shrink space.channels")
        if budget > high:
            raise ConfigError(
                f"budget.ops={budget:.4g} is above the dearest network of this space on "
                f"{shape} inputs ({high:.4g} OPs); lower budget.ops or widen the space")

    def start_epoch(self) -> dict[str, Any]:
        tau = self.config.relax.temperature(self.epoch, self.config.epochs)
        self.model.temperature = tau
        return {"temperature": tau}

    def epoch_log(self, stats: dict[str, Any]) -> str:
        expected = float(self.expected_ops().detach())
        return f"tau {stats['temperature']:.3f}  expected OPs {expected:.3g}"

    def expected_ops(self, dist: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The differentiable OPs estimate (plain softmax distributions by default)."""
        return self.cost_model.expected_ops(dist or self.model.plain_distributions())

    def regulariser(self) -> torch.Tensor:
        """Entropy penalties on the op, width and depth distributions (BARS)."""
        dist = self.model.plain_distributions()
        coef = self.config.entropy
        return (coef.ops * (entropy(dist["normal"]) + entropy(dist["reduce"]))
                + coef.width * entropy(dist["width"]) + coef.depth * entropy(dist["depth"]))

    def arch_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy, times the budget penalty of the sampled architecture's expected
        OPs, plus the entropy penalties."""
        loss = F.cross_entropy(logits, y)
        budget = self.config.budget
        if budget.ops is not None and self.model.last_distributions is not None:
            cost = self.cost_model.expected_ops(self.model.last_distributions)
            loss = loss * budget_penalty(cost, budget.ops, budget.exponent)
        return loss + self.regulariser()

    def derived(self) -> Genotype:
        """The discrete architecture: micro cells first, then the macro layout for them."""
        config, space = self.config, self.bars_space
        dist = self.model.plain_distributions()
        normal = derive_dense_cell(dist["normal"], space.ops, space.steps, space.output,
                                   max_skip=config.derive.max_skip)
        reduce = derive_dense_cell(dist["reduce"], space.ops, space.steps, space.output,
                                   max_skip=config.derive.max_skip)
        budget = config.budget.ops if config.derive.macro == "budget" else None
        widths, depths = derive_macro(
            self.cost_model, dist["width"], dist["depth"],
            cell_table(normal, space.ops, space.steps), cell_table(reduce, space.ops, space.steps),
            budget, config.budget.tolerance,
        )
        self.derived_choice = (widths, depths)
        return bars_genotype(space, normal, reduce, widths, depths)

    def _arch_record(self, genotype: Genotype) -> dict[str, Any]:
        dist = {k: v.detach().cpu() for k, v in self.model.plain_distributions().items()}
        widths, depths = self.derived_choice
        return {
            "epoch": self.epoch,
            "genotype": genotype.to_dict(),
            "alphas_normal": dist["normal"].tolist(),
            "alphas_reduce": dist["reduce"].tolist(),
            "width": dist["width"].tolist(),
            "depth": dist["depth"].tolist(),
            "expected_ops": float(self.expected_ops().detach()),
            "derived_ops": self.cost_model.macro_ops(
                self.cost_model.coefficients(
                    cell_table(genotype.normal, self.bars_space.ops, self.bars_space.steps),
                    cell_table(genotype.reduce, self.bars_space.ops, self.bars_space.steps)),
                widths, depths),
        }

    # ----------------------------------------------------------------- results
    def final_genotype(self) -> Genotype:
        return self.derived()

    def summary_line(self, result: dict[str, Any]) -> str:
        budget = result["budget_ops"]
        within = "" if budget is None else f" (budget {budget:.4g}, {result['budget_ratio']:.3f}x)"
        return (f"bars: searched {result['epochs_run']} epochs; derived network "
                f"{result['derived_ops']:.4g} OPs{within}; genotype "
                f"{self.run_dir / result['genotype']}")

    def _finish(self, seconds: float) -> dict[str, Any]:
        genotype = self.final_genotype()
        genotype.save(self.run_dir / "genotype.json")
        run_dir, space = self.run_dir, self.bars_space
        for kind in ("normal", "reduce"):
            cell = getattr(genotype, kind)
            plot_cell(cell.nodes, cell.concat, run_dir / f"{kind}.png",
                      title=f"{kind} cell ({cell.output})", inputs=1)
        layout = genotype.layout
        plot_layout(layout.cell_channels(), layout.reductions or (), run_dir / "layout.png",
                    title="derived layout")
        records = self.alphas_log.read()
        if records:
            ops_history = [{kind: [sum(col) / len(col) for col in zip(*r[f"alphas_{kind}"],
                                                                    strict=True)]
                            for kind in ("normal", "reduce")} for r in records]
            plot_weight_history(ops_history, space.ops, run_dir / "alphas.png")
            for key, labels in (("width", [f"x{w:g}" for w in space.widths]),
                                ("depth", [str(d) for d in range(1, space.max_depth + 1)])):
                history = [{f"{s + 1}": r[key][s] for s in range(space.stages)}
                           for r in records]
                plot_weight_history(history, labels, run_dir / f"{key}s.png",
                                    title=f"{key} probabilities per stage", panel="stage {}")
        network = Network.from_genotype(genotype, self.dataset.num_classes,
                                        self.dataset.input_shape[0])
        totals = profile(network, self.dataset.input_shape).totals
        dist = self.model.plain_distributions()
        normal_table = cell_table(genotype.normal, space.ops, space.steps)
        reduce_table = cell_table(genotype.reduce, space.ops, space.steps)
        widths, depths = self.derived_choice
        one_hot = one_hot_distributions(space, normal_table, reduce_table, widths, depths)
        budget = self.config.budget.ops
        metrics = self.metrics.read()
        result = {
            "method": self.method,
            "epochs_budget": self.config.epochs,
            "epochs_run": self.epoch,
            "stopped_by": self.stopped.criterion if self.stopped else None,
            "search_seconds": sum(r.get("epoch_seconds", 0.0) for r in metrics),
            "this_session_seconds": seconds,
            "final_train_acc": metrics[-1]["train_acc"] if metrics else None,
            "budget_ops": budget,
            "expected_ops": float(self.cost_model.expected_ops(dist).detach()),
            "model_ops_of_derived": float(self.cost_model.expected_ops(one_hot).detach()),
            "derived_ops": totals["ops"],
            "derived_bops": totals["bops"],
            "derived_flops": totals["flops"],
            "budget_ratio": None if budget is None else totals["ops"] / budget,
            "widths": [space.width_choices(s)[w] for s, w in enumerate(widths)],
            "depths": depths,
            "genotype": "genotype.json",
            "dataset": self.dataset.name,
        }
        if budget is not None and not math.isfinite(result["budget_ratio"]):
            result["budget_ratio"] = None
        write_text_atomic(run_dir / "result.json", json.dumps(result, indent=2) + "\n")
        return result

"""UBNAS: differentiable search of a binary network (Tan et al., "Universal Binary Neural
Networks Design by Improved Differentiable Neural Architecture Search", IEEE TCSVT 2024).

The parts the paper's abstract names, and how bnnas realises each (the closest published
practice where the paper's details are not public, see REFERENCES.md):

* a search space of binary-appropriate ops and selectable op-module structures
  (:mod:`bnnas.space`), ApproxSign gradients by default;
* partial channel connections with an adjustable sampling ratio (PC-DARTS, Xu et al. ICLR
  2020): ``space.partial_k_*`` and the ``space.k_schedule``;
* bilevel optimisation (DARTS, Liu et al. ICLR 2019): weights on one half of the training
  set, architecture on the other, first order by default (:mod:`bnnas.search.bilevel`);
* early stopping of the search (:mod:`bnnas.search.early_stop`, DARTS+ criteria).

A search run folder holds ``config.yaml``, ``metrics.jsonl`` (per epoch), ``alphas.jsonl``
(architecture weights and derived genotype per epoch), ``checkpoints/``, and at the end
``genotype.json``, ``normal.png``, ``reduce.png``, ``alphas.png`` and ``result.json``.
"""

from __future__ import annotations

import json
from typing import Any

import torch.nn.functional as F

from bnnas.runs import write_text_atomic
from bnnas.search.bilevel_search import BilevelSearch, search_halves
from bnnas.search.config import UBNASConfig
from bnnas.search.plots import plot_cell, plot_weight_history
from bnnas.space.cell import node_softmax
from bnnas.space.genotype import Genotype
from bnnas.space.layout import Layout
from bnnas.space.network import SpaceSpec, SuperNetwork
from bnnas.train.health import op_margin

__all__ = ["UBNASSearch", "build_space", "search_halves"]


def build_space(config: UBNASConfig) -> SpaceSpec:
    """The search space a UBNAS config describes; ops are built for the smallest K used."""
    space = config.space
    normal_ks, reduce_ks = space.all_k()
    return SpaceSpec(
        ops=tuple(space.ops),
        steps=space.steps,
        layout=Layout(space.cells, space.channels, space.stem_multiplier),
        structure=space.structure,
        partial_k_normal=space.partial_k_normal,
        partial_k_reduce=space.partial_k_reduce,
        min_k_normal=min(normal_ks),
        min_k_reduce=min(reduce_ks),
    )


class UBNASSearch(BilevelSearch):
    """One UBNAS search in a run folder: ``run()`` searches (resumably), then derives."""

    method = "ubnas"
    sparse_forward = False  # every op of every edge runs on its channel share

    # ----------------------------------------------------------------- method hooks
    def build_model(self) -> Any:
        """The supernet (UBNAS: the PC-DARTS supernet of the configured space)."""
        self.space = build_space(self.config)
        return SuperNetwork(self.space, self.dataset.num_classes, self.dataset.input_shape[0])

    def start_epoch(self) -> dict[str, Any]:
        """Per-epoch settings of the supernet; returned values go into the epoch's metrics
        (UBNAS: the partial-channel ratios of the K schedule)."""
        k_normal, k_reduce = self.config.space.k_at(self.epoch)
        self.model.set_partial_k(k_normal, k_reduce)
        return {"k_normal": k_normal, "k_reduce": k_reduce}

    def derived(self) -> Genotype:
        """The architecture the parameters currently derive (on the search layout)."""
        return self.model.genotype()

    def epoch_log(self, stats: dict[str, Any]) -> str:
        return f"K {stats['k_normal']}/{stats['k_reduce']}"

    def _arch_record(self, genotype: Genotype) -> dict[str, Any]:
        model, steps = self.model, self.space.steps
        record: dict[str, Any] = {"epoch": self.epoch, "genotype": genotype.to_dict()}
        for kind in ("normal", "reduce"):
            alphas = getattr(model, f"alphas_{kind}").detach()
            betas = getattr(model, f"betas_{kind}").detach()
            record[f"alphas_{kind}"] = F.softmax(alphas, dim=-1).cpu().tolist()
            record[f"betas_{kind}"] = node_softmax(betas, steps).cpu().tolist()
        return record

    def summary_line(self, result: dict[str, Any]) -> str:
        """What ``bnnas search`` prints when the search ends."""
        stop = f", stopped early by {result['stopped_by']}" if result.get("stopped_by") else ""
        return (f"ubnas: searched {result['epochs_run']} of {result['epochs_budget']} epochs"
                f"{stop}; genotype {self.run_dir / result['genotype']}")

    def final_genotype(self) -> Genotype:
        """The derived genotype on the layout the final network is trained with."""
        space = self.config.space
        layout = Layout(
            space.final_cells or space.cells,
            space.final_channels or space.channels,
            space.stem_multiplier,
        )
        return self.model.genotype(layout=layout)

    def _finish(self, seconds: float) -> dict[str, Any]:
        genotype = self.final_genotype()
        genotype.save(self.run_dir / "genotype.json")
        plot_cell(genotype.normal.nodes, genotype.normal.concat, self.run_dir / "normal.png",
                  title="normal cell")
        plot_cell(genotype.reduce.nodes, genotype.reduce.concat, self.run_dir / "reduce.png",
                  title="reduction cell")
        arch = self.alphas_log.read()
        history = [
            {kind: [sum(col) / len(col) for col in zip(*r[f"alphas_{kind}"], strict=True)]
             for kind in ("normal", "reduce")}
            for r in arch
        ]
        if history:
            plot_weight_history(history, self.space.ops, self.run_dir / "alphas.png")
        records = self.metrics.read()
        stopped = self.stopped
        margin = op_margin(arch[-1]["alphas_normal"] + arch[-1]["alphas_reduce"]) \
            if arch else None
        result = {
            "method": "ubnas",
            "epochs_budget": self.config.epochs,
            "epochs_run": self.epoch,
            "epochs_saved": self.config.epochs - self.epoch,
            "stopped_by": stopped.criterion if stopped else None,
            "stop_detail": stopped.detail if stopped else None,
            "search_seconds": sum(r.get("epoch_seconds", 0.0) for r in records),
            "this_session_seconds": seconds,
            "final_train_acc": records[-1]["train_acc"] if records else None,
            # how far the final op distributions chose: mean lead of the strongest op over
            # the runner-up per edge, and the lead that counts as a choice
            "op_margin": margin[0] if margin else None,
            "op_margin_decisive": margin[1] if margin else None,
            "genotype": "genotype.json",
            "dataset": self.dataset.name,
        }
        write_text_atomic(self.run_dir / "result.json", json.dumps(result, indent=2) + "\n")
        return result

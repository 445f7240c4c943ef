"""MO-TS-BNAS: evolutionary multi-objective search of binary networks on a two-stage supernet
(Tan et al., "Evolutionary Multiobjective Neural Architecture Search for Binary Neural
Networks by Two-Stage Optimization", IEEE Trans. Cybernetics), and its random baseline.

The parts the paper's abstract names, and how bnnas realises each (closest published practice
where details are not public, see REFERENCES.md):

* the binarized DARTS space, genomes as integer vectors (:mod:`bnnas.space.encoding`);
* a weight-sharing hypernetwork: every candidate is a single path through one
  :class:`~bnnas.space.network.SuperNetwork` (K = 1: whole channels);
* two-stage training: stage 1 on uniformly sampled paths; stage 2 before every generation, on
  paths of the current population with path dropout (:mod:`bnnas.search.path_dropout`);
* NSGA-II on (error, size) with moocore, plus auxiliary objectives (error, -size) whose share
  of the survivors follows the stage (:mod:`bnnas.search.nsga`, CARS-style);
* fast individual evaluation with inherited weights and recalibrated BN, cached per genome
  and supernet state (:mod:`bnnas.search.evaluate`), on a pluggable backend.

A run folder holds ``config.yaml``, ``metrics.jsonl`` (supernet training), ``history.jsonl``
(per generation: hypervolume, front, evaluations), ``fronts/gen-NNN.png``, ``checkpoints/``
(one per stage-1 epoch and per generation; ``mid-epoch.pt`` when a stop signal cuts a
stage-1 epoch or a generation, :mod:`bnnas.train.mid_epoch`), and at the end ``pareto.json``,
``hypervolume.png`` and ``result.json``.

Under ``torchrun`` (:mod:`bnnas.distributed`) the supernet trains data-parallel: every rank
draws the same path from the same seeded generator, DDP averages the gradients of the weights
on it, and the candidates of a generation are scored in shares, one per rank, then gathered,
so every rank holds the same population. Only rank 0 writes.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bnnas.config import to_dict
from bnnas.data import (
    BatchLoader,
    Dataset,
    default_eval_transform,
    default_train_transform,
)
from bnnas.device import amp_dtype, autocast, loader_options
from bnnas.errors import CheckpointError, ConfigError
from bnnas.metrics import profile
from bnnas.runs import MetricsLog, write_text_atomic
from bnnas.search.backends import BACKENDS
from bnnas.search.bilevel_search import search_halves
from bnnas.search.evaluate import FastEvaluator, fixed_batches
from bnnas.search.mots_config import MOTSConfig
from bnnas.search.nsga import (
    binary_tournament,
    environmental_selection,
    hypervolume,
    pareto_front_indices,
    rank_and_crowding,
)
from bnnas.search.pareto import ParetoFront, ParetoMember
from bnnas.search.path_dropout import drop_path_pairs
from bnnas.search.plots import plot_hypervolume, plot_pareto_front
from bnnas.space.encoding import ArchEncoding, Vector
from bnnas.space.genotype import CellGenotype, Genotype
from bnnas.space.layout import Layout
from bnnas.space.network import Network, SpaceSpec, SuperNetwork
from bnnas.train.checkpoint import save_epoch_checkpoint
from bnnas.train.health import check_gradients, gradient_norm
from bnnas.train.losses import accuracy_count
from bnnas.train.mid_epoch import (
    EpochProgress,
    clear_mid_epoch,
    epoch_together,
    keep_on_stop,
    resume_mid_epoch,
    run_steps,
)
from bnnas.train.resumable import (
    capture_rng,
    check_finite,
    load_parts,
    restore_rng,
    resume_latest,
    set_up_run,
)

log = logging.getLogger("bnnas")

HV_SIZE_MARGIN = 1.1
"""The hypervolume reference point is (100% error, 1.1 x the largest size in the space)."""


class EvolutionarySearch:
    """One MO-TS-BNAS search in a run folder: ``run()`` trains and evolves (resumably), then
    writes the Pareto front."""

    method = "mots"

    def __init__(
        self,
        config: MOTSConfig,
        run_dir: str | Path,
        *,
        dataset: Dataset | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        setup = set_up_run(run_dir, config.data, config.device, deterministic=True,
                           progress=progress, dataset=dataset)
        self.run_dir, self.checkpoint_dir, self.dist = setup.run_dir, setup.checkpoint_dir, \
            setup.dist
        self.progress, self.device, self.dataset = setup.progress, setup.device, setup.dataset
        data, evaluation = config.data, config.evaluation
        weight_half, held_out = search_halves(self.dataset, config)  # type: ignore[arg-type]
        if len(weight_half) < data.batch_size:
            raise ConfigError(
                f"the training half of the search data holds {len(weight_half)} images, fewer "
                f"than data.batch_size={data.batch_size}; raise data.limit or lower it"
            )
        seed, device = config.seed, self.device
        self.dist.per_rank_batch(data.batch_size, "data.batch_size")
        self.weight_loader = BatchLoader(
            weight_half, data.batch_size, shuffle=True, seed=seed, drop_last=True,
            transform=default_train_transform(self.dataset, data.augment),
            rank=self.dist.rank, world_size=self.dist.world_size, **loader_options(device),
        )
        plain = default_eval_transform(self.dataset)
        calibration = BatchLoader(weight_half, evaluation.batch_size, shuffle=True, seed=seed + 2,
                                  transform=plain, device=device)
        validation = BatchLoader(held_out, evaluation.batch_size, shuffle=True, seed=seed + 3,
                                 transform=plain, device=device)
        torch.manual_seed(seed)
        space = config.space
        self.space = SpaceSpec(
            ops=tuple(space.ops), steps=space.steps,
            layout=Layout(space.cells, space.channels, space.stem_multiplier),
            structure=space.structure, partial_k_normal=1, partial_k_reduce=1,
        )
        self.model = SuperNetwork(
            self.space, self.dataset.num_classes, self.dataset.input_shape[0]
        ).to(device)
        # Not compiled: each step's path is a different graph.
        self.forward = self.dist.wrap(self.model, device, find_unused_parameters=True)
        self.amp = amp_dtype(config.amp, device)
        self.optimizer = config.optim.build(self.model.weight_parameters(), self.model)
        self.steps_per_generation = (
            config.supernet.steps_per_generation
            if config.supernet.steps_per_generation is not None
            else len(self.weight_loader)
        )
        total_steps = (config.supernet.stage1_epochs * len(self.weight_loader)
                       + config.evolution.generations * self.steps_per_generation)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=max(total_steps, 1), eta_min=config.optim.lr_min
        )
        self.encoding = ArchEncoding(tuple(space.ops), space.steps)
        self.rng = np.random.default_rng(seed)
        self.evaluator = FastEvaluator(
            self.model,
            fixed_batches(calibration, evaluation.calibration_batches)
            if evaluation.calibration_batches else [],
            fixed_batches(validation, evaluation.validation_batches),
        )
        self.backend = BACKENDS.get(config.evolution.backend)(config.evolution)
        self.size_name = config.evolution.objectives[1]
        self._costs: dict[Vector, dict[str, float]] = {}
        self._errors: dict[Vector, float] = {}  # for the current supernet weights only
        self._size_reference: float | None = None
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        self.history = MetricsLog(self.run_dir / "history.jsonl")
        self.epoch = 0  # stage-1 epochs done
        self.generation = 0  # generations done
        # how far the stage-1 epoch or the generation under way had come, on a resume
        self.progress_in_epoch: EpochProgress | None = None
        self._trained: dict[str, Any] | None = None  # see _state_in_generation
        self.population: list[Vector] = []
        self.objectives = np.zeros((0, 2))
        self.evaluated = 0  # candidates scored (a genome scored again in a later generation
        # counts again: the supernet changed in between)

    # ----------------------------------------------------------------- architecture costs
    def final_genotype(self, vector: Vector) -> Genotype:
        """The genome as the network a front member is retrained as."""
        space = self.config.space
        normal, reduce = self.encoding.decode(vector)
        layout = Layout(space.final_cells or space.cells, space.final_channels or space.channels,
                        space.stem_multiplier)
        return Genotype(normal=normal, reduce=reduce, layout=layout,
                        structure=self.space.structure).validate()

    def costs(self, vector: Vector) -> dict[str, float]:
        """BOPs, FLOPs, OPs, params and memory bits of the genome's final network (cached:
        they depend on the genome alone)."""
        if vector not in self._costs:
            network = Network.from_genotype(self.final_genotype(vector), self.dataset.num_classes,
                                            self.dataset.input_shape[0])
            self._costs[vector] = profile(network, self.dataset.input_shape).totals
        return self._costs[vector]

    def size_reference(self) -> float:
        """The hypervolume reference size: 1.1 x the largest size among genomes whose every
        edge holds one op (the largest of which bounds the space's sizes)."""
        if self._size_reference is None:
            steps = self.encoding.steps
            concat = tuple(range(2, steps + 2))
            largest = 0.0
            for op in self.encoding.choices:
                cell = CellGenotype(nodes=tuple(((op, 0), (op, 1)) for _ in range(steps)),
                                    concat=concat)
                vector = self.encoding.encode((cell, cell))
                largest = max(largest, self.costs(vector)[self.size_name])
            self._size_reference = HV_SIZE_MARGIN * largest
        return self._size_reference

    # ----------------------------------------------------------------- supernet training
    def _batches(self, first_epoch: int, steps: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """``steps`` batches from loader epochs ``first_epoch, first_epoch + 1, ...``."""
        epoch, done = first_epoch, 0
        while done < steps:
            self.weight_loader.set_epoch(epoch)
            for batch in self.weight_loader:
                yield batch
                done += 1
                if done == steps:
                    return
            epoch += 1

    def _train(self, batches: Iterator[tuple[torch.Tensor, ...]], steps: int, label: str,
               paths: Sequence[Vector] | None, dropout: float,
               progress: EpochProgress | None = None) -> dict[str, float]:
        """Single-path training: one path per batch, uniform over the space (``paths`` None)
        or over ``paths``, with path dropout ``dropout``; after ``progress.step`` steps if
        it continues a stopped stage-1 epoch (:func:`run_steps`)."""
        self.model.train()
        self._errors.clear()  # scores of the old weights no longer hold
        progress = progress or EpochProgress(steps=steps)
        bar = tqdm(batches, total=steps, desc=label, disable=not self.progress, leave=False,
                   dynamic_ncols=True)
        for _ in run_steps(bar, progress, lambda step, batch: self._path_step(
                step, *batch, label, paths, dropout, progress), self.dist):
            pass
        totals = {"loss": 0.0, "correct": 0, "count": 0, **progress.totals}
        totals["loss"], totals["correct"], totals["count"] = self.dist.sum(
            totals["loss"], totals["correct"], totals["count"])
        count = max(totals["count"], 1)
        return {"train_loss": totals["loss"] / count,
                "train_acc": 100.0 * totals["correct"] / count, "steps": steps}

    def _path_step(self, step: int, x: torch.Tensor, y: torch.Tensor, label: str,
                   paths: Sequence[Vector] | None, dropout: float,
                   progress: EpochProgress) -> None:
        """One weight step on one sampled path; its loss and accuracy go into ``progress``."""
        model, config = self.model, self.config
        if paths is None:
            vector = self.encoding.sample(self.rng)
        else:
            vector = paths[int(self.rng.integers(len(paths)))]
        normal, reduce = self.encoding.decode(vector)
        if dropout > 0:
            normal = drop_path_pairs(normal, dropout, self.rng)
            reduce = drop_path_pairs(reduce, dropout, self.rng)
        with autocast(self.device, self.amp):
            logits = self.forward(x, path=(normal, reduce))
            loss = F.cross_entropy(logits.float(), y)
        value = float(loss.detach())
        check_finite(self.dist.mean(value), "loss", f"{label} step {step + 1}",
                     self.checkpoint_dir, "lower optim.lr, then start again")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.optim.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(model.weight_parameters(),
                                                  config.optim.grad_clip)
        else:
            norm = gradient_norm(model.weight_parameters())
        check_gradients(norm, f"{label} step {step + 1}", self.checkpoint_dir,
                        "lower optim.lr, then start again")
        self.optimizer.step()
        self.scheduler.step()
        progress.add(loss=value * y.numel(), correct=accuracy_count(logits, y), count=y.numel())

    def stage1_epoch(self, progress: EpochProgress | None = None) -> dict[str, float]:
        """One epoch of stage 1 (or the rest of one, after ``progress.step`` steps):
        uniformly sampled paths, no dropout."""
        steps = len(self.weight_loader)
        return self._train(self._batches(self.epoch, steps), steps,
                           f"stage 1 epoch {self.epoch + 1}/{self.config.supernet.stage1_epochs}",
                           None, 0.0, progress)

    def stage2_paths(self) -> Sequence[Vector] | None:
        """Paths stage 2 trains: the current population (None: uniform, as the baseline)."""
        return self.population

    def stage2_training(self, progress: EpochProgress | None = None) -> dict[str, float]:
        """Stage-2 training before generation ``self.generation`` (or the rest of it, after
        ``progress.step`` steps)."""
        steps = self.steps_per_generation
        per_epoch = len(self.weight_loader)
        cycles = max(math.ceil(steps / per_epoch), 1)
        first = self.config.supernet.stage1_epochs + self.generation * cycles
        return self._train(self._batches(first, steps), steps,
                           f"stage 2 gen {self.generation + 1}/{self.config.evolution.generations}",
                           self.stage2_paths(), self.config.supernet.path_dropout, progress)

    # ----------------------------------------------------------------- evolution
    def _unique_samples(self, count: int, taken: set[Vector]) -> list[Vector]:
        out: list[Vector] = []
        for _ in range(100 * count):
            if len(out) == count:
                break
            vector = self.encoding.sample(self.rng)
            if vector not in taken:
                taken.add(vector)
                out.append(vector)
        return out

    def initial_population(self) -> list[Vector]:
        """``population`` distinct genomes sampled uniformly."""
        return self._unique_samples(self.config.evolution.population, set())

    def offspring(self) -> list[Vector]:
        """Tournament selection on (rank, crowding), crossover, mutation; children distinct
        from each other and from the population (a duplicate is mutated again, then replaced
        by a random genome if it stays one)."""
        evolution = self.config.evolution
        ranks, crowding = rank_and_crowding(self.objectives)
        taken = set(self.population)
        children: list[Vector] = []
        while len(children) < evolution.population:
            a, b = binary_tournament(ranks, crowding, 2, self.rng)
            first, second = self.population[int(a)], self.population[int(b)]
            if self.rng.random() < evolution.crossover_prob:
                first, second = self.encoding.crossover(first, second, self.rng)
            for child in (first, second):
                child = self.encoding.mutate(child, evolution.mutation_rate, self.rng)
                for _ in range(10):
                    if child not in taken:
                        break
                    child = self.encoding.mutate(child, max(evolution.mutation_rate, 0.05),
                                                 self.rng)
                if child in taken:
                    child = (self._unique_samples(1, taken) or [child])[0]
                taken.add(child)
                children.append(child)
        return children[: evolution.population]

    def aux_weight(self) -> float:
        """The auxiliary-objective share of this generation's survivors."""
        return self.config.evolution.aux_weight(self.generation)

    def score(self, vectors: Sequence[Vector]) -> np.ndarray:
        """(error %, size) of each genome with the current supernet weights; a genome already
        scored since the last training step is not scored again."""
        new = [v for v in dict.fromkeys(vectors) if v not in self._errors]
        if new:
            mine = new[self.dist.rank::self.dist.world_size]  # each rank scores a share
            errors = self.backend.errors(self.evaluator, [self.encoding.decode(v) for v in mine])
            for share in self.dist.all_gather_object(list(zip(mine, errors, strict=True))):
                self._errors.update((tuple(v), float(e)) for v, e in share)
            self.evaluated += len(new)
        return np.array([[self._errors[v], self.costs(v)[self.size_name]] for v in vectors],
                        dtype=float).reshape(-1, 2)

    def generation_step(self, progress: EpochProgress | None = None) -> dict[str, Any]:
        """Stage-2 training (or the rest of it, after ``progress.step`` steps), then: score
        the population with the new weights, breed as many children, score them, keep the
        best ``population`` of parents and children."""
        progress = progress or EpochProgress(steps=self.steps_per_generation)
        tic = time.time() - progress.seconds
        self._trained = None
        if not self.population:
            self.population = self.initial_population()
        training = self.stage2_training(progress)
        self._trained = copy.deepcopy(self._evolution_state())
        self.objectives = self.score(self.population)
        children = self.offspring()
        candidates = [*self.population, *children]
        scored = self.score(candidates)
        aux = self.aux_weight()
        keep = environmental_selection(scored, len(self.population), aux)
        self.population = [candidates[int(i)] for i in keep]
        self.objectives = scored[keep]
        front = pareto_front_indices(self.objectives)
        record = {
            "generation": self.generation + 1,
            "hypervolume": hypervolume(self._normalised(self.objectives[front]), (1.0, 1.0)),
            "front_size": len(front),
            "best_error": float(self.objectives[:, 0].min()),
            "smallest_size": float(self.objectives[:, 1].min()),
            "aux_weight": aux,
            "candidates": len(candidates),
            "evaluated_total": self.evaluated,
            "size_reference": self.size_reference(),
            **{f"stage2_{k}": v for k, v in training.items()},
            "seconds": time.time() - tic,
        }
        if self.dist.is_main:
            self._plot_front(scored, keep, front)
        return record

    def _normalised(self, points: np.ndarray) -> np.ndarray:
        return points / np.array([100.0, self.size_reference()])

    def _plot_front(self, scored: np.ndarray, keep: np.ndarray, front: np.ndarray) -> None:
        plot_pareto_front(scored, keep[front], self.run_dir / "fronts" /
                          f"gen-{self.generation + 1:03d}.png", size_label=self.size_name,
                          title=f"{self.method} generation {self.generation + 1}")

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": f"{self.method}-search",
            "config": to_dict(self.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            **self._evolution_state(),
        }

    def _evolution_state(self) -> dict[str, Any]:
        """The part of the state that scoring and breeding move (counters, population,
        scores, generators); they leave the weights and the optimizer as training left
        them (a BN statistic that scoring recalibrates is put back, even when a stop cuts
        it short)."""
        return {
            "epoch": self.epoch,
            "generation": self.generation,
            "index": self._progress_index(),  # what the checkpoint files are numbered by
            "population": [list(v) for v in self.population],
            "objectives": self.objectives.tolist(),
            "evaluated": self.evaluated,
            "numpy_rng": self.rng.bit_generator.state,
            **capture_rng(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != f"{self.method}-search":
            raise CheckpointError(
                f"this checkpoint is not from a {self.method} search; resume its own run"
            )
        load_parts({"model": self.model, "optimizer": self.optimizer,
                    "scheduler": self.scheduler}, state, "search's supernet")
        self.rng.bit_generator.state = state["numpy_rng"]
        restore_rng(state)
        self.epoch, self.generation = int(state["epoch"]), int(state["generation"])
        self.population = [tuple(int(g) for g in v) for v in state["population"]]
        self.objectives = np.asarray(state["objectives"], dtype=float).reshape(-1, 2)
        self.evaluated = int(state["evaluated"])

    def _progress_index(self) -> int:
        return self.epoch + self.generation

    def resume(self) -> bool:
        """Load the newest valid checkpoint, then the mid-epoch one that continues it (a
        stage-1 epoch or a generation) if a stop left one; False if the run has neither."""
        found = resume_latest(self.checkpoint_dir, self.device, self.load_state_dict,
                              self._progress_index, [], writer=self.dist.is_main)
        self.progress_in_epoch = resume_mid_epoch(
            self.checkpoint_dir, self._progress_index(), self.device, self.load_state_dict,
            self.dist, "the search")
        return found or self.progress_in_epoch is not None

    def _state_in_generation(self) -> dict[str, Any]:
        """The state a stop inside a generation keeps: once its stage-2 training is done,
        the :meth:`_evolution_state` as it was then, so that a resume skips the training
        and scores and breeds again as the generation did."""
        return {**self.state_dict(), **(self._trained or {})}

    def _checkpoint(self) -> None:
        if not self.dist.is_main:
            return
        save_epoch_checkpoint(self.checkpoint_dir, self._progress_index(), self.state_dict(),
                              self.config.keep_checkpoints)
        clear_mid_epoch(self.checkpoint_dir)

    # ----------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        """Stage 1, then the generations; then the Pareto front and the plots."""
        started = time.time()
        supernet, evolution = self.config.supernet, self.config.evolution
        if self.dist.is_main:
            self.metrics.truncate_after("index", self._progress_index())
            self.history.truncate_after("generation", self.generation)
        while self.epoch < supernet.stage1_epochs:
            with epoch_together(self.dist):  # DDP: a late stop waits for the checkpoint
                self._run_stage1_epoch()
        while self.generation < evolution.generations:
            with epoch_together(self.dist):
                self._run_generation()
        result = self._finish(time.time() - started) if self.dist.is_main else None
        self.backend.close()
        return self.dist.broadcast_object(result)  # type: ignore[return-value]

    def _run_stage1_epoch(self) -> None:
        """One stage-1 epoch (or the rest of one a resume continues), logged and
        checkpointed."""
        progress = self.progress_in_epoch or EpochProgress(steps=len(self.weight_loader))
        self.progress_in_epoch = None
        tic = time.time() - progress.seconds
        with keep_on_stop(self.checkpoint_dir, progress, self.state_dict, self.dist):
            stats = self.stage1_epoch(progress)
        self.epoch += 1
        self._append(self.metrics, {"index": self._progress_index(), "stage": 1,
                                    "epoch": self.epoch, **stats,
                                    "seconds": time.time() - tic})
        log.info("stage 1 epoch %d/%d  loss %.4f acc %.2f%%  (%.1fs)", self.epoch,
                 self.config.supernet.stage1_epochs, stats["train_loss"], stats["train_acc"],
                 time.time() - tic)
        self._checkpoint()

    def _run_generation(self) -> None:
        """One generation (or the rest of one a resume continues), logged and
        checkpointed."""
        generations = self.config.evolution.generations
        progress = self.progress_in_epoch or EpochProgress(steps=self.steps_per_generation)
        self.progress_in_epoch = None
        with keep_on_stop(self.checkpoint_dir, progress, self._state_in_generation,
                          self.dist, of=f"generation {self.generation + 1}"):
            record = self.generation_step(progress)
        self.generation += 1
        self._append(self.metrics, {"index": self._progress_index(), "stage": 2,
                                    "generation": self.generation,
                                    "train_loss": record["stage2_train_loss"],
                                    "train_acc": record["stage2_train_acc"],
                                    "seconds": record["seconds"]})
        self._append(self.history, record)
        log.info("generation %d/%d  hypervolume %.4f  front %d  best error %.2f%%  "
                 "aux %.2f  (%.1fs)", self.generation, generations,
                 record["hypervolume"], record["front_size"], record["best_error"],
                 record["aux_weight"], record["seconds"])
        self._checkpoint()

    def _append(self, log_file: MetricsLog, record: dict[str, Any]) -> None:
        if self.dist.is_main:
            log_file.append(record)

    def summary_line(self, result: dict[str, Any]) -> str:
        """What ``bnnas search`` prints when the search ends."""
        front = self.run_dir / result["pareto"]
        return (f"{self.method}: {result['generations']} generations, {result['evaluated']} "
                f"architectures scored; a front of {result['front_size']} in {front} "
                f"(retrain one: bnnas train --genotype {front} --pick best)")

    def pareto_front(self) -> ParetoFront:
        """The first front of the final population, smallest first."""
        front = pareto_front_indices(self.objectives)
        members = []
        for i in front:
            vector = self.population[int(i)]
            costs = self.costs(vector)
            members.append(ParetoMember(
                error=float(self.objectives[i, 0]), size=float(self.objectives[i, 1]),
                ops=float(costs["ops"]), memory_bits=float(costs["memory_bits"]),
                params=int(costs["params"]), genotype=self.final_genotype(vector),
            ))
        members.sort(key=lambda m: (m.size, m.error))
        return ParetoFront(method=self.method, objectives=tuple(self.config.evolution.objectives),
                           members=tuple(members))

    def _finish(self, seconds: float) -> dict[str, Any]:
        front = self.pareto_front()
        front.save(self.run_dir / "pareto.json")
        history = self.history.read()
        plot_hypervolume({self.method: [r["hypervolume"] for r in history]},
                         self.run_dir / "hypervolume.png")
        records = self.metrics.read()
        result = {
            "method": self.method,
            "generations": self.generation,
            "stage1_epochs": self.epoch,
            "evaluated": self.evaluated,
            "front_size": len(front.members),
            "hypervolume": history[-1]["hypervolume"] if history else None,
            "best_error": min(m.error for m in front.members),
            "smallest_size": min(m.size for m in front.members),
            "size_objective": self.size_name,
            "search_seconds": sum(r.get("seconds", 0.0) for r in records),
            "this_session_seconds": seconds,
            "pareto": "pareto.json",
            "dataset": self.dataset.name,
        }
        write_text_atomic(self.run_dir / "result.json", json.dumps(result, indent=2) + "\n")
        return result


class RandomSearch(EvolutionarySearch):
    """The random-search baseline: the same supernet training, evaluator and selection, but
    new candidates are uniform samples and stage 2 trains uniformly sampled paths, with no
    auxiliary objectives. It scores exactly as many architectures per generation as MO-TS-BNAS,
    so hypervolume curves of the two compare search strategies alone (Li and Talwalkar, UAI
    2019, argue every NAS method should be compared with it)."""

    method = "random"

    def stage2_paths(self) -> Sequence[Vector] | None:
        return None

    def offspring(self) -> list[Vector]:
        return self._unique_samples(self.config.evolution.population, set(self.population))

    def aux_weight(self) -> float:
        return 0.0

"""Numerical health of a run: NaN/inf gradients stop it with a clear message, and a search
whose op choices all collapsed to one op says so in the log.

A NaN loss is caught by :func:`bnnas.train.resumable.check_finite`; gradients can go NaN or
infinite while the loss is still finite (an exploding binary-weight scale, a bad custom op),
and one optimizer step then poisons every weight. A differentiable search can also fail
quietly: DARTS and its binary variants are known to drift towards parameter-free ops until
every edge picks the same one (Zela et al., ICLR 2020; Chen and Hsieh, ICML 2020), a
"result" that trains badly; the log is where a user looks, so it gets a warning. So does
an epoch that tests far below its training accuracy: in a binary network that is usually
BN running statistics lagging the weights' sign flips, not the weights themselves
(:mod:`bnnas.train.batch_norm`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from bnnas.space.genotype import Genotype
from bnnas.train.resumable import check_finite

log = logging.getLogger("bnnas")


def gradient_norm(parameters: Iterable[nn.Parameter]) -> float:
    """The total 2-norm of the gradients (NaN or inf if any gradient is)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.nn.utils.get_total_norm(grads))


def check_gradients(norm: float | torch.Tensor, where: str, checkpoint_dir: Path,
                    fix: str) -> None:
    """Raise NonFiniteError if the gradient norm ``norm`` is NaN or infinite."""
    check_finite(float(norm), "the gradient norm", where, checkpoint_dir, fix)


def collapsed_op(genotype: Genotype) -> str | None:
    """The op that every edge of both cells chose, if they all chose the same one."""
    ops = {op for cell in (genotype.normal, genotype.reduce) for node in cell.nodes
           for op, _ in node}
    return next(iter(ops)) if len(ops) == 1 else None


def op_margin(distributions: Sequence[Sequence[float]]) -> tuple[float, float] | None:
    """How far op distributions (one row of probabilities per edge) have chosen: the mean
    lead of each row's strongest op over its runner-up, and the lead that counts as a choice,
    half a uniform share (None without rows)."""
    rows = [sorted(row, reverse=True) for row in distributions if len(row)]
    if not rows:
        return None
    margins = [row[0] - (row[1] if len(row) > 1 else 0.0) for row in rows]
    return sum(margins) / len(margins), 0.5 / max(len(r) for r in rows)


def decisive(distributions: Sequence[Sequence[float]]) -> bool:
    """Whether op distributions have really chosen (:func:`op_margin` at least its
    threshold). Early in a search every row is near uniform and the argmax is noise; an
    all-same argmax then is not a collapse, nor an unchanged argmax a settled search."""
    margin = op_margin(distributions)
    return margin is None or margin[0] >= margin[1]


def warn_if_collapsed(genotype: Genotype, epoch: int,
                      distributions: Sequence[Sequence[float]] | None = None) -> str | None:
    """Log a warning if the derived cells use one op only and the op distributions behind
    them (if given) are :func:`decisive`; returns that op."""
    op = collapsed_op(genotype)
    if op is not None and (distributions is None or decisive(distributions)):
        log.warning(
            "warning: search epoch %d: every edge of the derived cells is %s; the op "
            "distributions have collapsed to one op (a known failure of differentiable "
            "search); try a lower arch.lr, more arch.warmup_epochs or early stopping", epoch, op,
        )
        return op
    return None


def warn_if_undecided(epoch: int, distributions: Sequence[Sequence[float]]) -> bool:
    """Log a warning if a search stopped because its derived genotype stood still while
    the op distributions behind it are not :func:`decisive`: the ops were then picked from a
    near-tie and another seed may pick others."""
    if decisive(distributions):
        return False
    margin, needed = op_margin(distributions)  # type: ignore[misc]  # rows exist: undecided
    log.warning(
        "warning: search epoch %d: the derived genotype stood still, but the op "
        "distributions are near uniform (the strongest op leads the runner-up by %.3f on "
        "average, under half a uniform share, %.3f): its ops were picked from a near-tie; "
        "set early_stop.decisive=true to stop only once they have chosen, or raise arch.lr",
        epoch, margin, needed,
    )
    return True


def warn_if_statistics_lag(epoch: int, train_acc: float, test_acc: float,
                           checkpoint: Path) -> bool:
    """Log a warning if epoch ``epoch`` tested at under half its training accuracy (once
    training is well above chance); returns whether it warned. Overfitting does not open
    such a gap within an epoch; stale BN statistics do (docs/RESULTS.md: a searched
    network's retrain tested at 17.81% against 70.23% training accuracy after its first
    epoch, and its eval-mode accuracy swung between 58% and 84% from step to step while
    re-estimated statistics kept it at 82.5-85.3%), so the message says how to score the
    checkpoint fairly."""
    if train_acc < 40.0 or test_acc >= 0.5 * train_acc:
        return False
    log.warning(
        "warning: epoch %d tested at %.2f%%, under half its training accuracy %.2f%%; a "
        "binary network's BN running statistics can lag its weights while the learning rate "
        "is high (later epochs usually close the gap); `bnnas eval %s --recalibrate-bn 20` "
        "scores it with statistics re-estimated on its weights", epoch, test_acc, train_acc,
        checkpoint)
    return True

"""How far an unfinished run has come, in words, from the logs it writes as it goes.

A report over a study still in progress (``bench/compare.py`` rebuilds one after every step)
lists the runs that have no ``result.json`` yet; "epoch 6 of 15 done, test acc 86.28% after
it" tells the reader more than "skipped". The numbers come from the run's own
``config.yaml`` (what was planned) and its ``metrics.jsonl`` / ``history.jsonl`` (what is
done); a run may have stopped or still be running, which a folder cannot tell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bnnas.report.folders import read_config, read_log

MULTI_OBJECTIVE = ("mots", "random")


def planned(config: dict[str, Any], *keys: str) -> str:
    """The whole number at ``config[keys[0]][keys[1]]...`` as text, or ``"?"``."""
    value: Any = config
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"


def train_progress(run: Path) -> str:
    """``"epoch 6 of 15 done, test acc 86.28% after it"`` for a ``bnnas train`` folder."""
    epochs = planned(read_config(run), "optim", "epochs")
    records = read_log(run / "metrics.jsonl", "epoch")
    if not records:
        return f"no epoch of {epochs} done yet"
    last = records[-1]
    text = f"epoch {last['epoch']} of {epochs} done"
    accuracy = last.get("test_acc")
    if isinstance(accuracy, int | float):
        text += f", test acc {accuracy:.2f}% after it"
    return text


def search_progress(run: Path, method: str, config: dict[str, Any],
                    logged: list[dict[str, Any]]) -> str:
    """``"epoch 3 of 15 done"`` for a differentiable search; for MO-TS-BNAS and random
    search the generation, or during the first stage the supernet epoch. ``logged`` is what
    the report already read: the epochs of a differentiable search, the generations of a
    multi-objective one."""
    if method not in MULTI_OBJECTIVE:
        done = logged[-1]["epoch"] if logged else 0
        return f"epoch {done} of {planned(config, 'epochs')} done"
    generations = planned(config, "evolution", "generations")
    if logged:
        return f"generation {logged[-1]['generation']} of {generations} done"
    stage1 = [r for r in read_log(run / "metrics.jsonl", "epoch") if r.get("stage") == 1]
    done = stage1[-1]["epoch"] if stage1 else 0
    return (f"supernet epoch {done} of {planned(config, 'supernet', 'stage1_epochs')} done, "
            f"then {generations} generations")

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

from bnnas.report.folders import read_config, read_jsonl

MULTI_OBJECTIVE = ("mots", "random")


def _planned(config: dict[str, Any], *keys: str) -> str:
    value: Any = config
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"


def _last(records: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The record of the highest ``key``; of equals the later one (a resumed run repeats an
    epoch, and its second record is the one that counts)."""
    last = None
    for record in records:
        if isinstance(record.get(key), int) and (last is None or record[key] >= last[key]):
            last = record
    return last


def train_progress(run: Path) -> str:
    """``"epoch 6 of 15 done, test acc 86.28% after it"`` for a ``bnnas train`` folder."""
    planned = _planned(read_config(run), "optim", "epochs")
    last = _last(read_jsonl(run / "metrics.jsonl"), "epoch")
    if last is None:
        return f"no epoch of {planned} done yet"
    text = f"epoch {last['epoch']} of {planned} done"
    accuracy = last.get("test_acc")
    if isinstance(accuracy, int | float):
        text += f", test acc {accuracy:.2f}% after it"
    return text


def search_progress(run: Path, method: str, config: dict[str, Any]) -> str:
    """``"epoch 3 of 15 done"`` for a differentiable search; for MO-TS-BNAS and random
    search the generation, or during the first stage the supernet epoch."""
    if method not in MULTI_OBJECTIVE:
        last = _last(read_jsonl(run / "metrics.jsonl"), "epoch")
        done = 0 if last is None else last["epoch"]
        return f"epoch {done} of {_planned(config, 'epochs')} done"
    generations = _planned(config, "evolution", "generations")
    last = _last(read_jsonl(run / "history.jsonl"), "generation")
    if last is not None:
        return f"generation {last['generation']} of {generations} done"
    stage1 = [r for r in read_jsonl(run / "metrics.jsonl") if r.get("stage") == 1]
    last = _last(stage1, "epoch")
    done = 0 if last is None else last["epoch"]
    return (f"supernet epoch {done} of {_planned(config, 'supernet', 'stage1_epochs')} done, "
            f"then {generations} generations")

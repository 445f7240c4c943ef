"""The UBNAS op-structure ablation: the same short search and retrain for each structure.

UBNAS (Tan et al., IEEE TCSVT 2024) chooses one "universal" internal structure for its binary
ops by experiment. This runs that experiment: for every structure spec, a search with
``space.structure`` set to it, then the derived network trained from scratch with one shared
recipe, and a table of accuracy and cost per structure. Each structure gets its own search and
train run folder under the ablation folder, so an interrupted ablation resumes where it
stopped and finished structures are not run again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bnnas.config import dump_yaml, load_config
from bnnas.data import Dataset
from bnnas.metrics import profile
from bnnas.runs import create_run_dir, write_text_atomic
from bnnas.search.config import UBNASConfig
from bnnas.search.ubnas import UBNASSearch
from bnnas.space.structure import parse_structure
from bnnas.train import TrainConfig, Trainer

log = logging.getLogger("bnnas")


def _folder_name(spec: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in spec)


def _run_or_resume(
    go: Callable[[], dict], resume: Callable[[], bool], run_dir: Path, config: Any,
    files: dict[str, str],
) -> dict:
    """Finished runs are read back; unfinished ones resume; new ones start."""
    result_file = run_dir / "result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    if (run_dir / "config.yaml").is_file():
        resume()
    else:
        create_run_dir(run_dir)
        write_text_atomic(run_dir / "config.yaml", dump_yaml(config))
        for name, text in files.items():
            write_text_atomic(run_dir / name, text)
    return go()


def run_structure_ablation(
    root: str | Path,
    structures: Sequence[str],
    search_config: str | Path | None = None,
    overrides: Sequence[str] = (),
    retrain_epochs: int = 5,
    *,
    dataset: Dataset | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Search and retrain once per structure; write ``ablation.json`` and ``ablation.md``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    specs = [parse_structure(s).spec for s in structures]  # fail fast on a bad spec
    rows = []
    for spec in specs:
        folder = root / _folder_name(spec)
        config = load_config(UBNASConfig, search_config, [*overrides, f"space.structure={spec}"])
        log.info("ablation: structure %s in %s", spec, folder)
        search_dir = folder / "search"
        search = UBNASSearch(config, search_dir, dataset=dataset, progress=progress)
        found = _run_or_resume(search.run, search.resume, search_dir, config,
                               {"method.txt": "ubnas\n"})
        train_config = load_config(TrainConfig, overrides=[
            f"model.genotype={search_dir / 'genotype.json'}",
            f"optim.epochs={retrain_epochs}", f"data.name={config.data.name}",
            f"seed={config.seed}",
        ])
        train_dir = folder / "train"
        trainer = Trainer(train_config, train_dir, dataset=dataset, progress=progress)
        trained = _run_or_resume(trainer.fit, trainer.resume, train_dir, train_config, {})
        cost = profile(trainer.model, trainer.dataset.input_shape).totals
        rows.append({
            "structure": spec,
            "test_acc": trained["test_acc"],
            "search_epochs": found["epochs_run"],
            "search_seconds": found["search_seconds"],
            "train_seconds": trained["train_seconds"],
            "bops": cost["bops"], "flops": cost["flops"], "ops": cost["ops"],
            "params": cost["params"], "memory_bits": cost["memory_bits"],
            "genotype": str(search_dir / "genotype.json"),
        })
        write_text_atomic(root / "ablation.json", json.dumps(rows, indent=2) + "\n")
    write_text_atomic(root / "ablation.md", ablation_table(rows, retrain_epochs))
    return rows


def ablation_table(rows: Sequence[dict[str, Any]], retrain_epochs: int) -> str:
    """A Markdown table of the ablation, best accuracy first."""
    lines = [
        f"| structure | test acc (%) after {retrain_epochs} epochs | BOPs | FLOPs | OPs | "
        "params | search epochs | search s | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -r["test_acc"]):
        lines.append(
            f"| `{r['structure']}` | {r['test_acc']:.2f} | {r['bops']:,} | {r['flops']:,} | "
            f"{r['ops']:,.0f} | {r['params']:,} | {r['search_epochs']} | "
            f"{r['search_seconds']:.0f} | {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"

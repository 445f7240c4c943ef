"""How far a differentiable search's op distributions chose, epoch by epoch.

Reads a UBNAS or BARS search folder's ``alphas.jsonl`` (the op probabilities per edge after
each epoch) and prints, per epoch, the ops the derived cells use, the mean lead of each
edge's strongest op over its runner-up in the normal and the reduction cell
(:func:`bnnas.train.health.op_margin`), the lead that counts as a choice (half a uniform
share), and the range of the first normal edge's probabilities. A stable-genotype early stop
on margins under that threshold picked its ops from a near-tie. Run by hand; results go to
docs/RESULTS.md.

    .venv/bin/python bench/op_margin.py runs/compare/ubnas-seed1/search
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bnnas.train.health import op_margin


def margins(search_dir: Path) -> list[dict]:
    """One record per line of ``alphas.jsonl``."""
    out = []
    for line in (search_dir / "alphas.jsonl").read_text().splitlines():
        record = json.loads(line)
        normal, reduce = record["alphas_normal"], record["alphas_reduce"]
        genotype = record["genotype"]
        ops = sorted({op for kind in ("normal", "reduce") for node in genotype[kind]["nodes"]
                      for op, _ in node})
        out.append({
            "epoch": record["epoch"], "ops": ops,
            "normal": op_margin(normal)[0], "reduce": op_margin(reduce)[0],
            "decisive": op_margin(normal + reduce)[1],
            "first_edge": [min(normal[0]), max(normal[0])],
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("search_dir", type=Path, help="a UBNAS or BARS search run folder")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    args = parser.parse_args()
    records = margins(args.search_dir)
    if args.json:
        print(json.dumps(records, indent=2))
        return
    print("epoch  normal  reduce  choice  first normal edge  ops")
    for r in records:
        print(f"{r['epoch']:5d}  {r['normal']:.3f}   {r['reduce']:.3f}   {r['decisive']:.4f}"
              f"  {r['first_edge'][0]:.3f}-{r['first_edge'][1]:.3f}        "
              f"{', '.join(r['ops'])}")


if __name__ == "__main__":
    main()

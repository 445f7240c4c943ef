#!/usr/bin/env bash
# Longer schedules: bresnet_small on the full Fashion-MNIST with the comparison's recipe
# (bench/compare-recipe.yaml: Adam 2e-3, cosine to 0, batch 128, pad-and-crop + flip) for 45
# and 90 epochs instead of the comparison's 15, whose runs (runs/compare/bresnet_small-seed*)
# are the baseline. A finished run (result.json) is kept; a stopped one is resumed.
# Results: docs/RESULTS.md.
#   OMP_NUM_THREADS=1 bash bench/longer.sh [OUT]
set -euo pipefail
out=${1:-runs/longer}
bnnas=${BNNAS:-.venv/bin/bnnas}

run() {  # run EPOCHS SEED: one training run into $out/bresnet_small-e<EPOCHS>-seed<SEED>
  local dir="$out/bresnet_small-e$1-seed$2"
  if [ -f "$dir/result.json" ]; then
    return
  elif [ -f "$dir/config.yaml" ]; then
    "$bnnas" train --resume "$dir" --no-progress
  else
    "$bnnas" train --config bench/compare-recipe.yaml --model bresnet_small --seed "$2" \
      --epochs "$1" --out "$dir" --no-progress
  fi
}

run 45 0
run 45 1
run 90 0

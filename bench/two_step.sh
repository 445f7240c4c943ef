#!/usr/bin/env bash
# ReActNet's two-step training against one step of the same total length, on the bundled
# Fashion-MNIST subset: bresnet_small, seeds 0 and 1. Results: docs/RESULTS.md.
#   OMP_NUM_THREADS=1 bash bench/two_step.sh [OUT]      (about 6 minutes on one core)
set -euo pipefail
out=${1:-runs/twostep}
bnnas=${BNNAS:-.venv/bin/bnnas}
train=("$bnnas" train --model bresnet_small --data fashion-mnist-small --no-progress)
for seed in 0 1; do
  "${train[@]}" --seed "$seed" --epochs 10 --out "$out/one-step-seed$seed"
  "${train[@]}" --seed "$seed" --epochs 5 --set model.binary_weights=false \
    --out "$out/step1-seed$seed"
  "${train[@]}" --seed "$seed" --epochs 5 --set "init_from=$out/step1-seed$seed/final.pt" \
    --out "$out/step2-seed$seed"
done

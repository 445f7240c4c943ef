#!/usr/bin/env bash
# Knowledge distillation from a float teacher (ReActNet's distributional loss, Liu et al.,
# ECCV 2020) against plain cross-entropy at equal epochs, on the bundled Fashion-MNIST subset.
# Two teachers: bresnet_small computing in float (identity quantizers, no scaling) and the
# float ResNet-18 with the small stem; the students are bresnet_small, seeds 0 and 1.
# Runs already finished (a result.json) are kept. Results: docs/RESULTS.md.
#   OMP_NUM_THREADS=1 bash bench/distill.sh [OUT]
set -euo pipefail
out=${1:-runs/distill}
bnnas=${BNNAS:-.venv/bin/bnnas}
common=(--data fashion-mnist-small --epochs 10 --no-progress)

run() {  # run NAME ARGS...: one training run into $out/NAME unless it finished before
  local name=$1
  shift
  [ -f "$out/$name/result.json" ] || "$bnnas" train "${common[@]}" "$@" --out "$out/$name"
}

run teacher --model bresnet_small --seed 0 --set model.args.act_quantizer=identity \
  --set model.args.weight_quantizer=identity --set model.args.scaling=none
run teacher-resnet18 --model resnet18 --seed 0 --set model.args.stem=small
for seed in 0 1; do
  run "plain-seed$seed" --model bresnet_small --seed "$seed"
  run "kd-seed$seed" --model bresnet_small --seed "$seed" \
    --set "distill.teacher=$out/teacher/final.pt"
  run "kd-resnet18-seed$seed" --model bresnet_small --seed "$seed" \
    --set "distill.teacher=$out/teacher-resnet18/final.pt"
done

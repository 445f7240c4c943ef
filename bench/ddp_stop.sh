#!/usr/bin/env bash
# A data-parallel run stopped by SIGTERM to torchrun inside an epoch, then resumed, against
# the same run never stopped: two CPU processes, bresnet_small on the bundled subset, 3
# epochs. Prints where the stop landed and whether the metrics (all but the epoch times)
# are the same. Results: docs/SCALING.md.
#   OMP_NUM_THREADS=1 bash bench/ddp_stop.sh [OUT] [DELAY]     (under a minute on 2 cores)
# DELAY: seconds after the first epoch checkpoint before the signal (default 1.5).
set -euo pipefail
out=${1:-runs/ddp-stop}
delay=${2:-1.5}
python=${PYTHON:-.venv/bin/python}
if [ -e "$out" ]; then
  echo "ddp_stop.sh: $out exists; give another OUT or remove it" >&2
  exit 2
fi
mkdir -p "$out"
run=("$python" -m torch.distributed.run --standalone --nproc_per_node 2 -m bnnas train)
args=(--model bresnet_small --epochs 3 --device cpu --no-progress)
"${run[@]}" "${args[@]}" --out "$out/whole" > "$out/whole.log" 2>&1
"${run[@]}" "${args[@]}" --out "$out/stopped" > "$out/stopped.log" 2>&1 &
launcher=$!
until [ -f "$out/stopped/checkpoints/epoch-0001.pt" ]; do
  kill -0 "$launcher" 2> /dev/null || { echo "ddp_stop.sh: the run ended early" >&2; exit 1; }
  sleep 0.05
done
sleep "$delay"
kill -TERM "$launcher"
wait "$launcher" || true
grep -h "stopped after" "$out/stopped.log" || echo "no mid-epoch stop (the signal missed the epoch)"
"${run[@]}" --resume "$out/stopped" --no-progress > "$out/resumed.log" 2>&1
"$python" - "$out" << 'EOF'
import json
import sys
from pathlib import Path

def rows(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "epoch_seconds"} for line in lines]

out = Path(sys.argv[1])
same = rows(out / "whole") == rows(out / "stopped")
print("metrics of the stopped-and-resumed run", "equal" if same else "DIFFER FROM",
      "those of the run never stopped")
sys.exit(0 if same else 1)
EOF

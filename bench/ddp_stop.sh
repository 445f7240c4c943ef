#!/usr/bin/env bash
# A data-parallel run stopped by SIGTERM to torchrun, then resumed, against the same run
# never stopped, on two CPU processes and the bundled subset. Prints where the stop landed
# and whether the results are the same. Results: docs/SCALING.md.
#   OMP_NUM_THREADS=1 bash bench/ddp_stop.sh [OUT] [DELAY] [KIND]   (about a minute)
# KIND train (default): bresnet_small, 3 epochs, stopped DELAY seconds (default 1.5) after
#   the first epoch checkpoint, inside epoch 2 or 3; compares the metrics (all but times).
# KIND mots: the MO-TS-BNAS smoke search with 40 stage-2 steps per generation, stopped
#   DELAY seconds after its first generation's checkpoint, inside generation 2 or 3;
#   compares pareto.json and the logs (all but times).
set -euo pipefail
out=${1:-runs/ddp-stop}
delay=${2:-1.5}
kind=${3:-train}
python=${PYTHON:-.venv/bin/python}
if [ -e "$out" ]; then
  echo "ddp_stop.sh: $out exists; give another OUT or remove it" >&2
  exit 2
fi
launch=("$python" -m torch.distributed.run --standalone --nproc_per_node 2 -m bnnas)
case "$kind" in
  train)
    command=train
    args=(--model bresnet_small --epochs 3 --device cpu --no-progress)
    first=epoch-0001.pt ;;
  mots)
    command=search
    args=(--method mots --config bnnas/configs/mots-smoke.yaml --device cpu --no-progress
          --set supernet.steps_per_generation=40)
    first=epoch-0003.pt ;;  # 2 stage-1 epochs and 1 generation done
  *)
    echo "ddp_stop.sh: unknown KIND $kind; use train or mots" >&2
    exit 2 ;;
esac
mkdir -p "$out"
"${launch[@]}" "$command" "${args[@]}" --out "$out/whole" > "$out/whole.log" 2>&1
"${launch[@]}" "$command" "${args[@]}" --out "$out/stopped" > "$out/stopped.log" 2>&1 &
launcher=$!
until [ -f "$out/stopped/checkpoints/$first" ]; do
  kill -0 "$launcher" 2> /dev/null || { echo "ddp_stop.sh: the run ended early" >&2; exit 1; }
  sleep 0.05
done
sleep "$delay"
kill -TERM "$launcher"
wait "$launcher" || true
grep -h "stopped after" "$out/stopped.log" || echo "no mid-epoch stop (the signal missed the steps)"
"${launch[@]}" "$command" --resume "$out/stopped" --no-progress > "$out/resumed.log" 2>&1
"$python" - "$out" << 'EOF'
import json
import sys
from pathlib import Path

TIMES = {"epoch_seconds", "seconds"}

def rows(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMES} for line in lines]

out = Path(sys.argv[1])
files = ["metrics.jsonl", "history.jsonl", "pareto.json"]
same = True
for name in files:
    whole, stopped = out / "whole" / name, out / "stopped" / name
    if not whole.exists():
        continue
    if name.endswith(".jsonl"):
        equal = rows(whole) == rows(stopped)
    else:
        equal = whole.read_text() == stopped.read_text()
    print(f"{name} of the stopped-and-resumed run", "equal to" if equal else "DIFFERS FROM",
          "that of the run never stopped")
    same = same and equal
sys.exit(0 if same else 1)
EOF

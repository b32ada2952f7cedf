#!/usr/bin/env bash
# Alternating rounds of TensorCore's train-bench and PyTorch's reference script, both at 2 threads
# (the VM's speed drifts, so compare the two within a round). Needs a Python with torch (and
# transformers for --generate): PYTHON=/path/to/venv/bin/python bash scripts/bench-vs-pytorch.sh 5 [train-bench options]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}; shift || true
python=${PYTHON:-python3}
swift build -c release --product train-bench -q
for i in $(seq 1 "$rounds"); do
  echo "round $i swift $(.build/release/train-bench --json "$@" 2>/dev/null | tail -n 1)"
  echo "round $i torch $(OMP_NUM_THREADS=2 "$python" Benchmarks/reference/train_bench.py --json "$@" 2>/dev/null | tail -n 1)"
done

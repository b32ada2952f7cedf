#!/usr/bin/env bash
# The project's main job. Until the SFT-vs-RLAIF reproduction lands, it trains a tiny MLP with
# TensorCore's autograd and prints its loss falling. Installs OpenBLAS/LAPACKE if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift run -c release tiny-train "$@"

#!/usr/bin/env bash
# The project's main job: the SFT-vs-RLAIF comparison (default preset) with results in
# ./results/default/. Installs OpenBLAS/LAPACKE if missing. Extra arguments go to sft-vs-rlaif
# (e.g. --preset quick, --figure 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift run -c release sft-vs-rlaif "$@"

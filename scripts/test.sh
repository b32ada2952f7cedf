#!/usr/bin/env bash
# The project's test command: installs OpenBLAS/LAPACKE if missing, then runs every test in an
# optimised build (numerical tests run 10-50x faster than in a debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift test -c release "$@"

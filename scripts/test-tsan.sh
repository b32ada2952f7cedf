#!/usr/bin/env bash
# The threading tests (worker pool stress, parallel loops, per-thread autograd modes, data-parallel ranks as threads) in a debug
# build under ThreadSanitizer, which fails the run on any data race it sees. Its own build
# directory keeps the release build of scripts/test.sh intact.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift test --sanitize=thread --scratch-path .build-tsan \
  --filter "WorkerPoolStressTests|ThreadingTests|AutogradThreadModeTests|ParallelKernelTests|DataParallelTests"

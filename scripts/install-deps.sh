#!/usr/bin/env bash
# Installs OpenBLAS and LAPACKE (Debian/Ubuntu) when they are missing. Needs root or sudo.
set -euo pipefail
if pkg-config --exists openblas 2>/dev/null && [ -f /usr/include/lapacke.h ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "Installing libopenblas-dev, liblapacke-dev and pkg-config ..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas-dev liblapacke-dev pkg-config >/dev/null

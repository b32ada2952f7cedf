#!/usr/bin/env bash
# Installs Open MPI (Debian/Ubuntu: headers for the build, mpirun for launching) when it is missing.
# Needs root or sudo. Without it everything still builds; only `mpirun ... align` needs it.
set -euo pipefail
if pkg-config --exists ompi-c 2>/dev/null && command -v mpirun >/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "Installing libopenmpi-dev and openmpi-bin ..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenmpi-dev openmpi-bin pkg-config >/dev/null

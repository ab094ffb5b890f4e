#!/usr/bin/env bash
# setup.sh: installs the Debian packages that are missing, configures and builds faceswap into ./build.
# Usage: bash scripts/setup.sh [extra cmake arguments...]   (BUILD_DIR overrides ./build)
# Runs as root on a fresh Debian 12 (apt-get), or as a user with sudo. Safe to re-run: it installs only what is
# missing and rebuilds incrementally. CUDA is built when nvcc is found (set -DFS_CUDA=OFF to skip it).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake ninja-build pkg-config libeigen3-dev libstb-dev libopencv-dev libgtest-dev
      libbenchmark-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build="${BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j "$(nproc)"

#!/usr/bin/env bash
# Installs the Debian packages nanogen builds and runs with, when missing.
# Needs root (or sudo) only when something is missing.
set -euo pipefail
# libopenblas-openmp-dev: the OpenMP build of OpenBLAS, which the engine links
# by its full path (CMakeLists.txt), whatever Debian's alternatives name.
# libsleef-dev: SLEEF, the CPU's vectorised exp, log1p and tanh.
# libgif-dev: giflib, for the animated GIF of a run's samples over its epochs.
# libopenmpi-dev, openmpi-bin: data-parallel training over MPI and its tests (mpirun).
# chromium (and a font for its text): tests/cpu/test_compare.cpp renders the
# page of `nanogen compare` headless and checks the screenshot; with CI set, a
# missing chromium fails that test instead of skipping it.
packages=(cmake ninja-build g++ libstb-dev libcli11-dev nlohmann-json3-dev libopenblas-openmp-dev libsleef-dev zlib1g-dev
          libgif-dev libopenmpi-dev openmpi-bin libgtest-dev dataset-fashion-mnist chromium fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
echo "installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# The README's first command: installs what is missing, builds nanogen, and
# trains the VAE on Fashion-MNIST (extra arguments go to `nanogen train vae`).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --parallel "$(nproc)" --target nanogen
exec build/bin/nanogen train vae "$@"

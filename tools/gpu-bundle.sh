#!/usr/bin/env bash
# Packs what a GPU machine needs to run tools/gpu-check.sh with no build step:
# the sm_90 binaries that touch the GPU, the nanogen libraries, the libraries
# they need that a GPU machine may lack (OpenBLAS, libgomp, libstdc++, ...),
# the PyTorch twins of the training-step race and the Fashion-MNIST files.
#
#   tools/gpu-bundle.sh [--build-dir DIR] [--no-build] [--no-data] [OUTDIR]
#
#   OUTDIR       where nanogen-gpu.tar.xz goes (default .gpu-bundle, git-ignored)
#   --build-dir  the CUDA build to take the binaries from (default build, the
#                one tools/test.sh makes); configured for sm_90 if it is new
#   --no-build   take the binaries as they are (fails when one is missing)
#   --no-data    leave the data set out
#
# The bundle is checked before it is written: at most 60 MiB, and every
# library each binary needs is either in it or one the GPU machine provides
# (glibc, the driver, cuBLAS, cuRAND, cuDNN: gpu-check finds those there).
# On the GPU machine: tools/gpu-check.sh tests|bench --bundle OUTDIR/nanogen-gpu.tar.xz $OUT
set -euo pipefail

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
build_dir=build
build=1
data=1
out=.gpu-bundle
while [[ $# -gt 0 ]]; do
  case $1 in
    --build-dir) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; build_dir=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --no-data) data=0; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "gpu-bundle: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    *) out=$1; shift ;;
  esac
done

# OUTDIR and --build-dir are the caller's paths; the defaults the repository's.
repo=$(cd "$(dirname "$0")/.." && pwd)
[[ $out == .gpu-bundle ]] && out=$repo/.gpu-bundle
[[ $build_dir == build && ! -d build ]] && build_dir=$repo/build
mkdir -p "$out"
out=$(cd "$out" && pwd)
[[ $build_dir == /* ]] || build_dir=$PWD/$build_dir
cd "$repo"
limit_mib=60
data_dir=${NANOGEN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}

# The binaries that need a GPU, and the one that trains.
binaries=(nanogen test_cuda bench_train_step)
for source in benchmarks/cuda/*.cpp; do binaries+=("bench_cuda_$(basename "$source" .cpp)"); done

if [[ $build == 1 ]]; then
  if [[ ! -f $build_dir/CMakeCache.txt ]]; then
    # With the kernels' register and spill report (docs/kernels.md's tables).
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNANOGEN_CUDA=ON -DNANOGEN_CUDA_ARCHS=90 \
      -DNANOGEN_WERROR=ON -DNANOGEN_PTXAS_REPORT=ON
  fi
  cmake --build "$build_dir" --parallel "$(nproc)" --target "${binaries[@]}"
fi
grep -q "^NANOGEN_CUDA_ARCHS:STRING=90$" "$build_dir/CMakeCache.txt" ||
  { echo "gpu-bundle: $build_dir is not a build for sm_90 (NANOGEN_CUDA_ARCHS=90)" >&2; exit 1; }
for b in "${binaries[@]}"; do
  [[ -x $build_dir/bin/$b ]] || { echo "gpu-bundle: $build_dir/bin/$b is missing (build it, or drop --no-build)" >&2; exit 1; }
done

# What a GPU machine provides: the C library, the driver, and the CUDA
# libraries too large to carry (cuBLAS alone is ~700 MB), which gpu-check
# looks up there. Everything else a binary needs goes into lib/.
provided='^(linux-vdso|ld-linux[-a-z0-9_]*|libc|libm|libdl|libpthread|librt|libcuda|libcublas|libcublasLt|libcurand|libcudnn[a-z_]*)\.so'

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/nanogen-gpu
mkdir -p "$root/bin" "$root/lib" "$root/pytorch"
for b in "${binaries[@]}"; do cp "$build_dir/bin/$b" "$root/bin/"; done
cp "$build_dir"/lib/libnanogen_*.so "$root/lib/"
cp benchmarks/pytorch/*.py "$root/pytorch/"
# needs ELF: "name path" for each library ELF loads, as ldd resolves it with
# lib/ first, as gpu-check will ("path" is "not" for a library not found).
needs() {
  { LD_LIBRARY_PATH=$root/lib ldd "$1" || true; } |
    awk '$2 == "=>" {print $1, $3; next} NF == 2 {n = split($1, p, "/"); print p[n], $1}'
}
for elf in "$root"/bin/* "$root"/lib/*.so; do needs "$elf"; done | sort -u | while read -r name path; do
  [[ $name =~ $provided || -e $root/lib/$name || $path != /* ]] || cp -L "$path" "$root/lib/$name"
done
strip --strip-unneeded "$root"/bin/* "$root"/lib/*.so* 2>/dev/null || true
if [[ $data == 1 ]]; then
  mkdir -p "$root/data/fashion-mnist"
  cp "$data_dir"/*-ubyte.gz "$root/data/fashion-mnist/"
fi
{
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m), CUDA archs 90"
  echo "binaries: ${binaries[*]}"
} >"$root/MANIFEST"

# Check: every library each binary needs resolves inside the bundle or is one
# the GPU machine provides.
missing=0
for elf in "$root"/bin/* "$root"/lib/*.so*; do
  while read -r name path; do
    if [[ $path == "$root"/* || $name =~ $provided ]]; then continue; fi
    echo "gpu-bundle: $(basename "$elf") needs $name ($path), which is neither in the bundle nor on a GPU machine" >&2
    missing=1
  done < <(needs "$elf")
done
[[ $missing == 0 ]] || exit 1

bundle=$out/nanogen-gpu.tar.xz
XZ_OPT="-6 -T$(nproc)" tar -C "$stage" -cJf "$bundle.tmp" nanogen-gpu
mv "$bundle.tmp" "$bundle"
size=$(stat -c %s "$bundle")
echo "gpu-bundle: $bundle, $(awk -v b="$size" 'BEGIN {printf "%.1f", b / 1048576}') MiB" \
  "($(du -sb "$root" | awk '{printf "%.1f", $1 / 1048576}') MiB unpacked)"
if ((size > limit_mib * 1048576)); then
  echo "gpu-bundle: the bundle is over ${limit_mib} MiB: it would not travel with the working tree" >&2
  exit 1
fi

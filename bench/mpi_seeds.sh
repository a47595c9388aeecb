#!/usr/bin/env bash
# Accuracy over seeds, one process (2 threads) against two MPI ranks (1 thread each), one after
# the other per seed: the chapter's ResNet-18 epoch on MNIST_SAMPLE, release build with `mpi`.
#
#   bench/mpi_seeds.sh [DATA_DIR]     (SEEDS="1 2 3 4 5 6" by default)
#
# Needs Open MPI (Debian: openmpi-bin libopenmpi-dev libclang-dev) and mnist_sample.tgz in
# DATA_DIR (default: $FASTBURN_SHARED_DATA, ../shared/data).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
data=${1:-${FASTBURN_SHARED_DATA:-$repo/../shared/data}}/mnist_sample.tgz
[ -f "$data" ] || { echo "error: $data not found" >&2; exit 1; }
cargo build --release --locked -p fastburn-cli --features mpi >/dev/null 2>&1
bin=$repo/target/release/fastburn
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export FASTBURN_HOME="$work/home" FASTBURN_DATA_URL="file:///nonexistent" NO_COLOR=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1) | $(nproc) cores"
echo "mpi: $(mpirun --version 2>&1 | head -n 1)"
for s in ${SEEDS:-1 2 3 4 5 6}; do
  args=(train --model resnet18 --data "$data" --seed "$s")
  one=$(RAYON_NUM_THREADS=2 "$bin" "${args[@]}" 2>&1 | grep -o 'final accuracy [0-9.]*')
  two=$(mpirun --bind-to core -np 2 -x RAYON_NUM_THREADS=1 "$bin" "${args[@]}" 2>&1 \
    | grep -o 'final accuracy [0-9.]*')
  echo "seed $s | 1 process x 2 threads: $one | 2 ranks x 1 thread: $two"
done

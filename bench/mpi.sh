#!/usr/bin/env bash
# Data-parallel training over MPI on one machine: the chapter's ResNet-18 epoch on MNIST_SAMPLE
# (or the embedded sample) trained by 1 process x 2 threads and by 2 ranks x 1 thread (mpirun),
# in one run, then the cost model (bench/mpi_model.py) from what was measured: the gradient
# bytes per step and the compute time of one image.
#
#   bench/mpi.sh [DATA_DIR]
#
#   DATA_DIR   a folder holding mnist_sample.tgz (default: $FASTBURN_SHARED_DATA, ../shared/data);
#              without it the embedded 1,400-image sample is used
#   EPOCHS     epochs of each run (default 1)
#   SEEDS      instead: accuracy over these seeds ("1 2 3 4 5 6"), 1 process x 2 threads against
#              2 ranks x 1 thread, one after the other per seed (no timing, no cost model)
#
# Needs Open MPI (Debian: openmpi-bin libopenmpi-dev libclang-dev).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
data=${1:-${FASTBURN_SHARED_DATA:-$repo/../shared/data}}
epochs=${EPOCHS:-1}
data_args=()
[ -f "$data/mnist_sample.tgz" ] && data_args=(--data "$data/mnist_sample.tgz")

echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1) | $(nproc) cores"
echo "mpi: $(mpirun --version 2>&1 | head -n 1)"
echo "data: ${data_args[1]:-the embedded sample}, ResNet-18, $epochs epoch(s), batch 64"
cargo build --release --locked -p fastburn-cli --features mpi >/dev/null 2>&1
bin=$repo/target/release/fastburn

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export FASTBURN_HOME="$work/home" FASTBURN_DATA_URL="file:///nonexistent" NO_COLOR=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
args=(train --model resnet18 --epochs "$epochs" --seed 1 "${data_args[@]}")

if [ -n "${SEEDS:-}" ]; then
  for s in $SEEDS; do
    seeded=(train --model resnet18 --epochs "$epochs" --seed "$s" "${data_args[@]}")
    one=$(RAYON_NUM_THREADS=2 "$bin" "${seeded[@]}" 2>&1 | grep -o 'final accuracy [0-9.]*')
    two=$(mpirun --bind-to core -np 2 -x RAYON_NUM_THREADS=1 "$bin" "${seeded[@]}" 2>&1 \
      | grep -o 'final accuracy [0-9.]*')
    echo "seed $s | 1 process x 2 threads: $one | 2 ranks x 1 thread: $two"
  done
  exit 0
fi

# time LABEL COMMAND...: wall seconds of the run and its epoch table's time column.
timed() {
  local label=$1
  shift
  local start end
  start=$(date +%s.%N)
  "$@" > "$work/out" 2>&1 || { echo "$label: FAILED"; tail -n 5 "$work/out"; exit 1; }
  end=$(date +%s.%N)
  local epoch acc
  epoch=$(awk '$1 ~ /^[0-9]+$/ {print $NF}' "$work/out" | tr '\n' ' ')
  acc=$(grep -o 'final accuracy [0-9.]*' "$work/out")
  printf '%s | %.1f s wall | epoch times %s| %s\n' "$label" "$(echo "$end - $start" | bc)" "$epoch" "$acc"
  grep 'data-parallel' "$work/out" || true
}

timed "1 process x 2 threads" env RAYON_NUM_THREADS=2 "$bin" "${args[@]}"
one=$(awk '$1 ~ /^[0-9]+$/ {print $NF}' "$work/out" | head -n 1)
timed "2 ranks x 1 thread  " mpirun --bind-to core -np 2 -x RAYON_NUM_THREADS=1 "$bin" "${args[@]}"
two=$(awk '$1 ~ /^[0-9]+$/ {print $NF}' "$work/out" | head -n 1)
cp "$work/out" "$work/out2"
timed "1 process x 1 thread " env RAYON_NUM_THREADS=1 "$bin" "${args[@]}"
single=$(awk '$1 ~ /^[0-9]+$/ {print $NF}' "$work/out" | head -n 1)
images=$(grep -o 'images: [0-9]* train' "$work/out" | grep -o '[0-9]*')

mb=$(grep -o '[0-9.]* MB of gradients' "$work/out2" | grep -o '^[0-9.]*')
python3 "$repo/bench/mpi_model.py" --epoch-1x1 "$single" --epoch-1x2 "$one" --epoch-2x1 "$two" \
  --images "$images" --grad-mb "$mb"

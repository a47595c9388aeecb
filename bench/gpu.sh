#!/usr/bin/env bash
# The GPU run, prepared for a machine with an NVIDIA GPU (and run there when a task is lent one):
# builds fastburn with each GPU backend that can be built on that machine, then trains the
# chapter's ResNet-18 epoch on MNIST_SAMPLE and all ten digits on each backend it has, with Flex
# on the same machine as the baseline, and prints the device, times and accuracies.
#
#   bench/gpu.sh [DATA_DIR]
#
#   DATA_DIR   a folder holding mnist_sample.tgz and mnist_png.tgz (default: $FASTBURN_SHARED_DATA,
#              ../shared/data, or shared/data in the repository); without them the run uses the
#              embedded 1,400-image sample and skips full MNIST
#   BACKENDS   which to run (default "flex wgpu cuda"); a backend that fails to build or finds no
#              device is reported and skipped
#
# wgpu needs the GPU's Vulkan driver (NVIDIA's ships one with the driver's GL/Vulkan libraries);
# cuda needs cubecl-llvm's LLVM, downloaded from GitHub on the first build or copied in
# beforehand (docs/gpu.md), and NVRTC at run time. Each backend is built into its own target
# folder so the builds do not undo each other.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
backends=${BACKENDS:-flex wgpu cuda}
data=${1:-${FASTBURN_SHARED_DATA:-}}
for d in "$data" "$repo/../shared/data" "$repo/shared/data"; do
  if [ -n "$d" ] && [ -f "$d/mnist_sample.tgz" ]; then data=$d; break; fi
done

echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1) | $(nproc) cores"
if command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n 1)"
else
  echo "gpu: none found (no nvidia-smi)"
fi
command -v vulkaninfo >/dev/null 2>&1 &&
  echo "vulkan: $(vulkaninfo --summary 2>/dev/null | sed -n 's/^ *deviceName *= *//p' | tr '\n' ';')"
echo "data: ${data:-none (the embedded sample)}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export FASTBURN_HOME="$work/home" FASTBURN_DATA_URL="file:///nonexistent" NO_COLOR=1

# bin BACKEND: the fastburn binary built with BACKEND's feature (flex: none), or nothing.
bin() {
  local feature=() dir="$repo/target/gpu-$1"
  [ "$1" != flex ] && feature=(--features "$1")
  local start=$SECONDS
  if cargo build --release --locked -p fastburn-cli "${feature[@]}" --target-dir "$dir" \
      > "$work/build-$1.log" 2>&1; then
    echo "build $1: $((SECONDS - start)) s" >&2
    echo "$dir/release/fastburn"
  else
    echo "build $1: FAILED after $((SECONDS - start)) s; last lines:" >&2
    tail -n 5 "$work/build-$1.log" >&2
  fi
}

# run BACKEND BINARY LABEL ARGS...: one training run, its wall time and final accuracy.
run() {
  local backend=$1 binary=$2 label=$3
  shift 3
  local start end out
  start=$(date +%s.%N)
  out=$(FASTBURN_DEVICE=$backend "$binary" train --quiet "$@" 2>&1)
  local rc=$?
  end=$(date +%s.%N)
  local secs
  secs=$(python3 -c "print(round($end - $start, 1))")
  if [ $rc -eq 0 ]; then
    echo "$backend | $label | ${secs} s | $(echo "$out" | grep -o 'final accuracy [0-9.]*')"
  else
    echo "$backend | $label | FAILED: $(echo "$out" | tail -n 1)"
  fi
}

echo "backend | workload | wall time (incl. start and data) | result"
for b in $backends; do
  binary=$(bin "$b")
  [ -n "$binary" ] || continue
  if [ -n "$data" ]; then
    run "$b" "$binary" "ResNet-18, 1 epoch, MNIST_SAMPLE (the chapter)" \
      --model resnet18 --data "$data/mnist_sample.tgz"
    [ -f "$data/mnist_png.tgz" ] &&
      run "$b" "$binary" "all ten digits (fastburn's recipe)" --dataset mnist --data "$data/mnist_png.tgz"
  else
    run "$b" "$binary" "ResNet-18, 1 epoch, embedded sample" --model resnet18
  fi
done

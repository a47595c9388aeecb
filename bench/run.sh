#!/usr/bin/env bash
# Runs the same workload in fastburn and in PyTorch/fastai, one after the other in one run, and
# prints the time ratio. Absolute seconds vary on shared machines; the ratio is what we report.
#
#   bench/run.sh [DATA]          DATA: an extracted MNIST_SAMPLE folder or its .tgz
#                                (default: $FASTBURN_SHARED_DATA or ../shared/data, mnist_sample.tgz)
#
# The Python side needs torch and fastai; they are installed once into a venv outside the repo
# ($FASTBURN_BENCH_VENV, default ~/.cache/fastburn-bench/venv). torch from PyPI brings ~6 GB of
# CUDA libraries but runs on the CPU here.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
repeats=${REPEATS:-5}

data=${1:-"${FASTBURN_SHARED_DATA:-$repo/../shared/data}/mnist_sample.tgz"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -f "$data" ]; then
  tar xzf "$data" -C "$work"
  data=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
fi
[ -d "$data/train/3" ] || { echo "error: $data has no train/3; pass an MNIST_SAMPLE folder or .tgz" >&2; exit 1; }

venv=${FASTBURN_BENCH_VENV:-$HOME/.cache/fastburn-bench/venv}
if ! "$venv/bin/python" -c "import torch, fastai" 2>/dev/null; then
  echo "setting up $venv (torch + fastai from PyPI, once)..." >&2
  python3 -m venv --without-pip "$venv"
  python3 -m pip --python "$venv/bin/python" install -q torch fastai
fi

cargo build --release --quiet --example bench_load
echo "workload: load $(find "$data" -name '*.png' | wc -l) PNGs into one f32 tensor /255 (median of $repeats, after a warm-up)"
rust=$(target/release/examples/bench_load "$data" "$repeats")
py=$("$venv/bin/python" bench/load_pngs.py "$data" "$repeats")
python3 - "$rust" "$py" <<'PY'
import json, sys
r, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert r["images"] == p["images"], (r, p)
print(f"{'':10} {'images':>7} {'threads':>7} {'median s':>9}")
print(f"{'fastburn':10} {r['images']:>7} {r['threads']:>7} {r['median_s']:>9.4f}")
print(f"{'pytorch':10} {p['images']:>7} {p['threads']:>7} {p['median_s']:>9.4f}")
print(f"ratio: fastburn is {p['median_s'] / r['median_s']:.1f}x faster than the chapter's PyTorch code")
PY

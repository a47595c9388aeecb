#!/usr/bin/env bash
# Serving throughput: `fastburn serve` against fastai's `learn.predict` behind FastAPI/uvicorn
# (bench/serve_fastai.py), the same model architecture on each side, the same load generator
# (bench/serve_load.rs: CLIENTS threads with keep-alive connections POSTing one 28x28 PNG digit
# until REQUESTS are answered), one after the other in one run, on loopback.
#
#   bench/serve.sh [simple-net|resnet18]
#       CLIENTS   concurrent clients (default 16)
#       REQUESTS  requests counted per side, after CLIENTS*5 warm-up requests (default 4000)
#       WORKERS   uvicorn worker processes for fastai (default: the number of CPUs), one torch
#                 thread each (learn.predict is not thread-safe: one request at a time a worker)
#       BATCH_WAIT_US  fastburn's --batch-wait-us (default 0)
#
# The weights do not matter for throughput: fastburn's model comes from `fastburn train --epochs 1`
# on the embedded sample, fastai's is freshly initialised (untrained).
# The Python side needs torch, fastai, fastapi, uvicorn and python-multipart, installed once into
# a venv outside the repo ($FASTBURN_BENCH_VENV, default ~/.cache/fastburn-bench/venv).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

arch=${1:-simple-net}
case "$arch" in simple-net|resnet18) ;; *) echo "usage: bench/serve.sh [simple-net|resnet18]" >&2; exit 2 ;; esac
clients=${CLIENTS:-16}
requests=${REQUESTS:-4000}
workers=${WORKERS:-$(nproc)}
batch_wait=${BATCH_WAIT_US:-0}

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The data fastai's learn.predict needs (its DataLoaders) and the digit both sides are sent: the
# sample embedded in fastburn.
tar xzf assets/mnist_tiny.tgz -C "$work"
data="$work/mnist_tiny"
image="$data/valid/7/0.png"

venv=${FASTBURN_BENCH_VENV:-$HOME/.cache/fastburn-bench/venv}
if ! "$venv/bin/python" -c "import torch, fastai, fastapi, uvicorn, multipart" 2>/dev/null; then
  echo "setting up $venv (torch, fastai, fastapi, uvicorn from PyPI, once)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch fastai fastapi uvicorn python-multipart
fi

cargo build --release --quiet --bin fastburn --example serve_load
target=${CARGO_TARGET_DIR:-$repo/target}
# Copies, so that a build elsewhere in the same target folder cannot swap them mid-run.
cp "$target/release/fastburn" "$target/release/examples/serve_load" "$work/"
fastburn="$work/fastburn"
load="$work/serve_load"

FASTBURN_HOME="$work/home" "$fastburn" train --model "$arch" --epochs 1 --data "$data" --quiet \
  --save "$work/model.fbm" >/dev/null

wait_for() { # URL SECONDS
  for _ in $(seq 1 "$(($2 * 10))"); do
    curl -sf "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "error: $1 did not answer within $2 s" >&2
  exit 1
}

echo "== fastburn serve ($arch), $clients clients, $requests requests"
"$fastburn" serve --model "$work/model.fbm" --addr 127.0.0.1:0 --batch-wait-us "$batch_wait" \
  >"$work/fastburn.out" 2>&1 &
fb_pid=$!
pids+=("$fb_pid")
for _ in $(seq 1 100); do grep -q http:// "$work/fastburn.out" && break; sleep 0.1; done
fb_url=$(grep -o 'http://[0-9.:]*' "$work/fastburn.out")
wait_for "$fb_url/health" 10
rust=$("$load" "$fb_url/predict" "$image" "$clients" "$requests" "$fb_pid")
echo "$rust"
kill -TERM "$fb_pid"
wait "$fb_pid"

echo "== fastai learn.predict in FastAPI/uvicorn ($arch), $workers workers, $clients clients, $requests requests"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
FASTAI_DATA="$data" FASTAI_MODEL="$arch" TORCH_THREADS=1 "$venv/bin/uvicorn" serve_fastai:app \
  --app-dir "$repo/bench" --host 127.0.0.1 --port "$port" --workers "$workers" \
  --no-access-log --log-level warning >"$work/fastai.out" 2>&1 &
py_pid=$!
pids+=("$py_pid")
wait_for "http://127.0.0.1:$port/health" 180
py=$("$load" "http://127.0.0.1:$port/predict" "$image" "$clients" "$requests" "$py_pid")
echo "$py"
kill -TERM "$py_pid"
wait "$py_pid" || true

cpu="$(lscpu | sed -n 's/^Model name: *//p' | head -n 1) (family $(lscpu | sed -n 's/^CPU family: *//p' | head -n 1), model $(lscpu | sed -n 's/^Model: *//p' | head -n 1))"
simd=$(grep -o -w -E 'avx2|avx512f|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')
python3 - "$rust" "$py" "$arch" "$cpu" "$simd" "$(nproc)" <<'PY'
import json, sys
r, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
arch, cpu, simd, cores = sys.argv[3:7]
print(f"\nmodel {arch}; CPU {cpu}, {cores} cores, SIMD: {simd.strip() or 'none of avx2/avx512f/fma'}")
print(f"{'':9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'RSS before':>11} {'RSS after':>10}")
for name, d in (("fastburn", r), ("fastai", p)):
    print(f"{name:9} {d['rps']:>8.1f} {d['p50_ms']:>8.2f} {d['p99_ms']:>8.2f} {d['errors']:>7}"
          f" {d['rss_before_kib'] / 1024:>8.1f} MB {d['rss_after_kib'] / 1024:>7.1f} MB")
print(f"ratio: fastburn serves {r['rps'] / p['rps']:.1f}x fastai's requests/s; "
      f"p99 {r['p99_ms']:.2f} ms vs {p['p99_ms']:.2f} ms")
PY

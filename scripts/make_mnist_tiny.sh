#!/usr/bin/env bash
# Cut assets/mnist_tiny.tgz (the embedded default data set) from the shared MNIST_SAMPLE archive.
#
# 350 images of each of train/3, train/7, valid/3, valid/7 (1,400 in all), picked evenly along each
# folder's sorted file list, in MNIST_SAMPLE's layout with its labels.csv. Deterministic: the same
# input gives the same bytes (sorted entries, fixed owner and mtime, gzip without a timestamp).
#
# usage: scripts/make_mnist_tiny.sh [path/to/mnist_sample.tgz] [out.tgz]
set -euo pipefail
src=${1:-"$(dirname "$0")/../../shared/data/mnist_sample.tgz"}
out=${2:-"$(dirname "$0")/../assets/mnist_tiny.tgz"}
per_folder=350
[ -f "$src" ] || { echo "error: $src not found; pass the path to mnist_sample.tgz" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar xzf "$src" -C "$work"
mkdir -p "$work/out/mnist_tiny"
echo "name,label" > "$work/out/mnist_tiny/labels.csv"
for split in train valid; do
  for digit in 3 7; do
    dir="$work/mnist_sample/$split/$digit"
    mkdir -p "$work/out/mnist_tiny/$split/$digit"
    mapfile -t files < <(cd "$dir" && LC_ALL=C ls | LC_ALL=C sort)
    n=${#files[@]}
    for ((i = 0; i < per_folder; i++)); do
      f=${files[$((i * n / per_folder))]}
      cp "$dir/$f" "$work/out/mnist_tiny/$split/$digit/$f"
      label=$([ "$digit" = 3 ] && echo 0 || echo 1)
      echo "$split/$digit/$f,$label" >> "$work/out/mnist_tiny/labels.csv"
    done
  done
done
mkdir -p "$(dirname "$out")"
tar -C "$work/out" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u+rw,go+r,go-w \
  -cf - mnist_tiny | gzip -n -9 > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out: $(tar tzf "$out" | grep -c '\.png$') images, $(wc -c < "$out") bytes"

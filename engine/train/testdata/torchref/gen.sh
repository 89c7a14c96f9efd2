#!/bin/sh
# Regenerates the PyTorch reference files of TestTorchReference: tiny random
# models from `crossin model init` (the test rebuilds the same bytes with
# model.Init), then ref.py with Debian's python3-torch. Run from the repo root:
#   sh engine/train/testdata/torchref/gen.sh
set -eu
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
go build -o "$d/crossin" ./cmd/crossin
out=engine/train/testdata/torchref
common="--layers 2 --hidden 16 --heads 4 --kv-heads 2 --intermediate 24 --vocab 48 --seed 11"
"$d/crossin" model init --arch llama $common -o "$d/llama" >/dev/null
"$d/crossin" model init --arch mistral --sliding-window 4 $common -o "$d/mistral" >/dev/null
"$d/crossin" model init --arch qwen2 $common -o "$d/qwen2" >/dev/null
"$d/crossin" model init --arch gemma --head-dim 6 $common -o "$d/gemma" >/dev/null
for a in llama mistral qwen2 gemma; do
	/usr/bin/python3 $out/ref.py "$d/$a" $out/$a.safetensors 5
done

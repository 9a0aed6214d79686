#!/usr/bin/env bash
# Reproduces the "Shrunk models" figures of BENCHMARKS.md: forward tokens/s at 8x128 of a 125M-shaped GQA Llama
# (12 blocks, 12 query heads in 4 KV groups, MLP 2048) against the same model after `lancet edit` dropped one KV
# group of three query heads (25% of the heads) and 25% of the MLP channels in every block. Runs are interleaved,
# REPS pairs (default 3); each prints one JSON line.
#
#   bench/run-edit.sh                   # about 3 min on an idle 2-vCPU VM
#   LLAMA125=/path/to/model bench/run-edit.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
lancet=./lancet
dense="${LLAMA125:-/tmp/llama-125m}"
edited="$dense-edited"
if [[ ! -d "$dense" ]]; then
  "$lancet" synth --arch llama --hidden 768 --layers 12 --heads 12 --kv-heads 4 --intermediate 2048 --vocab 32000 \
    --max-positions 2048 --out "$dense"
fi
if [[ ! -d "$edited" ]]; then
  flags=()
  for b in $(seq 0 11); do flags+=(--drop-kv-heads "$b:3" --drop-channels "$b:1536-2047"); done
  "$lancet" edit --model "$dense" --out "$edited" "${flags[@]}" --json | tail -1
fi
for _ in $(seq 1 "${REPS:-3}"); do
  for model in "$dense" "$edited"; do
    "$lancet" bench --model "$model" --batch 8 --seqlen 128 --iters 3 --warmup 1 --mode forward | tail -1
  done
done

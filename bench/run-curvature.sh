#!/usr/bin/env bash
# Reproduces the "Streaming curvature" figures of BENCHMARKS.md (about 10 minutes on 2 cores).
# Usage: bench/run-curvature.sh [OUTDIR]   (OPENBLAS_CORETYPE is honoured as set; see BENCHMARKS.md)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench/results}"
mkdir -p "$out"
log="$out/curvature-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
synth=/tmp/lancet-bench-opt-125m
if [[ ! -f "$synth/model.safetensors" ]]; then
  ./lancet synth --arch opt --hidden 768 --layers 12 --heads 12 --intermediate 3072 --vocab 50272 \
    --max-positions 2048 --out "$synth" >&2
  cp assets/models/tiny-llama/tokenizer.json "$synth/"
fi
run() { echo "# $*" >&2; "$@" 2>/dev/null | tail -1 | tee -a "$log"; }

# 1. folding rate vs the GEMM peak of this machine
run ./lancet bench --mode gemm --iters 5
run ./lancet bench --mode kfac --iters 5
run ./lancet bench --mode kfac --iters 2 --model "$synth"

# 2. end-to-end calibration, actors vs the direct loop, same windows
for pipeline in "" --direct; do
  run ./lancet curvature --samples 256 --seqlen 128 --out /tmp/lancet-bench-f.safetensors --json $pipeline
  run ./lancet curvature --model "$synth" --samples 16 --seqlen 128 --out /tmp/lancet-bench-f125.safetensors --json $pipeline
done

# 3. peak RSS does not grow with --samples
for n in 64 512; do
  /usr/bin/time -f "{\"samples\":$n,\"max_rss_kib\":%M,\"wall_s\":%e}" \
    ./lancet curvature --samples "$n" --seqlen 128 --out /tmp/lancet-bench-rss.safetensors 2>&1 >/dev/null \
    | tail -1 | tee -a "$log"
done
echo "results in $log" >&2

#!/usr/bin/env bash
# Reproduces the "Streaming curvature" figures of BENCHMARKS.md (about 12 minutes on 2 cores; run it on a
# quiet machine). Usage: bench/run-curvature.sh [OUTDIR]   (OPENBLAS_CORETYPE is honoured as set)
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
times=$(mktemp)
# run CMD...: the command's last stdout line (JSON) with its peak RSS and wall time added, appended to $log
run() {
  echo "# $*" >&2
  line=$(/usr/bin/time -o "$times" -f "%M %e" "$@" 2>/dev/null | tail -1)
  read -r rss wall < "$times"
  LINE="$line" RSS="$rss" WALL="$wall" CMD="$*" python3 -c '
import json, os
d = json.loads(os.environ["LINE"])
d.update(max_rss_mib=round(int(os.environ["RSS"]) / 1024), wall_s=float(os.environ["WALL"]), cmd=os.environ["CMD"])
print(json.dumps(d))' | tee -a "$log"
}

# 1. folding rate vs the GEMM peak of this machine
run ./lancet bench --mode gemm --iters 5
run ./lancet bench --mode kfac --iters 40 --warmup 20  # the fold's fp64 add loop needs the JIT warm
run ./lancet bench --mode kfac --iters 2 --model "$synth"

# 2. end-to-end calibration, actors vs the direct loop on the same windows, interleaved
for rep in 1 2; do
  for pipeline in "" --direct; do
    run ./lancet curvature --samples 512 --seqlen 128 --out /tmp/lancet-bench-f.safetensors --json $pipeline
  done
done
for rep in 1 2; do
  for pipeline in "" --direct; do
    run ./lancet curvature --model "$synth" --samples 32 --seqlen 128 --out /tmp/lancet-bench-f125.safetensors --json $pipeline
  done
done

# 3. peak RSS does not grow with --samples
for n in 64 512; do
  run ./lancet curvature --samples "$n" --seqlen 128 --out /tmp/lancet-bench-rss.safetensors --json
done
run ./lancet curvature --model "$synth" --samples 8 --seqlen 128 --out /tmp/lancet-bench-rss125.safetensors --json
rm -f "$times"
echo "results in $log" >&2

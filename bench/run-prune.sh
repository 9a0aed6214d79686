#!/usr/bin/env bash
# Reproduces the "Pruning quality" figures of BENCHMARKS.md: `lancet prune` on both embedded models against the
# upstream reference's figures (perplexity as a multiple of the dense model's; Brown text, 128 calibration windows of
# 128, 8 shots), and the baselines at the same settings. Every run appends its --json line, with its configuration,
# to bench/results/prune-<time>.jsonl; the report and plot of each run stay under $WORK.
#
#   bench/run-prune.sh                          # every case (about an hour on an idle 2-vCPU VM)
#   CASES="llama-rowscols-25 opt-groups-25" bench/run-prune.sh   # a subset, by name
#   LANCET=/path/to/launcher bench/run-prune.sh # another launcher (default ./lancet)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
lancet="${LANCET:-./lancet}"
work="${WORK:-/tmp/lancet-prune-bench}"
out="bench/results/prune-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
mkdir -p "$work" bench/results
"$lancet" --help > /dev/null   # build first, not inside a measurement

declare -A cases=(
  [llama-rowscols-25]="--model assets/models/tiny-llama --method surgeon --structure rows-cols --target 0.25"
  [llama-rowscols-50]="--model assets/models/tiny-llama --method surgeon --structure rows-cols --target 0.5"
  [opt-rowscols-25]="--model assets/models/tiny-opt --method surgeon --structure rows-cols --target 0.25"
  [opt-rowscols-50]="--model assets/models/tiny-opt --method surgeon --structure rows-cols --target 0.5"
  [llama-groups-25]="--model assets/models/tiny-llama --method surgeon --structure groups --target 0.25"
  [llama-groups-50]="--model assets/models/tiny-llama --method surgeon --structure groups --target 0.5"
  [opt-groups-25]="--model assets/models/tiny-opt --method surgeon --structure groups --target 0.25"
  [opt-groups-50]="--model assets/models/tiny-opt --method surgeon --structure groups --target 0.5"
  [llama-kobd-rowscols-25]="--model assets/models/tiny-llama --method k-obd --structure rows-cols --target 0.25"
  [llama-magnitude-rowscols-25]="--model assets/models/tiny-llama --method magnitude --structure rows-cols --target 0.25"
  [llama-unstructured-50]="--model assets/models/tiny-llama --method surgeon --structure unstructured --target 0.5"
  [llama-sparsegpt-unstructured-50]="--model assets/models/tiny-llama --method sparsegpt --structure unstructured --target 0.5"
  [llama-2of4]="--model assets/models/tiny-llama --method surgeon --structure 2:4 --target 0.5"
  [llama-sparsegpt-2of4]="--model assets/models/tiny-llama --method sparsegpt --structure 2:4 --target 0.5"
  # SliceGPT: one shot (--shots does not apply); --target is the fraction of the hidden width sliced
  [llama-slicegpt-25]="--model assets/models/tiny-llama --method slicegpt --target 0.25"
  [opt-slicegpt-25]="--model assets/models/tiny-opt --method slicegpt --target 0.25"
)
names="${CASES:-${!cases[*]}}"
for name in $names; do
  rm -rf "${work:?}/$name"
  echo "== $name: lancet prune ${cases[$name]} --out $work/$name --json" >&2
  start=$(date +%s%N)
  line="$(/usr/bin/time -f '%M' -o "$work/$name.rss" "$lancet" prune ${cases[$name]} --samples 128 --seqlen 128 \
    --shots 8 --out "$work/$name" --json 2>"$work/$name.log" | tail -1)"
  wall_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "{\"case\":\"$name\",\"wall_ms\":$wall_ms,\"peak_rss_kib\":$(cat "$work/$name.rss"),\"result\":$line}" | tee -a "$out"
done
echo "results in $out" >&2

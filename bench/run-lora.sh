#!/usr/bin/env bash
# Reproduces the "LoRA: recovery and between shots" figures of BENCHMARKS.md. Every run's --json line goes to
# bench/results/lora-<time>.jsonl; the reports stay under $WORK.
#   1. LLM Surgeon, tiny-llama, rows-cols 50%, 8 shots: without and with --lora-between-shots 10 (lr 1e-3);
#   2. `lancet recover` (100 steps of 2×4 windows of 128 from the embedded Brown train slice, lr 3e-4) of the model
#      from 1 without LoRA;
#   3. LoRA training rate (rank 8, all decoder linears; tiny-llama 2×4 windows of 128 per step, the 125M model 1×2;
#      Lancet's steady rate from a short and a long run) against
#      bench/lora_torch.py on tiny-llama and on a 125M-shaped synthetic Llama.
# Validation text: the first 120 kB of the embedded Brown valid split (269 windows of 128), so that the evaluations
# before and after training stay short.
#
#   bench/run-lora.sh                    # everything (about 2 h on the loaded 2-vCPU VM it was measured on)
#   STEPS="rate" bench/run-lora.sh       # a subset: quality, recover, rate
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
lancet="${LANCET:-./lancet}"
work="${WORK:-/tmp/lancet-lora-bench}"
steps="${STEPS:-quality recover rate}"
out="bench/results/lora-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
mkdir -p "$work" bench/results
"$lancet" --help > /dev/null   # build first, not inside a measurement
valid="$work/valid120k.txt"
head -c 120000 assets/data/brown/brown.valid.txt | sed '$d' > "$valid"
record() { echo "{\"case\": \"$1\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"result\": $(tail -n 1 "$2")}" >> "$out"; }

if [[ " $steps " == *" quality "* ]]; then
  common=(--structure rows-cols --target 0.5 --eval "$valid" --eval-windows 64 --json)
  rm -rf "$work/p50" "$work/p50-lora"
  "$lancet" prune "${common[@]}" --out "$work/p50" > "$work/p50.log"
  record surgeon-rowscols-50 "$work/p50.log"
  "$lancet" prune "${common[@]}" --lora-between-shots 10 --lora-lr 1e-3 --out "$work/p50-lora" > "$work/p50-lora.log"
  record surgeon-rowscols-50-lora-between-shots-10 "$work/p50-lora.log"
fi
if [[ " $steps " == *" recover "* ]]; then
  rm -rf "$work/p50-recovered"
  "$lancet" recover --model "$work/p50" --eval "$valid" --steps 100 --eval-every 25 --out "$work/p50-recovered" --json \
      > "$work/recover.log"
  record recover-surgeon-rowscols-50 "$work/recover.log"
fi
if [[ " $steps " == *" rate "* ]]; then
  head -c 4000 assets/data/brown/brown.valid.txt | sed '$d' > "$work/valid4k.txt"
  if [[ ! -d "$work/llama-125m" ]]; then
    "$lancet" synth --arch llama --hidden 768 --layers 12 --heads 12 --kv-heads 4 --intermediate 2048 --vocab 32000 \
        --max-positions 2048 --out "$work/llama-125m"
    cp assets/models/tiny-llama/tokenizer.json "$work/llama-125m/"
  fi
  # model, windows per micro-batch, micro-batches per step, a short and a long run (steady = their difference)
  for run in "assets/models/tiny-llama 4 2 4 16" "$work/llama-125m 2 1 4 8"; do
    read -r model batch accumulate short long <<< "$run"
    name="$(basename "$model")"
    for n in "$short" "$long"; do
      rm -rf "$work/rate-$name-$n"
      "$lancet" recover --model "$model" --batch "$batch" --accumulate "$accumulate" --steps "$n" --eval-every "$n" \
          --eval "$work/valid4k.txt" --eval-windows 1 --out "$work/rate-$name-$n" --json > "$work/rate-$name-$n.log"
      echo "{\"case\": \"lancet-lora-rate-$name-$n-steps\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"result\": $(python3 -c \
          "import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({k: r[k] for k in ('training_seconds', 'training_cpu_seconds', 'training_tokens')}))" \
          "$work/rate-$name-$n/recovery-report.json")}" >> "$out"
    done
    /usr/bin/python3 bench/lora_torch.py --model "$model" --batch "$batch" --accumulate "$accumulate" --seqlen 128 \
        --iters "$((short + 1))" --warmup 1 > "$work/torch-$name.log"
    record "torch-lora-rate-$name" "$work/torch-$name.log"
  done
fi
echo "wrote $out"

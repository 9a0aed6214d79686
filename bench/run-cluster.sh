#!/usr/bin/env bash
# Reproduces the "Cluster" figures of BENCHMARKS.md on loopback: two `lancet node` worker processes, the same job
# run locally and with --cluster (bytes compared, calibration and solve seconds per shot), then KILLS runs in which
# the second worker is killed with SIGKILL in the middle of the first shot's calibration (once its first batch of 8
# is folded by every block, the layer entities on both workers), and KILLS runs in which it is killed once the first
# unit of the first shot has been applied; each checked byte for byte against the local run, the node restarted
# before the next run. Appends JSON lines to bench/results/cluster-<time>.jsonl.
#
#   bench/run-cluster.sh                 # KILLS=3
#   LANCET=/path/to/launcher bench/run-cluster.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
lancet="${LANCET:-./lancet}"
work="${WORK:-/tmp/lancet-cluster-bench}"
kills="${KILLS:-3}"
out="bench/results/cluster-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
rm -rf "$work" && mkdir -p "$work" bench/results
# the evaluation text of ClusterPruneTest (the first 6,000 characters of Brown valid): the figures are about calibration
# and solve, not about a 20-minute perplexity on a loaded machine
head -c 6000 assets/data/brown/brown.valid.txt > "$work/eval.txt"
job=(--structure rows-cols --target 0.3 --shots 2 --samples 8 --seqlen 64 --batch 1 --eval "$work/eval.txt"
     --eval-seqlen 64 --eval-windows 8 --json)
"$lancet" --help > /dev/null   # build first, not inside a measurement
conf="$work/cluster.conf"
# the shipped file with the test timings: answers resent after 2 s, a dead member downed after 3 s stable
{ cat conf/cluster.conf; printf 'lancet.cluster.resend-after = 2s\npekko.cluster.split-brain-resolver.stable-after = 3s\n'; } > "$conf"

pids=()
start_node() {   # $1: port; waits for the ready line; sets $node_pid
  "$lancet" node --cluster "$conf" --cluster-port "$1" > "$work/node-$1.out" 2>> "$work/node-$1.err" &
  node_pid=$!
  pids+=("$node_pid")
  for _ in $(seq 1 240); do
    grep -q '^lancet node ready' "$work/node-$1.out" && return 0
    sleep 0.5
  done
  echo "node $1 did not start" >&2; exit 1
}
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null || true; done' EXIT
# seconds per shot: {"calibration": [...], "solve": [...]}
seconds() { python3 -c 'import json,sys; shots=json.load(open(sys.argv[1]))["shots"]; print(json.dumps({k: [s["seconds"][k] for s in shots] for k in ("calibration", "solve")}))' "$1/pruning-report.json"; }

"$lancet" prune "${job[@]}" --out "$work/local" > "$work/local.out"
start_node 25520
start_node 25521
second=$node_pid
"$lancet" prune "${job[@]}" --cluster "$conf" --min-workers 2 --out "$work/cluster" > "$work/cluster.out"
same=$(cmp -s "$work/local/model.safetensors" "$work/cluster/model.safetensors" && echo true || echo false)
echo "{\"run\": \"two workers\", \"identical\": $same, \"local\": $(seconds "$work/local"), \"cluster\": $(seconds "$work/cluster")}" | tee -a "$out"

kill_run() {   # $1: name, $2: a command that succeeds once the second worker is to be killed (given the run dir)
  run="$work/$1"
  "$lancet" prune "${job[@]}" --cluster "$conf" --min-workers 2 --out "$run" > "$run.out" 2> "$run.err" &
  prune_pid=$!
  until $2 "$run"; do sleep 0.05; done
  kill -9 "$second"
  wait "$prune_pid"
  same=$(cmp -s "$work/local/model.safetensors" "$run/model.safetensors" && echo true || echo false)
  echo "{\"run\": \"$1\", \"identical\": $same, \"cluster\": $(seconds "$run")}" | tee -a "$out"
  start_node 25521
  second=$node_pid
}
calibrating() { grep -q ' 1/8 shot 1/2 calibration batches' "$1.err"; }
solving() { compgen -G "$1/.tmp-shot-1-1/unit-*" > /dev/null; }
for k in $(seq 1 "$kills"); do kill_run "worker killed mid-calibration $k" calibrating; done
for k in $(seq 1 "$kills"); do kill_run "worker killed mid-shot $k" solving; done

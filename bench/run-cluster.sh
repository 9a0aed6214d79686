#!/usr/bin/env bash
# Reproduces the "Cluster" figures of BENCHMARKS.md on loopback: two `lancet node` worker processes, the same job
# run locally and with --cluster (bytes compared, solve seconds per shot), then KILLS runs in which the second
# worker is killed with SIGKILL once the first unit of the first shot has been applied (each checked byte for byte
# against the local run; the node is restarted before the next run). Appends JSON lines to
# bench/results/cluster-<time>.jsonl.
#
#   bench/run-cluster.sh                 # KILLS=3
#   LANCET=/path/to/launcher bench/run-cluster.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
lancet="${LANCET:-./lancet}"
work="${WORK:-/tmp/lancet-cluster-bench}"
kills="${KILLS:-3}"
out="bench/results/cluster-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
job=(--structure rows-cols --target 0.3 --shots 2 --samples 8 --seqlen 64 --eval-windows 8 --json)
rm -rf "$work" && mkdir -p "$work" bench/results
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
solve() { python3 -c 'import json,sys; print(json.dumps([s["seconds"]["solve"] for s in json.load(open(sys.argv[1]))["shots"]]))' "$1/pruning-report.json"; }

"$lancet" prune "${job[@]}" --out "$work/local" > "$work/local.out"
start_node 25520
start_node 25521
second=$node_pid
"$lancet" prune "${job[@]}" --cluster "$conf" --min-workers 2 --out "$work/cluster" > "$work/cluster.out"
same=$(cmp -s "$work/local/model.safetensors" "$work/cluster/model.safetensors" && echo true || echo false)
echo "{\"run\": \"two workers\", \"identical\": $same, \"solve_local\": $(solve "$work/local"), \"solve_cluster\": $(solve "$work/cluster")}" | tee -a "$out"

for k in $(seq 1 "$kills"); do
  run="$work/killed-$k"
  "$lancet" prune "${job[@]}" --cluster "$conf" --min-workers 2 --out "$run" > "$run.out" &
  prune_pid=$!
  until compgen -G "$run/.tmp-shot-1-1/unit-*" > /dev/null; do sleep 0.05; done
  kill -9 "$second"
  wait "$prune_pid"
  same=$(cmp -s "$work/local/model.safetensors" "$run/model.safetensors" && echo true || echo false)
  echo "{\"run\": \"worker killed mid-shot $k\", \"identical\": $same, \"solve_cluster\": $(solve "$run")}" | tee -a "$out"
  start_node 25521
  second=$node_pid
done

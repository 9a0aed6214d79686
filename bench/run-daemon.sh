#!/usr/bin/env bash
# Reproduces the "Pruning daemon" figures of BENCHMARKS.md on loopback: a load test (CLIENTS clients submitting
# small jobs and adding calibration batches for SECONDS seconds), KILLS kill -9 restarts each checked byte for byte
# against `lancet prune`, and the status every malformed request gets. Small model (2 blocks, 48 wide) and 1-4 shot
# jobs keep it cheap. Appends JSON lines to bench/results/daemon-<time>.jsonl.
#
#   bench/run-daemon.sh                      # CLIENTS=8 SECONDS_LOAD=60 KILLS=5
#   PARTS=bad-input bench/run-daemon.sh      # some of: load bad-input kill
#   LANCET=/path/to/launcher bench/run-daemon.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
lancet="${LANCET:-./lancet}"
work="${WORK:-/tmp/lancet-daemon-bench}"
clients="${CLIENTS:-8}" seconds="${SECONDS_LOAD:-60}" kills="${KILLS:-5}" parts="${PARTS:-load bad-input kill}"
out="bench/results/daemon-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
rm -rf "$work" && mkdir -p "$work/root" bench/results
"$lancet" --help > /dev/null   # build first, not inside a measurement
root="$work/root" model="$work/root/model" text="$work/root/text.txt"
"$lancet" synth --arch llama --hidden 48 --layers 2 --heads 6 --intermediate 64 --vocab 4096 --max-positions 64 \
  --dtype F32 --seed 3 --out "$model" > /dev/null
cp assets/models/tiny-llama/tokenizer.json "$model/"
head -c 3000 assets/data/brown/brown.valid.txt > "$text"
printf 'lancet.daemon.queue-size = 4\n' > "$work/daemon.conf"

daemon_pid=""
start_daemon() {   # on $work/state; sets $server
  "$lancet" daemon --listen 127.0.0.1:0 --state "$work/state" --root "$root" --config "$work/daemon.conf" \
    > "$work/daemon.out" 2>> "$work/daemon.err" &
  daemon_pid=$!
  for _ in $(seq 1 240); do
    server="$(sed -n 's/^lancet daemon ready on \([0-9.:]*\) .*/\1/p' "$work/daemon.out")"
    [[ -n "$server" ]] && return 0
    sleep 0.5
  done
  echo "daemon did not start" >&2; exit 1
}
client() { "$lancet" client --server "$server" "$@"; }
trap '[[ -n "$daemon_pid" ]] && kill -9 "$daemon_pid" 2> /dev/null || true' EXIT

start_daemon
# 1. load
if [[ "$parts" == *load* ]]; then
java -cp "actors/target/classes:$(cat actors/target/classpath.txt)" bench/DaemonLoad.java "$server" "$clients" \
  "$seconds" "$model" "$text" "$root/load" | sed 's/^{/{"figure":"load",/' | tee -a "$out"
fi

# 2. malformed requests: the status each gets (exit 2, one line)
if [[ "$parts" == *bad-input* ]]; then
# each request names its own flags once: picocli refuses a flag given twice before any call is made
base=(--calibration "$text" --eval "$text" --eval-seqlen 32 --out "$root/r1")
small=(--samples 2 --seqlen 32)
ln -sfn /tmp "$root/escape"
bad() {   # description, then the client command
  local what="$1"; shift
  local line; line="$(client "$@" 2>&1 > /dev/null | tail -1)" && true
  printf '{"figure":"bad-input","request":"%s","status":"%s"}\n' "$what" "$(sed 's/^lancet: \([A-Z_]*\):.*/\1/' <<< "$line")" | tee -a "$out"
}
bad "target 1.5" submit "${base[@]}" "${small[@]}" --model "$model" --target 1.5
bad "shots 0" submit "${base[@]}" "${small[@]}" --model "$model" --shots 0
bad "unknown method" submit "${base[@]}" "${small[@]}" --model "$model" --method obs
bad "sparsegpt with groups" submit "${base[@]}" "${small[@]}" --model "$model" --method sparsegpt
bad "seqlen beyond the model's positions" submit "${base[@]}" --model "$model" --samples 2 --seqlen 100000
bad "samples 2e9" submit "${base[@]}" --model "$model" --samples 2000000000 --seqlen 32
bad "model dir without config.json" submit "${base[@]}" "${small[@]}" --model "$root"
bad "missing model" submit "${base[@]}" "${small[@]}" --model "$root/missing"
bad "model /etc" submit "${base[@]}" "${small[@]}" --model /etc
bad "model root/../.." submit "${base[@]}" "${small[@]}" --model "$root/../.."
bad "out through a symlink leaving the root" submit --calibration "$text" --eval "$text" --eval-seqlen 32 \
  "${small[@]}" --model "$model" --out "$root/escape/x"
bad "calibration /etc/passwd" submit --eval "$text" --eval-seqlen 32 "${small[@]}" --model "$model" \
  --calibration /etc/passwd --out "$root/r1"
bad "status of an unknown job" status job-99999
bad "job id ../../etc" status ../../etc
bad "cancel of an unknown job" cancel job-99999
bad "reprune of an unknown job" reprune job-99999
bad "add-data samples 0" add-data --model "$model" --calibration "$text" --samples 0
bad "add-data sampling unknown" add-data --model "$model" --calibration "$text" --sampling every-other
bad "add-data file outside the roots" add-data --model "$model" --calibration /etc/hostname
printf 'not http/2 at all\r\n\r\n' | timeout 5 bash -c "cat > /dev/tcp/${server%:*}/${server#*:}" || true
head -c 65536 /dev/urandom | timeout 5 bash -c "cat > /dev/tcp/${server%:*}/${server#*:}" || true
client list > /dev/null && echo '{"figure":"bad-input","request":"64 KiB of random bytes, then a list call","status":"OK (list answered)"}' | tee -a "$out"
if [[ -e "$root/r1" ]]; then echo "a refused job wrote its output" >&2; exit 1; fi
fi

# 3. kill -9 at a random moment of a 4-shot job, restart, compare with `lancet prune`
if [[ "$parts" == *kill* ]]; then
kjob=(--model "$model" --calibration "$text" --eval "$text" --samples 4 --seqlen 32 --eval-seqlen 32 --eval-windows 2
      --method magnitude --structure unstructured --target 0.5 --shots 4)
"$lancet" prune "${kjob[@]}" --out "$work/reference" > /dev/null 2>&1
survived=0
for k in $(seq 1 "$kills"); do
  id="$(client submit "${kjob[@]}" --out "$root/kill-$k" --json | tail -1 | sed 's/.*"job":"\([^"]*\)".*/\1/')"
  sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.1f", 1 + 9 * rand() }')"
  kill -9 "$daemon_pid"; wait "$daemon_pid" 2> /dev/null || true
  : > "$work/daemon.out"; start_daemon
  client wait "$id" > /dev/null && cmp -s "$work/reference/model.safetensors" "$root/kill-$k/model.safetensors" \
    && survived=$((survived + 1))
done
echo "{\"figure\":\"kill-9\",\"tried\":$kills,\"identical\":$survived}" | tee -a "$out"
fi
kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""

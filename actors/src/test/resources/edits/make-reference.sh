#!/usr/bin/env bash
# Makes reference.json for EditCommandTest: each case is edited with `lancet edit`, then measured by the independent
# PyTorch loader (../shared/reference/refcheck.py reads every shape from the tensors, not from config.json).
# Needs Debian's python3-torch. Run from anywhere: bash actors/src/test/resources/edits/make-reference.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../../.." && pwd)"
refcheck="${REFCHECK:-$root/../shared/reference/refcheck.py}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
windows=48
cases=(
  'llama-heads-channels-block|assets/models/tiny-llama|--drop-heads 0:1 --drop-heads 2:0,5 --drop-kv-heads 1:3 --drop-channels 1:0-127 --drop-blocks 3'
  'opt-heads-channels-block|assets/models/tiny-opt|--drop-heads 1:2 --drop-channels 0:100-299,700 --drop-blocks 2'
)
echo "[" > "$work/out.json"
sep=""
for c in "${cases[@]}"; do
  IFS='|' read -r name model flags <<< "$c"
  # shellcheck disable=SC2086
  "$root/lancet" edit --model "$root/$model" --out "$work/$name" $flags >&2
  ppl="$(/usr/bin/python3 "$refcheck" ppl "$work/$name" "$root/assets/data/brown/brown.valid.txt" 128 "$windows")"
  params="$(/usr/bin/python3 "$refcheck" params "$work/$name")"
  flags_json="$(printf '%s\n' $flags | /usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().split()))')"
  /usr/bin/python3 - "$name" "$model" "$flags_json" "$ppl" "$params" "$windows" >> "$work/out.json" <<PY
import json, sys
name, model, flags, ppl, params, windows = sys.argv[1:]
ppl, params = json.loads(ppl), json.loads(params)
print("$sep" + json.dumps({"name": name, "model": model, "flags": json.loads(flags), "windows": int(windows),
    "perplexity": ppl["perplexity"], "tokens": ppl["tokens"], "params": params["params"]}))
PY
  sep=","
done
echo "]" >> "$work/out.json"
/usr/bin/python3 -m json.tool "$work/out.json" > "$root/actors/src/test/resources/edits/reference.json"
echo "wrote actors/src/test/resources/edits/reference.json" >&2

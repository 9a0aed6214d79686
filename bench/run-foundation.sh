#!/usr/bin/env bash
# Reproduces the "Foundation" figures of BENCHMARKS.md: raw sgemm rate, Lancet vs PyTorch forward/train
# tokens/s at 8x128 on 2 threads (tiny-llama, tiny-opt, 125M OPT, 125M Llama; also qwen2-125m and
# opt-125m-post-norm when named in MODELS), each under the environment
# as it is and under `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`, and peak RSS of `lancet eval` on the
# 125M F16 checkpoints. Prints every command it runs, appends JSON lines to bench/results/*.jsonl and ends
# with the markdown tables.
#
#   bench/run-foundation.sh                 # 1 repetition: about 13-15 min on an idle 2-vCPU VM
#   REPS=3 bench/run-foundation.sh          # what BENCHMARKS.md reports (about 35-40 min)
#   SECTIONS=throughput MODELS=tiny-llama,tiny-opt REPS=3 bench/run-foundation.sh   # a subset
#   LANCET=/path/to/launcher bench/run-foundation.sh   # another launcher (default ./lancet)
#   QUIET_WAIT=120 REPS=3 bench/run-foundation.sh   # before each command wait up to 120 s for a quiet machine
#   /usr/bin/python3 bench/foundation.py table bench/results/FILE.jsonl   # tables of earlier results
#
# Needs: a built Lancet (./lancet builds on first use), Debian's python3-torch under /usr/bin/python3,
# /usr/bin/time. The 125M checkpoints are synthesized into /tmp/opt-125m, /tmp/llama-125m, /tmp/qwen2-125m and
# /tmp/opt-125m-post-norm (OPT125, LLAMA125, QWEN125, OPTPOST125 override) if missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
"${LANCET:-./lancet}" --help > /dev/null   # build first (./lancet builds when sources changed), not inside a measurement
exec /usr/bin/python3 bench/foundation.py run --reps "${REPS:-1}" \
  --sections "${SECTIONS:-gemm,throughput,memory}" \
  --models "${MODELS:-tiny-llama,tiny-opt,opt-125m,llama-125m}" ${OUT:+--out "$OUT"}

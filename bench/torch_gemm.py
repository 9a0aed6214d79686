#!/usr/bin/env python3
"""Raw fp32 GEMM rate of Debian's torch (OpenBLAS 0.3.21), for BENCHMARKS.md.
  /usr/bin/python3 bench/torch_gemm.py [n] [threads] [iters]
Prints one JSON line: median GFLOP/s of an n x n x n torch.mm and the OPENBLAS_CORETYPE it ran under."""
import json, os, statistics, sys, time
n, threads, iters = (int(a) for a in (sys.argv[1:] + ["2048", "2", "5"][len(sys.argv) - 1:])[:3])
os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(threads)  # before import, as in torch_baseline.py
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch
torch.set_num_threads(threads)
a, b = torch.randn(n, n, generator=torch.Generator().manual_seed(0)), torch.randn(n, n)
for _ in range(2): torch.mm(a, b)
ts = []
for _ in range(iters):
    t = time.perf_counter(); torch.mm(a, b); ts.append(time.perf_counter() - t)
print(json.dumps({"what": "sgemm", "impl": "torch-" + torch.__version__, "n": n, "threads": threads,
                  "gflops": round(2 * n ** 3 / statistics.median(ts) / 1e9, 1),
                  "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset")}))

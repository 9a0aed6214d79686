#!/usr/bin/env python3
"""PyTorch CPU baseline for Lancet's LoRA training rate (BENCHMARKS.md, "LoRA recovery"): the same decoder as
torch_baseline.py (plain torch, HF names), every decoder linear layer wrapped in a PEFT-style LoRA adapter
(y = W x + (alpha/r) B A dropout(x), A ~ U(±1/sqrt(in)), B = 0), base weights frozen, AdamW on the adapters,
causal-LM mean loss; one optimizer step = --accumulate forward/backward passes of --batch windows.

  /usr/bin/python3 bench/lora_torch.py --model DIR --batch 4 --accumulate 2 --seqlen 128 --rank 8 --threads 2

Prints one JSON line: training tokens/s (median step time of --iters steps after --warmup untimed ones) and the
median CPU seconds per step (all threads), which a loaded machine distorts less.
Token ids are random: the work does not depend on them.
Use Debian's interpreter (/usr/bin/python3): that is where python3-torch is installed.
"""
import argparse, json, os, statistics, sys, time

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--model", required=True)
p.add_argument("--batch", type=int, default=4)
p.add_argument("--accumulate", type=int, default=2)
p.add_argument("--seqlen", type=int, default=128)
p.add_argument("--rank", type=int, default=8)
p.add_argument("--alpha", type=float, default=16)
p.add_argument("--dropout", type=float, default=0.05)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--iters", type=int, default=5)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--random-init", action="store_true")
ARGS = p.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch, torch.nn as nn, torch.nn.functional as F  # noqa: E402
from torch_baseline import build_model, blas_info, HAVE_SDPA  # noqa: E402


class LoraLinear(nn.Module):
    def __init__(s, base, r, alpha, dropout):
        super().__init__()
        s.base = base
        s.A = nn.Parameter(torch.empty(r, base.in_features).uniform_(-base.in_features ** -0.5, base.in_features ** -0.5))
        s.B = nn.Parameter(torch.zeros(base.out_features, r))
        s.scale = alpha / r
        s.drop = nn.Dropout(dropout)

    def forward(s, x):
        return s.base(x) + (s.drop(x) @ s.A.t() @ s.B.t()) * s.scale


def wrap(module, r, alpha, dropout):
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear):
            setattr(module, name, LoraLinear(child, r, alpha, dropout))
        else:
            wrap(child, r, alpha, dropout)


def main():
    torch.set_num_threads(ARGS.threads)
    m, c, loaded = build_model(ARGS.model, ARGS.random_init)
    for q in m.parameters():
        q.requires_grad_(False)
    layers = m.model.decoder.layers if hasattr(m.model, "decoder") else m.model.layers
    wrap(layers, ARGS.rank, ARGS.alpha, ARGS.dropout)
    m.train()
    trainable = [q for q in m.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.0)
    impl = "sdpa" if HAVE_SDPA else "matmul"
    V = c["vocab_size"]
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, V, (ARGS.batch, ARGS.seqlen), generator=g) for _ in range(ARGS.accumulate)]

    def step():
        opt.zero_grad(set_to_none=True)
        for ids in batches:
            lg = m(ids, impl)
            loss = F.cross_entropy(lg[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1)) / ARGS.accumulate
            loss.backward()
        opt.step()

    for _ in range(ARGS.warmup):
        step()
    times, cpu = [], []
    for _ in range(ARGS.iters):
        t0, c0 = time.perf_counter(), time.process_time(); step()
        times.append(time.perf_counter() - t0); cpu.append(time.process_time() - c0)
    med = statistics.median(times)
    tokens = ARGS.batch * ARGS.accumulate * ARGS.seqlen
    print(json.dumps({"mode": "lora-train", "tokens_per_second": round(tokens / med, 1), "seconds_per_step": round(med, 4),
                      "cpu_seconds_per_step": round(statistics.median(cpu), 4),
                      "batch": ARGS.batch, "accumulate": ARGS.accumulate, "seqlen": ARGS.seqlen, "rank": ARGS.rank,
                      "trainable_params": sum(q.numel() for q in trainable), "threads": ARGS.threads,
                      "model": os.path.basename(os.path.normpath(ARGS.model)), "weights": "safetensors" if loaded else "random",
                      "attn": impl, "torch": torch.__version__, "blas": blas_info(), "iters": ARGS.iters}), flush=True)


if __name__ == "__main__":
    main()

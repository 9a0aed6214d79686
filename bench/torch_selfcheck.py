#!/usr/bin/env python3
"""Correctness check for bench/torch_baseline.py against the independent fp64 reference
(shared/reference/refcheck.py, functional HF-semantics forward).

  /usr/bin/python3 bench/torch_selfcheck.py [MODEL_DIR ...] [--reference DIR]

For each model directory: fp32 logits of the first-32-token window stored in reference.json
(`logits_first32_valid.ids`) versus (a) refcheck.forward in fp64 on the same ids, all positions and
vocabulary entries, and (b) the stored top-5 logits / logsumexp. Then, with random weights, a Llama
with GQA and tied embeddings and an OPT: logits and the gradients of the summed next-token NLL of
every parameter versus refcheck in fp64. Exits non-zero when a difference exceeds --tol.
"""
import argparse, json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch, torch.nn.functional as F
import torch_baseline as tb


def nll(lg, ids):
    return F.cross_entropy(lg[:, :-1].reshape(-1, lg.shape[-1]), ids[:, 1:].reshape(-1), reduction="sum")


def compare(rc, m, c, ids, impls, grads=False):
    """Max abs differences of our fp32 logits (and optionally grads) versus refcheck's fp64."""
    t = {k: v.detach().double().clone() for k, v in m.state_dict().items()}
    if grads:
        for v in t.values(): v.requires_grad_(True)
    ref = rc.forward(c, t, ids)
    out = {}
    for impl in impls:
        m.zero_grad(set_to_none=True)
        lg = m(ids, impl)
        out[f"logits_maxabs_{impl}"] = (lg.detach().double() - ref.detach()).abs().max().item()
        if grads:
            nll(lg, ids).backward()
    if grads:
        nll(ref, ids).backward()
        # relative to the tensor's gradient norm, floored (the k_proj bias gradient is exactly zero in theory)
        floor = 1e-3 * max(v.grad.norm().item() for v in t.values())
        rel = {k: (p.grad.double() - t[k].grad).norm().item() / max(t[k].grad.norm().item(), floor)
               for k, p in m.named_parameters() if k in t}
        out["grad_max_rel_err"] = max(rel.values()); out["grad_worst"] = max(rel, key=rel.get)
    out["ref_logit_absmax"] = ref.detach().abs().max().item()
    return out, ref.detach()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("models", nargs="*", default=["/work/shared/models/tiny-llama", "/work/shared/models/tiny-opt"])
    p.add_argument("--reference", default="/work/shared/reference")
    p.add_argument("--tol", type=float, default=1e-3)
    a = p.parse_args()
    sys.path.insert(0, a.reference)
    import refcheck as rc
    torch.set_num_threads(2)
    impls = ["matmul"] + (["sdpa"] if tb.HAVE_SDPA else [])
    ok = True

    for d in a.models:
        m, c, loaded = tb.build_model(d)
        assert loaded, f"{d}: no model.safetensors"
        rj = json.load(open(os.path.join(d, "reference.json")))["logits_first32_valid"]
        ids = torch.tensor(rj["ids"])[None]
        with torch.no_grad():
            res, _ = compare(rc, m, c, ids, impls)
            lg = m(ids)[0]
        stored = 0.0
        for pos, r in rj["positions"].items():
            v, i = lg[int(pos)].topk(5)
            if i.tolist() != r["top5_ids"]: print(f"  {d} pos {pos}: top5 ids {i.tolist()} != {r['top5_ids']}"); ok = False
            stored = max(stored, (v - torch.tensor(r["top5_logits"])).abs().max().item(),
                         abs(torch.logsumexp(lg[int(pos)], 0).item() - r["logsumexp"]))
        res["stored_top5_logsumexp_maxabs"] = stored
        ok &= max(x for k, x in res.items() if "maxabs" in k) < a.tol
        print(json.dumps({"model": d, "tokens": ids.shape[1], **res}))

    # random weights, shapes the shipped models do not exercise (GQA, tied Llama head), with gradients
    torch.manual_seed(0)
    synth = {
        "llama-gqa-tied": {"model_type": "llama", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 160,
                           "num_attention_heads": 8, "num_key_value_heads": 2, "num_hidden_layers": 2,
                           "rms_norm_eps": 1e-6, "rope_theta": 500000.0, "tie_word_embeddings": True},
        "opt": {"model_type": "opt", "vocab_size": 512, "hidden_size": 64, "ffn_dim": 256, "num_attention_heads": 4,
                "num_hidden_layers": 2, "max_position_embeddings": 64, "word_embed_proj_dim": 64},
    }
    import tempfile
    for name, c in synth.items():
        with tempfile.TemporaryDirectory() as d:
            json.dump(c, open(os.path.join(d, "config.json"), "w"))
            m, c, _ = tb.build_model(d, seed=1)
        with torch.no_grad():  # non-trivial norms/biases so their handling is tested too
            for k, v in m.named_parameters():
                if v.dim() == 1: v.add_(torch.randn_like(v) * 0.1)
        ids = torch.randint(0, c["vocab_size"], (3, 40))
        res, _ = compare(rc, m, c, ids, impls, grads=True)
        ok &= max(x for k, x in res.items() if "maxabs" in k) < a.tol and res["grad_max_rel_err"] < a.tol
        print(json.dumps({"model": f"random {name}", **res}))
    print("OK" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch CPU baseline for BENCHMARKS.md: forward / training-step throughput of an OPT (pre- or
post-LayerNorm, with or without project_in/out) or Llama-family (model_type llama, qwen2, mistral) decoder,
built here in plain torch with Hugging Face semantics and parameter names (no `transformers`).
rope_scaling and Mistral's sliding window are ignored: they change RoPE's tables and the mask, not the work.

  /usr/bin/python3 bench/torch_baseline.py --model DIR --batch 8 --seqlen 128 --threads 2
      --iters 10 --warmup 3 --mode both [--grad-linear-only]

Prints one JSON line per mode. Weights come from DIR/model.safetensors (F16/BF16/F32, read by hand)
when present, otherwise random init (std 0.02). Compute is fp32. Attention is explicit
matmul + additive causal mask + softmax unless F.scaled_dot_product_attention exists (torch >= 2.0)
and --attn is left at auto; the JSON's "attn" field says which ran. Timings are the median
of --iters timed iterations after --warmup untimed ones.
Use Debian's interpreter (/usr/bin/python3): that is where python3-torch is installed.
"""
import argparse, json, os, re, statistics, struct, sys, time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="HF-format directory with config.json [and model.safetensors]")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seqlen", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--mode", choices=["forward", "train", "both"], default="both")
    p.add_argument("--dtype", choices=["fp32"], default="fp32")
    p.add_argument("--attn", choices=["auto", "matmul", "sdpa"], default="auto")
    p.add_argument("--grad-linear-only", action="store_true",
                   help="only decoder-layer linear weights/biases require grad (like Lancet's engine)")
    p.add_argument("--random-init", action="store_true", help="ignore model.safetensors")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


if __name__ == "__main__":
    ARGS = parse_args()
    # Debian's torch runs GEMMs on OpenBLAS's own pthread pool, which torch.set_num_threads does not size:
    # pin it before import. Torch's OpenMP workers spin-wait between parallel regions by default and then
    # fight OpenBLAS's threads for the cores (on 2 cores that made steps 2-4x slower and very noisy), so
    # let them sleep unless the caller chose otherwise.
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

HAVE_SDPA = hasattr(F, "scaled_dot_product_attention")


# ---------------------------------------------------------------- attention
def causal_attention(q, k, v, impl):
    """q [B,H,T,hd], k/v [B,KV,T,hd] -> [B,T,H*hd]; GQA by repeating k/v heads."""
    B, H, T, hd = q.shape
    if k.shape[1] != H:
        k = k.repeat_interleave(H // k.shape[1], 1); v = v.repeat_interleave(H // v.shape[1], 1)
    if impl == "sdpa":
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:
        mask = torch.full((T, T), float("-inf"), dtype=q.dtype).triu(1)
        a = torch.softmax(q @ k.transpose(-1, -2) * (hd ** -0.5) + mask, -1) @ v
    return a.transpose(1, 2).reshape(B, T, H * hd)


# ---------------------------------------------------------------- OPT
# Module tree mirrors HF OPTForCausalLM, so state_dict() keys are the HF names (model.decoder.*).
class OPTAttention(nn.Module):
    def __init__(s, d, H, bias):
        super().__init__(); s.H = H
        s.q_proj, s.k_proj, s.v_proj, s.out_proj = (nn.Linear(d, d, bias=bias) for _ in range(4))

    def forward(s, x, impl):
        B, T, d = x.shape; hd = d // s.H
        q, k, v = (p(x).view(B, T, s.H, hd).transpose(1, 2) for p in (s.q_proj, s.k_proj, s.v_proj))
        return s.out_proj(causal_attention(q, k, v, impl))


class OPTLayer(nn.Module):
    def __init__(s, c):
        super().__init__(); d = c["hidden_size"]; bias = c.get("enable_bias", True)
        s.pre = c.get("do_layer_norm_before", True)
        s.act = {"relu": F.relu, "gelu": F.gelu}[c.get("activation_function", "relu")]
        s.self_attn = OPTAttention(d, c["num_attention_heads"], bias)
        s.self_attn_layer_norm = nn.LayerNorm(d, eps=1e-5)
        s.fc1 = nn.Linear(d, c["ffn_dim"], bias=bias); s.fc2 = nn.Linear(c["ffn_dim"], d, bias=bias)
        s.final_layer_norm = nn.LayerNorm(d, eps=1e-5)

    def forward(s, h, impl):
        x = s.self_attn_layer_norm(h) if s.pre else h
        h = h + s.self_attn(x, impl)
        if not s.pre: h = s.self_attn_layer_norm(h)
        x = s.final_layer_norm(h) if s.pre else h
        h = h + s.fc2(s.act(s.fc1(x)))
        return h if s.pre else s.final_layer_norm(h)


class OPTDecoder(nn.Module):
    def __init__(s, c):
        super().__init__(); d = c["hidden_size"]; e = c.get("word_embed_proj_dim", d)
        s.embed_tokens = nn.Embedding(c["vocab_size"], e)
        s.embed_positions = nn.Embedding(c["max_position_embeddings"] + 2, d)  # HF offset of 2
        s.project_in = nn.Linear(e, d, bias=False) if e != d else None
        s.project_out = nn.Linear(d, e, bias=False) if e != d else None
        s.layers = nn.ModuleList(OPTLayer(c) for _ in range(c["num_hidden_layers"]))
        keep = c.get("do_layer_norm_before", True) and not c.get("_remove_final_layer_norm", False)
        s.final_layer_norm = nn.LayerNorm(d, eps=1e-5) if keep else None


class OPTForCausalLM(nn.Module):
    def __init__(s, c):
        super().__init__(); s.model = nn.Module(); s.model.decoder = OPTDecoder(c)

    def forward(s, ids, impl="matmul"):
        D = s.model.decoder; T = ids.shape[1]
        h = D.embed_tokens(ids)
        if D.project_in is not None: h = D.project_in(h)
        h = h + D.embed_positions(torch.arange(T) + 2)[None]
        for L in D.layers: h = L(h, impl)
        if D.final_layer_norm is not None: h = D.final_layer_norm(h)
        if D.project_out is not None: h = D.project_out(h)
        return F.linear(h, D.embed_tokens.weight)  # LM head tied to embed_tokens


# ---------------------------------------------------------------- Llama
class RMSNorm(nn.Module):
    def __init__(s, d, eps):
        super().__init__(); s.weight = nn.Parameter(torch.ones(d)); s.eps = eps

    def forward(s, x):
        return s.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + s.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), -1)


class LlamaAttention(nn.Module):
    def __init__(s, c):
        super().__init__(); d = c["hidden_size"]; b = c.get("attention_bias", False)
        qkv_b = b or c["model_type"] == "qwen2"  # Qwen2: q/k/v biases always, none on o
        s.H, s.KV = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
        s.hd = c.get("head_dim") or d // s.H
        s.q_proj = nn.Linear(d, s.H * s.hd, bias=qkv_b); s.k_proj = nn.Linear(d, s.KV * s.hd, bias=qkv_b)
        s.v_proj = nn.Linear(d, s.KV * s.hd, bias=qkv_b); s.o_proj = nn.Linear(s.H * s.hd, d, bias=b)

    def forward(s, x, cos, sin, impl):
        B, T, _ = x.shape
        q = s.q_proj(x).view(B, T, s.H, s.hd).transpose(1, 2)
        k = s.k_proj(x).view(B, T, s.KV, s.hd).transpose(1, 2)
        v = s.v_proj(x).view(B, T, s.KV, s.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin; k = k * cos + rotate_half(k) * sin
        return s.o_proj(causal_attention(q, k, v, impl))


class LlamaMLP(nn.Module):
    def __init__(s, c):
        super().__init__(); d, m, b = c["hidden_size"], c["intermediate_size"], c.get("mlp_bias", False)
        s.gate_proj = nn.Linear(d, m, bias=b); s.up_proj = nn.Linear(d, m, bias=b); s.down_proj = nn.Linear(m, d, bias=b)

    def forward(s, x):
        return s.down_proj(F.silu(s.gate_proj(x)) * s.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(s, c):
        super().__init__(); d, eps = c["hidden_size"], c.get("rms_norm_eps", 1e-6)
        s.input_layernorm = RMSNorm(d, eps); s.self_attn = LlamaAttention(c)
        s.post_attention_layernorm = RMSNorm(d, eps); s.mlp = LlamaMLP(c)

    def forward(s, h, cos, sin, impl):
        h = h + s.self_attn(s.input_layernorm(h), cos, sin, impl)
        return h + s.mlp(s.post_attention_layernorm(h))


class LlamaForCausalLM(nn.Module):
    def __init__(s, c):
        super().__init__(); d = c["hidden_size"]; s.c = c
        s.model = nn.Module()
        s.model.embed_tokens = nn.Embedding(c["vocab_size"], d)
        s.model.layers = nn.ModuleList(LlamaLayer(c) for _ in range(c["num_hidden_layers"]))
        s.model.norm = RMSNorm(d, c.get("rms_norm_eps", 1e-6))
        s.lm_head = None if c.get("tie_word_embeddings", False) else nn.Linear(d, c["vocab_size"], bias=False)

    def forward(s, ids, impl="matmul"):
        T = ids.shape[1]; hd = s.model.layers[0].self_attn.hd
        inv = 1.0 / (s.c.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        fr = torch.outer(torch.arange(T).float(), inv); emb = torch.cat((fr, fr), -1)
        cos, sin = emb.cos(), emb.sin()
        h = s.model.embed_tokens(ids)
        for L in s.model.layers: h = L(h, cos, sin, impl)
        h = s.model.norm(h)
        return F.linear(h, s.model.embed_tokens.weight if s.lm_head is None else s.lm_head.weight)


# ---------------------------------------------------------------- loading
def read_safetensors(path):
    """{name: fp32 tensor} from a .safetensors file (F32/F16/BF16), parsed with struct + json + numpy."""
    raw = open(path, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n]); base = 8 + n; out = {}
    for name, m in header.items():
        if name == "__metadata__": continue
        a, b = m["data_offsets"]; buf = raw[base + a:base + b]; dt = m["dtype"]
        if dt == "F32": arr = np.frombuffer(buf, dtype="<f4").astype(np.float32)
        elif dt == "F16": arr = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif dt == "BF16": arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else: raise ValueError(f"{name}: unsupported dtype {dt}")
        out[name] = torch.from_numpy(arr.reshape(m["shape"]))
    return out


def build_model(model_dir, random_init=False, seed=0):
    """Returns (model, config, loaded: bool). Parameters are fp32."""
    c = json.load(open(os.path.join(model_dir, "config.json")))
    torch.manual_seed(seed)
    m = {"opt": OPTForCausalLM, "llama": LlamaForCausalLM, "qwen2": LlamaForCausalLM,
         "mistral": LlamaForCausalLM}[c["model_type"]](c)
    with torch.no_grad():  # HF-style init: normal(0, 0.02) for linears/embeddings, zero biases, unit norms
        for name, p in m.named_parameters():
            if p.dim() == 2: p.normal_(0.0, c.get("init_std", c.get("initializer_range", 0.02)))
            elif name.endswith(".bias"): p.zero_()
    st = os.path.join(model_dir, "model.safetensors")
    if random_init or not os.path.exists(st):
        return m, c, False
    own = m.state_dict(); sd = {}
    for k, v in read_safetensors(st).items():
        key = k if k in own else "model." + k  # checkpoints with and without the "model." prefix
        if key not in own:
            if k == "lm_head.weight": continue  # tied head stored explicitly
            raise KeyError(f"unexpected tensor {k}")
        if tuple(v.shape) != tuple(own[key].shape):
            raise ValueError(f"{k}: shape {tuple(v.shape)} != {tuple(own[key].shape)}")
        sd[key] = v
    missing = set(own) - set(sd)
    if missing: raise KeyError(f"missing tensors: {sorted(missing)[:5]}")
    m.load_state_dict(sd)
    return m, c, True


def decoder_linear_params(m):
    layers = m.model.decoder.layers if hasattr(m.model, "decoder") else m.model.layers
    return [p for mod in layers.modules() if isinstance(mod, nn.Linear) for p in mod.parameters()]


def blas_info():
    """Excerpt of torch.__config__.show() about BLAS, plus the BLAS libraries actually mapped."""
    cfg = torch.__config__.show()
    parts = re.findall(r"\b(?:BLAS_INFO|LAPACK_INFO|USE_MKL|USE_MKLDNN|USE_OPENMP)=\w+", cfg)
    parts += [l.strip("- ").strip() for l in cfg.splitlines() if "LAPACK is" in l or "MKL-DNN" in l or "Math Kernel" in l]
    loaded = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower() and "/" in l})
    return "; ".join(parts) + "; loaded: " + ", ".join(loaded)


# ---------------------------------------------------------------- benchmark
def bench(args):
    torch.set_num_threads(args.threads)
    m, c, loaded = build_model(args.model, args.random_init, args.seed)
    impl = ("sdpa" if HAVE_SDPA else "matmul") if args.attn == "auto" else args.attn
    if impl == "sdpa" and not HAVE_SDPA: sys.exit(f"torch {torch.__version__} has no scaled_dot_product_attention")
    g = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(0, c["vocab_size"], (args.batch, args.seqlen), generator=g)
    V = c["vocab_size"]
    if args.grad_linear_only:
        for p in m.parameters(): p.requires_grad_(False)
        for p in decoder_linear_params(m): p.requires_grad_(True)
    trainable = [p for p in m.parameters() if p.requires_grad]

    def fwd():
        with torch.inference_mode():
            return m(ids, impl)

    def train():
        for p in trainable: p.grad = None
        lg = m(ids, impl)
        loss = F.cross_entropy(lg[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1), reduction="sum")
        loss.backward()

    modes = ["forward", "train"] if args.mode == "both" else [args.mode]
    common = {"batch": args.batch, "seqlen": args.seqlen, "threads": args.threads, "torch": torch.__version__,
              "blas": blas_info(), "model": os.path.basename(os.path.normpath(args.model)),
              "model_type": c["model_type"], "weights": "safetensors" if loaded else "random",
              "attn": impl, "dtype": args.dtype, "iters": args.iters, "warmup": args.warmup,
              "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY")}}
    for mode in modes:
        step = fwd if mode == "forward" else train
        for _ in range(args.warmup): step()
        times = []
        for _ in range(args.iters):
            t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        rec = {"mode": mode, "tokens_per_second": round(args.batch * args.seqlen / med, 1),
               "seconds_per_iter": round(med, 6), **common}
        if mode == "train":
            rec["grad"] = "decoder-linear-only" if args.grad_linear_only else "all"
            rec["trainable_params"] = sum(p.numel() for p in trainable)
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    bench(ARGS)

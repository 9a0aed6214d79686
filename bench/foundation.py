#!/usr/bin/env python3
"""Driver behind bench/run-foundation.sh: the "Foundation" figures of BENCHMARKS.md.

  /usr/bin/python3 bench/foundation.py run  [--reps N] [--sections gemm,throughput,memory] [--models a,b] [--out F]
  /usr/bin/python3 bench/foundation.py table FILE.jsonl     # markdown tables of a results file

Every measured command is printed (prefixed "$ ") exactly as it is run, from the repository root, and every
JSON line it prints is appended to the results file with what the driver knows about the run:
  rep, config ("asis": the environment as it is; "native": the same command under
  `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`), impl, variant, cmd, wall_s, loadavg1 (at start) and
  quiet_wait_s/busy_before (with QUIET_WAIT=S in the environment, each command first waits up to S seconds
  for a 2 s window in which the machine is < 10% busy) and foreign_cpu: the share of the machine's CPU time that went to processes other than the command (and its
  children) while it ran, from /proc/stat minus the command's own rusage. Other sandboxes' processes are
  invisible to ps here but do show up in /proc/stat; runs with foreign_cpu > 0.15 are flagged "loaded".

Throughput runs are interleaved: per repetition, per model, per config: Lancet, then torch (all parameters
train), then torch (decoder linear weights only train, like Lancet).
"""
import argparse, datetime, json, os, re, resource, shlex, signal, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"  # Debian's interpreter: python3-torch lives there, not in pyenv
LANCET = os.environ.get("LANCET", "./lancet")
NATIVE = ["env", "-u", "OPENBLAS_CORETYPE", "-u", "OPENBLAS_L2_SIZE"]
CONFIGS = {"asis": [], "native": NATIVE}
LOADED = 0.15
OPT125 = os.environ.get("OPT125", "/tmp/opt-125m")
LLAMA125 = os.environ.get("LLAMA125", "/tmp/llama-125m")
QWEN125 = os.environ.get("QWEN125", "/tmp/qwen2-125m")
OPTPOST125 = os.environ.get("OPTPOST125", "/tmp/opt-125m-post-norm")
SYNTH = {
    OPT125: [LANCET, "synth", "--arch", "opt", "--hidden", "768", "--layers", "12", "--heads", "12",
             "--intermediate", "3072", "--vocab", "50272", "--max-positions", "2048", "--out", OPT125],
    LLAMA125: [LANCET, "synth", "--arch", "llama", "--hidden", "768", "--layers", "12", "--heads", "12",
               "--kv-heads", "4", "--intermediate", "2048", "--vocab", "32000", "--max-positions", "2048",
               "--out", LLAMA125],
    # the Llama 125M shape with Qwen2's q/k/v biases
    QWEN125: [LANCET, "synth", "--arch", "qwen2", "--hidden", "768", "--layers", "12", "--heads", "12",
              "--kv-heads", "4", "--intermediate", "2048", "--vocab", "32000", "--max-positions", "2048",
              "--out", QWEN125],
    # the OPT 125M shape wired as opt-350m: post-LayerNorm, 512-wide embedding with project_in/out
    OPTPOST125: [LANCET, "synth", "--arch", "opt", "--post-norm", "--embed-dim", "512", "--hidden", "768",
                 "--layers", "12", "--heads", "12", "--intermediate", "3072", "--vocab", "50272",
                 "--max-positions", "2048", "--out", OPTPOST125],
}
# name -> (directory, timed iterations, warmup iterations)
MODELS = {
    "tiny-llama": ("assets/models/tiny-llama", 10, 2),
    "tiny-opt": ("assets/models/tiny-opt", 10, 2),
    "opt-125m": (OPT125, 3, 1),
    "llama-125m": (LLAMA125, 3, 1),
    "qwen2-125m": (QWEN125, 3, 1),
    "opt-125m-post-norm": (OPTPOST125, 3, 1),
}
BATCH, SEQLEN, THREADS = 8, 128, 2


def busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


QUIET_WAIT = float(os.environ.get("QUIET_WAIT", "0"))


def wait_quiet(max_wait):
    """Waits (at most max_wait s) until other processes use < 10% of the machine over a 2 s probe."""
    t0, probe = time.time(), None
    while True:
        b0 = busy_seconds()
        time.sleep(2)
        probe = (busy_seconds() - b0) / (2 * os.cpu_count())
        if probe < 0.10 or time.time() - t0 >= max_wait:
            return round(time.time() - t0, 1), round(probe, 3)


def run(cmd, timeout=900, env=None):
    """Runs cmd (list) from the repo root; returns (stdout, stderr, rc, facts)."""
    waited, probe = wait_quiet(QUIET_WAIT) if QUIET_WAIT > 0 else (0, None)
    print("$ " + shlex.join(cmd), flush=True)
    load1 = float(open("/proc/loadavg").read().split()[0])
    b0, r0, t0 = busy_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the process group this driver started for cmd
        out, err = p.communicate()
        err += f"\n[foundation.py: killed after {timeout}s]"
    wall = time.time() - t0
    r1, b1 = resource.getrusage(resource.RUSAGE_CHILDREN), busy_seconds()
    mine = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    foreign = max(0.0, (b1 - b0) - mine) / (wall * os.cpu_count())
    facts = {"wall_s": round(wall, 2), "loadavg1": load1, "foreign_cpu": round(foreign, 3),
             "quiet_wait_s": waited, "busy_before": probe, "cmd": shlex.join(cmd)}
    if p.returncode != 0:
        print(f"  rc={p.returncode}: {err.strip()[-2000:]}", flush=True)
    return out, err, p.returncode, facts


def json_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


class Sink:
    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def add(self, rec):
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        short = {k: rec.get(k) for k in ("section", "model", "config", "impl", "variant", "mode",
                                          "tokens_per_second", "gflops", "max_rss_kb", "foreign_cpu")}
        print("  " + json.dumps({k: v for k, v in short.items() if v is not None}), flush=True)


def ensure_synth(sink, dirs):
    for d, cmd in SYNTH.items():
        if d not in dirs:
            continue
        if not os.path.exists(os.path.join(d, "model.safetensors")):
            out, err, rc, facts = run(cmd)
            if rc != 0:
                sys.exit(f"synth failed: {err.strip()[-500:]}")
        tok = os.path.join(d, "tokenizer.json")
        if not os.path.exists(tok):  # eval needs one; ids of this 4096-token BPE fit in both vocabularies
            subprocess.run(["cp", os.path.join(ROOT, "assets/models/tiny-llama/tokenizer.json"), tok], check=True)


def classpath():
    for f in (os.environ.get("LANCET_CLASSPATH_FILE", ""), os.path.join(os.path.dirname(LANCET), "classpath.txt"),
              os.path.join(ROOT, "actors/target/classpath.txt")):
        if f and os.path.isfile(f):
            return open(f).read().strip()
    sys.exit("no classpath file: run ./lancet --help once to build")


def gemm(sink, rep):
    for cfg, pre in CONFIGS.items():
        for impl, cmd in (("torch", [PY, "bench/torch_gemm.py", "2048", str(THREADS), "5"]),
                          ("lancet-openblas", ["java", "-cp", classpath(), "bench/GemmRate.java", "2048",
                                               str(THREADS), "5"])):
            out, err, rc, facts = run(pre + cmd, timeout=300)
            if cmd[0] == "java":  # record the command as one would type it
                facts["cmd"] = shlex.join(pre + cmd[:2]) + ' "$(cat actors/target/classpath.txt)" ' + shlex.join(cmd[3:])
            for rec in json_lines(out):
                sink.add({"section": "gemm", "rep": rep, "config": cfg, **rec, **facts, "impl": impl})


def throughput(sink, rep, models):
    cfgs = list(CONFIGS.items())
    if rep % 2 == 0:
        cfgs.reverse()  # alternate which config goes first
    for name in models:
        d, iters, warm = MODELS[name]
        common = ["--batch", str(BATCH), "--seqlen", str(SEQLEN), "--iters", str(iters), "--warmup", str(warm)]
        runs = [("lancet", "both", [LANCET, "bench", "--model", d] + common + ["--mode", "both"]),
                ("torch", "both", [PY, "bench/torch_baseline.py", "--model", d, "--threads", str(THREADS)]
                 + common + ["--mode", "both"]),
                ("torch", "train-linear-only", [PY, "bench/torch_baseline.py", "--model", d, "--threads",
                                                str(THREADS)] + common + ["--mode", "train", "--grad-linear-only"])]
        for cfg, pre in cfgs:
            for impl, variant, cmd in runs:
                out, err, rc, facts = run(pre + cmd)
                recs = json_lines(out)
                if not recs:
                    sink.add({"section": "throughput", "rep": rep, "model": name, "config": cfg, "impl": impl,
                              "variant": variant, "error": err.strip()[-500:], **facts})
                for rec in recs:
                    v = variant
                    if impl == "torch" and variant == "both":
                        v = "train-all" if rec["mode"] == "train" else "forward"
                    elif impl == "lancet":
                        v = "train-linear-only" if rec["mode"] == "train" else "forward"
                    rec.pop("model", None)
                    sink.add({"section": "throughput", "rep": rep, "model": name, "config": cfg,
                              "impl": impl, "variant": v, **rec, **facts})


def params(d):
    """Parameter count from the safetensors header."""
    with open(os.path.join(d, "model.safetensors"), "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    total = 0
    for k, m in header.items():
        if k != "__metadata__":
            c = 1
            for s in m["shape"]:
                c *= s
            total += c
    return total


def memory(sink):
    data = "assets/data/brown/brown.valid.txt"
    for d in (OPT125, LLAMA125):  # loading alone: the command reports its own VmHWM after Transformer.load
        cmd = ["/usr/bin/time", "-v", LANCET, "bench", "--model", d, "--mode", "load"]
        out, err, rc, facts = run(cmd)
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
        rss = int(m.group(1)) if m else None
        p = params(os.path.join(ROOT, d))
        for rec in json_lines(out) or [{}]:
            rec.pop("model", None)
            sink.add({"section": "memory", "model": os.path.basename(d), "params": p, "fp32_bytes": 4 * p,
                      "max_rss_kb": rss, "rss_over_fp32": round(rss * 1024 / (4 * p), 2) if rss else None,
                      "rc": rc, **rec, **facts})
    cases = [(OPT125, {}, []), (OPT125, {"LANCET_HEAP": "1g"}, []), (LLAMA125, {}, [])]
    if os.environ.get("MEMORY_EXTRA"):  # diagnostics: batch dependence, and the runtime floor (tiny model)
        cases += [(OPT125, {}, ["--batch", "1"]), (LLAMA125, {"LANCET_HEAP": "1g"}, []),
                  ("assets/models/tiny-llama", {}, [])]
    for d, extra_env, extra in cases:
        envs = ["env"] + [f"{k}={v}" for k, v in extra_env.items()] if extra_env else []
        cmd = ["/usr/bin/time", "-v"] + envs + [LANCET, "eval", "--model", d, "--data", data, "--seqlen", "128",
                                                 "--max-windows", "8"] + extra
        out, err, rc, facts = run(cmd)
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
        ppl = re.search(r"perplexity ([\d.]+)", out + err)
        p = params(os.path.join(ROOT, d))
        rss = int(m.group(1)) if m else None
        sink.add({"section": "memory", "model": os.path.basename(d), "params": p, "fp32_bytes": 4 * p,
                  "max_rss_kb": rss, "rss_over_fp32": round(rss * 1024 / (4 * p), 2) if rss else None,
                  "perplexity": float(ppl.group(1)) if ppl else None, "rc": rc, **facts})


# ------------------------------------------------------------------------------------------------ tables
def fmt(xs, digits=0):
    if not xs:
        return "–"
    med = statistics.median(xs)
    f = (lambda x: f"{x:,.{digits}f}")
    return f"{f(med)} ({f(min(xs))}–{f(max(xs))})" if len(xs) > 1 else f(med)


def table(path):
    recs = [json.loads(l) for l in open(path) if l.strip()]
    thr = [r for r in recs if r.get("section") == "throughput" and "tokens_per_second" in r]
    lines = []
    for model in [m for m in MODELS if any(r["model"] == m for r in thr)]:
        lines.append(f"\n**{model}**: tokens/s, median (min–max) of the quiet runs; ratio of the medians; runs taken "
                     f"while other processes used > {LOADED:.0%} of the CPUs are listed apart and left out\n")
        lines.append("| OpenBLAS env | mode | Lancet | PyTorch | Lancet/PyTorch | Lancet, loaded runs | "
                     "PyTorch, loaded runs |")
        lines.append("|---|---|---|---|---|---|---|")
        for cfg in CONFIGS:
            rows = [("forward", "forward", "forward"),
                    ("train (torch: linear weights only)", "train-linear-only", "train-linear-only"),
                    ("train (torch: all parameters)", "train-linear-only", "train-all")]
            for label, lv, tv in rows:
                L = [r for r in thr if r["model"] == model and r["config"] == cfg and r["impl"] == "lancet"
                     and r["variant"] == lv]
                T = [r for r in thr if r["model"] == model and r["config"] == cfg and r["impl"] == "torch"
                     and r["variant"] == tv]
                cells, meds = [], []
                for runs in (L, T):
                    quiet = [r["tokens_per_second"] for r in runs if r["foreign_cpu"] <= LOADED]
                    noisy = [r["tokens_per_second"] for r in runs if r["foreign_cpu"] > LOADED]
                    d = 1 if max(quiet + noisy, default=0) < 1000 else 0
                    cells.append(fmt(quiet, d) + (f" [n={len(quiet)}]" if quiet else ""))
                    cells.append(", ".join(f"{x:,.{d}f}" for x in noisy) or "–")
                    meds.append(statistics.median(quiet) if quiet else None)
                ratio = f"{meds[0] / meds[1]:.2f}" if None not in meds else "–"
                lines.append(f"| {cfg} | {label} | {cells[0]} | {cells[2]} | **{ratio}** | {cells[1]} | {cells[3]} |")
    g = [r for r in recs if r.get("section") == "gemm"]
    if g:
        lines.append("\n| sgemm 2048³, 2 threads | OpenBLAS env | GFLOP/s median (min–max) | n |")
        lines.append("|---|---|---|---|")
        for impl in ("lancet-openblas", "torch"):
            for cfg in CONFIGS:
                xs = [r["gflops"] for r in g if r["impl"] == impl and r["config"] == cfg]
                lines.append(f"| {impl} | {cfg} | {fmt(xs, 1)} | {len(xs)} |")
    mem = [r for r in recs if r.get("section") == "memory"]
    if mem:
        lines.append("\n| model | command | params | fp32 size | max RSS | RSS / fp32 |")
        lines.append("|---|---|---|---|---|---|")
        for r in mem:
            cmd = r["cmd"].replace("/usr/bin/time -v ", "")
            lines.append(f"| {r['model']} | `{cmd}` | {r['params']:,} | {r['fp32_bytes'] / 2**20:,.0f} MiB | "
                         f"{(r['max_rss_kb'] or 0) / 1024:,.0f} MiB | {r['rss_over_fp32']} |")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--reps", type=int, default=1)
    r.add_argument("--sections", default="gemm,throughput,memory")
    r.add_argument("--models", default=",".join(MODELS))
    r.add_argument("--out", default=None)
    t = sub.add_parser("table")
    t.add_argument("file")
    a = ap.parse_args()
    if a.cmd == "table":
        return table(a.file)
    out = a.out or os.path.join(ROOT, "bench/results",
                                "foundation-" + datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ") + ".jsonl")
    sink = Sink(out)
    sections = a.sections.split(",")
    models = [m for m in a.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        sys.exit(f"unknown model(s) {unknown}; known: {list(MODELS)}")
    print(f"results -> {out}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')}; LANCET={LANCET}", flush=True)
    t0 = time.time()
    ensure_synth(sink, {MODELS[m][0] for m in models} | ({OPT125, LLAMA125} if "memory" in sections else set()))
    for rep in range(1, a.reps + 1):
        if "gemm" in sections:
            gemm(sink, rep)
        if "throughput" in sections:
            throughput(sink, rep, models)
    if "memory" in sections:
        memory(sink)
    print(f"done in {time.time() - t0:.0f} s; results in {out}\n", flush=True)
    table(out)


if __name__ == "__main__":
    main()

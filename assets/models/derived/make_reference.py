#!/usr/bin/env python3
"""Rewrites reference.json: the independent fp64 figures of the derived checkpoints the tests use.

  /usr/bin/python3 assets/models/derived/make_reference.py [REFERENCE_DIR]

The checkpoints are written by the tests' own code (dev.lancet.engine.DerivedModel.main, compiled here with
`mvn -o test-compile -pl engine`), so the figures are of exactly the files the tests load; their SHA-256 are
recorded. Figures come from refcheck.py (default ../shared/reference beside the repository): perplexity on
the first 64 windows of 128 of the Brown valid split, KFAC factor summaries of its first 4 sequential windows
of 128, and the perplexity of each base model on the same windows (so the tests can show each derivation
changes the model). Needs Debian's python3-torch (/usr/bin/python3), a JDK and Maven.
"""
import hashlib, json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "..", "shared", "reference"))
import refcheck  # noqa: E402

TEXT = os.path.join(REPO, "assets", "data", "brown", "brown.valid.txt")
BASES = {"tiny-llama": os.path.join(REPO, "assets", "models", "tiny-llama"),
         "tiny-opt": os.path.join(REPO, "assets", "models", "tiny-opt")}


def derive(out):
    mvn = ["mvn", "-B", "-q", "-o", "-Dstyle.color=never", "-pl", "engine"]
    subprocess.run(mvn + ["test-compile"], cwd=REPO, check=True)
    cp_file = os.path.join(out, "classpath.txt")
    subprocess.run(mvn + ["dependency:build-classpath", "-Dmdep.outputFile=" + cp_file], cwd=REPO, check=True)
    cp = ":".join([os.path.join(REPO, "engine", "target", "test-classes"), os.path.join(REPO, "engine", "target", "classes"),
                   open(cp_file).read().strip()])
    subprocess.run(["java", "-Xmx1g", "-cp", cp, "dev.lancet.engine.DerivedModel", out], cwd=REPO, check=True)
    return sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d)))


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def main():
    ref = {}
    for name, d in BASES.items():
        ref[name] = {"valid_ppl_128_first64": refcheck.ppl(d, TEXT, 128, 64)}
    with tempfile.TemporaryDirectory() as out:
        for name in derive(out):
            d = os.path.join(out, name)
            cfg = json.load(open(os.path.join(d, "config.json")))
            ref[name] = {"base": "tiny-opt" if cfg["model_type"] == "opt" else "tiny-llama",
                         "sha256": {f: sha256(os.path.join(d, f)) for f in ("config.json", "model.safetensors")},
                         "valid_ppl_128_first64": refcheck.ppl(d, TEXT, 128, 64),
                         "kfac_valid_4x128_sequential": refcheck.kfac(d, TEXT, 128, 4)}
            print(name, ref[name]["valid_ppl_128_first64"], flush=True)
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    import torch
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    main()

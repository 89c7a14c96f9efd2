#!/usr/bin/env python3
"""Side-by-side throughput on the CPU: crossin's embedded Go engine vs PyTorch.

Two modes per shape, each run with the same random Llama shape (RMSNorm, RoPE, grouped-query causal
attention, SwiGLU, float32), the same batch and sequence length, on the same threads:

  train    LoRA r=8/alpha=16 on all seven projections, AdamW, labels on every token (engine/train)
  forward  one forward pass with logits at every position, no gradients (engine/model, the
           evaluation engine)

Every measurement runs in its own process (gobench/ for crossin, this script's --worker for torch),
the engines alternate (--rounds) in one invocation, and the script prints the median tokens/s of
each, the ratio crossin/torch, the achieved GFLOP/s against the machine's AVX2 and AVX-512 peaks, and
each engine's peak RSS (the largest over its rounds, from wait4's rusage).

Fair baseline (see ../shared/notes/cpu-baselines.md): Debian's python3-torch with OpenBLAS,

    apt-get install -y python3-torch libopenblas0-pthread
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 scripts/bench_torch/bench.py

Not part of CI.
"""
import argparse, json, math, os, shutil, statistics, subprocess, sys, tempfile, time

SHAPES = {
    # name: vocab, hidden, intermediate, layers, heads, kv heads, default training batch
    "tiny": (32000, 32, 64, 2, 4, 2, 4),        # the reference tiny Llama
    "19M": (32000, 256, 688, 4, 8, 4, 4),
    "smol": (49152, 576, 1536, 30, 9, 3, 2),    # SmolLM2-135M shape (LM head tied in forward, frozen anyway)
}


def torch_bench(shape, batch, seq, steps, warmup, threads, r=8):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    V, H, I, L, NH, KV, _ = SHAPES[shape]
    D = H // NH

    class LoRALinear(nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.base = nn.Linear(i, o, bias=False)
            self.base.weight.requires_grad_(False)
            self.A = nn.Parameter(torch.randn(r, i) / math.sqrt(i))
            self.B = nn.Parameter(torch.zeros(o, r))
            self.s = 2.0

        def forward(self, x):
            return self.base(x) + F.linear(F.linear(x, self.A), self.B) * self.s

    class RMSNorm(nn.Module):
        def __init__(self, h):
            super().__init__()
            self.w = nn.Parameter(torch.ones(h), requires_grad=False)

        def forward(self, x):
            return self.w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))

    inv = 1.0 / (10000 ** (torch.arange(0, D, 2).float() / D))
    fr = torch.outer(torch.arange(seq).float(), inv)
    cos, sin = torch.cat([fr, fr], -1).cos(), torch.cat([fr, fr], -1).sin()

    def rope(x):
        x1, x2 = x[..., : D // 2], x[..., D // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    mask = torch.full((seq, seq), float("-inf")).triu(1)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.n1, self.n2 = RMSNorm(H), RMSNorm(H)
            self.q, self.k, self.v, self.o = LoRALinear(H, NH * D), LoRALinear(H, KV * D), LoRALinear(H, KV * D), LoRALinear(NH * D, H)
            self.g, self.u, self.d = LoRALinear(H, I), LoRALinear(H, I), LoRALinear(I, H)

        def forward(self, x):
            b, t, _ = x.shape
            h = self.n1(x)
            q = rope(self.q(h).view(b, t, NH, D).transpose(1, 2))
            k = rope(self.k(h).view(b, t, KV, D).transpose(1, 2))
            v = self.v(h).view(b, t, KV, D).transpose(1, 2)
            k = k.repeat_interleave(NH // KV, 1)
            v = v.repeat_interleave(NH // KV, 1)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + mask, -1)
            x = x + self.o((att @ v).transpose(1, 2).reshape(b, t, NH * D))
            h = self.n2(x)
            return x + self.d(F.silu(self.g(h)) * self.u(h))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, H)
            self.emb.weight.requires_grad_(False)
            self.layers = nn.ModuleList(Layer() for _ in range(L))
            self.norm = RMSNorm(H)
            self.head = nn.Linear(H, V, bias=False)
            self.head.weight.requires_grad_(False)

        def forward(self, ids, labels):
            x = self.emb(ids)
            for l in self.layers:
                x = l(x)
            logits = self.head(self.norm(x)).float()
            return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1))

    m = Model()
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    ids = torch.randint(0, V, (batch, seq))
    times = []
    for i in range(warmup + steps):
        if i == warmup:
            c0 = time.process_time()
        t0 = time.perf_counter()
        loss = m(ids, ids)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    cpu = time.process_time() - c0
    med = statistics.median(times)
    return {"engine": "torch", "mode": "train", "torch": torch.__version__, "step_s": med, "tokens_per_s": batch * seq / med,
            "tokens_per_cpu_s": batch * seq * steps / cpu,
            "loss": loss.item(), "blas": blas_name()}


def torch_forward(shape, batch, seq, steps, warmup, threads):
    """The same forward pass as gobench -mode forward: logits at every position, no gradients."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    V, H, I, L, NH, KV, _ = SHAPES[shape]
    D = H // NH
    std = 0.02
    emb = torch.randn(V, H) * std
    head = emb if shape == "smol" else torch.randn(V, H) * std
    layers = [dict(q=torch.randn(NH * D, H) * std, k=torch.randn(KV * D, H) * std,
                   v=torch.randn(KV * D, H) * std, o=torch.randn(H, NH * D) * std,
                   g=torch.randn(I, H) * std, u=torch.randn(I, H) * std, d=torch.randn(H, I) * std,
                   n1=torch.ones(H), n2=torch.ones(H)) for _ in range(L)]
    norm = torch.ones(H)
    inv = 1.0 / (10000 ** (torch.arange(0, D, 2).float() / D))
    fr = torch.outer(torch.arange(seq).float(), inv)
    cos, sin = torch.cat([fr, fr], -1).cos(), torch.cat([fr, fr], -1).sin()
    mask = torch.full((seq, seq), float("-inf")).triu(1)

    def rms(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))

    def rope(x):
        x1, x2 = x[..., : D // 2], x[..., D // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def forward(ids):
        x = emb[ids]
        for p in layers:
            h = rms(x, p["n1"])
            q = rope((h @ p["q"].T).view(batch, seq, NH, D).transpose(1, 2))
            k = rope((h @ p["k"].T).view(batch, seq, KV, D).transpose(1, 2))
            v = (h @ p["v"].T).view(batch, seq, KV, D).transpose(1, 2)
            k = k.repeat_interleave(NH // KV, 1)
            v = v.repeat_interleave(NH // KV, 1)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + mask, -1) @ v
            x = x + att.transpose(1, 2).reshape(batch, seq, NH * D) @ p["o"].T
            h = rms(x, p["n2"])
            x = x + (torch.nn.functional.silu(h @ p["g"].T) * (h @ p["u"].T)) @ p["d"].T
        return rms(x, norm) @ head.T

    ids = torch.randint(0, V, (batch, seq))
    times = []
    with torch.no_grad():
        for i in range(warmup + steps):
            if i == warmup:
                c0 = time.process_time()
            t0 = time.perf_counter()
            forward(ids)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    cpu = time.process_time() - c0
    med = statistics.median(times)
    return {"engine": "torch", "mode": "forward", "torch": torch.__version__, "step_s": med,
            "tokens_per_s": batch * seq / med, "tokens_per_cpu_s": batch * seq * steps / cpu, "blas": blas_name()}


def blas_name():
    import torch
    cfg = torch.__config__.show()
    lib = os.environ.get("LD_LIBRARY_PATH", "")
    if "openblas" in lib:
        return "OpenBLAS (LD_LIBRARY_PATH=%s)" % lib
    return "default BLAS (reference BLAS on Debian: see cpu-baselines.md)" + (" / MKL" if "MKL" in cfg else "")


def measure(argv, env=None, cwd=None):
    p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    errs = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit("%s failed (%d):\n%s" % (" ".join(argv), p.returncode, errs.decode(errors="replace")))
    r = json.loads(out)
    r["rss_mib"] = ru.ru_maxrss / 1024  # Linux: KiB
    return r


def build_gobench(repo):
    exe = os.path.join(tempfile.gettempdir(), "crossin-bench-gobench-%d" % os.getpid())
    subprocess.run(["go", "build", "-o", exe, "./scripts/bench_torch/gobench"], cwd=repo, check=True)
    return exe


def go_bench(exe, mode, shape, batch, seq, steps, warmup, threads):
    V, H, I, L, NH, KV, _ = SHAPES[shape]
    env = dict(os.environ, GOMAXPROCS=str(threads))
    argv = [exe, "-mode", mode, "-vocab", str(V), "-hidden", str(H), "-inter", str(I), "-layers", str(L),
            "-heads", str(NH), "-kv-heads", str(KV), "-batch", str(batch), "-seq", str(seq),
            "-steps", str(steps), "-warmup", str(warmup)]
    if mode == "forward":
        # The model is written by a process of its own, so that this one's peak RSS is the
        # evaluation's (load + forward), not the random model's generation.
        d = tempfile.mkdtemp(prefix="bench-torch-model-")
        try:
            init = [exe, "-mode", "init", "-model", d] + argv[3:]
            if shape == "smol":
                init.append("-tie")
            subprocess.run(init, env=env, check=True)
            return measure(argv + ["-model", d], env=env)
        finally:
            shutil.rmtree(d)
    return measure(argv, env=env)


def torch_worker(mode, shape, batch, seq, steps, warmup, threads):
    argv = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--shapes", shape, "--batch", str(batch),
            "--seq", str(seq), "--steps", str(steps), "--warmup", str(warmup), "--threads", str(threads)]
    return measure(argv, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))


def flops_per_token(mode, shape, seq):
    """Matrix-product FLOPs per token. Forward: 2 per weight (projections and LM head) plus QKᵀ and PV
    over on average seq/2 positions. Training with frozen weights: forward plus the input gradient of
    every product with a base weight (another 2 per weight) and attention's four backward products
    (LoRA's rank-8 products are left out: under 1%)."""
    V, H, I, L, NH, KV, _ = SHAPES[shape]
    D = H // NH
    proj = L * (H * NH * D + 2 * H * KV * D + NH * D * H + 3 * H * I)
    att = L * 2 * 2 * (seq / 2) * NH * D  # QKᵀ and PV, causal half
    if mode == "forward":
        return 2 * (proj + V * H) + att
    return 4 * (proj + V * H) + 3 * att


def cpu_ghz():
    mhz = [float(l.split(":")[1]) for l in open("/proc/cpuinfo") if l.startswith("cpu MHz")]
    return (statistics.mean(mhz) if mhz else 2100) / 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="19M,smol", help="comma-separated: tiny, 19M, smol")
    ap.add_argument("--modes", default="train,forward", help="comma-separated: train, forward")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=0, help="batch (default: per shape for train, 4 for forward)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per process (median)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2, help="alternate the engines this many times")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--ghz", type=float, default=0, help="clock for the peaks (default: /proc/cpuinfo's cpu MHz)")
    ap.add_argument("--repo", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--worker", choices=["train", "forward"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:  # one torch measurement in this process
        f = torch_bench if a.worker == "train" else torch_forward
        print(json.dumps(f(a.shapes, a.batch, a.seq, a.steps, a.warmup, a.threads)))
        return
    ghz = a.ghz or cpu_ghz()
    peak2, peak512 = a.threads * ghz * 32, a.threads * ghz * 64  # fp32 FMA: 2 units x 8 or 16 lanes x 2
    exe = build_gobench(a.repo)
    rows = []
    try:
        for shape in a.shapes.split(","):
            if shape not in SHAPES:
                sys.exit("--shapes: unknown shape %r (want %s)" % (shape, ", ".join(SHAPES)))
            for mode in a.modes.split(","):
                batch = a.batch or (SHAPES[shape][6] if mode == "train" else 4)
                go, pt = [], []
                for _ in range(a.rounds):
                    go.append(go_bench(exe, mode, shape, batch, a.seq, a.steps, a.warmup, a.threads))
                    pt.append(torch_worker(mode, shape, batch, a.seq, a.steps, a.warmup, a.threads))
                g = statistics.median(x["tokens_per_s"] for x in go)
                t = statistics.median(x["tokens_per_s"] for x in pt)
                gc = statistics.median(x["tokens_per_cpu_s"] for x in go)
                tc = statistics.median(x["tokens_per_cpu_s"] for x in pt)
                f = flops_per_token(mode, shape, a.seq)
                rows.append({"shape": shape, "mode": mode, "batch": batch, "seq": a.seq, "threads": a.threads,
                             "crossin_tokens_per_s": round(g, 1), "torch_tokens_per_s": round(t, 1),
                             "ratio": round(g / t, 2),
                             "crossin_tokens_per_cpu_s": round(gc, 1), "torch_tokens_per_cpu_s": round(tc, 1),
                             "ratio_per_cpu_s": round(gc / tc, 2),
                             "crossin_gflops": round(g * f / 1e9, 1), "torch_gflops": round(t * f / 1e9, 1),
                             "crossin_pct_avx2_peak": round(100 * g * f / 1e9 / peak2, 1),
                             "crossin_pct_avx512_peak": round(100 * g * f / 1e9 / peak512, 1),
                             "torch_pct_avx2_peak": round(100 * t * f / 1e9 / peak2, 1),
                             "crossin_rss_mib": round(max(x["rss_mib"] for x in go)),
                             "torch_rss_mib": round(max(x["rss_mib"] for x in pt)),
                             "crossin_runs_tokens_per_s": [round(x["tokens_per_s"], 1) for x in go],
                             "torch_runs_tokens_per_s": [round(x["tokens_per_s"], 1) for x in pt],
                             "arithmetic": go[0].get("arithmetic", ""),
                             "peak_avx2_gflops": round(peak2, 1), "peak_avx512_gflops": round(peak512, 1),
                             "torch": pt[0]["torch"], "blas": pt[0]["blas"]})
    finally:
        os.remove(exe)
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    r0 = rows[0]
    print("crossin (%s) vs torch %s, %s; %d threads; float32; train = LoRA r8 on all 7 projections + AdamW"
          % (r0["arithmetic"], r0["torch"], r0["blas"], a.threads))
    print("peaks at %.2f GHz: AVX2 %.0f GFLOP/s, AVX-512 %.0f GFLOP/s; medians of %d alternated rounds × %d steps"
          % (ghz, peak2, peak512, a.rounds, a.steps))
    hdr = ("shape", "mode", "batch", "seq", "crossin tok/s", "torch tok/s", "ratio", "ratio/CPU-s", "crossin GF/s",
           "%AVX2", "%AVX512", "torch GF/s", "crossin RSS", "torch RSS")
    fmt = "%-5s %-7s %5s %4s %13s %11s %6s %11s %12s %6s %7s %10s %11s %9s"
    print(fmt % hdr)
    for r in rows:
        print(fmt % (r["shape"], r["mode"], r["batch"], r["seq"], "%.1f" % r["crossin_tokens_per_s"],
                     "%.1f" % r["torch_tokens_per_s"], "%.2f" % r["ratio"], "%.2f" % r["ratio_per_cpu_s"],
                     "%.1f" % r["crossin_gflops"],
                     "%.1f" % r["crossin_pct_avx2_peak"], "%.1f" % r["crossin_pct_avx512_peak"],
                     "%.1f" % r["torch_gflops"], "%d MiB" % r["crossin_rss_mib"], "%d MiB" % r["torch_rss_mib"]))


if __name__ == "__main__":
    main()

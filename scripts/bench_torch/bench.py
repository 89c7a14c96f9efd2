#!/usr/bin/env python3
"""Side-by-side LoRA training throughput: crossin's embedded Go engine vs PyTorch on the CPU.

Both engines train the same random Llama shape (RMSNorm, RoPE, grouped-query causal attention,
SwiGLU, untied LM head, float32) with LoRA r=8/alpha=16 on all seven projections, AdamW,
the same micro-batch and sequence length, labels on every token, on the same threads. The script
runs them alternately (rounds) in one invocation and prints tokens/s for each, the ratio
crossin/torch, and the achieved GFLOP/s against the machine's peak.

Fair baseline (see ../shared/notes/cpu-baselines.md): Debian's python3-torch with OpenBLAS,

    apt-get install -y python3-torch libopenblas0-pthread
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 scripts/bench_torch/bench.py

Not part of CI.
"""
import argparse, json, math, os, statistics, subprocess, sys, tempfile, time

SHAPES = {
    # name: vocab, hidden, intermediate, layers, heads, kv heads, default batch
    "tiny": (32000, 32, 64, 2, 4, 2, 4),        # the reference tiny Llama
    "19M": (32000, 256, 688, 4, 8, 4, 4),
    "smol": (49152, 576, 1536, 30, 9, 3, 2),    # SmolLM2-135M shape (untied here)
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
        t0 = time.perf_counter()
        loss = m(ids, ids)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"engine": "torch", "torch": torch.__version__, "step_s": med, "tokens_per_s": batch * seq / med,
            "loss": loss.item(), "blas": blas_name()}


def blas_name():
    import torch
    cfg = torch.__config__.show()
    lib = os.environ.get("LD_LIBRARY_PATH", "")
    if "openblas" in lib:
        return "OpenBLAS (LD_LIBRARY_PATH=%s)" % lib
    return "default BLAS (reference BLAS on Debian: see cpu-baselines.md)" + (" / MKL" if "MKL" in cfg else "")


def go_bench(repo, shape, batch, seq, steps, warmup, threads):
    V, H, I, L, NH, KV, _ = SHAPES[shape]
    exe = os.path.join(tempfile.gettempdir(), "crossin-bench-gobench")
    if not getattr(go_bench, "built", False):
        subprocess.run(["go", "build", "-o", exe, "./scripts/bench_torch/gobench"], cwd=repo, check=True)
        go_bench.built = True
    env = dict(os.environ, GOMAXPROCS=str(threads))
    out = subprocess.run([exe, "-vocab", str(V), "-hidden", str(H), "-inter", str(I), "-layers", str(L),
                          "-heads", str(NH), "-kv-heads", str(KV), "-batch", str(batch), "-seq", str(seq),
                          "-steps", str(steps), "-warmup", str(warmup)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def flops_per_token(shape, seq):
    # Frozen weights: forward 2N and input-gradient 2N per token for every matrix product with a
    # base weight (projections and LM head); attention QK^T, PV forward and 4 products backward.
    V, H, I, L, NH, KV, _ = SHAPES[shape]
    D = H // NH
    proj = L * (H * NH * D + 2 * H * KV * D + NH * D * H + 3 * H * I)
    return 4 * (proj + V * H) + L * 6 * 2 * seq * NH * D


def peak_gflops(threads):
    flags = open("/proc/cpuinfo").read()
    mhz = [float(l.split(":")[1]) for l in flags.splitlines() if l.startswith("cpu MHz")]
    ghz = (statistics.mean(mhz) if mhz else 2100) / 1000
    per_cycle = 64 if "avx512f" in flags else 32  # fp32 FMA: 2 units x 8 (AVX2) or 16 (AVX-512) lanes x 2
    return threads * ghz * per_cycle


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="tiny,19M")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=0, help="micro-batch (default per shape)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2, help="alternate the engines this many times")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repo", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    peak = peak_gflops(a.threads)
    rows = []
    for shape in a.shapes.split(","):
        batch = a.batch or SHAPES[shape][6]
        go, pt = [], []
        for _ in range(a.rounds):
            go.append(go_bench(a.repo, shape, batch, a.seq, a.steps, a.warmup, a.threads))
            pt.append(torch_bench(shape, batch, a.seq, a.steps, a.warmup, a.threads))
        g = statistics.median(x["tokens_per_s"] for x in go)
        t = statistics.median(x["tokens_per_s"] for x in pt)
        f = flops_per_token(shape, a.seq)
        rows.append({"shape": shape, "batch": batch, "seq": a.seq, "threads": a.threads,
                     "crossin_tokens_per_s": round(g, 1), "torch_tokens_per_s": round(t, 1), "ratio": round(g / t, 2),
                     "crossin_gflops": round(g * f / 1e9, 1), "torch_gflops": round(t * f / 1e9, 1),
                     "peak_gflops": round(peak, 1), "torch": pt[0]["torch"], "blas": pt[0]["blas"]})
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    print("LoRA r8 on all 7 projections, AdamW, float32, %d threads, peak %.0f GFLOP/s; torch %s, %s"
          % (a.threads, peak, rows[0]["torch"], rows[0]["blas"]))
    print("%-6s %5s %5s %14s %14s %7s %12s %12s" % ("shape", "batch", "seq", "crossin tok/s", "torch tok/s", "ratio",
                                                    "crossin GF/s", "torch GF/s"))
    for r in rows:
        print("%-6s %5d %5d %14.1f %14.1f %7.2f %12.1f %12.1f" % (r["shape"], r["batch"], r["seq"],
              r["crossin_tokens_per_s"], r["torch_tokens_per_s"], r["ratio"], r["crossin_gflops"], r["torch_gflops"]))


if __name__ == "__main__":
    main()

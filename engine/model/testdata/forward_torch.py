# Baseline for BenchmarkForwardTorch: the same Llama forward pass (RMSNorm,
# RoPE, grouped-query causal attention written by hand, SwiGLU, LM head on
# every position) in PyTorch on the CPU, float32, random weights. Prints one
# JSON line: {"tokens_per_s": ..., "threads": ..., "blas": ...}.
# Usage: python3 forward_torch.py LAYERS HIDDEN HEADS KV_HEADS INTERMEDIATE VOCAB BATCH SEQ ITERS
import json, sys, time
import torch

L, H, NH, NKV, I, V, B, T, ITERS = map(int, sys.argv[1:10])
torch.set_num_threads(int(__import__("os").environ.get("TORCH_THREADS", "2")))
torch.manual_seed(0)
hd = H // NH
std = 0.02
emb = torch.randn(V, H) * std
layers = []
for _ in range(L):
    layers.append(dict(
        q=torch.randn(NH * hd, H) * std, k=torch.randn(NKV * hd, H) * std,
        v=torch.randn(NKV * hd, H) * std, o=torch.randn(H, NH * hd) * std,
        g=torch.randn(I, H) * std, u=torch.randn(I, H) * std, d=torch.randn(H, I) * std,
        n1=torch.ones(H), n2=torch.ones(H)))
norm = torch.ones(H)
inv = 1.0 / (10000 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
pos = torch.arange(T, dtype=torch.float32)
fr = torch.outer(pos, inv)
cos = torch.cat([fr, fr], -1).cos()
sin = torch.cat([fr, fr], -1).sin()
mask = torch.full((T, T), float("-inf")).triu(1)


def rms(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))


def rot(x):
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return torch.cat([-x2, x1], -1)


def forward(ids):
    x = emb[ids]
    for p in layers:
        h = rms(x, p["n1"])
        q = (h @ p["q"].T).view(B, T, NH, hd).transpose(1, 2)
        k = (h @ p["k"].T).view(B, T, NKV, hd).transpose(1, 2)
        v = (h @ p["v"].T).view(B, T, NKV, hd).transpose(1, 2)
        q = q * cos + rot(q) * sin
        k = k * cos + rot(k) * sin
        k = k.repeat_interleave(NH // NKV, 1)
        v = v.repeat_interleave(NH // NKV, 1)
        a = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5 + mask, -1) @ v
        x = x + a.transpose(1, 2).reshape(B, T, NH * hd) @ p["o"].T
        h = rms(x, p["n2"])
        x = x + (torch.nn.functional.silu(h @ p["g"].T) * (h @ p["u"].T)) @ p["d"].T
    return rms(x, norm) @ emb.T


ids = torch.randint(0, V, (B, T))
with torch.no_grad():
    forward(ids)
    times = []
    c0 = time.process_time()
    for _ in range(ITERS):
        t0 = time.perf_counter()
        forward(ids)
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - c0
times.sort()
med = times[len(times) // 2]
cfg = torch.__config__.show()
blas = "openblas" if "openblas" in cfg.lower() or "openblas" in __import__("os").environ.get("LD_LIBRARY_PATH", "") else "default"
print(json.dumps({"tokens_per_s": B * T / med, "tokens_per_cpu_s": B * T * ITERS / cpu, "threads": torch.get_num_threads(), "blas": blas, "torch": torch.__version__}))

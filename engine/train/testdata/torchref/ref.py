#!/usr/bin/env python3
"""Independent PyTorch reference for engine/train's tests (run by gen.sh).

It re-implements, in float32 PyTorch with autograd, the forward pass of
transformers' Llama / Mistral / Qwen2 / Gemma (v1) decoders with peft LoRA
on every projection and peft modules_to_save copies of the embedding and the
LM head, then differentiates the causal-LM loss (labels -100 ignored) under
both loss reductions: "token" (mean over all labelled tokens of the batch)
and "sample" (each row's mean, then the mean over rows). It writes the
adapter, the batch, both losses and every gradient into one safetensors
file. Only torch and numpy are needed (Debian: python3-torch).

Usage: ref.py MODEL_DIR OUT.safetensors SEED
"""
import json
import math
import struct
import sys

import numpy as np
import torch

torch.use_deterministic_algorithms(True)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", t
        a, b = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy().reshape(t["shape"]))
    return out


def write_safetensors(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype in (torch.int32, torch.int64):
            arr, dt = t.numpy().astype("<i4"), "I32"
        else:
            arr, dt = t.detach().numpy().astype("<f4"), "F32"
        b = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main():
    model_dir, out, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = json.load(open(model_dir + "/config.json"))
    W = read_safetensors(model_dir + "/model.safetensors")
    arch = cfg["model_type"]
    H, V, L = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or H // nh
    eps = cfg["rms_norm_eps"]
    window = cfg.get("sliding_window") if arch == "mistral" else None
    gemma = arch == "gemma"
    act = cfg.get("hidden_activation", "gelu_pytorch_tanh") if gemma else cfg.get("hidden_act", "silu")
    tied = cfg.get("tie_word_embeddings", gemma)

    g = torch.Generator().manual_seed(seed)
    # Qwen2's biases and Gemma's norms are zero at init: make them matter.
    for l in range(L):
        p = f"model.layers.{l}."
        for m in ("q_proj", "k_proj", "v_proj"):
            k = p + "self_attn." + m + ".bias"
            if k in W:
                W[k] = torch.randn(W[k].shape, generator=g) * 0.5
        if gemma:
            for k in ("input_layernorm", "post_attention_layernorm"):
                W[p + k + ".weight"] = torch.randn(H, generator=g) * 0.3
    if gemma:
        W["model.norm.weight"] = torch.randn(H, generator=g) * 0.3

    r, alpha = 4, 8.0
    scale = alpha / r
    shapes = {"q_proj": (nh * hd, H), "k_proj": (nkv * hd, H), "v_proj": (nkv * hd, H), "o_proj": (H, nh * hd),
              "gate_proj": (cfg["intermediate_size"], H), "up_proj": (cfg["intermediate_size"], H),
              "down_proj": (H, cfg["intermediate_size"])}
    params = {}
    for l in range(L):
        for m in PROJ:
            o, i = shapes[m]
            pre = f"base_model.model.model.layers.{l}.{'self_attn' if m in PROJ[:4] else 'mlp'}.{m}"
            params[pre + ".lora_A.weight"] = (torch.randn(r, i, generator=g) / math.sqrt(i)).requires_grad_()
            params[pre + ".lora_B.weight"] = (torch.randn(o, r, generator=g) * 0.3).requires_grad_()
    embed = W["model.embed_tokens.weight"]
    head = embed if tied else W["lm_head.weight"]
    # modules_to_save: separate trainable copies (peft untie tied ones).
    embed_t = (embed.clone() + torch.randn(embed.shape, generator=g) * 0.05).requires_grad_()
    head_t = (head.clone() + torch.randn(head.shape, generator=g) * 0.05).requires_grad_()
    params["base_model.model.model.embed_tokens.modules_to_save.default.weight"] = embed_t
    params["base_model.model.lm_head.modules_to_save.default.weight"] = head_t

    # A right-padded batch: rows of different lengths, prompt masked.
    B, T = 3, 11
    lens, prompts = [11, 7, 9], [3, 2, 4]
    ids = torch.randint(0, V, (B, T), generator=g)
    mask = torch.zeros(B, T, dtype=torch.int64)
    labels = torch.full((B, T), -100, dtype=torch.int64)
    for b in range(B):
        mask[b, : lens[b]] = 1
        labels[b, prompts[b] : lens[b]] = ids[b, prompts[b] : lens[b]]
        ids[b, lens[b] :] = 0

    def lin(x, l, m):
        pre = f"model.layers.{l}.{'self_attn' if m in PROJ[:4] else 'mlp'}.{m}"
        y = x @ W[pre + ".weight"].T
        if pre + ".bias" in W:
            y = y + W[pre + ".bias"]
        a = params["base_model." + "model." + pre + ".lora_A.weight"]
        bb = params["base_model." + "model." + pre + ".lora_B.weight"]
        return y + (x @ a.T @ bb.T) * scale

    def norm(x, w):
        xf = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
        return xf * (1.0 + w) if gemma else w * xf

    inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    pos = torch.arange(T).float()
    freqs = pos[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()

    def rot(x):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return torch.cat((-x2, x1), dim=-1)

    def gate(x):
        if act in ("silu", "swish"):
            return torch.nn.functional.silu(x)
        if act == "gelu":
            return torch.nn.functional.gelu(x)
        return torch.nn.functional.gelu(x, approximate="tanh")

    x = embed_t[ids]
    if gemma:
        x = x * torch.tensor(H ** 0.5, dtype=x.dtype)
    qi = torch.arange(T)[:, None]
    kj = torch.arange(T)[None, :]
    allowed = kj <= qi
    if window:
        allowed = allowed & (kj > qi - window)
    allowed = allowed[None, None] & (mask[:, None, None, :] == 1)
    for l in range(L):
        p = f"model.layers.{l}."
        h = norm(x, W[p + "input_layernorm.weight"])
        q = lin(h, l, "q_proj").view(B, T, nh, hd).transpose(1, 2)
        k = lin(h, l, "k_proj").view(B, T, nkv, hd).transpose(1, 2)
        v = lin(h, l, "v_proj").view(B, T, nkv, hd).transpose(1, 2)
        q = q * cos + rot(q) * sin
        k = k * cos + rot(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        s = (q @ k.transpose(2, 3)) / math.sqrt(hd)
        s = s.masked_fill(~allowed, torch.finfo(torch.float32).min)
        pr = torch.softmax(s, dim=-1)
        o = (pr @ v).transpose(1, 2).reshape(B, T, nh * hd)
        x = x + lin(o, l, "o_proj")
        h = norm(x, W[p + "post_attention_layernorm.weight"])
        x = x + lin(gate(lin(h, l, "gate_proj")) * lin(h, l, "up_proj"), l, "down_proj")
    x = norm(x, W["model.norm.weight"])
    logits = x @ head_t.T
    lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    tgt = labels[:, 1:]
    keep = tgt != -100
    nll = -lp.gather(-1, tgt.clamp(min=0)[..., None])[..., 0] * keep
    losses = {"token": nll.sum() / keep.sum(), "sample": (nll.sum(1) / keep.sum(1)).mean()}

    tensors = {"input_ids": ids.int(), "labels": labels.int(), "attention_mask": mask.int()}
    for name, p in params.items():
        tensors["param." + name] = p.detach().clone()
    if "model.layers.0.self_attn.q_proj.bias" in W:
        for l in range(L):
            for m in ("q_proj", "k_proj", "v_proj"):
                k = f"model.layers.{l}.self_attn.{m}.bias"
                tensors["base." + k] = W[k]
    if gemma:
        for l in range(L):
            for k in ("input_layernorm", "post_attention_layernorm"):
                tensors[f"base.model.layers.{l}.{k}.weight"] = W[f"model.layers.{l}.{k}.weight"]
        tensors["base.model.norm.weight"] = W["model.norm.weight"]
    meta = {"arch": arch, "torch": torch.__version__, "r": str(r), "alpha": str(alpha)}
    for red, loss in losses.items():
        for p in params.values():
            p.grad = None
        loss.backward(retain_graph=True)
        meta["loss_" + red] = repr(loss.item())
        for name, p in params.items():
            tensors["grad_" + red + "." + name] = p.grad.clone()
    write_safetensors(out, tensors, meta)


if __name__ == "__main__":
    main()

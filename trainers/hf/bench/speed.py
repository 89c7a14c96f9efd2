"""Side-by-side speed of crossin-trainer-hf against the reference configuration, on one GPU.

Run by scripts/gpu-check.sh on a GPU machine (needs torch, transformers,
peft); random weights from a config, so nothing is downloaded. For each
shape it trains the same synthetic tokenized examples three ways, one after
the other in one process, and prints one JSON object:

  reference  HF Trainer, micro-batch 1, gradient accumulation 16, bf16, the
             model's default attention: what the CrossIn scripts ran;
  padded     a plain PEFT loop with padded micro-batches of 16 and the
             model's own loss (eager, token-mean);
  crossin    crossin_trainer_hf.train on the same examples (length-sorted
             micro-batches, logits only at labels, per-sample loss).

Training tokens/s counts real (non-pad) tokens. MFU uses 6 x parameters x
tokens (the usual convention; LoRA skips the frozen weights' gradients, so
the true work is lower) against the H100/H200 dense bf16 peak of 989
TFLOP/s. Evaluation: questions/s of batched greedy generation against a loop
of single-sequence generate calls.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import torch  # noqa: E402
import transformers  # noqa: E402
import peft  # noqa: E402

PEAK = 989e12

SHAPES = {
    "llama-1b": dict(model_type="llama", hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
                     num_key_value_heads=8, intermediate_size=5632, vocab_size=32000,
                     max_position_embeddings=4096, rms_norm_eps=1e-5),
    "gemma-2b": dict(model_type="gemma", hidden_size=2048, num_hidden_layers=18, num_attention_heads=8,
                     num_key_value_heads=1, head_dim=256, intermediate_size=16384, vocab_size=256000,
                     max_position_embeddings=8192, rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh"),
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def make_model_dir(name, root):
    cfg = dict(SHAPES[name])
    mt = cfg.pop("model_type")
    config = transformers.AutoConfig.for_model(mt, **cfg)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    d = os.path.join(root, name)
    model.save_pretrained(d, safe_serialization=True)
    n = sum(p.numel() for p in model.parameters())
    del model
    torch.cuda.empty_cache()
    return d, n


def synth_examples(n, vocab, seed=0):
    """Alpaca/Platypus-like lengths: log-normal around 300 tokens, 10% to 40% prompt."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        L = int(min(2048, max(48, rng.lognormvariate(math.log(300), 0.6))))
        p = int(L * rng.uniform(0.1, 0.4))
        ids = [1] + [rng.randrange(3, vocab) for _ in range(L - 1)]
        labels = [-100] * p + ids[p:]
        out.append({"step": i // 16, "input_ids": ids, "labels": labels})
    return out


def lora(model):
    cfg = peft.LoraConfig(r=64, lora_alpha=128, lora_dropout=0.05, target_modules=TARGETS,
                          modules_to_save=["embed_tokens", "lm_head"], task_type="CAUSAL_LM")
    return peft.get_peft_model(model, cfg)


def load(d, attn="sdpa"):
    return transformers.AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.bfloat16, attn_implementation=attn).cuda()


def timed(fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t, torch.cuda.max_memory_allocated() / 2**30


def run_reference(d, exs):
    model = lora(load(d, attn=None if os.environ.get("REF_ATTN") is None else os.environ["REF_ATTN"]))

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(exs)

        def __getitem__(self, i):
            return {"input_ids": exs[i]["input_ids"], "labels": exs[i]["labels"]}

    def collate(b):
        return {"input_ids": torch.tensor([x["input_ids"] for x in b]), "labels": torch.tensor([x["labels"] for x in b])}

    with tempfile.TemporaryDirectory() as out:
        args = transformers.TrainingArguments(output_dir=out, per_device_train_batch_size=1, gradient_accumulation_steps=16,
                                              bf16=True, learning_rate=1e-4, lr_scheduler_type="cosine", warmup_ratio=0.03,
                                              weight_decay=0.01, num_train_epochs=1, logging_steps=1000, save_strategy="no",
                                              report_to=[], dataloader_drop_last=False, remove_unused_columns=False, seed=42)
        tr = transformers.Trainer(model=model, args=args, train_dataset=DS(), data_collator=collate)
        return timed(tr.train)


def run_padded(d, exs):
    model = lora(load(d))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01)

    def loop():
        for s in range(0, len(exs), 16):
            b = exs[s:s + 16]
            T = max(len(x["input_ids"]) for x in b)
            ids = torch.zeros((len(b), T), dtype=torch.long)
            lab = torch.full((len(b), T), -100, dtype=torch.long)
            mask = torch.zeros((len(b), T), dtype=torch.long)
            for r, x in enumerate(b):
                n = len(x["input_ids"])
                ids[r, :n] = torch.tensor(x["input_ids"])
                lab[r, :n] = torch.tensor(x["labels"])
                mask[r, :n] = 1
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = model(input_ids=ids.cuda(), attention_mask=mask.cuda(), labels=lab.cuda()).loss
            loss.backward()
            opt.step()
            opt.zero_grad()

    return timed(loop)


def run_crossin(d, exs, root):
    from crossin_trainer_hf import spec, train

    data = os.path.join(root, "train.tokens.jsonl")
    with open(data, "w") as f:
        for x in exs:
            f.write(json.dumps(x) + "\n")
    job = spec.parse({"contract": "crossin.trainer/v2", "kind": "train", "model": {"dir": d, "dtype": "bfloat16"},
                      "data": [data], "seed": 42, "output_dir": os.path.join(root, "out-" + os.path.basename(d)),
                      "train": {"lora": {"r": 64, "alpha": 128, "dropout": 0.05, "target_modules": TARGETS,
                                         "modules_to_save": ["embed_tokens", "lm_head"]},
                                "learning_rate": 1e-4, "scheduler": "cosine", "warmup_ratio": 0.03, "weight_decay": 0.01,
                                "max_grad_norm": 1.0, "loss_reduction": "sample", "checkpoint_every": 10**9}})
    return timed(lambda: train.run(job, lambda m: None))


def eval_speed(d, vocab, n=64, new=128):
    model = load(d).eval()
    rng = random.Random(1)
    prompts = [[1] + [rng.randrange(3, vocab) for _ in range(rng.randrange(150, 450))] for _ in range(n)]

    def loop():
        with torch.inference_mode():
            for p in prompts:
                model.generate(input_ids=torch.tensor([p]).cuda(), max_new_tokens=new, do_sample=False, min_new_tokens=new, pad_token_id=0)

    def batched():
        with torch.inference_mode():
            for s in range(0, n, 32):
                b = sorted(prompts[s:s + 32], key=len)
                T = max(len(p) for p in b)
                ids = torch.zeros((len(b), T), dtype=torch.long)
                mask = torch.zeros((len(b), T), dtype=torch.long)
                for r, p in enumerate(b):
                    ids[r, T - len(p):] = torch.tensor(p)
                    mask[r, T - len(p):] = 1
                model.generate(input_ids=ids.cuda(), attention_mask=mask.cuda(), max_new_tokens=new, min_new_tokens=new,
                               do_sample=False, pad_token_id=0)

    t_loop, _ = timed(loop)
    t_b, _ = timed(batched)
    return {"questions_per_s_loop": n / t_loop, "questions_per_s_batched": n / t_b, "ratio": t_loop / t_b}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="llama-1b,gemma-2b")
    ap.add_argument("--examples", type=int, default=160)  # 10 optimiser steps of 16
    a = ap.parse_args()
    res = {}
    with tempfile.TemporaryDirectory() as root:
        for name in a.shapes.split(","):
            d, nparams = make_model_dir(name, root)
            exs = synth_examples(a.examples, SHAPES[name]["vocab_size"])
            toks = sum(len(x["input_ids"]) for x in exs)
            row = {"params": nparams, "tokens": toks}
            for label, fn in (("reference", lambda: run_reference(d, exs)), ("padded", lambda: run_padded(d, exs)),
                              ("crossin", lambda: run_crossin(d, exs, root))):
                try:
                    t, mem = fn()
                    row[label] = {"tokens_per_s": toks / t, "peak_gib": mem, "mfu": 6 * nparams * toks / t / PEAK, "seconds": t}
                except Exception as e:  # report, keep measuring the others
                    row[label] = {"error": f"{type(e).__name__}: {e}"[:300]}
                torch.cuda.empty_cache()
            if "tokens_per_s" in row.get("crossin", {}) and "tokens_per_s" in row.get("reference", {}):
                row["speedup_vs_reference"] = row["crossin"]["tokens_per_s"] / row["reference"]["tokens_per_s"]
            if "tokens_per_s" in row.get("crossin", {}) and "tokens_per_s" in row.get("padded", {}):
                row["speedup_vs_padded"] = row["crossin"]["tokens_per_s"] / row["padded"]["tokens_per_s"]
            try:
                row["eval"] = eval_speed(d, SHAPES[name]["vocab_size"])
            except Exception as e:
                row["eval"] = {"error": f"{type(e).__name__}: {e}"[:300]}
            res[name] = row
            print(json.dumps({name: row}), file=sys.stderr, flush=True)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

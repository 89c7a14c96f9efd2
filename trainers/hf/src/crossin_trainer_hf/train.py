"""LoRA fine-tuning of a transformers model with PEFT, as the CrossIn reference trains.

What matches the reference script (Lingy12/CrossIn run_training.sh with HF
Trainer): AdamW (torch) with betas (0.9, 0.999) and eps 1e-8, weight decay on
every trainable tensor except biases and norms, the scheduler from
transformers.get_scheduler with ceil(warmup_ratio x steps) warmup steps,
gradient clipping to max_grad_norm, LoRA r/alpha/dropout/target_modules/
modules_to_save from the spec, bf16. What differs, for speed, without
changing the loss: the examples of one optimiser step are run in few
length-sorted micro-batches instead of one at a time (the per-example
weights of data.sample_weights give the same loss as micro-batch 1 with
accumulation), and logits are computed only where labels exist, in chunks,
so the [tokens x vocab] matrix is never materialised.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys

from . import checkpoint, data, manifest, runtime
from .errors import JobError
from .progress import Progress

HEAD_CHUNK = 4096  # rows of hidden states per lm_head chunk


def _step_seed(seed: int, step: int) -> int:
    # Every step reseeds dropout, so a resumed run draws what an
    # uninterrupted one draws without restoring generator state.
    return (seed * 1_000_003 + step * 7919 + 17) % (2**63 - 1)


def _loss_fn(torch, model, config, head_only: bool):
    """Returns f(ids, mask, labels, weights) -> weighted sum of token losses."""
    F = torch.nn.functional
    base = model.get_base_model()
    cap = getattr(config, "final_logit_softcapping", None)

    def head_logits(h):
        logits = base.get_output_embeddings()(h).float()
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits

    def f(ids, mask, labels, tok_w):
        tgt = labels[:, 1:]
        sel = tgt != data.IGNORE
        y = tgt[sel]
        w = tok_w[:, 1:][sel]
        if head_only:
            h = base.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
            hs = h[:, :-1][sel]
            total = hs.new_zeros((), dtype=torch.float32)
            for i in range(0, hs.shape[0], HEAD_CHUNK):
                lg = head_logits(hs[i:i + HEAD_CHUNK])
                total = total + (F.cross_entropy(lg, y[i:i + HEAD_CHUNK], reduction="none") * w[i:i + HEAD_CHUNK]).sum()
            return total
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1][sel].float()
        return (F.cross_entropy(logits, y, reduction="none") * w).sum()

    return f


def _trainable(model):
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def _save_trainable(torch, model, path):
    from safetensors.torch import save_file

    save_file({n: p.detach().contiguous().cpu() for n, p in _trainable(model)}, path)


def _load_trainable(torch, model, path):
    from safetensors.torch import load_file

    state = load_file(path)
    with torch.no_grad():
        for n, p in _trainable(model):
            if n not in state:
                raise JobError(f"checkpoint {path}: tensor {n} missing; remove the checkpoints/ directory to start over", 2)
            p.copy_(state[n].to(p.device, p.dtype))


def run(job, log) -> dict:
    torch, device = runtime.setup(job)
    import peft
    import transformers

    opts = runtime.options(job)
    tp = job.train
    examples = data.read_train(job.data)
    steps = data.group_steps(examples)
    total = len(steps)
    budget = int(opts["micro_batch_tokens"])

    torch.manual_seed(job.seed)
    model, config = runtime.load_model(job, device, opts)
    lcfg = peft.LoraConfig(r=tp.lora.r, lora_alpha=tp.lora.alpha, lora_dropout=tp.lora.dropout,
                           target_modules=list(tp.lora.target_modules),
                           modules_to_save=list(tp.lora.modules_to_save) or None,
                           bias="none", task_type="CAUSAL_LM")
    try:
        model = peft.get_peft_model(model, lcfg)
    except ValueError as e:
        raise JobError(f"LoRA: {e}", 2)
    # Trainable tensors in float32 (PEFT already upcasts LoRA weights;
    # modules_to_save copies are upcast here), the frozen base stays in its dtype.
    for _, p in _trainable(model):
        p.data = p.data.float()
    if tp.init_adapter:
        w = os.path.join(tp.init_adapter, "adapter_model.safetensors")
        peft.set_peft_model_state_dict(model, __import__("safetensors.torch", fromlist=["load_file"]).load_file(w))
    if tp.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()

    decay, no_decay = [], []
    for n, p in _trainable(model):
        (no_decay if ("bias" in n or "norm" in n) else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tp.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=tp.learning_rate, betas=(0.9, 0.999), eps=1e-8)
    warmup = math.ceil(total * tp.warmup_ratio)
    sched_name = tp.scheduler
    if sched_name == "constant" and warmup > 0:
        sched_name = "constant_with_warmup"
    sched = transformers.get_scheduler(sched_name, opt, num_warmup_steps=warmup, num_training_steps=total)

    ckroot = os.path.join(job.output_dir, "checkpoints")
    every = tp.checkpoint_every or max(1, min(100, total // 10 or 1))
    start, state = checkpoint.latest(ckroot)
    curve = []
    if state is not None:
        d = checkpoint.path(ckroot, start)
        _load_trainable(torch, model, os.path.join(d, "trainable.safetensors"))
        opt.load_state_dict(torch.load(os.path.join(d, "optimizer.pt"), map_location=device, weights_only=True))
        sched.load_state_dict(torch.load(os.path.join(d, "scheduler.pt"), weights_only=True))
        curve = state["curve"]
        log(f"resumed from step {start} (of {total})")
        print(f"resumed from step {start}", flush=True)

    head_only = config.model_type in runtime.HEAD_ONLY_AT_LABELS
    loss_fn = _loss_fn(torch, model, config, head_only)
    params = [p for _, p in _trainable(model)]
    prog = Progress(total, "step", start_done=start)
    for s in range(start, total):
        exs = steps[s]
        weights = data.sample_weights(exs, tp.loss_reduction)
        torch.manual_seed(_step_seed(job.seed, s))
        step_loss = 0.0
        ntok = 0
        for mb in data.plan_micro_batches([len(e.input_ids) for e in exs], budget):
            T = max(len(exs[i].input_ids) for i in mb)
            ids = torch.zeros((len(mb), T), dtype=torch.long)
            labels = torch.full((len(mb), T), data.IGNORE, dtype=torch.long)
            mask = torch.zeros((len(mb), T), dtype=torch.long)
            tw = torch.zeros((len(mb), T), dtype=torch.float32)
            for r, i in enumerate(mb):
                e = exs[i]
                n = len(e.input_ids)
                ids[r, :n] = torch.tensor(e.input_ids)
                labels[r, :n] = torch.tensor(e.labels)
                mask[r, :n] = 1
                tw[r, :n] = weights[i]
                ntok += n
            ids, labels, mask, tw = ids.to(device), labels.to(device), mask.to(device), tw.to(device)
            with runtime.autocast(torch, device, job.model.dtype):
                loss = loss_fn(ids, mask, labels, tw)
            loss.backward()
            step_loss += float(loss.detach())
        gn = torch.nn.utils.clip_grad_norm_(params, tp.max_grad_norm) if tp.max_grad_norm > 0 else None
        lr = sched.get_last_lr()[0]
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        point = {"step": s + 1, "loss": step_loss, "lr": lr, "tokens": ntok}
        if gn is not None:
            point["grad_norm"] = float(gn)
        curve.append(point)
        prog.update(s + 1, tokens=ntok, loss=round(step_loss, 4))
        if (s + 1) % every == 0 and s + 1 < total:
            tmp = checkpoint.begin(ckroot, s + 1)
            _save_trainable(torch, model, os.path.join(tmp, "trainable.safetensors"))
            torch.save(opt.state_dict(), os.path.join(tmp, "optimizer.pt"))
            torch.save(sched.state_dict(), os.path.join(tmp, "scheduler.pt"))
            checkpoint.commit(ckroot, s + 1, tmp, {"step": s + 1, "total": total, "curve": curve})
            log(f"checkpoint at step {s + 1}")

    out = os.path.join(job.output_dir, "adapter")
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    cfg_file = os.path.join(tmp, "adapter_config.json")
    with open(cfg_file) as f:
        acfg = json.load(f)
    # No local paths in outputs: the same job elsewhere gives the same bytes.
    acfg["base_model_name_or_path"] = job.model.repo or None
    acfg["revision"] = job.model.revision or None
    manifest.atomic_write(cfg_file, (json.dumps(acfg, indent=2, sort_keys=True) + "\n").encode())
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    manifest.atomic_write(os.path.join(job.output_dir, "loss.json"),
                          (json.dumps({"steps": curve}, sort_keys=True) + "\n").encode())
    summary = {"steps": total, "final_loss": curve[-1]["loss"] if curve else None,
               "tokens": sum(p["tokens"] for p in curve)}
    files = ["loss.json"] + [f"adapter/{n}" for n in sorted(os.listdir(out))]
    return {"files": files, "summary": summary}

"""Benchmark inference on tokenized prompts: batched greedy generation and option log-likelihoods.

The runner built the prompts (benchmark, template, language) and tokenized
them; it also decodes and scores what this writes to outputs.jsonl, one
line per prompt in input order:

    generate: {"id": ..., "language": ..., "output_ids": [...]}   (stop token excluded)
    loglik:   {"id": ..., "language": ..., "loglik": [...], "ntokens": [...]}
"""

from __future__ import annotations

import json
import os

from . import data, manifest, runtime
from .progress import Progress

OUTPUTS = "outputs.jsonl"


def _batches(lengths, size):
    """Length-sorted batches of indices (longest first), so little padding is generated."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i:i + size] for i in range(0, len(order), size)]


def run(job, log) -> dict:
    torch, device = runtime.setup(job)
    import peft

    opts = runtime.options(job)
    ev = job.eval
    prompts = data.read_prompts(job.data, ev.mode)
    torch.manual_seed(job.seed)
    model, config = runtime.load_model(job, device, opts)
    if job.adapter:
        model = peft.PeftModel.from_pretrained(model, job.adapter, is_trainable=False)
        if opts["merge_adapter_for_eval"] == "true":
            model = model.merge_and_unload()
    model.eval()
    size = ev.batch_size or int(opts["eval_batch_size"])
    results = [None] * len(prompts)
    prog = Progress(len(prompts), "prompt")
    done = 0
    with torch.inference_mode():
        if ev.mode == "generate":
            for b in _batches([len(p.prompt_ids) for p in prompts], size):
                T = max(len(prompts[i].prompt_ids) for i in b)
                ids = torch.full((len(b), T), ev.pad_token_id, dtype=torch.long)
                mask = torch.zeros((len(b), T), dtype=torch.long)
                for r, i in enumerate(b):  # left padding: every prompt ends at column T
                    p = prompts[i].prompt_ids
                    ids[r, T - len(p):] = torch.tensor(p)
                    mask[r, T - len(p):] = 1
                with runtime.autocast(torch, device, job.model.dtype):
                    out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                         max_new_tokens=ev.max_new_tokens, do_sample=False, num_beams=1,
                                         eos_token_id=list(ev.eos_token_ids) or None,
                                         pad_token_id=ev.pad_token_id)
                gen = out[:, T:].tolist()
                stops = set(ev.eos_token_ids)
                for r, i in enumerate(b):
                    toks = []
                    for t in gen[r]:
                        if t in stops:
                            break
                        toks.append(t)
                    results[i] = {"id": prompts[i].id, "language": prompts[i].language, "output_ids": toks}
                done += len(b)
                prog.update(done, tokens=sum(len(results[i]["output_ids"]) for i in b))
        else:
            F = torch.nn.functional
            for i, p in enumerate(prompts):
                seqs = [p.prompt_ids + o for o in p.options]
                T = max(len(s) for s in seqs)
                ids = torch.full((len(seqs), T), ev.pad_token_id, dtype=torch.long)
                mask = torch.zeros((len(seqs), T), dtype=torch.long)
                for r, s in enumerate(seqs):
                    ids[r, :len(s)] = torch.tensor(s)
                    mask[r, :len(s)] = 1
                with runtime.autocast(torch, device, job.model.dtype):
                    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
                lp = F.log_softmax(logits, dim=-1)
                ll = []
                n0 = len(p.prompt_ids)
                for r, (o, k) in enumerate(zip(p.options, p.score_tokens)):
                    end = n0 + len(o)  # the scored tokens are seq[end-k:end], predicted from end-k-1 on
                    pos = torch.arange(end - k - 1, end - 1, device=lp.device)
                    tok = torch.tensor(list(o[len(o) - k:]), device=lp.device)
                    ll.append(float(lp[r, pos, tok].double().sum()))
                results[i] = {"id": p.id, "language": p.language, "loglik": ll,
                              "ntokens": list(p.score_tokens)}
                done += 1
                prog.update(done)
    body = "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in results)
    manifest.atomic_write(os.path.join(job.output_dir, OUTPUTS), body.encode())
    log(f"evaluated {len(prompts)} prompts ({ev.mode})")
    return {"files": [OUTPUTS], "summary": {"prompts": len(prompts), "mode": ev.mode}}

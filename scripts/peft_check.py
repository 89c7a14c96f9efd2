#!/usr/bin/env python3
"""Check that an adapter trained by crossin loads in Python peft and gives crossin's logits.

Needs torch, transformers, peft and safetensors (e.g. `pip install torch transformers peft`) and a
crossin binary (`go build -o crossin ./cmd/crossin`). It:

  1. writes a tiny random Llama with `crossin model init` (the llama2 tokenizer shipped in the repo),
  2. trains a LoRA adapter on it with `crossin model train` (all seven projections, a few steps, so
     B is non-zero), also writing the merged model (`--merged-output`),
  3. loads the adapter with peft.PeftModel.from_pretrained and checks that
     a. every tensor of adapter_model.safetensors was loaded unchanged (names, shapes, values),
     b. peft's per-token NLLs equal `crossin model nll` on the merged model (to 1e-4),
     c. peft's greedy generate ids equal `crossin model generate --adapter` ids,
     d. peft's merge_and_unload logits equal transformers' logits on crossin's merged model (1e-5).

Usage: python3 scripts/peft_check.py --crossin ./crossin [--model DIR] [--keep DIR]
With --model, step 1 is skipped and that Hugging Face Llama directory is used instead.
Exit status 0 when every check passes. Record its output in the issue's closing note.
"""
import argparse, json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

DATA = [
    {"instruction": "Say hello.", "input": "", "output": "Hello!"},
    {"instruction": "Translate to English.", "input": "你好世界", "output": "Hello world"},
    {"instruction": "What is 2+2?", "input": "", "output": "4"},
    {"instruction": "Name a colour.", "input": "", "output": "Blue."},
]
PROMPTS = [[1, 415, 2936, 9060, 28723], [1, 22478, 28747, 13, 3195, 349, 28705, 28750, 28806, 28750, 28804, 13]]


def run(args, stdin=None):
    r = subprocess.run(args, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("command failed: %s\n%s" % (" ".join(args), r.stderr))
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crossin", required=True, help="crossin binary")
    ap.add_argument("--model", help="existing Hugging Face Llama directory (default: a fresh tiny one)")
    ap.add_argument("--keep", help="work directory to keep (default: a temporary one)")
    a = ap.parse_args()
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM
    from peft import PeftModel
    torch.use_deterministic_algorithms(True)

    work = a.keep or tempfile.mkdtemp(prefix="peft-check-")
    os.makedirs(work, exist_ok=True)
    model_dir = a.model or os.path.join(work, "model")
    if not a.model:
        run([a.crossin, "model", "init", "--layers", "2", "--hidden", "64", "--heads", "4", "--kv-heads", "2",
             "--intermediate", "128", "--seed", "1", "-o", model_dir,
             "--tokenizer", os.path.join(REPO, "experiments", "assets", "tokenizer", "tokenizer.json")])
    data = os.path.join(work, "data.jsonl")
    with open(data, "w") as f:
        for r in DATA:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    adapter, merged = os.path.join(work, "adapter"), os.path.join(work, "merged")
    print(run([a.crossin, "model", "train", "--model", model_dir, "--data", data, "-q",
               "--lora", "r=8,alpha=16,dropout=0.05,targets=all", "--lr", "1e-2", "--max-steps", "6",
               "--batch-size", "2", "--max-length", "128", "--seed", "1", "-o", adapter, "--merged-output", merged]).strip())

    ok = True

    def check(name, cond, detail=""):
        nonlocal ok
        ok &= bool(cond)
        print("%s  %s %s" % ("PASS" if cond else "FAIL", name, detail))

    base = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
    pm = PeftModel.from_pretrained(base, adapter).eval()
    # a. every saved tensor loaded unchanged.
    saved = load_file(os.path.join(adapter, "adapter_model.safetensors"))
    state = {k: v for k, v in pm.state_dict().items() if "lora_" in k}
    missing, worst = [], 0.0
    for name, t in saved.items():
        key = name.replace(".lora_A.weight", ".lora_A.default.weight").replace(".lora_B.weight", ".lora_B.default.weight")
        if key not in state or state[key].shape != t.shape:
            missing.append(name)
            continue
        worst = max(worst, (state[key] - t).abs().max().item())
    check("adapter tensors load in peft", not missing and worst == 0 and len(state) == len(saved),
          "(%d tensors; missing %s; max diff %g)" % (len(saved), missing[:3], worst))
    nonzero = all(t.abs().sum() > 0 for n, t in saved.items() if "lora_B" in n)
    check("trained B matrices are non-zero", nonzero)

    # b. NLL per token: peft vs crossin on the merged model.
    lines = "\n".join(json.dumps(p) for p in PROMPTS) + "\n"
    cross = [json.loads(l) for l in run([a.crossin, "model", "nll", "--model", merged], lines).splitlines()]
    worst = 0.0
    with torch.no_grad():
        for ids, cn in zip(PROMPTS, cross):
            lp = torch.log_softmax(pm(input_ids=torch.tensor([ids])).logits[0].double(), -1)
            nll = [-lp[i, ids[i + 1]].item() for i in range(len(ids) - 1)]
            worst = max(worst, max(abs(x - y) for x, y in zip(nll, cn)))
    check("peft NLL == crossin NLL", worst < 1e-4, "(max diff %.3g)" % worst)

    # c. greedy generation: peft vs crossin with --adapter.
    gen = [json.loads(l) for l in run([a.crossin, "model", "generate", "--model", model_dir, "--adapter", adapter,
                                       "--max-new-tokens", "10", "--ignore-eos"], lines).splitlines()]
    same = True
    with torch.no_grad():
        for ids, g in zip(PROMPTS, gen):
            out = pm.generate(input_ids=torch.tensor([ids]), max_new_tokens=10, min_new_tokens=10, do_sample=False,
                              pad_token_id=0)[0, len(ids):].tolist()
            same &= out == g
            if out != g:
                print("   peft %s\n   crossin %s" % (out, g))
    check("peft generate == crossin generate --adapter", same)

    # d. merge_and_unload vs crossin's merged model.
    mm = AutoModelForCausalLM.from_pretrained(merged, torch_dtype=torch.float32).eval()
    pmerged = pm.merge_and_unload()
    with torch.no_grad():
        x = torch.tensor([PROMPTS[1]])
        d = (pmerged(input_ids=x).logits - mm(input_ids=x).logits).abs().max().item()
    check("peft merge_and_unload == crossin --merged-output", d < 1e-5, "(max logit diff %.3g)" % d)
    print("work directory:", work)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# scripts/gpu-check.sh: the GPU checks of the HF trainer (issue 14), one
# script, meant to finish in under 8 minutes on one H100/H200. It needs a GPU
# machine with torch, transformers and peft, a crossin binary built for it
# (CROSSIN, default bin/crossin) and the team's tiny reference Llama
# (REF, default .gpu/hf-tiny-llama: a copy of ../shared/reference/hf-tiny-llama).
# It writes one JSON summary, $OUT/gpu-check.json, and exits non-zero when a
# check fails.
#
#   go build -o bin/crossin ./cmd/crossin
#   mkdir -p .gpu && cp -r ../shared/reference/hf-tiny-llama .gpu/
#   OUT=/tmp/gpu-check scripts/gpu-check.sh
#
# Checks:
#   conformance  crossin trainer conformance against crossin-trainer-hf
#                (layout, hashes, determinism, kill -9 and resume, evals, bad specs)
#   parity       the tiny reference Llama, one optimiser step in float32 from the
#                same LoRA init, by the embedded engine and by the HF trainer:
#                equal loss and adapter tensors (1e-5 relative)
#   peft         an adapter trained by the embedded engine, loaded in PEFT, gives
#                the embedded engine's NLLs, greedy ids and merged logits
#   determinism  the same bf16 train and eval jobs twice on the GPU: identical bytes
#   speed        tokens/s, peak memory and MFU against the reference configuration
#                and a padded eager PEFT loop; generation questions/s
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
CROSSIN=${CROSSIN:-bin/crossin}
REF=${REF:-.gpu/hf-tiny-llama}
PY=${PYTHON:-python3}
W=$(mktemp -d)
mkdir -p "$OUT"
export PYTHONPATH=$PWD/trainers/hf/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
declare -A status
log() { echo "gpu-check: $*" >&2; }
run() { # name, command...: records pass/fail, keeps the output
	local name=$1; shift
	local t0=$SECONDS
	if "$@" >"$OUT/$name.log" 2>&1; then status[$name]=pass; else status[$name]=fail; fi
	log "$name: ${status[$name]} ($((SECONDS - t0)) s)"
}

$PY - <<'PY' >"$OUT/env.json" 2>&1
import json, torch, transformers, peft
print(json.dumps({"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                  "torch": torch.__version__, "cuda": torch.version.cuda,
                  "transformers": transformers.__version__, "peft": peft.__version__}))
PY

# 1. conformance
run conformance "$CROSSIN" trainer conformance --model "$REF/tiny-llama" --steps 12 --work "$W/conf" -- $PY -m crossin_trainer_hf

# 2. parity: one fp32 step from the reference LoRA init (A and B random)
cat >"$W/parity.json" <<JSON
{"lora": {"r": 8, "alpha": 16, "dropout": 0, "target_modules": ["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"]},
 "learning_rate": 0.001, "max_steps": 1, "batch_size": 3, "grad_accum": 1, "max_length": 64,
 "scheduler": "constant", "warmup_ratio": 0, "weight_decay": 0.01, "max_grad_norm": 0,
 "loss_reduction": "token", "init_adapter": "$REF/tiny-llama-lora-init"}
JSON
parity() {
	"$CROSSIN" trainer prepare train --model "$REF/tiny-llama" --data experiments/data/alpaca/en.jsonl --params "$W/parity.json" -o "$W/par" >/dev/null || return 1
	"$CROSSIN" trainer run "$W/par/spec.json" || return 1
	$PY - "$W/par/spec.json" <<'PY' || return 1
import json, sys
s = json.load(open(sys.argv[1])); s["model"]["dtype"] = "float32"; s["output_dir"] += "-hf"
json.dump(s, open(sys.argv[1].replace("spec.json", "spec-hf.json"), "w"))
PY
	$PY -m crossin_trainer_hf "$W/par/spec-hf.json" || return 1
	$PY - "$W/par/out" "$W/par/out-hf" <<'PY'
import json, sys
from safetensors.numpy import load_file
a, b = sys.argv[1], sys.argv[2]
la = json.load(open(a + "/loss.json"))["steps"][0]["loss"]
lb = json.load(open(b + "/loss.json"))["steps"][0]["loss"]
ta = load_file(a + "/adapter/adapter_model.safetensors")
tb = load_file(b + "/adapter/adapter_model.safetensors")
worst = 0.0
for k in sorted(ta):
    x, y = ta[k].astype("float64"), tb[k].astype("float64")
    worst = max(worst, float(abs(x - y).max() / max(abs(x).max(), 1e-30)))
res = {"loss_embedded": la, "loss_hf": lb, "loss_rel": abs(la - lb) / abs(la),
       "tensors": len(ta), "same_names": sorted(ta) == sorted(tb), "max_rel_diff": worst}
print(json.dumps(res))
sys.exit(0 if res["same_names"] and res["loss_rel"] < 1e-5 and worst < 1e-5 else 1)
PY
}
run parity parity

# 3. PEFT loads an adapter trained by the embedded engine (scripts/peft_check.py)
run peft $PY scripts/peft_check.py --crossin "$CROSSIN" --model "$REF/tiny-llama"

# 4. determinism on the GPU: bf16 train + eval twice, identical manifests
determinism() {
	sed 's/"dropout": 0,/"dropout": 0.05,/; s/"max_steps": 1,/"max_steps": 6,/' "$W/parity.json" >"$W/det.json"
	"$CROSSIN" trainer prepare train --model "$REF/tiny-llama" --data experiments/data/alpaca/zh.jsonl --params "$W/det.json" -o "$W/det" >/dev/null || return 1
	echo '{"benchmark": "cross_logiqa", "languages": ["English", "Chinese"], "mode": "generate", "max_new_tokens": 32, "limit": 8, "prompt": "crossin", "raw": true}' >"$W/ev.json"
	for i in 1 2; do
		$PY - "$W/det/spec.json" "$i" <<'PY' || return 1
import json, sys
s = json.load(open(sys.argv[1])); s["model"]["dtype"] = "bfloat16"; s["output_dir"] += "-" + sys.argv[2]
json.dump(s, open(sys.argv[1] + "." + sys.argv[2], "w"))
PY
		$PY -m crossin_trainer_hf "$W/det/spec.json.$i" || return 1
		"$CROSSIN" trainer prepare eval --model "$REF/tiny-llama" --data experiments/data/bench/cross_logiqa.sample.jsonl --params "$W/ev.json" --adapter "$W/det/out-$i/adapter" -o "$W/ev$i" >/dev/null || return 1
		$PY -m crossin_trainer_hf "$W/ev$i/spec.json" || return 1
	done
	cmp <(jq -S .files "$W/det/out-1/manifest.json" 2>/dev/null || $PY -c 'import json,sys;print(json.load(open(sys.argv[1]))["files"])' "$W/det/out-1/manifest.json") \
	    <(jq -S .files "$W/det/out-2/manifest.json" 2>/dev/null || $PY -c 'import json,sys;print(json.load(open(sys.argv[1]))["files"])' "$W/det/out-2/manifest.json") || return 1
	cmp "$W/ev1/out/outputs.jsonl" "$W/ev2/out/outputs.jsonl"
}
run determinism determinism

# 5. speed
run speed $PY trainers/hf/bench/speed.py --shapes llama-1b,gemma-2b --examples 160

$PY - "$OUT" <<PY
import json, os, sys
out = sys.argv[1]
def tail(name, n=15):
    try:
        return open(os.path.join(out, name + ".log")).read().splitlines()[-n:]
    except OSError:
        return []
def last_json(name):
    for line in reversed(tail(name, 200)):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    try:  # speed prints an indented object
        txt = open(os.path.join(out, name + ".log")).read()
        return json.loads(txt[txt.rindex("\n{") + 1:])
    except Exception:
        return None
status = {$(for k in "${!status[@]}"; do printf '"%s": "%s", ' "$k" "${status[$k]}"; done)}
summary = {"env": json.load(open(os.path.join(out, "env.json"))) if os.path.exists(os.path.join(out, "env.json")) else None,
           "status": status,
           "conformance": tail("conformance", 10),
           "parity": last_json("parity"),
           "peft": tail("peft", 8),
           "speed": last_json("speed")}
json.dump(summary, open(os.path.join(out, "gpu-check.json"), "w"), indent=1)
print(json.dumps(summary, indent=1))
PY
for k in "${!status[@]}"; do [ "${status[$k]}" = pass ] || exit 1; done

"""Device, determinism and model loading: the parts train and eval share.

Everything here is the field's standard stack (torch, transformers, peft);
there is no model code of our own. Imports of torch/transformers/peft are
local to the functions so that spec parsing and data planning (tested in CI
without a GPU) never need them.
"""

from __future__ import annotations

import os

from .errors import JobError

# Model types whose CausalLM exposes a decoder (get_decoder) and an output
# embedding (get_output_embeddings) and computes logits as lm_head(hidden)
# (Gemma 2 adds a soft cap, applied below). For them the trainer computes
# logits only at positions that have labels; other types fall back to the
# model's own forward.
HEAD_ONLY_AT_LABELS = {"llama", "mistral", "qwen2", "gemma", "gemma2"}

# Trainer options (JobSpec.options): settings that may change bytes but never
# semantics. The runner puts them into the cache key.
DEFAULT_OPTIONS = {
    "attn_implementation": "sdpa",
    "micro_batch_tokens": "16384",
    "merge_adapter_for_eval": "true",
    "eval_batch_size": "32",
}


def options(job) -> dict:
    o = dict(DEFAULT_OPTIONS)
    for k, v in job.options.items():
        if k not in DEFAULT_OPTIONS:
            raise JobError(f"job spec: unknown trainer option {k!r} (known: {', '.join(sorted(DEFAULT_OPTIONS))})", 2)
        o[k] = v
    return o


def setup(job):
    """Chooses the device and makes every kernel deterministic. Returns (torch, device)."""
    # cuBLAS needs this before the first CUDA call to be deterministic.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    if job.threads > 0:
        torch.set_num_threads(job.threads)
    if torch.cuda.is_available():
        device = torch.device("cuda")
    elif os.environ.get("CROSSIN_HF_ALLOW_CPU") == "1":
        device = torch.device("cpu")
    else:
        raise JobError("no CUDA GPU is visible to the trainer: run it on a GPU machine "
                       "(container: --gpus all / CDI nvidia.com/gpu=all; Slurm: --gres=gpu:1), "
                       "or set CROSSIN_HF_ALLOW_CPU=1 for a slow CPU run", 3)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch, device


def torch_dtype(torch, name: str):
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def load_model(job, device, opts):
    """Loads the base model with AutoModelForCausalLM; clear errors for unsupported ones."""
    import torch
    import transformers

    cfg_path = os.path.join(job.model.dir, "config.json")
    if not os.path.isfile(cfg_path):
        raise JobError(f"model.dir {job.model.dir}: no config.json (want a Hugging Face model directory)", 2)
    try:
        config = transformers.AutoConfig.from_pretrained(job.model.dir, local_files_only=True)
    except (ValueError, KeyError) as e:
        raise JobError(f"model {job.model.dir}: unsupported architecture: {e}", 2)
    if type(config) not in transformers.MODEL_FOR_CAUSAL_LM_MAPPING:
        raise JobError(f"model {job.model.dir}: architecture {config.model_type!r} has no causal-LM head in transformers {transformers.__version__}", 2)
    dtype = torch_dtype(torch, job.model.dtype)
    kwargs = dict(local_files_only=True, attn_implementation=opts["attn_implementation"])
    # transformers 4.56 renamed torch_dtype to dtype (the old name warns in 5.x).
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    kwargs["dtype" if (major, minor) >= (4, 56) else "torch_dtype"] = dtype
    model = transformers.AutoModelForCausalLM.from_pretrained(job.model.dir, **kwargs)
    return model.to(device), config


def autocast(torch, device, dtype_name: str):
    """bf16/fp16 autocast on GPU for a low-precision base model; a no-op otherwise."""
    import contextlib

    if device.type == "cuda" and dtype_name in ("bfloat16", "float16"):
        return torch.autocast(device_type="cuda", dtype=torch_dtype(torch, dtype_name))
    return contextlib.nullcontext()


def versions() -> str:
    import peft
    import torch
    import transformers

    from . import __version__

    return f"crossin-trainer-hf {__version__} (torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__})"

"""Job spec (contract v2) parsing and validation, with no dependency on torch.

Unknown fields are an error, as the contract requires: a trainer must never
silently ignore a parameter it does not implement.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from . import CONTRACT
from .errors import JobError

KIND_TRAIN = "train"
KIND_EVAL = "eval"


def _take(obj: dict, allowed: dict, where: str) -> dict:
    """Checks obj's keys against allowed (name -> required) and returns obj."""
    if not isinstance(obj, dict):
        raise JobError(f"job spec: {where} must be an object", 2)
    for k in obj:
        if k not in allowed:
            raise JobError(f"job spec: unknown field {where}.{k} (this trainer implements: {', '.join(sorted(allowed))})", 2)
    for k, required in allowed.items():
        if required and k not in obj:
            raise JobError(f"job spec: {where}.{k} is required", 2)
    return obj


@dataclass(frozen=True)
class ModelRef:
    dir: str
    repo: str = ""
    revision: str = ""
    family: str = ""
    dtype: str = "bfloat16"


@dataclass(frozen=True)
class LoRA:
    r: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...]
    modules_to_save: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainParams:
    lora: LoRA
    learning_rate: float
    scheduler: str
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float
    loss_reduction: str  # "sample" or "token"
    checkpoint_every: int = 0
    gradient_checkpointing: bool = False
    init_adapter: str = ""


@dataclass(frozen=True)
class EvalParams:
    mode: str  # "generate" or "loglik"
    max_new_tokens: int = 0
    eos_token_ids: tuple[int, ...] = ()
    pad_token_id: int = 0
    batch_size: int = 0


@dataclass(frozen=True)
class JobSpec:
    kind: str
    model: ModelRef
    data: tuple[str, ...]
    seed: int
    output_dir: str
    adapter: str = ""
    train: TrainParams | None = None
    eval: EvalParams | None = None
    threads: int = 0
    # Trainer options: settings that may change bytes but never semantics
    # (attention kernel, micro-batch token budget); part of the cache key.
    options: dict[str, str] = field(default_factory=dict)


_TOP = {"contract": True, "kind": True, "model": True, "adapter": False, "data": True,
        "train": False, "eval": False, "seed": True, "output_dir": True, "threads": False,
        "options": False}
_MODEL = {"dir": True, "repo": False, "revision": False, "family": False, "dtype": False}
_LORA = {"r": True, "alpha": True, "dropout": True, "target_modules": True, "modules_to_save": False}
_TRAIN = {"lora": True, "learning_rate": True, "scheduler": True, "warmup_ratio": True,
          "weight_decay": True, "max_grad_norm": True, "loss_reduction": False,
          "checkpoint_every": False, "gradient_checkpointing": False, "init_adapter": False,
          # Informational in v2: the runner applied them when it wrote the
          # tokenized steps; a trainer must not apply them again.
          "epochs": False, "max_steps": False, "batch_size": False, "grad_accum": False,
          "max_length": False}
_EVAL = {"mode": True, "max_new_tokens": False, "eos_token_ids": False, "pad_token_id": False,
         "batch_size": False,
         # Informational in v2: the runner built and tokenized the prompts.
         "benchmark": False, "languages": False, "prompt_template": False, "prompt": False,
         "length_norm": False, "limit": False}

SCHEDULERS = ("cosine", "linear", "constant")
DTYPES = ("float32", "bfloat16", "float16")


def parse(obj: Any, name: str = "job spec") -> JobSpec:
    """Parses a decoded JSON job spec; raises JobError with a one-line reason."""
    _take(obj, _TOP, "spec")
    if obj["contract"] != CONTRACT:
        raise JobError(f"{name}: contract {obj['contract']!r}, this trainer implements {CONTRACT!r}", 2)
    kind = obj["kind"]
    if kind not in (KIND_TRAIN, KIND_EVAL):
        raise JobError(f"{name}: kind {kind!r}, want 'train' or 'eval'", 2)
    m = _take(obj["model"], _MODEL, "model")
    model = ModelRef(dir=m["dir"], repo=m.get("repo", ""), revision=m.get("revision", ""),
                     family=m.get("family", ""), dtype=m.get("dtype") or "bfloat16")
    if model.dtype not in DTYPES:
        raise JobError(f"{name}: model.dtype {model.dtype!r}, want one of {', '.join(DTYPES)}", 2)
    data = obj["data"]
    if not isinstance(data, list) or not data or not all(isinstance(p, str) and p for p in data):
        raise JobError(f"{name}: data must be a non-empty list of file paths", 2)
    if not isinstance(obj["output_dir"], str) or not os.path.isabs(obj["output_dir"]):
        raise JobError(f"{name}: output_dir must be an absolute path", 2)
    seed = obj["seed"]
    if not isinstance(seed, int):
        raise JobError(f"{name}: seed must be an integer", 2)
    train = ev = None
    if kind == KIND_TRAIN:
        if "train" not in obj:
            raise JobError(f"{name}: kind train needs \"train\" parameters", 2)
        t = _take(obj["train"], _TRAIN, "train")
        lo = _take(t["lora"], _LORA, "train.lora")
        if not isinstance(lo["r"], int) or lo["r"] < 1:
            raise JobError(f"{name}: train.lora.r must be a positive integer", 2)
        if not lo["target_modules"]:
            raise JobError(f"{name}: train.lora.target_modules is empty", 2)
        lora = LoRA(r=lo["r"], alpha=float(lo["alpha"]), dropout=float(lo["dropout"]),
                    target_modules=tuple(lo["target_modules"]),
                    modules_to_save=tuple(lo.get("modules_to_save") or ()))
        if t["scheduler"] not in SCHEDULERS:
            raise JobError(f"{name}: train.scheduler {t['scheduler']!r}, want one of {', '.join(SCHEDULERS)}", 2)
        reduction = t.get("loss_reduction") or "token"
        if reduction not in ("sample", "token"):
            raise JobError(f"{name}: train.loss_reduction {reduction!r}, want 'sample' or 'token'", 2)
        train = TrainParams(lora=lora, learning_rate=float(t["learning_rate"]), scheduler=t["scheduler"],
                            warmup_ratio=float(t["warmup_ratio"]), weight_decay=float(t["weight_decay"]),
                            max_grad_norm=float(t["max_grad_norm"]), loss_reduction=reduction,
                            checkpoint_every=int(t.get("checkpoint_every") or 0),
                            gradient_checkpointing=bool(t.get("gradient_checkpointing", False)),
                            init_adapter=t.get("init_adapter", "") or "")
    else:
        if "eval" not in obj:
            raise JobError(f"{name}: kind eval needs \"eval\" parameters", 2)
        e = _take(obj["eval"], _EVAL, "eval")
        if e["mode"] not in ("generate", "loglik"):
            raise JobError(f"{name}: eval.mode {e['mode']!r}, want 'generate' or 'loglik'", 2)
        if e["mode"] == "generate" and int(e.get("max_new_tokens") or 0) < 1:
            raise JobError(f"{name}: eval.max_new_tokens must be >= 1 in generate mode", 2)
        ev = EvalParams(mode=e["mode"], max_new_tokens=int(e.get("max_new_tokens") or 0),
                        eos_token_ids=tuple(e.get("eos_token_ids") or ()),
                        pad_token_id=int(e.get("pad_token_id") or 0),
                        batch_size=int(e.get("batch_size") or 0))
    opts = obj.get("options") or {}
    if not isinstance(opts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in opts.items()):
        raise JobError(f"{name}: options must map names to strings", 2)
    return JobSpec(options=dict(opts), kind=kind, model=model, data=tuple(data), seed=seed, output_dir=obj["output_dir"],
                   adapter=obj.get("adapter", "") or "", train=train, eval=ev,
                   threads=int(obj.get("threads") or 0))


def read(path: str) -> JobSpec:
    """Reads and parses a job spec file."""
    try:
        with open(path, "rb") as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise JobError(f"{path}: no such job spec file", 2)
    except json.JSONDecodeError as e:
        raise JobError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}", 2)
    return parse(obj, path)

"""Tokenized inputs of contract v2, and the batching plan, without torch.

Train files hold one example per line, in the order crossin's runner decided
(shuffling, epochs and the last partial step are the runner's business):

    {"step": 0, "input_ids": [1, 835, ...], "labels": [-100, ..., 835, 2]}

Every line belongs to one optimiser step; steps start at 0, never decrease
and have no gaps. labels has the length of input_ids; -100 marks positions
without loss (the prompt). Labels are *not* shifted: as in Hugging Face,
position t's logits predict labels[t+1].

Eval files hold one prompt per question and language:

    {"id": "q1", "language": "English", "prompt_ids": [...],
     "options": [[...], ...], "score_tokens": [2, 1, ...]}

options and score_tokens only in log-likelihood mode: option i's sequence is
prompt_ids + options[i], and its score is the summed log-likelihood of its
last score_tokens[i] tokens (the runner splits prompt and option as
lm-evaluation-harness does, so an option may begin with tokens that belong to
the context; score_tokens defaults to the whole option).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import JobError

IGNORE = -100


@dataclass(frozen=True)
class Example:
    step: int
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]

    @property
    def n_label_tokens(self) -> int:
        # Position 0's label never has a prediction (nothing precedes it).
        return sum(1 for t in self.labels[1:] if t != IGNORE)


@dataclass(frozen=True)
class Prompt:
    id: str
    language: str
    prompt_ids: tuple[int, ...]
    options: tuple[tuple[int, ...], ...] = ()
    score_tokens: tuple[int, ...] = ()


def _ints(v, path, lineno, name, allow_ignore=False):
    if not isinstance(v, list) or not v:
        raise JobError(f"{path}:{lineno}: {name} must be a non-empty list of token ids", 2)
    for t in v:
        if not isinstance(t, int) or isinstance(t, bool) or (t < 0 and not (allow_ignore and t == IGNORE)):
            raise JobError(f"{path}:{lineno}: {name} holds {t!r}, want token ids >= 0" +
                           (" or -100" if allow_ignore else ""), 2)
    return tuple(v)


def _jsonl(paths):
    """Yields (path, line number, decoded object) for every non-blank line."""
    for path in paths:
        with open(path, "rb") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield path, lineno, json.loads(line)
                except json.JSONDecodeError as e:
                    raise JobError(f"{path}:{lineno}: invalid JSON: {e.msg}", 2)


def read_train(paths) -> list[Example]:
    """Reads tokenized training examples and checks the step structure."""
    out: list[Example] = []
    want = 0
    for path, lineno, o in _jsonl(paths):
        if not isinstance(o, dict) or set(o) - {"step", "input_ids", "labels", "id"}:
            raise JobError(f"{path}:{lineno}: want an object with step, input_ids, labels", 2)
        step = o.get("step")
        if not isinstance(step, int):
            raise JobError(f"{path}:{lineno}: step must be an integer", 2)
        if step not in (want, want - 1) or (step == want - 1 and not out):
            raise JobError(f"{path}:{lineno}: step {step} after step {want - 1}: steps must start at 0 and grow by one", 2)
        ids = _ints(o.get("input_ids"), path, lineno, "input_ids")
        labels = _ints(o.get("labels"), path, lineno, "labels", allow_ignore=True)
        if len(ids) != len(labels):
            raise JobError(f"{path}:{lineno}: {len(ids)} input_ids but {len(labels)} labels", 2)
        out.append(Example(step, ids, labels))
        want = step + 1
    if not out:
        raise JobError("train data: no examples", 2)
    return out


def group_steps(examples: list[Example]) -> list[list[Example]]:
    """Splits the examples into optimiser steps, in order."""
    steps: list[list[Example]] = []
    for ex in examples:
        if ex.step == len(steps):
            steps.append([])
        steps[-1].append(ex)
    return steps


def plan_micro_batches(lengths: list[int], token_budget: int) -> list[list[int]]:
    """Groups the examples of one optimiser step into micro-batches.

    Examples are sorted by length (longest first, ties by position) so that
    padding is small, then packed greedily while the padded size
    (count x longest) stays within token_budget; an example longer than the
    budget gets a micro-batch of its own. The plan depends only on the
    lengths and the budget, so it is deterministic; the loss is the same
    for any plan (see train.py), only the floating-point summation order
    differs, which is why the budget is part of the job spec.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i in order:
        n = lengths[i]
        if cur and max(longest, n) * (len(cur) + 1) > token_budget:
            batches.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        batches.append(cur)
    return batches


def sample_weights(examples: list[Example], reduction: str) -> list[float]:
    """Per-token loss weights of each example in one optimiser step.

    The step's loss is sum over examples of weight x (sum of the example's
    token losses):
      - "sample": every example weighs the same (the mean of per-example mean
        losses; Hugging Face Trainer with micro-batch 1 and gradient
        accumulation, as the CrossIn reference ran);
      - "token": every label token of the step weighs the same.
    Examples without label tokens get weight 0 and still count as samples
    under "sample", like a micro-batch whose loss is 0.
    """
    if reduction == "sample":
        n = len(examples)
        return [(1.0 / (ex.n_label_tokens * n)) if ex.n_label_tokens else 0.0 for ex in examples]
    if reduction == "token":
        total = sum(ex.n_label_tokens for ex in examples)
        return [(1.0 / total) if total else 0.0 for _ in examples]
    raise ValueError(f"loss reduction {reduction!r}")


def read_prompts(paths, mode: str) -> list[Prompt]:
    """Reads tokenized evaluation prompts."""
    out: list[Prompt] = []
    seen = set()
    for path, lineno, o in _jsonl(paths):
        if not isinstance(o, dict) or not isinstance(o.get("id"), str) or not isinstance(o.get("language"), str):
            raise JobError(f"{path}:{lineno}: want an object with id, language, prompt_ids", 2)
        key = (o["id"], o["language"])
        if key in seen:
            raise JobError(f"{path}:{lineno}: duplicate prompt {o['id']}/{o['language']}", 2)
        seen.add(key)
        ids = _ints(o.get("prompt_ids"), path, lineno, "prompt_ids")
        opts: tuple[tuple[int, ...], ...] = ()
        score: tuple[int, ...] = ()
        if mode == "loglik":
            raw = o.get("options")
            if not isinstance(raw, list) or not raw:
                raise JobError(f"{path}:{lineno}: loglik mode needs options (token ids per option)", 2)
            opts = tuple(_ints(x, path, lineno, "options[]") for x in raw)
            st = o.get("score_tokens", [len(x) for x in opts])
            if (not isinstance(st, list) or len(st) != len(opts)
                    or any(not isinstance(k, int) or not 1 <= k <= len(x) for k, x in zip(st, opts))):
                raise JobError(f"{path}:{lineno}: score_tokens must give, per option, 1..len(option) tokens to score", 2)
            score = tuple(st)
        out.append(Prompt(o["id"], o["language"], ids, opts, score))
    if not out:
        raise JobError("eval data: no prompts", 2)
    return out


def inputs_digest(kind: str, paths, mode: str = "generate") -> dict:
    """A digest of the inputs as this trainer reads them.

    crossin's Go side computes the same digest from the same files
    (jobdata.InputsDigest); a test compares the two, which proves that the
    embedded engine and this trainer see identical examples, steps and
    prompts.
    """
    import hashlib

    h = hashlib.sha256()
    if kind == "train":
        exs = read_train(paths)
        for e in exs:
            h.update(f"{e.step}:{','.join(map(str, e.input_ids))}:{','.join(map(str, e.labels))}\n".encode())
        return {"kind": kind, "steps": len(group_steps(exs)), "examples": len(exs), "sha256": h.hexdigest()}
    ps = read_prompts(paths, mode)
    for p in ps:
        opts = ";".join(",".join(map(str, o)) for o in p.options)
        h.update(f"{p.id}\t{p.language}\t{','.join(map(str, p.prompt_ids))}\t{opts}\t{','.join(map(str, p.score_tokens))}\n".encode())
    return {"kind": kind, "prompts": len(ps), "sha256": h.hexdigest()}

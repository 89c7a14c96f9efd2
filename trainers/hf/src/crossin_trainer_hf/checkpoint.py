"""Checkpoint bookkeeping: which checkpoint is complete, which is latest, pruning.

A checkpoint is a directory checkpoints/step-NNNNNNNN. It is written under a
temporary name and renamed when complete, and state.json inside is written
last, so a directory without state.json (a kill mid-write) is never used.
"""

from __future__ import annotations

import json
import os
import re
import shutil

from .manifest import atomic_write

_NAME = re.compile(r"^step-(\d{8})$")
STATE = "state.json"


def path(root: str, step: int) -> str:
    return os.path.join(root, f"step-{step:08d}")


def complete(root: str) -> list[int]:
    """Steps of the complete checkpoints under root, ascending."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    steps = []
    for n in names:
        m = _NAME.match(n)
        if m and os.path.isfile(os.path.join(root, n, STATE)):
            steps.append(int(m.group(1)))
    return sorted(steps)


def latest(root: str):
    """(step, state) of the newest complete checkpoint, or (0, None)."""
    steps = complete(root)
    if not steps:
        return 0, None
    s = steps[-1]
    with open(os.path.join(path(root, s), STATE), "rb") as f:
        return s, json.load(f)


def begin(root: str, step: int) -> str:
    """Returns a fresh temporary directory to write the checkpoint of step into."""
    tmp = path(root, step) + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    return tmp


def commit(root: str, step: int, tmp: str, state: dict, keep: int = 2) -> None:
    """Writes state.json last, renames tmp into place and prunes old checkpoints."""
    atomic_write(os.path.join(tmp, STATE), json.dumps(state, sort_keys=True).encode())
    final = path(root, step)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    for s in complete(root)[:-keep]:
        shutil.rmtree(path(root, s), ignore_errors=True)
    for n in os.listdir(root):
        if n.endswith(".tmp") and os.path.join(root, n) != tmp:
            shutil.rmtree(os.path.join(root, n), ignore_errors=True)

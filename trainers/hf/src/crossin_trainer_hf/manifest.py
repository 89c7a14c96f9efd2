"""Atomic writes, file hashes and manifest.json (written last)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

from . import CONTRACT

MANIFEST = "manifest.json"


def atomic_write(path: str, data: bytes) -> None:
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def write(output_dir: str, kind: str, trainer: str, files: list[str], summary: dict) -> dict:
    """Hashes files (relative to output_dir, '/'-separated) and writes the manifest last."""
    m = {
        "contract": CONTRACT,
        "kind": kind,
        "trainer": trainer,
        "files": {rel: sha256_file(os.path.join(output_dir, *rel.split("/"))) for rel in sorted(files)},
        "summary": summary,
    }
    atomic_write(os.path.join(output_dir, MANIFEST), (json.dumps(m, indent=1, sort_keys=True) + "\n").encode())
    return m


def remove(output_dir: str) -> None:
    """Removes a manifest left by an earlier run: a re-run is not done until it writes a new one."""
    try:
        os.unlink(os.path.join(output_dir, MANIFEST))
    except FileNotFoundError:
        pass

import json
import os
import subprocess
import sys

import pytest

SRC = os.path.join(os.path.dirname(__file__), "..", "src")


def run(*args, env=None):
    e = dict(os.environ, PYTHONPATH=SRC)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "crossin_trainer_hf", *args], capture_output=True, text=True, env=e)


def test_usage():
    r = run()
    assert r.returncode == 2 and "usage" in r.stderr


def test_bad_spec_one_line_no_manifest(job, tmp_path):
    s, write = job
    s["train"]["lora"]["r"] = -1
    r = run(write())
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "train.lora.r" in r.stderr
    assert not os.path.exists(os.path.join(s["output_dir"], "manifest.json"))


def test_missing_stack_or_gpu_is_one_line(job):
    """Without transformers (CI) or without a GPU the job fails cleanly, exit 3, no manifest."""
    s, write = job
    out = s["output_dir"]
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, "manifest.json"), "w").write("{}")  # stale: must be removed
    r = run(write(), env={"CROSSIN_HF_ALLOW_CPU": ""})
    assert r.returncode == 3, r.stderr
    assert r.stderr.count("\n") == 1
    assert ("no CUDA GPU" in r.stderr) or ("Python stack is incomplete" in r.stderr)
    assert not os.path.exists(os.path.join(out, "manifest.json"))
    log = open(os.path.join(out, "trainer.log")).read()
    assert "== attempt 1" in log

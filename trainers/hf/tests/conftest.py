import json
import os

import pytest


@pytest.fixture
def job(tmp_path):
    """A valid train job spec (dict) and a writer for it."""
    data = tmp_path / "train.tokens.jsonl"
    data.write_text("".join(json.dumps(x) + "\n" for x in [
        {"step": 0, "input_ids": [1, 5, 6, 7], "labels": [-100, -100, 6, 7]},
        {"step": 0, "input_ids": [1, 8, 9], "labels": [-100, 8, 9]},
        {"step": 1, "input_ids": [1, 4], "labels": [-100, 4]},
    ]))
    spec = {
        "contract": "crossin.trainer/v2", "kind": "train",
        "model": {"dir": str(tmp_path / "model"), "dtype": "float32"},
        "data": [str(data)], "seed": 42, "output_dir": str(tmp_path / "out"),
        "train": {"lora": {"r": 8, "alpha": 16, "dropout": 0.05,
                           "target_modules": ["q_proj", "v_proj"], "modules_to_save": ["lm_head"]},
                  "learning_rate": 1e-4, "scheduler": "cosine", "warmup_ratio": 0.03,
                  "weight_decay": 0.01, "max_grad_norm": 1.0, "loss_reduction": "sample"},
    }

    def write(obj=None):
        p = tmp_path / "spec.json"
        p.write_text(json.dumps(spec if obj is None else obj))
        return str(p)

    return spec, write

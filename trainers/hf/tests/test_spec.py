import copy

import pytest

from crossin_trainer_hf import spec
from crossin_trainer_hf.errors import JobError


def test_parse_valid(job):
    s, _ = job
    j = spec.parse(s)
    assert j.kind == "train"
    assert j.train.lora.target_modules == ("q_proj", "v_proj")
    assert j.train.lora.modules_to_save == ("lm_head",)
    assert j.train.loss_reduction == "sample"
    assert j.options == {}


@pytest.mark.parametrize("mutate,msg", [
    (lambda s: s.update(contract="crossin.trainer/v1"), "contract"),
    (lambda s: s.update(kind="finetune"), "kind"),
    (lambda s: s.update(bogus=1), "unknown field spec.bogus"),
    (lambda s: s["train"].update(lr=1), "unknown field train.lr"),
    (lambda s: s["train"]["lora"].update(r=0), "train.lora.r"),
    (lambda s: s["train"].update(loss_reduction="mean"), "loss_reduction"),
    (lambda s: s["train"].update(scheduler="step"), "train.scheduler"),
    (lambda s: s.update(output_dir="relative/out"), "absolute"),
    (lambda s: s["model"].update(dtype="int8"), "model.dtype"),
    (lambda s: s.pop("train"), "train"),
    (lambda s: s.update(data=[]), "data"),
    (lambda s: s.update(options={"x": 1}), "options"),
])
def test_parse_rejects(job, mutate, msg):
    s, _ = job
    s = copy.deepcopy(s)
    mutate(s)
    with pytest.raises(JobError) as e:
        spec.parse(s)
    assert msg in str(e.value)
    assert "\n" not in str(e.value)
    assert e.value.exit_code == 2


def test_eval_needs_max_new_tokens(job):
    s, _ = job
    s = copy.deepcopy(s)
    s.pop("train")
    s["kind"] = "eval"
    s["eval"] = {"mode": "generate"}
    with pytest.raises(JobError, match="max_new_tokens"):
        spec.parse(s)
    s["eval"] = {"mode": "generate", "max_new_tokens": 128, "eos_token_ids": [2], "pad_token_id": 0}
    assert spec.parse(s).eval.eos_token_ids == (2,)


def test_read_reports_json_position(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"contract": \n  oops}')
    with pytest.raises(JobError, match=r"bad.json:2:3: invalid JSON"):
        spec.read(str(p))

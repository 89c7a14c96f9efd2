import json

import pytest

from crossin_trainer_hf import data
from crossin_trainer_hf.errors import JobError


def write(tmp_path, rows, name="d.jsonl"):
    p = tmp_path / name
    p.write_text("".join((json.dumps(r) if not isinstance(r, str) else r) + "\n" for r in rows))
    return str(p)


def test_read_train_and_group(tmp_path):
    p = write(tmp_path, [
        {"step": 0, "input_ids": [1, 2], "labels": [-100, 2]},
        {"step": 0, "input_ids": [1, 3, 4], "labels": [-100, 3, 4]},
        {"step": 1, "input_ids": [1, 5], "labels": [-100, 5]},
    ])
    ex = data.read_train([p])
    steps = data.group_steps(ex)
    assert [len(s) for s in steps] == [2, 1]
    assert steps[0][1].input_ids == (1, 3, 4)
    assert ex[1].n_label_tokens == 2


@pytest.mark.parametrize("rows,msg", [
    ([{"step": 1, "input_ids": [1], "labels": [1]}], "steps must start at 0"),
    ([{"step": 0, "input_ids": [1], "labels": [1]}, {"step": 2, "input_ids": [1], "labels": [1]}], "grow by one"),
    ([{"step": 0, "input_ids": [1, 2], "labels": [1]}], "2 input_ids but 1 labels"),
    ([{"step": 0, "input_ids": [1, -100], "labels": [1, 1]}], "input_ids holds -100"),
    ([{"step": 0, "input_ids": [], "labels": []}], "non-empty"),
    (["{not json"], "invalid JSON"),
    ([{"step": 0, "input_ids": [1], "labels": [1], "text": "x"}], "want an object"),
])
def test_read_train_errors_have_positions(tmp_path, rows, msg):
    p = write(tmp_path, rows)
    with pytest.raises(JobError) as e:
        data.read_train([p])
    assert msg in str(e.value)
    assert str(e.value).startswith(p + ":")


def test_plan_micro_batches_deterministic_and_complete():
    lengths = [5, 100, 7, 100, 3, 60, 60, 1]
    plan = data.plan_micro_batches(lengths, 200)
    assert plan == data.plan_micro_batches(lengths, 200)
    flat = sorted(i for mb in plan for i in mb)
    assert flat == list(range(len(lengths)))
    for mb in plan:
        longest = max(lengths[i] for i in mb)
        assert longest * len(mb) <= 200 or len(mb) == 1
    # longest first, ties by position
    assert plan[0] == [1, 3]


def test_plan_over_budget_alone():
    assert data.plan_micro_batches([500, 10], 100) == [[0], [1]]


def test_sample_weights():
    exs = [data.Example(0, (1, 2, 3), (-100, 2, 3)), data.Example(0, (1, 2, 3, 4, 5), (-100, -100, 3, 4, 5))]
    w = data.sample_weights(exs, "sample")
    # each example's tokens sum to 1/n
    assert w[0] * 2 == pytest.approx(0.5) and w[1] * 3 == pytest.approx(0.5)
    t = data.sample_weights(exs, "token")
    assert t == [pytest.approx(1 / 5)] * 2
    empty = [data.Example(0, (1, 2), (-100, -100)), exs[0]]
    assert data.sample_weights(empty, "sample")[0] == 0.0


def test_read_prompts(tmp_path):
    p = write(tmp_path, [
        {"id": "q1", "language": "English", "prompt_ids": [1, 2], "options": [[3], [4, 5]]},
        {"id": "q1", "language": "Chinese", "prompt_ids": [1, 9], "options": [[3], [4]]},
    ])
    ps = data.read_prompts([p], "loglik")
    assert ps[0].options == ((3,), (4, 5))
    assert ps[0].score_tokens == (1, 2)
    assert data.read_prompts([p], "generate")[1].options == ()
    dup = write(tmp_path, [{"id": "q", "language": "English", "prompt_ids": [1]}] * 2, "dup.jsonl")
    with pytest.raises(JobError, match="duplicate prompt q/English"):
        data.read_prompts([dup], "generate")


def test_score_tokens_checked(tmp_path):
    ok = write(tmp_path, [{"id": "q", "language": "English", "prompt_ids": [1], "options": [[3, 4]], "score_tokens": [1]}], "ok.jsonl")
    assert data.read_prompts([ok], "loglik")[0].score_tokens == (1,)
    bad = write(tmp_path, [{"id": "q", "language": "English", "prompt_ids": [1], "options": [[3]], "score_tokens": [2]}], "bad.jsonl")
    with pytest.raises(JobError, match="score_tokens"):
        data.read_prompts([bad], "loglik")

"""The per-example weights reproduce Hugging Face's micro-batch-1 accumulation.

Reference semantics (CrossIn's run_training.sh: micro-batch 1, gradient
accumulation 16): every micro-batch's loss is the mean over its label tokens,
divided by the accumulation steps, and the gradients add up. The trainer
instead runs length-sorted, padded micro-batches with per-token weights
(data.sample_weights); the gradient must be the same. A tiny torch module
stands in for the model: the property is about the loss arithmetic only.
"""

import pytest

torch = pytest.importorskip("torch")

from crossin_trainer_hf import data  # noqa: E402


def tiny(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Embedding(20, 8), torch.nn.Linear(8, 20))


def examples():
    return [
        data.Example(0, (1, 5, 6, 7, 8), (-100, -100, 6, 7, 8)),
        data.Example(0, (1, 9, 3), (-100, 9, 3)),
        data.Example(0, (1, 2, 3, 4, 5, 6, 7), (-100, -100, -100, -100, 5, 6, 7)),
    ]


def grads(m):
    return torch.cat([p.grad.flatten() for p in m.parameters()])


@pytest.mark.parametrize("reduction", ["sample", "token"])
@pytest.mark.parametrize("budget", [1, 8, 1000])
def test_weighted_microbatches_match_reference(reduction, budget):
    F = torch.nn.functional
    exs = examples()
    ref = tiny()
    if reduction == "sample":
        for e in exs:  # HF Trainer, micro-batch 1, loss / accumulation
            ids = torch.tensor([e.input_ids])
            lab = torch.tensor([e.labels])
            logits = ref(ids)[:, :-1]
            loss = F.cross_entropy(logits.reshape(-1, 20), lab[:, 1:].reshape(-1), ignore_index=-100)
            (loss / len(exs)).backward()
    else:  # one batch, mean over all label tokens
        tot = sum(e.n_label_tokens for e in exs)
        for e in exs:
            ids = torch.tensor([e.input_ids])
            lab = torch.tensor([e.labels])
            logits = ref(ids)[:, :-1]
            s = F.cross_entropy(logits.reshape(-1, 20), lab[:, 1:].reshape(-1), ignore_index=-100, reduction="sum")
            (s / tot).backward()
    ours = tiny()
    w = data.sample_weights(exs, reduction)
    for mb in data.plan_micro_batches([len(e.input_ids) for e in exs], budget):
        T = max(len(exs[i].input_ids) for i in mb)
        ids = torch.zeros((len(mb), T), dtype=torch.long)
        lab = torch.full((len(mb), T), -100, dtype=torch.long)
        tw = torch.zeros((len(mb), T))
        for r, i in enumerate(mb):
            n = len(exs[i].input_ids)
            ids[r, :n] = torch.tensor(exs[i].input_ids)
            lab[r, :n] = torch.tensor(exs[i].labels)
            tw[r, :n] = w[i]
        tgt = lab[:, 1:]
        sel = tgt != -100
        logits = ours(ids)[:, :-1][sel]
        (F.cross_entropy(logits, tgt[sel], reduction="none") * tw[:, 1:][sel]).sum().backward()
    torch.testing.assert_close(grads(ours), grads(ref), rtol=1e-6, atol=1e-7)

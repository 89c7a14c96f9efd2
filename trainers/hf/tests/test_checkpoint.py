import json
import os

from crossin_trainer_hf import checkpoint, manifest


def test_latest_ignores_incomplete(tmp_path):
    root = str(tmp_path / "checkpoints")
    assert checkpoint.latest(root) == (0, None)
    for s in (10, 20):
        tmp = checkpoint.begin(root, s)
        open(os.path.join(tmp, "w.bin"), "wb").write(b"x")
        checkpoint.commit(root, s, tmp, {"step": s})
    # a kill while writing step 30: a .tmp dir, and a dir without state.json
    os.makedirs(os.path.join(root, "step-00000030.tmp"))
    os.makedirs(os.path.join(root, "step-00000040"))
    assert checkpoint.latest(root) == (20, {"step": 20})


def test_commit_prunes_to_keep(tmp_path):
    root = str(tmp_path / "c")
    for s in (1, 2, 3, 4):
        checkpoint.commit(root, s, checkpoint.begin(root, s), {"step": s}, keep=2)
    assert checkpoint.complete(root) == [3, 4]
    assert not [n for n in os.listdir(root) if n.endswith(".tmp")]


def test_manifest_hashes_and_is_last(tmp_path):
    out = str(tmp_path)
    manifest.atomic_write(os.path.join(out, "loss.json"), b'{"steps": []}\n')
    os.makedirs(os.path.join(out, "adapter"))
    manifest.atomic_write(os.path.join(out, "adapter", "a.bin"), b"abc")
    m = manifest.write(out, "train", "t", ["loss.json", "adapter/a.bin"], {"steps": 0})
    assert m["contract"] == "crossin.trainer/v2"
    assert m["files"]["adapter/a.bin"] == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    again = json.load(open(os.path.join(out, "manifest.json")))
    assert again == m
    manifest.remove(out)
    assert not os.path.exists(os.path.join(out, "manifest.json"))
    assert not [n for n in os.listdir(out) if n.startswith(".tmp-")]

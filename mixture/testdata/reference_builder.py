#!/usr/bin/env python3
"""A re-statement, for tests, of the draws CrossIn's reference data builder
makes (GitHub Lingy12/CrossIn: build_dataset.py for the English Base set,
build_dataset_with_alignment.py for modes 1 en2x, 2 x2en and 3 trans) and of
the records it writes, in its order. Written from the facts of those
scripts, not copied from them; it reads JSON arrays instead of calling
datasets.load_dataset, which yields the same rows in the same order.

Usage: reference_builder.py CONFIG.json, where CONFIG has
  seed       np.random.seed argument (the reference uses 0)
  base       path of the English Base set (a JSON array), or null
  languages  the parallel languages in order, English first
  files      {lang: path of a JSON array}, rows aligned by position
  volume     add_sample: a count, or -1 for "all"
  modes      which of 1, 2, 3 to print
Prints one JSON object per record: {"instruction", "input", "output"}.
"""
import json
import sys

import numpy as np


def rows(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main():
    cfg = json.load(open(sys.argv[1], encoding="utf-8"))
    out = []
    if cfg.get("base"):
        # build_dataset.py: seed, then the whole English set in the order
        # of np.random.choice(n, size=n, replace=False).
        np.random.seed(cfg["seed"])
        base = rows(cfg["base"])
        for k in np.random.choice(a=len(base), size=len(base), replace=False):
            r = base[int(k)]
            out.append({"instruction": r["instruction"], "input": r["input"], "output": r["output"]})
    langs, volume = cfg["languages"], cfg["volume"]
    if cfg.get("modes"):
        np.random.seed(cfg["seed"])
        sets = {}
        for lang in langs:
            ds = rows(cfg["files"][lang])
            sets[lang] = ds
            size = len(ds)
            if lang != "en" and volume != -1:
                size = volume
            np.random.choice(a=len(ds), size=size, replace=False)  # a sample the build never uses
        p = np.array([0] + [1 / (len(langs) - 1)] * (len(langs) - 1))
        n = volume if volume > 0 else len(sets["en"])
        sel = np.random.choice(langs, size=n, replace=True, p=p)
        modes = {1: [], 2: [], 3: []}
        for i in range(n):
            k = int(np.random.choice(len(sets["en"])))
            en, x, lang = sets["en"][k], sets[sel[i]][k], str(sel[i])
            modes[1].append({"instruction": en["instruction"], "input": en["input"] + "\n" + "[" + lang + "]", "output": x["output"]})
            modes[2].append({"instruction": x["instruction"], "input": x["input"] + "\n[en]", "output": en["output"]})
            modes[3].append({"instruction": "Translate the following sentence into English.", "input": x["instruction"], "output": en["instruction"]})
        for m in (1, 2, 3):
            if m in cfg["modes"]:
                out.extend(modes[m])
    for r in out:
        sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

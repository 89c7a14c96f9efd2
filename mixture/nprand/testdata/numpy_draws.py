#!/usr/bin/env python3
"""Print numpy's legacy RandomState draws for the cases nprand is tested on.

One JSON object per line: the case (seed, op, args) and the values numpy
returns. Floats are printed as the integer of their IEEE-754 bits, so the
comparison is exact. Run by nprand's tests (go test ./mixture/nprand); with
-update they also rewrite numpy.golden from this output.
"""
import json
import sys

import numpy as np

SEEDS = [0, 1, 42, 12345, 2**32 - 1]
HIGHS = [1, 2, 3, 7, 10, 52002, 2**31, 2**31 + 1, 2**32 - 1, 2**32, 2**32 + 1, 2**40 + 3, 2**62, 2**63 - 1]


def cases():
    for seed in SEEDS + [[1, 2, 3], [0], [2**32 - 1, 7, 99, 5]]:
        yield {"seed": seed, "op": "state", "args": [0]}
        yield {"seed": seed, "op": "state", "args": [1000]}
        yield {"seed": seed, "op": "uint32", "args": [2000]}
        yield {"seed": seed, "op": "random_sample", "args": [2000]}
    for seed in SEEDS:
        for high in HIGHS:
            yield {"seed": seed, "op": "randint", "args": [0, high, 2000]}
        yield {"seed": seed, "op": "randint", "args": [-5, 5, 2000]}
        yield {"seed": seed, "op": "randint", "args": [-(2**40), 2**40, 2000]}
        yield {"seed": seed, "op": "randint_scalar", "args": [0, 52002, 500]}
        for size in [0, 1, 2, 10, 1000, 52002]:
            yield {"seed": seed, "op": "permutation", "args": [size]}
        yield {"seed": seed, "op": "choice_noreplace", "args": [1000, 300]}
        yield {"seed": seed, "op": "choice_scalar", "args": [52002, 500]}
        for p in [[0, 1 / 3, 1 / 3, 1 / 3], [0.1, 0.2, 0.3, 0.4], [0.5, 0.5], [0, 0.5, 0, 0.5], [1.0]]:
            yield {"seed": seed, "op": "choice_p", "args": [p, 2000]}


def run(case):
    seed = case["seed"]
    rs = np.random.RandomState()
    np.random.seed(0)  # the module-level state is the same class; use both
    rs.seed(np.array(seed, dtype=np.int64) if isinstance(seed, list) else seed)
    op, args = case["op"], case["args"]
    if op == "state":
        rs.randint(0, 2**32, size=args[0], dtype=np.uint64)
        _, key, pos, _, _ = rs.get_state()
        return [int(x) for x in key] + [int(pos)]
    if op == "uint32":
        return rs.randint(0, 2**32, size=args[0], dtype=np.uint64).tolist()
    if op == "random_sample":
        return rs.random_sample(args[0]).view(np.uint64).tolist()
    if op == "randint":
        low, high, k = args
        return rs.randint(low, high, size=k).tolist()
    if op == "randint_scalar":
        low, high, k = args
        return [int(rs.randint(low, high)) for _ in range(k)]
    if op == "permutation":
        return rs.permutation(args[0]).tolist()
    if op == "choice_noreplace":
        return rs.choice(args[0], size=args[1], replace=False).tolist()
    if op == "choice_scalar":
        return [int(rs.choice(args[0])) for _ in range(args[1])]
    if op == "choice_p":
        p, k = args
        return rs.choice(len(p), size=k, replace=True, p=p).tolist()
    raise SystemExit("unknown op " + op)


def main():
    out = sys.stdout
    for case in cases():
        case["values"] = run(case)
        out.write(json.dumps(case) + "\n")


if __name__ == "__main__":
    main()

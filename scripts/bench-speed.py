#!/usr/bin/env python3
"""bench-speed: this build of crossin against a baseline build, in one run.

`make bench-speed` runs it (not part of CI: it takes minutes and its figures
depend on the machine's load, printed with each figure; only ratios from
the same run mean anything).

For this build (BIN, default bin/crossin) and for the baseline commit
(BASELINE, default dca91cd; built once from `git archive` into
$XDG_CACHE_HOME/crossin-bench/COMMIT and reused), alternating baseline,
current, baseline, current ... for ROUNDS rounds (default 1):

  1. the quickstart from a fresh empty cache ($CROSSIN_CACHE) and results
     directory (-o): CPU time (user+sys), wall time and peak RSS of the
     `crossin run` process (wait4's rusage);
  2. a one-cell edit in watch mode on that warm cache: `crossin watch --json`
     on the same copy of the spec; once its first table is shown, one cell
     (tiny/x2x-200/s42) gets its own learning rate, so only that cell's
     train, evals and scores are stale; the time from the save to the
     watcher's next "result" event (a fresh table), and the CPU time the
     watcher spent on it.

Both builds run the same spec: the current tree's experiments/quickstart.cue
when the baseline accepts it (said so when the baseline's own spec differs),
else each tree's own. The tables of the two builds are compared and any
difference is shown.

Then scripts/bench_torch/bench.py (engine vs PyTorch, both shapes) unless
torch is missing or SKIP_TORCH=1.

Options (environment): ROUNDS=N, SKIP_TORCH=1, SKIP_BASELINE=1,
BASELINE=COMMIT, BIN=path, BENCH_JSON=file (or --json FILE): the figures as
JSON too, TORCH_SHAPES (default 19M,smol).
"""

import argparse
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SPEC = "experiments/quickstart.cue"
EDIT_CELL = "tiny/x2x-200/s42"
EDIT_LR = "2e-3"
TORCH_PY = "/usr/bin/python3"
TORCH_LIB = "/usr/lib/x86_64-linux-gnu/openblas-pthread"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def git(*args, cwd=REPO):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def baseline_build(commit):
    """Returns (binary, source tree) of commit, building them once."""
    full = git("rev-parse", "--verify", commit + "^{commit}").strip()
    root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "crossin-bench", full)
    binary, src = os.path.join(root, "crossin"), os.path.join(root, "src")
    if os.path.exists(binary):
        return binary, src, full
    log("bench-speed: building the baseline %s once into %s" % (full[:12], root))
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(src)
    arch = subprocess.Popen(["git", "archive", full], cwd=REPO, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", src], stdin=arch.stdout, check=True)
    if arch.wait() != 0:
        sys.exit("bench-speed: git archive %s failed" % full)
    subprocess.run(["go", "build", "-o", binary + ".tmp", "./cmd/crossin"], cwd=src, check=True)
    os.rename(binary + ".tmp", binary)
    return binary, src, full


def spec_dir(tree, parent):
    """A directory with the quickstart spec of tree and its data (linked)."""
    d = os.path.join(parent, "spec")
    os.makedirs(d)
    shutil.copy(os.path.join(tree, SPEC), d)
    for sub in ("data", "assets"):
        os.symlink(os.path.join(tree, "experiments", sub), os.path.join(d, sub))
    return d


def timed(argv, env, stdout, stderr):
    """Runs argv; returns (rc, wall s, user+sys s, peak RSS MiB)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def cpu_of(pid):
    """user+sys seconds of a running process (Linux /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def watch_edit(binary, env, spec, results, timeout):
    """Times a one-cell learning-rate edit in `crossin watch` (warm cache)."""
    p = subprocess.Popen([binary, "watch", "--json", "-o", results, os.path.dirname(spec)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    events = queue.Queue()

    def reader():
        for line in p.stdout:
            events.put(line)
        events.put(None)

    threading.Thread(target=reader, daemon=True).start()

    def next_result():
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = events.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError("no table from crossin watch within %ds" % timeout)
            if line is None:
                raise RuntimeError("crossin watch exited (rc %s)" % p.wait())
            try:
                e = json.loads(line)
            except ValueError:
                continue  # not an event
            if e.get("kind") == "error":
                raise RuntimeError("crossin watch: " + e.get("error", ""))
            if e.get("kind") == "result":
                return e

    try:
        next_result()
        time.sleep(0.5)  # let the watcher settle on its inputs
        with open(spec) as f:
            text = f.read()
        edited = text + '\nexperiments: quickstart: cells: "%s": training: learning_rate: %s\n' % (EDIT_CELL, EDIT_LR)
        load = os.getloadavg()[0]
        cpu0 = cpu_of(p.pid)
        t0 = time.monotonic()
        # An editor's save: write a temporary file, rename it over the spec.
        with open(spec + ".tmp", "w") as f:
            f.write(edited)
        os.replace(spec + ".tmp", spec)
        e = next_result()
        wall = time.monotonic() - t0
        cpu = cpu_of(p.pid) - cpu0
        return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "latency": e.get("latency", ""), "load": round(load, 1),
                "reruns": len(e.get("reruns") or [])}
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def one_round(label, binary, tree, work, timeout):
    d = tempfile.mkdtemp(prefix=label + "-", dir=work)
    spec = os.path.join(spec_dir(tree, d), "quickstart.cue")
    env = dict(os.environ, CROSSIN_CACHE=os.path.join(d, "cache"))
    results = os.path.join(d, "results")
    events = os.path.join(d, "events.jsonl")
    load = os.getloadavg()[0]
    with open(events, "w") as out, open(os.path.join(d, "run.log"), "w") as errout:
        rc, wall, cpu, rss = timed([binary, "run", "--json", "-o", results, os.path.dirname(spec)], env, out, errout)
    if rc != 0:
        sys.exit("bench-speed: %s quickstart failed (rc %d), log: %s" % (label, rc, os.path.join(d, "run.log")))
    with open(os.path.join(results, "quickstart", "results.txt")) as f:
        table = f.read()
    r = {"build": label, "cold": {"cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "rss_mib": round(rss), "load": round(load, 1)}, "table": table,
         "stages": stage_profile(events)}
    log("bench-speed: %-8s quickstart cold: %.1f CPU-s, %.1f s wall, %d MiB peak RSS" % (label, cpu, wall, rss))
    try:
        r["edit"] = watch_edit(binary, env, spec, results, timeout)
        with open(os.path.join(results, "quickstart", "results.txt")) as f:
            r["edit_table"] = f.read()
        log("bench-speed: %-8s one-cell edit: %.1f s wall, %.1f CPU-s, %d stages re-run"
            % (label, r["edit"]["wall_s"], r["edit"]["cpu_s"], r["edit"]["reruns"]))
    except RuntimeError as err:
        r["edit"] = {"error": str(err)}
        log("bench-speed: %s one-cell edit failed: %s" % (label, err))
    shutil.rmtree(os.path.join(d, "cache"), ignore_errors=True)
    return r


def rfc3339(t):
    """Seconds since the epoch of Go's RFC 3339 UTC time (nanoseconds)."""
    import calendar
    day, _, rest = t.rstrip("Z").partition("T")
    hms, _, frac = rest.partition(".")
    whole = calendar.timegm(time.strptime(day + "T" + hms, "%Y-%m-%dT%H:%M:%S"))
    return whole + (float("0." + frac) if frac else 0.0)


def stage_profile(events):
    """Seconds per stage kind of a run's JSON events, and how many stages
    ran at once on average (stage-seconds over the run's wall time)."""
    kinds, first, last = {}, None, None
    with open(events) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            t = e.get("time", "")
            first = first or t
            last = t
            if e.get("event") == "done":
                k = kinds.setdefault(e.get("kind", "?"), {"n": 0, "s": 0.0})
                k["n"] += 1
                k["s"] = round(k["s"] + e.get("seconds", 0), 1)
    span = (rfc3339(last) - rfc3339(first)) if first and last else 0.0
    total = sum(k["s"] for k in kinds.values())
    return {"kinds": kinds, "stage_s": round(total, 1), "span_s": round(span, 1),
            "concurrency": round(total / span, 2) if span else None}


def table_numbers(table):
    """The figures of a table by row (variant), whatever its layout: the
    builds may draw the table differently (boxes or not, deltas in
    parentheses or on their own rows), so figures are compared, not text.
    Delta rows and parenthesised deltas are left out."""
    rows = {}
    for line in table.splitlines():
        cells = line.replace("│", " ").replace("|", " ").split()
        if not cells or cells[0] in ("Δ", "values", "provenance:") or not re.match(r"^[\w.-]+$", cells[0]):
            continue
        line = re.sub(r"\([^)]*\)", " ", line)
        nums = re.findall(r"(?<![\w.])-?\d+\.\d+", line)
        if len(cells) > 1 and nums:
            rows["%s %s" % (cells[0], cells[1])] = nums
    return rows


def table_diff(a, b, name_a, name_b):
    """"identical" when the tables' text is, "same figures" when only the
    layout differs, else the rows whose figures differ."""
    if a == b:
        return "identical"
    na, nb = table_numbers(a), table_numbers(b)
    if na and na == nb:
        return "same figures (only the text around them differs)"
    out = []
    for row in sorted(set(na) | set(nb)):
        if na.get(row) != nb.get(row):
            out.append("  %-20s %s: %s\n  %-20s %s: %s\n" % (row, name_a, " ".join(na.get(row, ["-"])),
                                                           "", name_b, " ".join(nb.get(row, ["-"]))))
    return "".join(out) or "the text differs, the figures do not"


def median(rounds, *path):
    vals = []
    for r in rounds:
        v = r
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            vals.append(v)
    return statistics.median(vals) if vals else None


def torch_table(shapes):
    if os.environ.get("SKIP_TORCH") == "1":
        return "skipped (SKIP_TORCH=1)"
    env = dict(os.environ, LD_LIBRARY_PATH=TORCH_LIB)
    if not os.path.exists(TORCH_PY) or subprocess.run([TORCH_PY, "-c", "import torch"], env=env,
                                                      capture_output=True).returncode != 0:
        return "skipped: %s has no torch (apt-get install python3-torch libopenblas0-pthread)" % TORCH_PY
    p = subprocess.run([TORCH_PY, os.path.join(REPO, "scripts/bench_torch/bench.py"), "--shapes", shapes],
                       env=env, capture_output=True, text=True)
    if p.returncode != 0:
        return "failed (rc %d):\n%s%s" % (p.returncode, p.stdout, p.stderr[-4000:])
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default=os.environ.get("BENCH_JSON", ""), help="also write the figures here as JSON")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "1")))
    ap.add_argument("--baseline", default=os.environ.get("BASELINE", "dca91cd"))
    ap.add_argument("--bin", default=os.environ.get("BIN", "bin/crossin"))
    ap.add_argument("--timeout", type=int, default=1800, help="seconds to wait for one watch table")
    a = ap.parse_args()
    current = os.path.abspath(os.path.join(REPO, a.bin))
    if not os.path.exists(current):
        sys.exit("bench-speed: %s is missing (make build)" % current)
    skip_base = os.environ.get("SKIP_BASELINE") == "1"
    out = {"baseline": None, "rounds": a.rounds, "head": git("rev-parse", "HEAD").strip(), "nproc": os.cpu_count()}
    notes = []
    builds = [("current", current, REPO)]
    if not skip_base:
        base_bin, base_src, full = baseline_build(a.baseline)
        out["baseline"] = full
        base_tree = base_src
        with open(os.path.join(REPO, SPEC)) as f, open(os.path.join(base_src, SPEC)) as g:
            same = f.read() == g.read()
        if same:
            notes.append("spec: %s is the same in both trees" % SPEC)
        else:
            with tempfile.TemporaryDirectory() as t:
                d = spec_dir(REPO, t)
                ok = subprocess.run([base_bin, "validate", d], capture_output=True).returncode == 0
            if ok:
                base_tree = REPO
                notes.append("spec: %s differs between the trees; both builds run the current one (the baseline accepts it)" % SPEC)
            else:
                notes.append("spec: %s differs and the baseline rejects the current one: each build runs its own tree's spec" % SPEC)
        builds.insert(0, ("baseline", base_bin, base_tree))
    work = tempfile.mkdtemp(prefix="crossin-bench-speed-")
    rounds = {label: [] for label, _, _ in builds}
    try:
        for i in range(a.rounds):
            for label, binary, tree in builds:
                log("bench-speed: round %d/%d, %s" % (i + 1, a.rounds, label))
                rounds[label].append(one_round(label, binary, tree, work, a.timeout))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def fig(label, *path):
        return median(rounds[label], *path) if label in rounds else None

    lines = ["crossin bench-speed: %s (HEAD %s) vs baseline %s, %d round(s), %d CPUs, load %.1f" % (
        current, out["head"][:12], (out["baseline"] or "skipped")[:12], a.rounds, os.cpu_count(), os.getloadavg()[0])]
    lines += notes
    rows = [("quickstart cold CPU (user+sys)", "s", ("cold", "cpu_s")),
            ("quickstart cold wall", "s", ("cold", "wall_s")),
            ("quickstart cold peak RSS", "MiB", ("cold", "rss_mib")),
            ("one-cell edit, save -> table", "s", ("edit", "wall_s")),
            ("one-cell edit CPU (watch process)", "s", ("edit", "cpu_s"))]
    lines.append("%-36s %12s %12s %9s" % ("median over rounds", "baseline", "current", "cur/base"))
    summary = {}
    for name, unit, path in rows:
        b, c = fig("baseline", *path), fig("current", *path)
        ratio = round(c / b, 3) if b and c is not None else None
        summary[path[0] + "_" + path[1]] = {"baseline": b, "current": c, "ratio": ratio}
        f = lambda v: "-" if v is None else "%.1f %s" % (v, unit)
        lines.append("%-36s %12s %12s %9s" % (name, f(b), f(c), "-" if ratio is None else "%.3f" % ratio))
    for label in rounds:
        for i, r in enumerate(rounds[label]):
            p = r["stages"]
            lines.append("  %s round %d stages: %s; %.0f stage-s in %.0f s = %s stages at once on average" % (
                label, i + 1, ", ".join("%s %d = %.1f s" % (k, v["n"], v["s"]) for k, v in p["kinds"].items()),
                p["stage_s"], p["span_s"], p["concurrency"]))
            e = r.get("edit", {})
            lines.append("  %s round %d: cold %.1f CPU-s / %.1f s / %d MiB (load %.1f at start); edit %s" % (
                label, i + 1, r["cold"]["cpu_s"], r["cold"]["wall_s"], r["cold"]["rss_mib"], r["cold"]["load"],
                e.get("error") or "%.1f s, %.1f CPU-s (%d stages re-run, watcher's latency %s, load %.1f at the save)" % (
                    e["wall_s"], e["cpu_s"], e["reruns"], e["latency"], e["load"])))
    out["summary"] = summary
    if "baseline" in rounds:
        d = table_diff(rounds["baseline"][0]["table"], rounds["current"][0]["table"], "baseline", "current")
        out["table_diff"] = d
        same = d in ("identical", "same figures (only the text around them differs)")
        out["tables_identical"] = same
        lines.append("quickstart tables (baseline vs current): " + (d if same else "differ:\n" + d.rstrip("\n")))
        bt, ct = rounds["baseline"][0].get("edit_table"), rounds["current"][0].get("edit_table")
        if bt and ct:
            d = table_diff(bt, ct, "baseline", "current")
            same = d in ("identical", "same figures (only the text around them differs)")
            out["edit_tables_identical"] = same
            lines.append("tables after the edit: " + (d if same else "differ:\n" + d.rstrip("\n")))
    lines.append("quickstart table (current):")
    lines.append(rounds["current"][0]["table"].rstrip("\n"))
    out["table"] = rounds["current"][0]["table"]
    out["runs"] = rounds
    print("\n".join(lines), flush=True)

    shapes = os.environ.get("TORCH_SHAPES", "19M,smol")
    print("\nengine vs PyTorch (scripts/bench_torch/bench.py --shapes %s):" % shapes, flush=True)
    t = torch_table(shapes)
    print(t.rstrip("\n"))
    out["torch"] = t
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()

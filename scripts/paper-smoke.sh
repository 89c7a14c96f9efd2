#!/usr/bin/env bash
# paper-smoke: prove that a whole spec runs from the spec to its tables
# (`make paper-smoke`). It writes stand-in hub repositories for every hub
# reference of SPEC (crossin hub standins), serves them on a loopback port
# (crossin hub serve), runs `crossin run SPEC --smoke` against that server
# with a fresh cache, prints every table the spec's experiments declare,
# and fails unless every cell reached the table with a score on every
# benchmark (and, when EXPECT_CELLS is set, unless there are that many).
#
# Usage: scripts/paper-smoke.sh [SPEC]   (env: BIN, EXPECT_CELLS, KEEP=DIR)
set -euo pipefail

BIN=${BIN:-bin/crossin}
SPEC=${1:-experiments/paper.cue}
EXPECT_CELLS=${EXPECT_CELLS:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/paper-smoke.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ -n "${KEEP:-}" ]; then
		mkdir -p "$KEEP" && cp -r "$tmp"/. "$KEEP"/ && echo "paper-smoke: kept in $KEEP"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

start=$(date +%s)
"$BIN" hub standins "$SPEC" -o "$tmp/hub"
"$BIN" hub serve "$tmp/hub" --addr 127.0.0.1:0 --url-file "$tmp/url" >"$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
	[ -s "$tmp/url" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.log" >&2; echo "paper-smoke: the hub server did not start" >&2; exit 1; }
	sleep 0.1
done
[ -s "$tmp/url" ] || { echo "paper-smoke: the hub server did not say its address" >&2; exit 1; }

# A fresh cache, lock and hub cache; no token, no remote cache.
export HF_ENDPOINT
HF_ENDPOINT=$(cat "$tmp/url")
export CROSSIN_CACHE="$tmp/cache" CROSSIN_LOCK="$tmp/crossin.lock" HF_TOKEN= HUGGING_FACE_HUB_TOKEN= HF_HUB_OFFLINE= CROSSIN_REMOTE_CACHE=
echo "paper-smoke: stand-in hub at $HF_ENDPOINT; cache $CROSSIN_CACHE"

rc=0
"$BIN" run "$SPEC" --smoke -o "$tmp/results" >"$tmp/run.out" 2>"$tmp/run.err" || rc=$?
tail -n 3 "$tmp/run.err" >&2
if [ "$rc" != 0 ]; then
	cat "$tmp/run.out"
	grep -E '^FAILED' "$tmp/run.err" | head -n 20 >&2 || true
	echo "paper-smoke: crossin run --smoke failed (exit $rc)" >&2
	exit 1
fi

# Every table of every layout, from the cache (never runs anything).
"$BIN" report "$SPEC" --smoke --layout all

ok=0 rows=0 cells=0
for f in "$tmp"/results/*/results.json; do
	r=$(grep -c '"status":' "$f" || true)
	o=$(grep -c '"status": "ok"' "$f" || true)
	c=$(grep -o '"cell": "[^"]*"' "$f" | sort -u | wc -l)
	rows=$((rows + r)) ok=$((ok + o)) cells=$((cells + c))
done
secs=$(($(date +%s) - start))
echo "paper-smoke: $cells cells reached the table ($ok of $rows cell x benchmark rows scored) in ${secs}s"
if [ "$rows" = 0 ] || [ "$ok" != "$rows" ]; then
	echo "paper-smoke: some cells have no score" >&2
	exit 1
fi
if [ -n "$EXPECT_CELLS" ] && [ "$cells" != "$EXPECT_CELLS" ]; then
	echo "paper-smoke: $cells cells, want $EXPECT_CELLS" >&2
	exit 1
fi

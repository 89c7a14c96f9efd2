#!/bin/sh
# Runs the GPU trainer's Python unit tests (trainers/hf) with Debian's
# python3-pytest and python3-torch: what needs no GPU and no transformers
# (spec parsing, data order, micro-batch plans, loss weights, checkpoint
# bookkeeping, clean failures). .ci/run installs both packages; elsewhere a
# missing package is reported, and fails the run when CI=true.
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import pytest, torch' 2>/dev/null; then
	echo "test-python: $PY lacks pytest or torch (apt-get install python3-pytest python3-torch)" >&2
	if [ "${CI:-}" = true ] || [ "${CROSSIN_REQUIRE_SHARED:-}" = 1 ]; then exit 1; fi
	echo "test-python: SKIPPED the trainers/hf tests" >&2
	exit 0
fi
cd "$(dirname "$0")/../trainers/hf" && exec "$PY" -m pytest -q -p no:cacheprovider

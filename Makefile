# crossin: the main job is `make demo`; the tests are `make test`.
GO      ?= go
BIN     ?= bin/crossin
SPEC    ?= experiments/quickstart.cue

.PHONY: all build test demo paper-smoke bench bench-speed lint lint-tools clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/crossin

# The engine's tests run twice: with the assembly tiles (where the CPU has
# them) and with the pure-Go tiles of the noasm build tag.
# -timeout: the end-to-end packages (cmd/crossin runs the quickstart twice
# for reproduce) need more than go test's 10-minute default on 2 cores.
test:
	$(GO) test -timeout 45m ./...
	$(GO) test -tags noasm ./engine/...
	sh scripts/test-python.sh

# demo is the main job: the quickstart grid on the embedded CPU engine
# (about 20 seconds on 2 cores from a cold cache; a warm run only prints the
# table). Results land in results/quickstart/.
demo: build
	./$(BIN) run $(SPEC)

# paper-smoke proves that the paper's whole grid runs from the spec to its
# tables: a local stand-in Hugging Face hub, `crossin run --smoke` (tiny
# random models with the real tokenizers, a few items per data part and
# benchmark) with a fresh cache, every table printed; fails unless all 51
# cells reach the table.
paper-smoke: build
	BIN=$(BIN) EXPECT_CELLS=51 scripts/paper-smoke.sh experiments/paper.cue

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# bench-speed (not in CI: it takes minutes and its figures depend on the
# machine's load): this build against a baseline build (dca91cd, built once
# and cached) in one run, alternated: the quickstart from a cold cache (CPU
# time, wall time, peak RSS, the tables compared), a one-cell edit in watch
# mode (save -> fresh table), and scripts/bench_torch (engine vs PyTorch).
# ROUNDS=N, SKIP_TORCH=1, SKIP_BASELINE=1, BASELINE=commit, BENCH_JSON=file,
# TORCH_SHAPES; see scripts/benchspeed (Go; only bench_torch's PyTorch half
# is Python).
bench-speed: build
	BIN=$(BIN) $(GO) run ./scripts/benchspeed

# lint: gofmt, go vet, staticcheck and deadcode, all clean. The tools are
# installed with `make lint-tools` (pinned versions; .ci/run does it).
# deadcode runs with -test: a function only tests reach is kept on purpose
# (API the tests exercise); anything unreachable even from tests fails.
STATICCHECK_VERSION ?= v0.8.2
DEADCODE_VERSION    ?= v0.52.0

lint:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...
	@out="$$(deadcode -test ./...)"; \
	if [ -n "$$out" ]; then echo "deadcode: unreachable functions (delete them or test them):"; echo "$$out"; exit 1; fi

lint-tools:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GO) install golang.org/x/tools/cmd/deadcode@$(DEADCODE_VERSION)

clean:
	rm -rf bin

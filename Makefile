# crossin: the main job is `make demo`; the tests are `make test`.
GO      ?= go
BIN     ?= bin/crossin
SPEC    ?= experiments/quickstart.cue

.PHONY: all build test demo bench lint clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/crossin

test:
	$(GO) test ./...

# demo runs the quickstart grid on the embedded CPU engine (a few minutes
# on a laptop). Until a build has the run command it shows the plan.
demo: build
	@if ./$(BIN) run --help >/dev/null 2>&1; then \
		./$(BIN) run $(SPEC); \
	else \
		echo "crossin run is not available in this build; planning instead"; \
		./$(BIN) plan $(SPEC); \
	fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

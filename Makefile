# crossin: the main job is `make demo`; the tests are `make test`.
GO      ?= go
BIN     ?= bin/crossin
SPEC    ?= experiments/quickstart.cue

.PHONY: all build test demo bench lint clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/crossin

# The engine's tests run twice: with the assembly tiles (where the CPU has
# them) and with the pure-Go tiles of the noasm build tag.
test:
	$(GO) test ./...
	$(GO) test -tags noasm ./engine/...
	sh scripts/test-python.sh

# demo is the main job: the quickstart grid on the embedded CPU engine
# (about 2 minutes on 2 cores from a cold cache; a warm run only prints the
# table). Results land in results/quickstart/.
demo: build
	./$(BIN) run $(SPEC)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

# Sluice: make build | run | test | bench | lint | install
GO        ?= go
BIN       ?= bin
DATA_DIR  ?= ./data
LISTEN    ?= 127.0.0.1:9092
# -race is on for every test run; 2 cores keep the whole suite well under 15 minutes.
TESTFLAGS ?= -race -count=1 -timeout 30m
PKGS      ?= ./...

.PHONY: all build run test test-deps bench lint install clean

all: build

build:
	$(GO) build -o $(BIN)/sluiced ./cmd/sluiced
	$(GO) build -o $(BIN)/sluice ./cmd/sluice

# The broker on the embedded defaults: data in ./data, Kafka on 127.0.0.1:9092.
run: build
	$(BIN)/sluiced --data-dir $(DATA_DIR) --listen $(LISTEN)

# Installs what the tests need (kcat, from Debian's packages, when run as
# root), then vets and runs every test with the race detector.
test: test-deps
	$(GO) vet $(PKGS)
	SLUICE_REQUIRE_KCAT=1 $(GO) test $(TESTFLAGS) $(PKGS)

test-deps:
	@scripts/test-deps.sh

# Go benchmarks of the storage and zero-copy paths (see docs/BENCHMARKS.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./segment/ ./mmapindex/ ./partition/ ./sendfile/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck $(PKGS)

clean:
	rm -rf $(BIN)

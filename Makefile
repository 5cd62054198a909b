# Sluice: make build | run | test | bench | lint | install
GO        ?= go
BIN       ?= bin
# make run: DATA_DIR and LISTEN, when set, become --data-dir and --listen
# (unset, sluiced's own defaults and SLUICE_* variables apply: ./data and
# 127.0.0.1:9092); ARGS is passed on as it is, e.g.
#   make run LISTEN=127.0.0.1:19092 ARGS='--log-level debug'
DATA_DIR  ?=
LISTEN    ?=
# make run serves the web console, /metrics and /healthz here (loopback;
# HTTP= turns the HTTP listener off).
HTTP      ?= 127.0.0.1:8080
ARGS      ?=
# The git revision for `sluice version` and sluiced --version when the go
# command stamps none itself.
VERSION   := $(shell git describe --tags --dirty 2>/dev/null)
REVISION  := $(shell git rev-parse HEAD 2>/dev/null)
DIRTY     := $(shell test -n "$$(git status --porcelain 2>/dev/null)" && echo true)
LDFLAGS   ?= -X github.com/sluice/sluice/buildinfo.version=$(VERSION) \
	-X github.com/sluice/sluice/buildinfo.revision=$(REVISION) -X github.com/sluice/sluice/buildinfo.modified=$(DIRTY)
# -race is on for every test run; 2 cores keep the whole suite well under 15 minutes.
TESTFLAGS ?= -race -count=1 -timeout 15m
PKGS      ?= ./...
# bench/peers is a module of its own (it pulls in Kafka's peers): its
# harness and load generator tests run too; PEER_PKGS= leaves them out.
PEER_PKGS ?= ./cmd/compare ./cmd/kgobench ./internal/...
# make install: PREFIX/DESTDIR-aware, as usual (DESTDIR stages into a
# directory and then skips creating the user and chowning).
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR   ?= /etc/systemd/system
STATEDIR  ?= /var/lib/sluice
DESTDIR   ?=

.PHONY: all build run test test-deps bench bench-matrix bench-repl bench-repl-partitions lint install clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/sluiced ./cmd/sluiced
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/sluice ./cmd/sluice

# The broker on the embedded defaults (data in ./data, Kafka on
# 127.0.0.1:9092) with the web console on http://127.0.0.1:8080/, or on
# DATA_DIR, LISTEN, HTTP and ARGS (see above).
run: build
	$(BIN)/sluiced $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(LISTEN),--listen $(LISTEN)) $(if $(HTTP),--http-listen $(HTTP)) $(ARGS)

# Installs what the tests need (kcat, a JDK, Maven and Chromium from Debian's packages
# when run as root; Apache Kafka's jars from Maven Central into e2e/java),
# then vets and runs every test with the race detector.
test: test-deps
	$(GO) vet $(PKGS)
	SLUICE_REQUIRE_KCAT=1 SLUICE_REQUIRE_JAVA=1 SLUICE_REQUIRE_CHROMIUM=1 GO=$(GO) scripts/gotest.sh $(TESTFLAGS) $(PKGS)
	$(if $(strip $(PEER_PKGS)),cd bench/peers && $(GO) vet $(PEER_PKGS) && GO=$(GO) ../../scripts/gotest.sh $(TESTFLAGS) $(PEER_PKGS))

test-deps:
	@scripts/test-deps.sh

# Go benchmarks of the storage and zero-copy paths (see docs/BENCHMARKS.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./segment/ ./mmapindex/ ./partition/ ./sendfile/

# Issue 19's table (create 1,000 partitions; 1,000 x 1 KiB; 16 x 1 KiB;
# 16 x 100 B; 100 connections x small requests; fsync=always x 16
# producers) against sluiced, Apache Kafka (when e2e/java/lib holds its
# jars) and kfake, each cell on a fresh broker, printed as one table with
# MB/s, broker CPU-s/GB and peak RSS, then each of the issue's targets
# judged over the rounds (--matrix-runs N: N rounds, a target met when
# more than half meet it). Not part of `make test`. About 5–10 minutes a
# round with Kafka; MATRIX_ARGS is passed on, e.g.
#   make bench-matrix MATRIX_ARGS='--only sluiced,kfake --matrix-bytes 256M'
#   make bench-matrix MATRIX_ARGS='--matrix-bytes 512M --matrix-runs 3'
MATRIX_ARGS ?=
bench-matrix:
	cd bench/peers && $(GO) run ./cmd/compare --workloads matrix $(MATRIX_ARGS)

# Issue 15's replication benchmark: a three-node sluiced cluster and a
# three-node Apache Kafka cluster (512m heap each), one at a time in
# alternating rounds; RF=3 acks=all and RF=1 acks=1 produce of 16 KiB and
# 1 KiB records: MB/s, p50/p99, the three brokers' CPU-s/GB, the share of
# replicated bytes sent by sendfile. Not part of `make test`. About 5
# minutes; REPL_ARGS is passed on, e.g.
#   make bench-repl REPL_ARGS='--repl-rounds 3 --repl-bytes 512M'
REPL_ARGS ?=
bench-repl:
	cd bench/peers && $(GO) run ./cmd/compare --workloads repl $(REPL_ARGS)

# The replication benchmark's many-partition shape: a three-node sluiced
# cluster and a three-node Apache Kafka cluster in turn, a topic of
# REPL_PARTITIONS partitions (RF=3, min.insync.replicas=2) produced by
# Kafka's own ProducerPerformance at its defaults (acks=all, idempotent):
# MB/s, p50/p99, the brokers' and the producer's CPU-s/GB, and sluiced ÷
# Kafka per round (scripts/repl-partitions.sh). Needs e2e/java/lib's jars.
# Not part of `make test`. About 1 minute a round at 100 partitions, 3 at
# 1,000, e.g.
#   make bench-repl-partitions REPL_PARTITIONS=1000 REPL_ROUNDS=3
REPL_PARTITIONS ?= 100
REPL_RECORDS ?= 400000
REPL_ROUNDS ?= 2
bench-repl-partitions:
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	$(GO) build -o "$$dir/" ./cmd/sluiced ./cmd/sluice && \
	(cd bench/peers && $(GO) build -o "$$dir/" ./cmd/kafkaserver) && \
	scripts/repl-partitions.sh "$$dir" $(REPL_PARTITIONS) $(REPL_RECORDS) $(REPL_ROUNDS)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck $(PKGS)

# Binaries to $(BINDIR), the systemd unit to $(UNITDIR), the default config
# to $(SYSCONFDIR)/sluice/server.properties (an existing one is kept), the
# system user sluice and $(STATEDIR) owned by it. Then:
#   systemctl daemon-reload && systemctl enable --now sluiced
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/sluice
	install -m 0755 $(BIN)/sluiced $(BIN)/sluice $(DESTDIR)$(BINDIR)/
	sed -e 's|/usr/local/bin/sluiced|$(BINDIR)/sluiced|' -e 's|/etc/sluice/|$(SYSCONFDIR)/sluice/|' \
		-e 's|/var/lib/sluice|$(STATEDIR)|' deploy/sluiced.service > $(DESTDIR)$(UNITDIR)/sluiced.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/sluiced.service
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/sluice/server.properties ]; then \
		echo "install: keeping the existing $(DESTDIR)$(SYSCONFDIR)/sluice/server.properties"; \
	else \
		sed -e 's|^log.dirs=/var/lib/sluice|log.dirs=$(STATEDIR)|' deploy/server.properties > $(DESTDIR)$(SYSCONFDIR)/sluice/server.properties; \
		chmod 0644 $(DESTDIR)$(SYSCONFDIR)/sluice/server.properties; \
	fi
	@if [ -n "$(DESTDIR)" ]; then \
		install -d -m 0750 $(DESTDIR)$(STATEDIR); \
		echo "install: DESTDIR set: not creating the user sluice nor chowning $(STATEDIR)"; \
	else \
		id -u sluice >/dev/null 2>&1 || useradd --system --user-group --home-dir $(STATEDIR) --no-create-home --shell /usr/sbin/nologin sluice; \
		install -d -m 0750 -o sluice -g sluice $(STATEDIR); \
		echo "install: done; now: systemctl daemon-reload && systemctl enable --now sluiced"; \
	fi

clean:
	rm -rf $(BIN)

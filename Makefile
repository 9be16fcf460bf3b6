SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/hookrelay

# Development defaults for `make run` only. Never use these tokens outside your machine.
HOOKRELAY_INGEST_TOKEN ?= dev-ingest-token-change-me
HOOKRELAY_ADMIN_TOKEN ?= dev-admin-token-change-me
HOOKRELAY_ALLOW_PRIVATE_NETWORKS ?= true
# The first admin of the web UI, created by `make run` when the database has none.
HOOKRELAY_ADMIN_EMAIL ?= admin@example.com
HOOKRELAY_ADMIN_PASSWORD ?= dev-admin-password

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: generate
generate: ## Regenerate templ output (committed)
	go tool templ generate

.PHONY: build
build: ## Build bin/hookrelay
	go build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/hookrelay

.PHONY: run
run: build ## Run the server on 127.0.0.1:8080 with ./hookrelay.db, development tokens and admin
	HOOKRELAY_INGEST_TOKEN=$(HOOKRELAY_INGEST_TOKEN) HOOKRELAY_ADMIN_TOKEN=$(HOOKRELAY_ADMIN_TOKEN) \
	HOOKRELAY_ALLOW_PRIVATE_NETWORKS=$(HOOKRELAY_ALLOW_PRIVATE_NETWORKS) \
	HOOKRELAY_ADMIN_EMAIL=$(HOOKRELAY_ADMIN_EMAIL) HOOKRELAY_ADMIN_PASSWORD=$(HOOKRELAY_ADMIN_PASSWORD) ./$(BIN)

.PHONY: test
test: interop/node_modules/.package-lock.json ## Run every test, end-to-end ones included, with the race detector
	go test -race -count=1 -tags e2e ./...

# The official Standard Webhooks libraries for the interop test, as locked.
interop/node_modules/.package-lock.json: interop/package-lock.json
	cd interop && npm ci --no-audit --no-fund --loglevel=error

.PHONY: browser-deps
browser-deps: ## Install Chromium and the playwright driver for the browser tests (apt + npm)
	scripts/install-browser-deps.sh

.PHONY: test-e2e
test-e2e: interop/node_modules/.package-lock.json ## Run only the end-to-end tests
	go test -race -count=1 -tags e2e ./e2e/...

.PHONY: bench
bench: build ## Measure every scenario of issue 5 against a fresh server (about 12 min; see README, Performance)
	go build -o bin/hookrelay-bench ./cmd/hookrelay-bench
	./bin/hookrelay-bench --server $(BIN) $(BENCH_FLAGS)

.PHONY: bench-smoke
bench-smoke: build ## Short bench run that checks only that nothing is lost (CI runs it in make test)
	go build -o bin/hookrelay-bench ./cmd/hookrelay-bench
	./bin/hookrelay-bench --smoke --server $(BIN) $(BENCH_FLAGS)

.PHONY: bench-micro
bench-micro: ## Go micro-benchmarks (signer, matcher, queue), 6 runs each, saved for benchstat
	@mkdir -p bench/results
	go test -run '^$$' -bench . -count 6 ./webhook ./db | tee bench/results/micro-$$(date -u +%Y%m%dT%H%M%SZ).txt

.PHONY: lint
lint: ## go vet, gofmt and staticcheck
	go vet -tags e2e ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go tool staticcheck -tags e2e ./...

.PHONY: check
check: generate ## Regenerate, verify nothing changed, lint and test
	git diff --exit-code -- views
	$(MAKE) lint test

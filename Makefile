SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
# `hookrelay version` prints both (cmd/hookrelay/version.go).
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN := bin/hookrelay
# make release builds one binary for each of these GOOS/GOARCH.
RELEASE_PLATFORMS := linux/amd64 linux/arm64 darwin/arm64

# Development defaults for `make run` only, handed to the server in its environment, so the
# recipe never prints them. Never use these tokens outside your machine.
run: export HOOKRELAY_INGEST_TOKEN ?= dev-ingest-token-change-me
run: export HOOKRELAY_ADMIN_TOKEN ?= dev-admin-token-change-me
run: export HOOKRELAY_ALLOW_PRIVATE_NETWORKS ?= true
# The first admin of the web UI, created by `make run` when the database has none.
run: export HOOKRELAY_ADMIN_EMAIL ?= admin@example.com
run: export HOOKRELAY_ADMIN_PASSWORD ?= dev-admin-password

# The Node interop check (e2e/interop_test.go) needs the official libraries that npm installs;
# without npm the tests skip it, saying so (and fail in CI).
ifneq ($(shell command -v npm 2>/dev/null),)
INTEROP_DEPS := interop/node_modules/.package-lock.json
endif

# GO_TEST runs go test with its arguments, then prints the line the e2e tests wrote for each
# suite they skipped: without -v, go test shows nothing of a passing package, skips included.
GO_TEST = report=$$(mktemp); echo "go test $(1)"; \
	HOOKRELAY_TEST_SKIP_REPORT=$$report go test $(1); status=$$?; \
	cat "$$report"; rm -f "$$report"; exit $$status

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: generate
generate: ## Regenerate templ output (committed)
	go tool templ generate

.PHONY: build
build: ## Build bin/hookrelay
	go build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/hookrelay

.PHONY: run
run: build ## Run the server on 127.0.0.1:8080 with ./hookrelay.db, development tokens and admin
	@echo "starting ./$(BIN) with the development tokens and admin of the README's Quick start (Ctrl-C stops it)"
	@exec ./$(BIN)

.PHONY: test
test: $(INTEROP_DEPS) ## Run every test, end-to-end ones included, with the race detector
	@$(call GO_TEST,-race -count=1 -tags e2e ./...)

# The official Standard Webhooks libraries for the interop test, as locked.
interop/node_modules/.package-lock.json: interop/package-lock.json
	cd interop && npm ci --no-audit --no-fund --loglevel=error

.PHONY: browser-deps
browser-deps: ## Install Chromium and the playwright driver for the browser tests (apt + npm)
	scripts/install-browser-deps.sh

.PHONY: test-e2e
test-e2e: $(INTEROP_DEPS) ## Run only the end-to-end tests
	@$(call GO_TEST,-race -count=1 -tags e2e ./e2e/...)

.PHONY: release
release: ## Build stripped binaries for linux/amd64, linux/arm64 and darwin/arm64 into dist/, with SHA256SUMS
	rm -rf dist
	@set -e; for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=dist/hookrelay_$(VERSION)_$${os}_$${arch}; \
		echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $$out ./cmd/hookrelay; \
	done
	cd dist && if command -v sha256sum >/dev/null; then sha256sum hookrelay_*; else shasum -a 256 hookrelay_*; fi > SHA256SUMS
	@cat dist/SHA256SUMS

.PHONY: bench
bench: build ## Measure every scenario of issue 5 against a fresh server (about 30 min; see docs/performance.md)
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

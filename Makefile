# Two commands on a fresh machine: `make up` (the local stack) and
# `make test` (every test). Both install what they need first.
SHELL := /bin/bash
GO    ?= go
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: all build tools up test test-short test-contracts bench bench-instr fuzz vet clean

all: build

build:
	$(GO) build -o bin/cocoon ./cmd/cocoon

tools:
	scripts/deps.sh

up: tools build
	bin/cocoon up

vet:
	$(GO) vet ./...

test: tools vet test-contracts
	$(GO) test -count=1 -timeout 30m ./...

# The escrow contract: compile check (a fresh compile must equal the
# committed build) and the @ton/sandbox tests.
test-contracts:
	cd contracts/_js && npm ci --no-audit --no-fund && node build.mjs --check && node --test test/

test-short:
	$(GO) test -short ./...

bench: tools build
	$(GO) run ./cmd/cocoon-bench

# Redis's instructions per job, Cocoon and asynq (callgrind; machine-independent).
bench-instr: build
	scripts/redis-instr.sh

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzWorkerAPI -fuzztime 30s ./broker/

clean:
	rm -rf bin .cocoon

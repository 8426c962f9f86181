# Openlease: `make devnet` runs the marketplace locally, `make test` runs every test.
# Both install what they need by themselves (the pinned npm toolchain, the cargo build).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN := $(CURDIR)/node_modules/.bin
FORGE := $(BIN)/forge
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
# Stamp of the last `npm ci`: redone when package.json or the lockfile changes.
TOOLCHAIN := node_modules/.openlease-toolchain

.PHONY: test devnet toolchain test-contracts test-rust artifacts gas-snapshot

test: toolchain test-contracts test-rust

## The main job: anvil on 127.0.0.1:8545 (chain 31337, 1 s blocks), the suite deployed with mock
## stablecoins, a seeded live market, the indexer's API on 127.0.0.1:8080. Override with DEVNET_ARGS="--port 9545 --chain-id 1337".
devnet: toolchain
	cargo build --quiet --bin openlease-deploy --bin openlease-indexer --bin openlease
	$(TARGET_DIR)/debug/openlease-deploy devnet --anvil $(BIN)/anvil \
	  --indexer $(TARGET_DIR)/debug/openlease-indexer $(DEVNET_ARGS)

toolchain: $(TOOLCHAIN)

$(TOOLCHAIN): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	chmod +x node_modules/@foundry-rs/*/bin/*
	touch $@

## Contracts: build (fails above the EIP-170 size limit), every test, and the gas snapshots checked for drift.
test-contracts: toolchain
	cd contracts && $(FORGE) build src --sizes
	cd contracts && $(FORGE) test --no-match-path 'test/gas/*'
	cd contracts && FORGE_SNAPSHOT_CHECK=true $(FORGE) test --isolate --match-path 'test/gas/*' \
	  || { echo "Gas snapshots drifted: run 'make gas-snapshot' and commit contracts/snapshots/ if intended."; exit 1; }

## Rust: the committed contract artifacts are checked against a fresh compile, then every crate's tests
## (anvil-based end-to-end tests included; PostgreSQL ones use OPENLEASE_TEST_POSTGRES_URL).
test-rust: toolchain
	cargo run --quiet --bin openlease-artifacts -- --check
	OPENLEASE_ANVIL=$(BIN)/anvil cargo test --workspace

## Regenerates contracts/artifacts/ (the bindings' input) after a contract change.
artifacts: toolchain
	cargo run --quiet --bin openlease-artifacts

## Refreshes contracts/snapshots/ after an intended gas change.
gas-snapshot: toolchain
	cd contracts && $(FORGE) test --isolate --match-path 'test/gas/*'

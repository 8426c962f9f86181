# Openlease: `make devnet` runs the marketplace locally, `make test` runs every test.
# Both install what they need by themselves (the pinned npm toolchain, the cargo build).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN := $(CURDIR)/node_modules/.bin
FORGE := $(BIN)/forge
# Stamp of the last `npm ci`: redone when package.json or the lockfile changes.
TOOLCHAIN := node_modules/.openlease-toolchain

.PHONY: test devnet toolchain test-contracts gas-snapshot

test: toolchain test-contracts

devnet: toolchain
	@echo "make devnet arrives with the deploy issue (#3): anvil, deploy, seeded market, indexer."
	@exit 1

toolchain: $(TOOLCHAIN)

$(TOOLCHAIN): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	chmod +x node_modules/@foundry-rs/*/bin/*
	touch $@

## Contracts: build (fails above the EIP-170 size limit), every test, and the gas snapshots checked for drift.
test-contracts: toolchain
	cd contracts && $(FORGE) build --sizes --skip test --skip script
	cd contracts && $(FORGE) test --no-match-path 'test/gas/*'
	cd contracts && FORGE_SNAPSHOT_CHECK=true $(FORGE) test --isolate --match-path 'test/gas/*' \
	  || { echo "Gas snapshots drifted: run 'make gas-snapshot' and commit contracts/snapshots/ if intended."; exit 1; }

## Refreshes contracts/snapshots/ after an intended gas change.
gas-snapshot: toolchain
	cd contracts && $(FORGE) test --isolate --match-path 'test/gas/*'

# Openlease: `make devnet` runs the marketplace locally, `make test` runs every test.
# Both install what they need by themselves (the pinned npm toolchain, the cargo build).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN := $(CURDIR)/node_modules/.bin
FORGE := $(BIN)/forge
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
# The Rust tests mostly wait on their anvils: more threads than cores halve the suite's time.
TEST_THREADS ?= 6
# Stamp of the last `npm ci`: redone when package.json or the lockfile changes.
TOOLCHAIN := node_modules/.openlease-toolchain

.PHONY: test devnet build toolchain browser python test-contracts test-rust artifacts gas-snapshot

test: toolchain test-contracts test-rust

## The main job: anvil on 127.0.0.1:8545 (chain 31337, 1 s blocks), the suite deployed with mock
## stablecoins, a seeded live market, the indexer's API on 127.0.0.1:8080. Override with DEVNET_ARGS="--port 9545 --chain-id 1337".
devnet: toolchain build
	$(TARGET_DIR)/debug/openlease-devnet --anvil $(BIN)/anvil \
	  --indexer $(TARGET_DIR)/debug/openlease-indexer --cli $(TARGET_DIR)/debug/openlease $(DEVNET_ARGS)

## Every binary and example, with the feature set the tests build with: after `make test` this
## compiles nothing, and the banner's commands run at once.
build:
	@echo "building Openlease (a first build takes several minutes; cargo says so if it waits for another build's lock)"
	cargo build --workspace --bins --examples

toolchain: $(TOOLCHAIN)

$(TOOLCHAIN): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	chmod +x node_modules/@foundry-rs/*/bin/*
	touch $@

## Headless Chromium and its driver (Debian's packages) for the console's browser test, installed
## only when missing; apt's lists are refreshed only when the install needs it.
BROWSER_PACKAGES := apt-get install -y --no-install-recommends chromium chromium-driver
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(BROWSER_PACKAGES) || { apt-get update && $(BROWSER_PACKAGES); }; \
	fi

## The third-party clients the tests drive as users do: Python's `openai` package, in a venv of the
## project's (redone when the pinned requirements change).
VENV := $(CURDIR)/.venv
PYTHON_CLIENTS := $(VENV)/.openlease-clients
python: $(PYTHON_CLIENTS)

$(PYTHON_CLIENTS): deploy/devnet/tests/clients/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

## Contracts: build (fails above the EIP-170 size limit), every test, and the gas snapshots checked for drift.
test-contracts: toolchain
	cd contracts && $(FORGE) build src --sizes
	cd contracts && $(FORGE) test --no-match-path 'test/gas/*'
	cd contracts && FORGE_SNAPSHOT_CHECK=true $(FORGE) test --isolate --match-path 'test/gas/*' \
	  || { echo "Gas snapshots drifted: run 'make gas-snapshot' and commit contracts/snapshots/ if intended."; exit 1; }

## Rust: formatting and lints as gates, the committed contract artifacts checked against a fresh
## compile, then every crate's tests (anvil-based end-to-end tests included; PostgreSQL ones use
## OPENLEASE_TEST_POSTGRES_URL; the console's in headless Chromium; the tenant proxy's with Python's
## openai client and curl).
test-rust: toolchain browser python build
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(TARGET_DIR)/debug/openlease-artifacts --check
	OPENLEASE_ANVIL=$(BIN)/anvil OPENLEASE_PYTHON=$(VENV)/bin/python RUST_TEST_THREADS=$(TEST_THREADS) cargo test --workspace

## Regenerates contracts/artifacts/ (the bindings' input) after a contract change.
artifacts: toolchain build
	$(TARGET_DIR)/debug/openlease-artifacts

## Refreshes contracts/snapshots/ after an intended gas change.
gas-snapshot: toolchain
	cd contracts && $(FORGE) test --isolate --match-path 'test/gas/*'

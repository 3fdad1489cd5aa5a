# The two commands: `make run` (the service) and `make test` (every check CI runs).
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/shoal-target
export CARGO_TERM_COLOR ?= never

.PHONY: run demo test deps fmt clippy nextest
BIN = $(CARGO_TARGET_DIR)/debug

## The service: web UI, edge and one worker per tenant (embedded Postgres under .shoal/pg when
## DATABASE_URL is unset; GitHub is github.com unless SHOAL_GITHUB_URL says otherwise).
run:
	@infra/dev/ensure-deps.sh
	cargo build -p shoal-control-plane -p shoal-worker --bins
	$(BIN)/shoal-control-plane

## The same, offline: a fake GitHub and a seeded tenant `demo` (state under .shoal/demo).
demo:
	@infra/dev/ensure-deps.sh
	cargo build -p shoal-control-plane -p shoal-worker -p shoal-fake-github --bins
	$(BIN)/shoal-control-plane demo

## fmt, clippy and every test, against a real PostgreSQL (DATABASE_URL, default in .cargo/config.toml).
test: deps fmt clippy nextest

deps:
	@infra/dev/ensure-deps.sh --postgres
	@infra/dev/ensure-test-clients.sh

fmt:
	cargo fmt --all --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

nextest:
	@if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --workspace --locked --no-fail-fast; \
	else \
		cargo test --workspace --locked --no-fail-fast; \
	fi

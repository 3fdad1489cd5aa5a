# The two commands: `make run` (the service) and `make test` (every check CI runs).
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/shoal-target
export CARGO_TERM_COLOR ?= never
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres

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

## fmt, clippy and every test, against a real PostgreSQL.
test: deps fmt clippy nextest

deps:
	@infra/dev/ensure-deps.sh --postgres
	@infra/dev/ensure-test-clients.sh
	@infra/dev/build-policy-examples.sh

fmt:
	cargo fmt --all --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

nextest:
	@if cargo nextest --version >/dev/null 2>&1; then \
		DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" cargo nextest run --workspace --locked --no-fail-fast; \
	else \
		DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" cargo test --workspace --locked --no-fail-fast; \
	fi

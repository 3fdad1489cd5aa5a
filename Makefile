# The two commands: `make run` (the service) and `make test` (every check CI runs).
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/shoal-target
export CARGO_TERM_COLOR ?= never
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: run test deps fmt clippy nextest

## Run the control plane (embedded Postgres under .shoal/pg when DATABASE_URL is unset).
run:
	@infra/dev/ensure-deps.sh
	cargo run -p shoal-control-plane --bin shoal-control-plane

## fmt, clippy and every test, against a real PostgreSQL.
test: deps fmt clippy nextest

deps:
	@infra/dev/ensure-deps.sh --postgres

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

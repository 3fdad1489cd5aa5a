# The two commands: `make run` (the service) and `make test` (every check CI runs).
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/shoal-target
export CARGO_TERM_COLOR ?= never

.PHONY: run demo test soak deps fmt clippy nextest k8s-check bench-density bench-dashboard
BIN = $(CARGO_TARGET_DIR)/debug

## The service: web UI, edge and one worker per tenant (embedded Postgres under .shoal/pg when
## DATABASE_URL is unset; GitHub is github.com unless SHOAL_GITHUB_URL says otherwise).
run:
	@infra/dev/ensure-deps.sh
	cargo build -p shoal-control-plane -p shoal-worker --bins
	$(BIN)/shoal-control-plane

## The same, offline: a fake GitHub, a fake Stripe and a seeded tenant `demo` (state under .shoal/demo).
demo:
	@infra/dev/ensure-deps.sh
	cargo build -p shoal-control-plane -p shoal-worker -p shoal-fake-github -p shoal-fake-stripe --bins
	$(BIN)/shoal-control-plane demo

## fmt, clippy, every test against a real PostgreSQL (DATABASE_URL, default in .cargo/config.toml),
## and the Kubernetes manifests' validation.
test: deps fmt clippy nextest k8s-check

## The long reliability runs (about 10 minutes): 256 connections through the TLS edge for 60 s with
## wrk, then the long fault runs (tests named soak_*); ends with one summary table.
soak:
	@infra/dev/soak.sh

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
		cargo nextest run --workspace --locked --no-fail-fast; \
	else \
		cargo test --workspace --locked --no-fail-fast; \
	fi

## Renders infra/k8s's overlays and the kubernetes backend's per-tenant objects and validates every
## object against the Kubernetes (and CloudNativePG) schemas.
k8s-check:
	@infra/dev/ensure-test-clients.sh
	@infra/k8s/check.sh

## Density bench (not part of `make test`): the control plane binary on the process backend with
## 1,000 sleeping tenants, a random 10% woken with one read each; prints RSS/PSS idle and awake,
## wake latency p50/p99 and tenants per GB. BENCH_PROFILE=release measures release builds.
BENCH_PROFILE ?= dev
bench-density:
	@infra/dev/ensure-deps.sh --postgres
	cargo nextest run --cargo-profile $(BENCH_PROFILE) --workspace --run-ignored only --no-capture \
		-E 'package(shoal-control-plane) and test(=density::density_of_sleeping_tenants)'

## The dashboard at scale (not in `make test`): 10 million hourly usage rows across 1,000 tenants,
## then the 30-day tenant page and /ops timed over HTTP (goal: under 200 ms each).
bench-dashboard:
	@infra/dev/ensure-deps.sh --postgres
	cargo nextest run --workspace --run-ignored only --no-capture \
		-E 'package(shoal-control-plane) and test(/bench_dashboard/)'

#!/usr/bin/env bash
# make k8s-check: renders every overlay with `kubectl kustomize` and the objects the kubernetes
# backend applies for a sample tenant (the tenant-objects example), then validates every object:
# Kubernetes kinds against Kubernetes' schemas (kubernetes-validate, strict), CloudNativePG kinds
# against schemas/postgresql.cnpg.io-v1.json. Offline once infra/dev/ensure-test-clients.sh ran.
set -euo pipefail
cd "$(dirname "$0")/../.."
K8S_VERSION="${K8S_VERSION:-1.33}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for overlay in infra/k8s/overlays/*/; do
  kubectl kustomize "$overlay" > "$out/overlay-$(basename "$overlay").yaml"
done
# Built with the workspace's feature set, as `make test` builds: `cargo run -p` would resolve the
# dependencies' features for one crate and rebuild them.
cargo build --quiet --locked --workspace --examples
"${CARGO_TARGET_DIR:-target}/debug/examples/tenant-objects" > "$out/tenant-objects.yaml"
PYTHONPATH="$HOME/.cache/shoal-k8s-validate${PYTHONPATH:+:$PYTHONPATH}" \
  python3 infra/k8s/validate.py "$K8S_VERSION" "$out"/*.yaml

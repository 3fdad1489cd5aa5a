#!/usr/bin/env bash
# Builds the AssemblyScript policy example (tenant-worker/policy-examples/assemblyscript/) to
# owner-only.wasm beside it, installing the compiler (npm `assemblyscript`) into
# $HOME/.cache/shoal-npm when missing. The worker's tests load the result.
set -euo pipefail
npm_dir="$HOME/.cache/shoal-npm"
if [[ ! -x "$npm_dir/node_modules/.bin/asc" ]]; then
  echo "build-policy-examples: npm install assemblyscript" >&2
  mkdir -p "$npm_dir"
  (cd "$npm_dir" && npm install --silent --no-audit --no-fund assemblyscript@0.28 >/dev/null)
fi
dir="$(cd "$(dirname "$0")/../../tenant-worker/policy-examples/assemblyscript" && pwd)"
if [[ ! -f "$dir/owner-only.wasm" || "$dir/owner-only.ts" -nt "$dir/owner-only.wasm" ]]; then
  "$npm_dir/node_modules/.bin/asc" "$dir/owner-only.ts" --runtime stub --use abort= -O3 -o "$dir/owner-only.wasm"
fi

#!/usr/bin/env bash
# Installs the real API clients the end-to-end tests drive, when missing: @octokit/rest (npm,
# into $HOME/.cache/shoal-npm, outside the clone).
set -euo pipefail
npm_dir="$HOME/.cache/shoal-npm"
if [[ ! -d "$npm_dir/node_modules/@octokit/rest" ]]; then
  echo "ensure-test-clients: npm install @octokit/rest" >&2
  mkdir -p "$npm_dir"
  (cd "$npm_dir" && npm install --silent --no-audit --no-fund @octokit/rest@21 >/dev/null)
fi

#!/usr/bin/env bash
# Installs the real API clients the end-to-end tests drive, when missing: @octokit/rest (npm,
# into $HOME/.cache/shoal-npm) and PyGithub (PyPI, into $HOME/.cache/shoal-py), outside the clone;
# GitHub's published GraphQL schema (npm @octokit/graphql-schema), which the fake's is checked against;
# kubernetes-validate (PyPI, into $HOME/.cache/shoal-k8s-validate) for make k8s-check; and
# schemathesis (PyPI, into $HOME/.cache/shoal-schemathesis) for the admin API check.
set -euo pipefail
npm_dir="$HOME/.cache/shoal-npm"
if [[ ! -d "$npm_dir/node_modules/@octokit/rest" ]]; then
  echo "ensure-test-clients: npm install @octokit/rest" >&2
  mkdir -p "$npm_dir"
  (cd "$npm_dir" && npm install --silent --no-audit --no-fund @octokit/rest@21 >/dev/null)
fi
if [[ ! -f "$npm_dir/node_modules/@octokit/graphql-schema/schema.graphql" ]]; then
  echo "ensure-test-clients: npm install @octokit/graphql-schema" >&2
  mkdir -p "$npm_dir"
  (cd "$npm_dir" && npm install --silent --no-audit --no-fund @octokit/graphql-schema@15 >/dev/null)
fi
# PyGithub (PyPI, into $HOME/.cache/shoal-py; tests put it on PYTHONPATH).
py_dir="$HOME/.cache/shoal-py"
if [[ ! -d "$py_dir/github" ]]; then
  echo "ensure-test-clients: pip install PyGithub" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$py_dir" 'PyGithub>=2.1,<3' >/dev/null
fi
# kubernetes-validate (PyPI, into $HOME/.cache/shoal-k8s-validate; make k8s-check puts it on
# PYTHONPATH). It carries Kubernetes' schemas, so validation is offline after this.
k8s_dir="$HOME/.cache/shoal-k8s-validate"
if [[ ! -d "$k8s_dir/kubernetes_validate" ]]; then
  echo "ensure-test-clients: pip install kubernetes-validate" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$k8s_dir" 'kubernetes-validate>=1.33,<2' >/dev/null
fi
# GitHub's webhook payload schemas and a JSON-schema validator (npm, into $HOME/.cache/shoal-webhooks):
# the fake GitHub's webhook deliveries are checked against them.
hooks_dir="$HOME/.cache/shoal-webhooks"
if [[ ! -f "$hooks_dir/node_modules/@octokit/webhooks-schemas/schema.json" || ! -d "$hooks_dir/node_modules/ajv-formats" ]]; then
  echo "ensure-test-clients: npm install @octokit/webhooks-schemas ajv ajv-formats" >&2
  mkdir -p "$hooks_dir"
  (cd "$hooks_dir" && npm install --silent --no-audit --no-fund @octokit/webhooks-schemas@7.6.1 ajv@8 ajv-formats@3 >/dev/null)
fi
# schemathesis (PyPI, into $HOME/.cache/shoal-schemathesis; the control plane's schemathesis test
# puts it on PYTHONPATH and runs it against the admin API's OpenAPI document with every check).
st_dir="$HOME/.cache/shoal-schemathesis"
if [[ ! -d "$st_dir/schemathesis" ]]; then
  echo "ensure-test-clients: pip install schemathesis" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$st_dir" 'schemathesis>=4.3,<5' >/dev/null
fi

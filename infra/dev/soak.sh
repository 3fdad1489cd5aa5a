#!/usr/bin/env bash
# `make soak`: the long reliability runs, ending with one summary table.
#  1. The offline demo (`shoal-control-plane demo`: embedded PostgreSQL, fake GitHub, control plane,
#     TLS edge, one scheduled worker), then wrk holding SOAK_CONNECTIONS (256) connections through
#     the TLS edge for SOAK_SECS (60) seconds: 90% cache hits, 5% misses (a new key each), 5%
#     revalidations (`Cache-Control: no-cache`); it must end with zero errors.
#  2. The long fault runs (tests named `soak_*`, ignored by `make test`): the worker's faults under
#     256 callers, worker kills, a control-plane replica kill, control-plane and PostgreSQL restarts.
#  3. The leak scan (planted canary secrets searched for after a full end-to-end run).
# Every run adds one row to the table (tab-separated rows in $SHOAL_SOAK_REPORT).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${CARGO_TARGET_DIR:=$HOME/.cache/shoal-target}"
export CARGO_TARGET_DIR
# SOAK_PROFILE=release measures optimised binaries (a release build of the workspace's binaries).
profile="${SOAK_PROFILE:-debug}"
bin="$CARGO_TARGET_DIR/$profile"
secs="${SOAK_SECS:-60}"
connections="${SOAK_CONNECTIONS:-256}"
work="$(mktemp -d "${TMPDIR:-/tmp}/shoal-soak.XXXXXX")"
# As root the embedded cluster runs as the postgres user, who must be able to reach its dir.
chmod go+x "$work"
report="$work/report.tsv"
: > "$report"
demo_pid=""

cleanup() {
  if [[ -n "$demo_pid" ]] && kill -0 "$demo_pid" 2>/dev/null; then
    kill -TERM "$demo_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
  fi
}
trap cleanup EXIT

rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "n/a"; }

# The shoal-worker process below the demo (directly, or under unshare).
worker_pid() {
  local p comm up
  for p in /proc/[0-9]*; do
    comm="$(cat "$p/comm" 2>/dev/null || true)"
    [[ "$comm" == "shoal-worker" ]] || continue
    up="${p#/proc/}"
    while [[ -n "$up" && "$up" != "0" && "$up" != "1" ]]; do
      if [[ "$up" == "$demo_pid" ]]; then echo "${p#/proc/}"; return 0; fi
      up="$(awk '{ print $4 }' "/proc/$up/stat" 2>/dev/null || true)"
    done
  done
  return 1
}

infra/dev/ensure-deps.sh --postgres --soak
# The debug build is the one `make test` made (same targets, so the same dependency features).
if [[ "$profile" == "release" ]]; then
  cargo build --release --locked -p shoal-control-plane -p shoal-worker -p shoal-fake-github -p shoal-fake-stripe --bins
else
  cargo build --workspace --all-targets --locked
fi

echo "soak: starting the demo under $work/demo" >&2
env -u DATABASE_URL \
  SHOAL_LISTEN=127.0.0.1:0 SHOAL_EDGE_LISTEN=127.0.0.1:0 \
  SHOAL_FREE_READS_PER_MONTH=1000000000 SHOAL_FAKE_GITHUB_CORE_LIMIT=100000000 SHOAL_LOG=warn \
  "$bin/shoal-control-plane" demo --state-dir "$work/demo" > "$work/demo.out" 2> "$work/demo.log" &
demo_pid=$!
for _ in $(seq 1 1200); do
  grep -q '^caller token: ' "$work/demo.out" 2>/dev/null && break
  kill -0 "$demo_pid" 2>/dev/null || { echo "soak: the demo exited; see $work/demo.log" >&2; exit 1; }
  sleep 0.1
done
grep -q '^caller token: ' "$work/demo.out" || { echo "soak: the demo did not start in 120 s" >&2; exit 1; }
port="$(sed -n 's|^edge on https://.*:\([0-9]*\)$|\1|p' "$work/demo.out")"
ca="$(sed -n 's|^ca at ||p' "$work/demo.out")"
token="$(sed -n 's|^caller token: ||p' "$work/demo.out")"
hit="https://demo.localhost:$port/api/v3/repos/octo-org/hello-world"
for _ in $(seq 1 300); do
  code="$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" --resolve "demo.localhost:$port:127.0.0.1" \
    -H "Authorization: token $token" "$hit" || true)"
  [[ "$code" == "200" ]] && break
  sleep 0.1
done
[[ "$code" == "200" ]] || { echo "soak: the demo tenant does not answer ($code)" >&2; exit 1; }
wpid="$(worker_pid || true)"
worker_before="$( [[ -n "$wpid" ]] && rss_mib "$wpid" || echo n/a)"
edge_before="$(rss_mib "$demo_pid")"

cat > "$work/soak.lua" <<'LUA'
-- demo.localhost is not in DNS: connect to loopback, keep the name for SNI and Host.
wrk.resolve = function(host, service)
  wrk.addrs = wrk.lookup("127.0.0.1", service)
end
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  n = 0
  auth = "token " .. os.getenv("SOAK_TOKEN")
  hit = wrk.format("GET", "/api/v3/repos/octo-org/hello-world", { Authorization = auth })
  revalidate = wrk.format("GET", "/api/v3/repos/octo-org/hello-world/pulls/1",
    { Authorization = auth, ["Cache-Control"] = "no-cache" })
end
function request()
  n = n + 1
  if n % 20 == 0 then
    local page = id * 100000000 + n
    return wrk.format("GET", "/api/v3/repos/octo-org/hello-world/issues?per_page=1&page=" .. page,
      { Authorization = auth })
  elseif n % 20 == 10 then
    return revalidate
  end
  return hit
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("SOAK\t%d\t%d\t%.0f\t%.1f\t%.1f\n", summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout,
    summary.requests / (summary.duration / 1000000),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

echo "soak: wrk, $connections connections, ${secs} s through the TLS edge" >&2
SOAK_TOKEN="$token" wrk -t2 -c"$connections" -d"${secs}s" --timeout 30s --latency -s "$work/soak.lua" \
  "https://demo.localhost:$port/" | tee "$work/wrk.out" >&2
IFS=$'\t' read -r _ requests errors rps p50 p99 < <(grep '^SOAK' "$work/wrk.out")
worker_after="$( [[ -n "$wpid" ]] && rss_mib "$wpid" || echo n/a)"
edge_after="$(rss_mib "$demo_pid")"
printf '%s\t0\t%s\t%s\tn/a\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
  "TLS edge ($profile build), 90% hits + misses + revalidations ($connections connections, ${secs} s)" \
  "$requests" "$errors" "$rps" "$p50" "$p99" "$worker_before" "$worker_after" "$edge_before" "$edge_after" >> "$report"
cleanup
demo_pid=""

echo "soak: the long fault runs" >&2
tests_ok=1
# --workspace, not -p: the same feature set as `make test`, so no dependency is built again.
SHOAL_SOAK_REPORT="$report" cargo nextest run --workspace --locked \
  --run-ignored only -E 'test(/soak_/)' --no-fail-fast >&2 || tests_ok=0

echo "soak: the leak scan" >&2
canaries=0
cargo nextest run --workspace --locked -E 'test(/^leak_scan::/)' >&2 || { canaries="1+ (see above)"; tests_ok=0; }
printf '%s\t0\tn/a\t0\t%s\tn/a\tn/a\tn/a\tn/a\tn/a\tn/a\tn/a\n' \
  "leak scan: canary secrets after a full end-to-end run" "$canaries" >> "$report"

echo
echo "## make soak"
echo
echo "| run | faults injected | requests | errors | canaries found | req/s | p50 ms | p99 ms | worker RSS MiB before | after | edge RSS MiB before | after |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' '
  { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
    faults += $2; requests += $3; errors += $4 }
  END { printf "| **total** | %d | %d | %d | | | | | | | | |\n", faults, requests, errors }' "$report"
echo
total_errors="$(awk -F'\t' '{ e += $4 } END { print e + 0 }' "$report")"
if [[ "$tests_ok" -ne 1 || "$total_errors" -ne 0 ]]; then
  echo "soak: FAILED (errors: $total_errors; fault runs passed: $tests_ok); logs in $work" >&2
  exit 1
fi
echo "soak: passed; logs in $work" >&2

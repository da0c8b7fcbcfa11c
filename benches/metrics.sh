#!/usr/bin/env bash
# The cardinality budget of `serve`'s /metrics (issue 20): series count, scrape bytes (plain and
# gzip), scrape time and serve's RSS after one run of a generated golden set of 10,000 and of
# 100,000 scenarios (1 in 100 failing), under `metrics.per_scenario: failing` (the default) and
# `all`. Budget at 10,000 scenarios under the default: at most 5,000 series, a scrape under 1 MB.
# Everything on loopback against the embedded reference gateway; each run is one bounded pass.
#
# Usage: benches/metrics.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --release --bin gateprobe
BIN="${CARGO_TARGET_DIR:-target}/release/gateprobe"
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# Quotas far above the load, so throttling does not shape the run.
mkdir "$TMP/policies" "$TMP/suites"
cp policies/* "$TMP/policies/"
printf 'subject: {burst: 100000000, per_second: 100000000}\ntenant: {burst: 100000000, per_second: 100000000}\n' >"$TMP/policies/limits.yaml"

# gen N: N scenarios, alternating an allowed read and a denied delete; every 100th expects the
# wrong decision (a failing scenario, as a golden set under a bad policy update has).
# Ten files: a suite file is refused over 8 MiB.
gen() {
  rm -f "$TMP"/suites/*.yaml
  python3 - "$1" "$TMP/suites" <<'PY'
import sys
n, folder = int(sys.argv[1]), sys.argv[2]
for part in range(10):
  with open("%s/bench%d.yaml" % (folder, part), "w") as f:
    f.write("suite: bench%d\ndefaults: { identity: alice-reader }\nscenarios:\n" % part)
    for i in range(part * n // 10, (part + 1) * n // 10):
        wrong = i % 100 == 99
        if i % 2 == 0:
            f.write("  - name: read %d\n    call: { tool: files.read, arguments: { path: /docs/handbook.md } }\n"
                    "    expect: { decision: %s, evidence: [decision] }\n" % (i, "deny" if wrong else "allow"))
        else:
            f.write("  - name: delete %d\n    call: { tool: files.delete, arguments: { path: /docs/handbook.md } }\n"
                    "    expect: { decision: %s, evidence: [decision] }\n" % (i, "allow" if wrong else "deny"))
PY
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# measure N MODE: one serve run of N scenarios, then a scrape.
measure() {
  local n=$1 mode=$2 port
  port=$(free_port)
  cat >"$TMP/gateprobe.yaml" <<YAML
target: { kind: embedded, policies: $TMP/policies }
suites: [$TMP/suites]
run: { concurrency: 16 }
metrics: { per_scenario: $mode }
identities:
  alice-reader: { subject: alice@example.com, tenant: acme, roles: [reader] }
YAML
  rm -f "$TMP/state.json"
  "$BIN" -q serve --config "$TMP/gateprobe.yaml" --schedule off --watch-interval 0s --listen "127.0.0.1:$port" \
    --state "$TMP/state.json" --snapshots "$TMP/snapshots" >"$TMP/serve.log" 2>&1 &
  PID=$!
  # Bounded wait for the startup run to finish (its last_run appears in /status); a run that
  # has not finished by then is an error, not a figure.
  local done=
  for _ in $(seq 1 1200); do
    curl -fsS --max-time 5 "http://127.0.0.1:$port/status" 2>/dev/null | grep -q '"last_run":{' && { done=1; break; }
    sleep 0.1
  done
  [ -n "$done" ] || { echo "serve's first run of $n scenarios did not finish within 2 minutes" >&2; exit 1; }
  local plain gzip series time rss
  time=$(curl -fsS --max-time 60 -o "$TMP/metrics.txt" -w '%{time_total}' "http://127.0.0.1:$port/metrics")
  plain=$(wc -c <"$TMP/metrics.txt")
  gzip=$(curl -fsS --max-time 60 -H 'accept-encoding: gzip' "http://127.0.0.1:$port/metrics" | wc -c)
  series=$(grep -vc '^#' "$TMP/metrics.txt")
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  printf '%8d  %-8s %8d %10.1f KB %9.1f KB %8.0f ms %8.1f MB\n' "$n" "$mode" "$series" \
    "$(python3 -c "print($plain/1024)")" "$(python3 -c "print($gzip/1024)")" \
    "$(python3 -c "print($time*1000)")" "$(python3 -c "print($rss/1024)")"
}

printf '%8s  %-8s %8s %13s %12s %11s %11s\n' scenarios per_scen series "scrape" "gzip" "scrape t" "serve RSS"
for n in 10000 100000; do
  gen "$n"
  for mode in failing all; do
    measure "$n" "$mode"
  done
done
echo "budget at 10,000 scenarios, default (failing): at most 5,000 series, a scrape under 1 MB"

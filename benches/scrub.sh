#!/usr/bin/env bash
# Scrubbing with long tokens (not a timed test). Two parts, each figure beside its ceiling:
#   1. benches/scrub.rs: building the scrubber for one 64 KiB token of several shapes (random,
#      one repeated letter, a JWT whose segments are one letter each, one letter with its first
#      8 letters as a second token), and scrubbing 1 MiB of text that holds it among near misses;
#   2. the issue's observation end to end: `gateprobe run` of two scenarios against the reference
#      gateway (its own process) with a 1 KiB, 16 KiB and 64 KiB token of one repeated letter and
#      a 64 KiB random one, given as `credential: {env: ...}`. Before the fix: 0.02, 0.86 and
#      13.5 s for the repeated letter, 0.08 s for the random token.
# Linear means the one-letter shapes cost about what the random one does.
#
# Usage: benches/scrub.sh [path/to/gateprobe]   (builds --release)
#        GATEPROBE_BENCH_PROFILE=dev benches/scrub.sh   (reuse the debug build; part 1 is then far
#        slower, as the scrubber's own code is not optimised, and its ceilings do not apply)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gateprobe/target}"

PROFILE=${GATEPROBE_BENCH_PROFILE:-release}
# Part 2's ceiling for one run of two scenarios, whatever the token.
RUN_CEILING=${RUN_CEILING:-1.0}

BIN=${1:-}
if [ -z "$BIN" ]; then
  cargo build --quiet --profile "$PROFILE" --bin gateprobe
  DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
  BIN="$CARGO_TARGET_DIR/$DIR/gateprobe"
fi

status=0
echo "== part 1: the scrubber ($PROFILE build)"
BENCH_PROFILE=$([ "$PROFILE" = release ] && echo bench || echo "$PROFILE")
cargo bench --quiet --profile "$BENCH_PROFILE" --bench scrub || status=1

TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
RUST_LOG=warn "$BIN" gateway --policies policies --listen "127.0.0.1:$PORT" --no-watch >"$TMP/gateway.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.05; done

cat >"$TMP/gateprobe.yaml" <<YAML
target: { kind: mcp, url: "$BASE/mcp" }
audit: { kind: http, url: "$BASE/audit?correlation_id={correlation_id}", timing: { initial_poll_ms: 10, deadline_ms: 300 } }
identities:
  alice-reader: { subject: alice@example.com, tenant: acme, roles: [reader], credential: { env: GP_BENCH_TOKEN } }
suites: [suite.yaml]
YAML
cat >"$TMP/suite.yaml" <<'YAML'
suite: probe
defaults: { identity: alice-reader }
scenarios:
  - name: reader can read
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
  - name: reader cannot delete
    call: { tool: files.delete, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny }
YAML

echo "== part 2: gateprobe run, two scenarios, token from the environment (ceiling ${RUN_CEILING} s each)"
run() {
  local name=$1 token=$2
  local start end secs
  start=$(date +%s.%N)
  # The token is no JWT of this gateway: both calls are refused (exit 1); only the time counts.
  (cd "$TMP" && GP_BENCH_TOKEN="$token" "$BIN" run --state state.json --snapshots snapshots >/dev/null 2>"$TMP/run.err") || [ $? = 1 ] \
    || { echo "$name: gateprobe run failed:" >&2; cat "$TMP/run.err" >&2; status=1; return; }
  end=$(date +%s.%N)
  secs=$(python3 -c "print(f'{$end - $start:.3f}')")
  if python3 -c "import sys; sys.exit(0 if $secs <= $RUN_CEILING else 1)"; then verdict=ok; else verdict="OVER THE CEILING"; status=1; fi
  printf '%-40s %7s s   %s\n' "$name" "$secs" "$verdict"
}
letters() { head -c "$1" /dev/zero | tr '\0' a; }
run "1 KiB of one letter" "$(letters 1024)"
run "16 KiB of one letter" "$(letters 16384)"
run "64 KiB of one letter" "$(letters 65536)"
run "64 KiB random (base64)" "$(head -c 49152 /dev/urandom | base64 -w0)"
exit $status

#!/usr/bin/env bash
# Throughput and latency of the reference gateway's full tools/call path (JWT, revocation,
# quota, JSON Schema, Cedar, workspace, audit) for an allowed files.read, measured with wrk on
# loopback. Compared against GET /healthz on the same server: the HTTP stack without the
# enforcement pipeline, so the difference is what enforcement costs.
#
# Usage: benches/gateway.sh            (builds --release; DURATION=10s CONNS=16 THREADS=2)
#        GATEPROBE_BENCH_PROFILE=dev benches/gateway.sh   (reuse the debug build; numbers lower)
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${GATEPROBE_BENCH_PROFILE:-release}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
command -v wrk >/dev/null || { echo "wrk not found (Debian: apt-get install wrk)" >&2; exit 2; }

cargo build --quiet --profile "$PROFILE" --bin gateprobe
DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
BIN="${CARGO_TARGET_DIR:-target}/$DIR/gateprobe"

TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# A copy of the bundled policies with quotas far above what wrk can send.
cp policies/* "$TMP/"
printf 'subject: {burst: 100000000, per_second: 100000000}\ntenant: {burst: 100000000, per_second: 100000000}\n' >"$TMP/limits.yaml"
head -c 32 /dev/urandom | base64 >"$TMP/key"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"

RUST_LOG=warn "$BIN" gateway --policies "$TMP" --listen "127.0.0.1:$PORT" --signing-key-file "$TMP/key" --no-watch >"$TMP/gateway.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
TOKEN=$("$BIN" gateway token --subject alice@example.com --tenant acme --roles reader --ttl 1h --signing-key-file "$TMP/key")
BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"files.read","arguments":{"path":"/docs/handbook.md"}}}'

# Sanity: the benchmarked call really is an allow.
curl -fsS -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" -d "$BODY" "$BASE/mcp" | grep -q '"decision":"allow"' \
  || { echo "benchmark call is not allowed; gateway log:" >&2; cat "$TMP/gateway.log" >&2; exit 1; }

cat >"$TMP/call.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not_allowed = 0 end
function response(status, headers, body)
  if not string.find(body, '"decision":"allow"', 1, true) then not_allowed = not_allowed + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("not_allowed") end
  io.write(string.format("responses that were not an allow: %d\n", n))
end
LUA

echo "== baseline: GET /healthz ($PROFILE build, -t$THREADS -c$CONNS -d$DURATION, loopback)"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$BASE/healthz" | grep -E 'Requests/sec|Latency|50%|99%|Non-2xx'
echo "== tools/call files.read (allow, full pipeline + audit)"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$TMP/call.lua" "$BASE/mcp" | grep -E 'Requests/sec|Latency|50%|99%|Non-2xx|not an allow'

#!/usr/bin/env bash
# Throughput and latency of the reference gateway's full tools/call path (JWT, revocation,
# quota, JSON Schema, Cedar, workspace, audit) for an allowed files.read, measured with wrk on
# loopback. Compared against GET /healthz on the same server: the HTTP stack without the
# enforcement pipeline, so the difference is what enforcement costs. Then an audit query for 16
# correlation ids (what gateprobe's batched evidence lookup asks), with the gateway's CPU per query.
#
# Usage: benches/gateway.sh [path/to/gateprobe]   (builds --release; DURATION=10s CONNS=16 THREADS=2)
#        GATEPROBE_BENCH_PROFILE=dev benches/gateway.sh   (reuse the debug build; numbers lower)
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${GATEPROBE_BENCH_PROFILE:-release}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
command -v wrk >/dev/null || { echo "wrk not found (Debian: apt-get install wrk)" >&2; exit 2; }

BIN=${1:-}
if [ -z "$BIN" ]; then
  cargo build --quiet --profile "$PROFILE" --bin gateprobe
  DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
  BIN="${CARGO_TARGET_DIR:-target}/$DIR/gateprobe"
fi

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

# 16 calls with known correlation ids, then wrk on the one query that asks for all their records.
IDS=
for i in $(seq 16); do
  curl -fsS -o /dev/null -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" -H "x-request-id: bench-$i" \
    -d "$BODY" "$BASE/mcp"
  IDS="$IDS${IDS:+,}bench-$i"
done
[ "$(curl -fsS "$BASE/audit?correlation_ids=$IDS" | grep -o '"correlation_id"' | wc -l)" = 16 ] \
  || { echo "the audit query did not return the 16 records" >&2; exit 1; }
echo "== GET /audit?correlation_ids=<16 ids> (16 records in one answer)"
CPU0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$BASE/audit?correlation_ids=$IDS" >"$TMP/audit.out"
CPU1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
grep -E 'Requests/sec|Latency|50%|99%|Non-2xx' "$TMP/audit.out"
N=$(awk '/requests in/ {print $1}' "$TMP/audit.out")
echo "gateway CPU per query: $(python3 -c "print(round(($CPU1 - $CPU0) / $(getconf CLK_TCK) / $N * 1e6, 1))") µs"

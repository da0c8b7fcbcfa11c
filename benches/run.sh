#!/usr/bin/env bash
# Harness throughput and load cost (issue 3), on loopback against the reference gateway:
#  1. scenarios per second for a generated 10,000-scenario suite with decisions and evidence
#     checked, printed beside wrk's requests per second on the same tools/call endpoint at the
#     same concurrency (the ceiling: a client that does nothing but send the call);
#     Twice: with the client and the gateway sharing both cores, then with a core each (gateway
#     on CPU 0, client on CPU 1, as gateprobe beside the gateway's host rather than on it);
#  2. load + lint time and peak memory for 100,000 generated scenarios.
# By default every scenario costs gateprobe 5 requests (initialize, initialized, tools/call, audit
# lookup, DELETE of the session): a fresh MCP session per scenario, so no scenario's session
# history (which Cedar sees) leaks into another's. So wrk is also run on that same 5-request mix:
# its requests/s ÷ 5 is the ceiling in scenarios/s for any client of this gateway on this
# machine. With `sessions: identity` (also measured) a scenario costs 2 requests, and with
# batched audit lookups (`{correlation_ids}`, the embedded target's default; also measured) a
# little over 1: the lookups waiting at one moment share one audit query.
#
# Usage: benches/run.sh   (SCENARIOS=10000 LINT_SCENARIOS=100000 CONNS=16 DURATION=10s)
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIOS=${SCENARIOS:-10000}
LINT_SCENARIOS=${LINT_SCENARIOS:-100000}
CONNS=${CONNS:-16}
DURATION=${DURATION:-10s}
command -v wrk >/dev/null || { echo "wrk not found (run scripts/install-deps)" >&2; exit 2; }

cargo build --quiet --release --bin gateprobe
BIN="${CARGO_TARGET_DIR:-target}/release/gateprobe"
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# Quotas far above the load, so throttling does not shape the figures.
mkdir "$TMP/policies" "$TMP/suites" "$TMP/lint"
cp policies/* "$TMP/policies/"
printf 'subject: {burst: 100000000, per_second: 100000000}\ntenant: {burst: 100000000, per_second: 100000000}\n' >"$TMP/policies/limits.yaml"
head -c 32 /dev/urandom | base64 >"$TMP/key"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
# start_gateway [PREFIX...]: the reference gateway on $PORT, run through PREFIX (e.g. taskset).
start_gateway() {
  "$@" "$BIN" gateway --policies "$TMP/policies" --listen "127.0.0.1:$PORT" --signing-key-file "$TMP/key" --no-watch \
    >"$TMP/gateway.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "the gateway did not start" >&2
  exit 1
}
# The client's command prefix and wrk's threads: both cores shared at first, one core later.
CLIENT=()
WRK_THREADS=2
start_gateway
"$BIN" gateway token --subject alice@example.com --tenant acme --roles reader --ttl 1h --signing-key-file "$TMP/key" >"$TMP/alice.token"

cat >"$TMP/gateprobe.yaml" <<YAML
target: { kind: mcp, url: "$BASE/mcp" }
audit: { kind: http, url: "$BASE/audit?correlation_id={correlation_id}" }
run: { concurrency: $CONNS, timeout_ms: 5000 }
suites: [suites]
identities:
  alice-reader: { subject: alice@example.com, tenant: acme, roles: [reader], credential: { file: alice.token } }
YAML

# gen N FILE: a suite of N scenarios, alternating an allowed read and a denied delete.
gen() {
  python3 - "$1" "$2" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("suite: %s\ndefaults: { identity: alice-reader }\nscenarios:\n" % path.rsplit("/", 1)[-1].split(".")[0])
    for i in range(n):
        if i % 2 == 0:
            f.write("  - name: read %d\n    call: { tool: files.read, arguments: { path: /docs/handbook.md } }\n"
                    "    expect: { decision: allow, evidence: [identity, decision, rationale, result] }\n" % i)
        else:
            f.write("  - name: delete %d\n    call: { tool: files.delete, arguments: { path: /docs/handbook.md } }\n"
                    "    expect: { decision: deny, reason: missing_capability, evidence: [decision, rationale] }\n" % i)
PY
}
gen "$SCENARIOS" "$TMP/suites/bench.yaml"
for i in $(seq 10); do gen $((LINT_SCENARIOS / 10)) "$TMP/lint/part$i.yaml"; done

# CPU seconds (user + system) the gateway has used so far.
gateway_cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$PID/stat"; }
# CPU seconds of the finished children of the shell that wrote `times` to $TMP/times. It must be
# called in that shell itself: a $(…) or a pipe runs in a fresh subshell with no children.
children_cpu() {
  awk 'NR == 2 {split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2]}' "$TMP/times"
}
# The CPU cost of each scenario or request, in µs: N CPU_SECONDS.
per() { python3 -c "print(round($2 / $1 * 1e6))"; }

# run CONFIG: "SCENARIOS_PER_S CLIENT_US GATEWAY_US CALL_PHASE_PER_S" for one whole
# `gateprobe run` (load, calls, checks, state, snapshots, reports); CPU in µs per scenario, of
# gateprobe and of the gateway; and the rate of the calls and checks alone (the run's own
# "N scenarios in T s", without loading before and the state and reports after).
run() {
  local start end g0 g1
  g0=$(gateway_cpu)
  start=$(date +%s.%N)
  "${CLIENT[@]}" "$BIN" run --config "$1" --state "$TMP/state.json" --snapshots "$TMP/snapshots" --color never \
    >"$TMP/run.out" 2>&1 || { tail -20 "$TMP/run.out" >&2; echo "the benchmark run did not pass" >&2; exit 1; }
  end=$(date +%s.%N)
  g1=$(gateway_cpu)
  times >"$TMP/times"
  local phase
  phase=$(sed -n 's/.*scenarios in \([0-9.]*\) s.*/\1/p' "$TMP/run.out")
  echo "$(python3 -c "print(round($SCENARIOS / ($end - $start)))") $(per "$SCENARIOS" "$(children_cpu)") \
$(per "$SCENARIOS" "$(python3 -c "print($g1 - $g0)")") $(python3 -c "print(round($SCENARIOS / $phase))")"
}
# wrk_on SCRIPT: "REQUESTS_PER_S WRK_US GATEWAY_US", CPU in µs per request.
wrk_on() {
  local g0 g1 n
  g0=$(gateway_cpu)
  "${CLIENT[@]}" wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" -s "$1" "$BASE/mcp" >"$TMP/wrk.out"
  g1=$(gateway_cpu)
  times >"$TMP/times"
  n=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
  echo "$(awk '/Requests\/sec/ {print int($2)}' "$TMP/wrk.out") $(per "$n" "$(children_cpu)") \
$(per "$n" "$(python3 -c "print($g1 - $g0)")")"
}
cpu() { echo "   CPU per $1: $2 µs $3, $4 µs the gateway"; }

echo "== gateprobe run: $SCENARIOS scenarios, concurrency $CONNS (release build, loopback)"
read -r RUN_SPS RUN_CPU RUN_GW _ <<<"$(run "$TMP/gateprobe.yaml")"
echo "sessions: scenario (default)   scenarios/s: $RUN_SPS   requests/s: $((RUN_SPS * 5))"
cpu scenario "$RUN_CPU" gateprobe "$RUN_GW"
# One session per identity for the run: tools/call and the audit lookup are all a scenario sends.
sed 's|kind: mcp, url: "\([^"]*\)" }|kind: mcp, url: "\1", sessions: identity }|' "$TMP/gateprobe.yaml" >"$TMP/identity.yaml"
grep -q 'sessions: identity' "$TMP/identity.yaml"
read -r ID_SPS ID_CPU ID_GW _ <<<"$(run "$TMP/identity.yaml")"
echo "sessions: identity             scenarios/s: $ID_SPS   requests/s: $((ID_SPS * 2))"
cpu scenario "$ID_CPU" gateprobe "$ID_GW"
sed 's|correlation_id={correlation_id}|correlation_ids={correlation_ids}|' "$TMP/identity.yaml" >"$TMP/batched.yaml"
grep -q 'correlation_ids=' "$TMP/batched.yaml"
read -r BATCH_SPS BATCH_CPU BATCH_GW BATCH_PHASE <<<"$(run "$TMP/batched.yaml")"
echo "sessions: identity, batched audit lookups   scenarios/s: $BATCH_SPS   (calls and checks alone: $BATCH_PHASE)"
cpu scenario "$BATCH_CPU" gateprobe "$BATCH_GW"

TOKEN=$(cat "$TMP/alice.token")
cat >"$TMP/call.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"files.read","arguments":{"path":"/docs/handbook.md"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
echo "== ceiling 1: wrk on tools/call alone, -c$CONNS -d$DURATION"
read -r WRK_RPS WRK_CPU WRK_GW <<<"$(wrk_on "$TMP/call.lua")"
echo "requests/s: $WRK_RPS"
cpu request "$WRK_CPU" wrk "$WRK_GW"

# The same 5 requests gateprobe sends per scenario, in order.
cat >"$TMP/mix.lua" <<LUA
local auth = "Bearer $TOKEN"
local n, session = 0, nil
local init = '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"wrk","version":"1"}}}'
local note = '{"jsonrpc":"2.0","method":"notifications/initialized"}'
local call = '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"files.read","arguments":{"path":"/docs/handbook.md"}}}'
request = function()
  n = n + 1
  local step = n % 5
  local h = {["Content-Type"] = "application/json", ["Authorization"] = auth}
  if step == 1 or session == nil then
    return wrk.format("POST", "/mcp", h, init)
  end
  h["mcp-session-id"] = session
  if step == 2 then return wrk.format("POST", "/mcp", h, note) end
  if step == 3 then
    h["x-request-id"] = "wrk-" .. n
    return wrk.format("POST", "/mcp", h, call)
  end
  if step == 4 then return wrk.format("GET", "/audit?correlation_id=wrk-" .. (n - 1), {}) end
  return wrk.format("DELETE", "/mcp", h)
end
response = function(status, headers, body)
  if headers["mcp-session-id"] then session = headers["mcp-session-id"] end
end
LUA
echo "== ceiling 2: wrk on gateprobe's per-scenario mix (initialize, initialized, tools/call, audit, DELETE), -c$CONNS -d$DURATION"
read -r MIX_RPS _ _ <<<"$(wrk_on "$TMP/mix.lua")"
echo "requests/s: $MIX_RPS   (= $((MIX_RPS / 5)) scenarios/s)"
# The 2 requests of a scenario with `sessions: identity`, in order (a session-less call: the
# reference gateway treats it as a session without history, which is what a shared session of
# reads and denied deletes is to it).
cat >"$TMP/pair.lua" <<LUA
local auth = "Bearer $TOKEN"
local n = 0
local call = '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"files.read","arguments":{"path":"/docs/handbook.md"}}}'
request = function()
  n = n + 1
  if n % 2 == 1 then
    return wrk.format("POST", "/mcp", {["Content-Type"] = "application/json", ["Authorization"] = auth, ["x-request-id"] = "wrk-" .. n}, call)
  end
  return wrk.format("GET", "/audit?correlation_id=wrk-" .. (n - 1), {})
end
LUA
echo "== ceiling 3: wrk on the 2 requests of a scenario with sessions: identity (tools/call, audit), -c$CONNS -d$DURATION"
read -r PAIR_RPS _ _ <<<"$(wrk_on "$TMP/pair.lua")"
echo "requests/s: $PAIR_RPS   (= $((PAIR_RPS / 2)) scenarios/s)"
python3 -c "print('ratio, sessions: scenario: scenarios/s ÷ wrk tools/call requests/s: %.2f (target ≥ 0.80)' % ($RUN_SPS / $WRK_RPS))"
python3 -c "print('ratio, sessions: identity: scenarios/s ÷ wrk tools/call requests/s: %.2f (target ≥ 0.80)' % ($ID_SPS / $WRK_RPS))"
python3 -c "print('ratio, sessions: identity, batched audit lookups: scenarios/s ÷ wrk tools/call requests/s: %.2f (target ≥ 0.80)' % ($BATCH_SPS / $WRK_RPS))"
python3 -c "print('ratio, the same, calls and checks alone: %.2f' % ($BATCH_PHASE / $WRK_RPS))"
python3 -c "print('ratio, sessions: scenario: scenarios/s ÷ wrk 5-request mix scenarios/s: %.2f' % ($RUN_SPS / ($MIX_RPS / 5)))"
python3 -c "print('ratio, sessions: identity: scenarios/s ÷ wrk 2-request mix scenarios/s: %.2f' % ($ID_SPS / ($PAIR_RPS / 2)))"

# A core each: the gateway on CPU 0, gateprobe (then wrk) on CPU 1. Above, the client and the
# gateway share both cores, so every µs the client spends is taken from the gateway: that figure
# weighs the client's CPU as much as its pace. Deployed, gateprobe runs beside the gateway's host,
# not on its cores; pinning is this one machine's stand-in for two. The question it answers: does
# gateprobe drive the gateway as fast as the fastest client would?
if [ "$(nproc)" -ge 2 ]; then
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  start_gateway taskset -c 0
  CLIENT=(taskset -c 1)
  WRK_THREADS=1
  echo "== a core each: gateway on CPU 0, client on CPU 1; sessions: identity, batched audit lookups, 3 runs"
  # wrk before and after the runs, and the higher figure is the ceiling: the gateway's audit log
  # fills up during the runs (to its bound), and that must not flatter gateprobe.
  read -r PIN_WRK_BEFORE _ _ <<<"$(wrk_on "$TMP/call.lua")"
  PINNED=()
  for i in 1 2 3; do
    read -r SPS _ _ PHASE <<<"$(run "$TMP/batched.yaml")"
    echo "run $i: scenarios/s: $SPS   (calls and checks alone: $PHASE)"
    PINNED+=("$SPS $PHASE")
  done
  read -r PIN_WRK_AFTER _ _ <<<"$(wrk_on "$TMP/call.lua")"
  PIN_WRK=$((PIN_WRK_BEFORE > PIN_WRK_AFTER ? PIN_WRK_BEFORE : PIN_WRK_AFTER))
  echo "wrk -t1 on tools/call: requests/s: $PIN_WRK_BEFORE before the runs, $PIN_WRK_AFTER after"
  # The median run (by whole-run rate) against wrk.
  read -r PIN_SPS PIN_PHASE <<<"$(printf '%s\n' "${PINNED[@]}" | sort -n | sed -n 2p)"
  python3 -c "print('ratio, a core each, median run: scenarios/s ÷ the higher wrk requests/s: %.2f (target ≥ 0.80); calls and checks alone: %.2f' % ($PIN_SPS / $PIN_WRK, $PIN_PHASE / $PIN_WRK))"
else
  echo "== a core each: not measured, this machine has one core"
fi

echo "== load + lint: $LINT_SCENARIOS scenarios in 10 files"
/usr/bin/time -f 'wall %e s, peak RSS %M KiB' "$BIN" lint --config "$TMP/gateprobe.yaml" --suites "$TMP/lint" 2>&1 | tail -2
echo "(targets: < 1.5 s, < 300 MB)"

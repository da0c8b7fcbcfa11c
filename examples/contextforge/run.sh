#!/usr/bin/env bash
# Proves gateprobe's `mcp` adapter on IBM ContextForge 1.1.0: installs the gateway into a cached
# venv and the upstream tool server into a cached npm prefix, starts both on free loopback ports,
# provisions users, roles, tokens and a virtual server through the gateway's API, runs gateprobe
# twice (evidence from the log-search API, then from the gateway's JSON stdout), compares the
# outcomes with expected-*.json, and stops everything it started.
#
# Environment: GATEPROBE (path of the binary; built with cargo when unset), PYTHON312 (a Python
# 3.12 or 3.13), XDG_CACHE_HOME. Exits non-zero when an outcome differs from the expected one.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/gateprobe"
CF_VERSION=1.1.0
VENV="$CACHE/venv/contextforge"
NPM_PREFIX="$CACHE/npm/everything"
START=$(date +%s)
log() { printf '[contextforge %3ds] %s\n' $(( $(date +%s) - START )) "$*" >&2; }

PIDS=()
STATE="$(mktemp -d "${TMPDIR:-/tmp}/gateprobe-contextforge.XXXXXX")"
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  if [ "$rc" -ne 0 ] && [ -f "$STATE/gateway.log" ]; then
    log "gateway log tail:"; tail -n 20 "$STATE/gateway.log" | cut -c1-400 >&2
  fi
  rm -rf "$STATE"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- install (cached) --------------------------------------------------------------------------
find_python() {
  for p in "${PYTHON312:-}" /root/.pyenv/versions/3.12.1/bin/python "$(command -v python3.12 || true)" "$(command -v python3.13 || true)"; do
    [ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return; }
  done
  echo "no Python 3.12/3.13 found (set PYTHON312)" >&2; return 1
}
if [ ! -f "$VENV/.installed-$CF_VERSION" ]; then
  log "installing mcp-contextforge-gateway $CF_VERSION into $VENV"
  rm -rf "$VENV"; "$(find_python)" -m venv "$VENV"
  timeout 900 "$VENV/bin/pip" install -q "mcp-contextforge-gateway==$CF_VERSION"
  touch "$VENV/.installed-$CF_VERSION"
fi
"$ROOT/examples/common/install-everything.sh" "$NPM_PREFIX"

if [ -z "${GATEPROBE:-}" ]; then
  log "building gateprobe"
  (cd "$ROOT" && cargo build --quiet --locked --bin gateprobe)
  GATEPROBE="${CARGO_TARGET_DIR:-$ROOT/target}/debug/gateprobe"
fi

# --- start -------------------------------------------------------------------------------------
free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP_PORT=$(free_port); CF_PORT=$(free_port)
BASE="http://127.0.0.1:$CF_PORT"

# The upstream's `get-env` tool returns its whole environment: start it with an empty one, and
# bind it to loopback (it has no host option; the preload does it).
env -i PATH=/usr/bin:/bin PORT="$UP_PORT" NODE_OPTIONS="--require $ROOT/examples/common/loopback.cjs" \
  setsid "$NPM_PREFIX/node_modules/.bin/mcp-server-everything" streamableHttp >"$STATE/upstream.log" 2>&1 &
PIDS+=($!)

cd "$STATE"
"$VENV/bin/python" -m mcpgateway.scripts.init_secrets --stdout >.env 2>/dev/null
cat >>.env <<ENV
DATABASE_URL=sqlite:///$STATE/mcp.db
MCPGATEWAY_ADMIN_API_ENABLED=true
STRUCTURED_LOGGING_DATABASE_ENABLED=true
PERMISSION_AUDIT_ENABLED=true
AUDIT_TRAIL_ENABLED=true
SSRF_ALLOW_LOCALHOST=true
LOG_LEVEL=INFO
LOG_FORMAT=json
PLATFORM_ADMIN_EMAIL=admin@example.com
ADMIN_REQUIRE_PASSWORD_CHANGE_ON_BOOTSTRAP=false
PASSWORD_CHANGE_ENFORCEMENT_ENABLED=false
# Its limiter counts per client IP: ~100 loopback calls lock every token out for 15 minutes.
# Off for the test; gateprobe keeps its own request budget (run.requests_per_second).
RATE_LIMITING_ENABLED=false
ENV
chmod 600 .env
log "starting ContextForge on $BASE (upstream on $UP_PORT)"
setsid "$VENV/bin/mcpgateway" --host 127.0.0.1 --port "$CF_PORT" >"$STATE/gateway.log" 2>&1 &
PIDS+=($!)

wait_for() { # url seconds
  local deadline=$(( $(date +%s) + $2 ))
  until curl -fsS -m 2 -o /dev/null "$1" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { log "timed out waiting for $1"; return 1; }
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || { log "a started process exited"; return 1; }; done
    sleep 1
  done
}
wait_for_mcp() { # the upstream answers POST only
  local deadline=$(( $(date +%s) + $2 ))
  until curl -sS -m 2 -o /dev/null -X POST "$1" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { log "timed out waiting for $1"; return 1; }
    sleep 0.5
  done
}
wait_for_mcp "http://127.0.0.1:$UP_PORT/mcp" 30
wait_for "$BASE/health" 240
log "gateway up; provisioning"
SERVER_ID=$(timeout 120 "$VENV/bin/python" "$HERE/provision.py" setup --state "$STATE" --base "$BASE" --upstream "http://127.0.0.1:$UP_PORT/mcp")

fill() { sed -e "s|@BASE@|$BASE|g" -e "s|@SERVER_ID@|$SERVER_ID|g" -e "s|@STATE@|$STATE|g" -e "s|@PY@|$VENV/bin/python|g" -e "s|@HERE@|$HERE|g" "$@"; }
fill "$HERE/gateprobe.yaml" >"$STATE/gateprobe.yaml"
{ awk '/^audit:/{skip=1; next} skip && /^[a-z]/{skip=0} !skip' "$STATE/gateprobe.yaml"; fill "$HERE/audit-stdout.yaml"; } >"$STATE/gateprobe-stdout.yaml"

# --- run and compare ---------------------------------------------------------------------------
status=0
for variant in api stdout; do
  config="$STATE/gateprobe.yaml"; [ "$variant" = stdout ] && config="$STATE/gateprobe-stdout.yaml"
  log "gateprobe run ($variant evidence)"
  set +e
  timeout 120 "$GATEPROBE" run --config "$config" --verbose --color never --report "json=$STATE/report-$variant.json"
  rc=$?
  set -e
  log "gateprobe exited $rc"
  "$VENV/bin/python" "$ROOT/examples/common/compare.py" "$STATE/report-$variant.json" "$HERE/expected-$variant.json" || status=1
done
log "done in $(( $(date +%s) - START ))s"
exit $status

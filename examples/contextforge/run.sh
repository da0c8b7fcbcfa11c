#!/usr/bin/env bash
# Proves gateprobe's `mcp` and `http` adapters on IBM ContextForge 1.1.0: installs the gateway
# into a cached venv and the upstream tool server into a cached npm prefix, starts both on free
# loopback ports, provisions users, roles, tokens and a virtual server through the gateway's API,
# runs gateprobe twice over its three endpoints (`/servers/{id}/mcp`, `/mcp/` and `/rpc`, named
# targets of one config: one run, one state, one report each), with evidence from the log-search
# API, then from the gateway's JSON stdout, compares the outcomes and targets with
# expected-*.json, and stops everything it started.
#
# Environment: GATEPROBE (the binary; built with cargo when unset), PYTHON312 (a Python 3.12 or
# 3.13), XDG_CACHE_HOME. Exits non-zero when an outcome differs from the expected one.
set -euo pipefail
NAME=contextforge
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../common/lib.sh"
VENV="$CACHE/venv/contextforge"

venv_install "$VENV" mcp-contextforge-gateway==1.1.0
install_upstream
gateprobe_bin

UP_PORT=$(free_port); CF_PORT=$(free_port)
BASE="http://127.0.0.1:$CF_PORT"
start_upstream "$UP_PORT"

cd "$STATE/config"
"$VENV/bin/python" -m mcpgateway.scripts.init_secrets --stdout >.env 2>/dev/null
cat >>.env <<ENV
DATABASE_URL=sqlite:///$STATE/config/mcp.db
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
start "$GATEWAY_LOG" "$VENV/bin/mcpgateway" --host 127.0.0.1 --port "$CF_PORT"

wait_http POST "http://127.0.0.1:$UP_PORT/mcp" 30
wait_http GET "$BASE/health" 240   # the first start migrates a fresh SQLite database (~1 min)
log "gateway up; provisioning"
SERVER_ID=$(timeout 120 "$VENV/bin/python" "$HERE/provision.py" setup --state "$STATE/config" --base "$BASE" --upstream "http://127.0.0.1:$UP_PORT/mcp")

fill() { sed -e "s|@BASE@|$BASE|g" -e "s|@SERVER_ID@|$SERVER_ID|g" -e "s|@STATE@|$STATE/config|g" -e "s|@LOGS@|$STATE/logs|g" -e "s|@PY@|$VENV/bin/python|g" -e "s|@HERE@|$HERE|g" "$@"; }
fill "$HERE/gateprobe.yaml" >"$STATE/gateprobe.yaml"
fill "$HERE/audit-stdout.yaml" >"$STATE/audit-stdout.yaml"
swap_audit "$STATE/gateprobe.yaml" "$STATE/audit-stdout.yaml" >"$STATE/gateprobe-stdout.yaml"

status=0
run_variant api "$STATE/gateprobe.yaml" "$HERE/expected-api.json" || status=1
run_variant stdout "$STATE/gateprobe-stdout.yaml" "$HERE/expected-stdout.json" || status=1
log "done"
exit $status

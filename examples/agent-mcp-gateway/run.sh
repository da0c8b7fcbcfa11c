#!/usr/bin/env bash
# Proves gateprobe's `mcp` adapter on agent-mcp-gateway 0.2.5: installs it (and ContextForge's
# stdio-to-Streamable-HTTP bridge) into cached venvs, starts the upstream tool server and the
# bridged gateway on free loopback ports, runs gateprobe twice (with its documented audit log as
# evidence, then decisions only), compares the outcomes with expected-*.json, and stops
# everything it started.
#
# Environment: GATEPROBE (the binary; built with cargo when unset), PYTHON312, XDG_CACHE_HOME.
set -euo pipefail
NAME=agent-mcp-gateway
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../common/lib.sh"
VENV="$CACHE/venv/agent-mcp-gateway"
BRIDGE="$CACHE/venv/contextforge"

venv_install "$VENV" agent-mcp-gateway==0.2.5
venv_install "$BRIDGE" mcp-contextforge-gateway==1.1.0
install_upstream
gateprobe_bin

UP_PORT=$(free_port); GW_PORT=$(free_port)
URL="http://127.0.0.1:$GW_PORT/mcp"
start_upstream "$UP_PORT"

# The gateway watches its config files' folders and logs every change it sees (at DEBUG, to
# stderr): with its log in the same folder that is a loop. Config and logs live apart.
sed "s|@UPSTREAM@|http://127.0.0.1:$UP_PORT/mcp|" "$HERE/mcp.json.in" >"$STATE/config/mcp.json"
cp "$HERE/gateway-rules.json" "$STATE/config/gateway-rules.json"
: >"$STATE/logs/audit.jsonl"
cd "$STATE/config"
# The bridge reads ContextForge settings and refuses placeholder secrets.
"$BRIDGE/bin/python" -m mcpgateway.scripts.init_secrets --stdout >.env 2>/dev/null
chmod 600 .env
log "starting agent-mcp-gateway behind the bridge on $URL (upstream on $UP_PORT)"
wait_http POST "http://127.0.0.1:$UP_PORT/mcp" 30
start "$GATEWAY_LOG" env GATEWAY_MCP_CONFIG="$STATE/config/mcp.json" GATEWAY_RULES="$STATE/config/gateway-rules.json" \
  GATEWAY_AUDIT_LOG="$STATE/logs/audit.jsonl" \
  "$BRIDGE/bin/python" -m mcpgateway.translate --stdio "$VENV/bin/agent-mcp-gateway" \
  --expose-streamable-http --stateless --jsonResponse --host 127.0.0.1 --port "$GW_PORT"
wait_http POST "$URL" 60

fill() { sed -e "s|@URL@|$URL|g" -e "s|@STATE@|$STATE|g" -e "s|@HERE@|$HERE|g" "$@"; }
fill "$HERE/gateprobe.yaml" >"$STATE/gateprobe.yaml"
printf 'audit: { kind: none }\n' >"$STATE/audit-none.yaml"
swap_audit "$STATE/gateprobe.yaml" "$STATE/audit-none.yaml" >"$STATE/gateprobe-decisions.yaml"

status=0
run_variant audit "$STATE/gateprobe.yaml" "$HERE/expected-audit.json" || status=1
log "its audit log after the run: $(wc -c <"$STATE/logs/audit.jsonl") bytes"
run_variant decisions "$STATE/gateprobe-decisions.yaml" "$HERE/expected-decisions.json" || status=1
log "done"
exit $status

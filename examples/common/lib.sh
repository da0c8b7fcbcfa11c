# Shared by examples/*/run.sh: logging, cached installs, free ports, bounded waits, and a trap
# that stops every process group the script started. Source it after setting NAME.
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/gateprobe"
COMMON="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$COMMON/../.." && pwd)"
START=$(date +%s)
log() { printf '[%s %3ds] %s\n' "$NAME" $(( $(date +%s) - START )) "$*" >&2; }

PIDS=()
STATE="$(mktemp -d "${TMPDIR:-/tmp}/gateprobe-$NAME.XXXXXX")"
mkdir -p "$STATE/logs" "$STATE/config"
GATEWAY_LOG="$STATE/logs/gateway.log"
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  if [ "$rc" -ne 0 ] && [ -f "$GATEWAY_LOG" ]; then
    log "exit $rc; gateway log tail:"; tail -n 15 "$GATEWAY_LOG" | cut -c1-300 >&2
  fi
  cd / && rm -rf "$STATE"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start LOGFILE CMD...: runs CMD in its own session (so the trap can stop its whole group).
start() {
  local out="$1"; shift
  setsid "$@" >"$out" 2>&1 &
  PIDS+=($!)
}

find_python() {
  local p
  for p in "${PYTHON312:-}" /root/.pyenv/versions/3.12.1/bin/python "$(command -v python3.12 || true)" "$(command -v python3.13 || true)"; do
    [ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return; }
  done
  echo "no Python 3.12/3.13 found (set PYTHON312)" >&2; return 1
}

# venv_install DIR REQUIREMENT: a venv under the cache with one pinned package, made once.
venv_install() {
  local dir="$1" req="$2" marker="$1/.installed-${2//[^A-Za-z0-9.=_-]/_}"
  [ -f "$marker" ] && return 0
  log "installing $req into $dir"
  rm -rf "$dir"; "$(find_python)" -m venv "$dir"
  timeout 900 "$dir/bin/pip" install -q "$req"
  touch "$marker"
}

# The upstream tool server for both gateways: npm @modelcontextprotocol/server-everything.
UPSTREAM_VERSION=2026.8.31
UPSTREAM_PREFIX="$CACHE/npm/everything"
install_upstream() {
  [ -f "$UPSTREAM_PREFIX/.installed-$UPSTREAM_VERSION" ] && return 0
  log "installing @modelcontextprotocol/server-everything@$UPSTREAM_VERSION"
  mkdir -p "$UPSTREAM_PREFIX"
  timeout 600 npm install --silent --no-audit --no-fund --prefix "$UPSTREAM_PREFIX" "@modelcontextprotocol/server-everything@$UPSTREAM_VERSION" >&2
  touch "$UPSTREAM_PREFIX/.installed-$UPSTREAM_VERSION"
}
# Its `get-env` tool returns its whole environment: start it with an empty one. It has no host
# option, so a preload binds it to loopback.
start_upstream() { # PORT
  start "$STATE/logs/upstream.log" env -i PATH=/usr/bin:/bin PORT="$1" NODE_OPTIONS="--require $COMMON/loopback.cjs" \
    "$UPSTREAM_PREFIX/node_modules/.bin/mcp-server-everything" streamableHttp
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

alive() { local pid; for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || { log "a started process exited"; return 1; }; done; }
# wait_http METHOD URL SECONDS: until the URL answers at all (any status).
wait_http() {
  local deadline=$(( $(date +%s) + $3 ))
  until curl -sS -m 2 -o /dev/null -X "$1" "$2" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { log "timed out waiting for $2"; return 1; }
    alive || return 1
    sleep 1
  done
}

gateprobe_bin() {
  if [ -z "${GATEPROBE:-}" ]; then
    log "building gateprobe"
    (cd "$ROOT" && cargo build --quiet --locked --bin gateprobe)
    GATEPROBE="${CARGO_TARGET_DIR:-$ROOT/target}/debug/gateprobe"
  fi
}

# run_variant LABEL CONFIG EXPECTED: one gateprobe run, outcomes compared with EXPECTED.
run_variant() {
  log "gateprobe run ($1)"
  local rc=0
  timeout 120 "$GATEPROBE" run --config "$2" --verbose --color never --report "json=$STATE/report-$1.json" || rc=$?
  log "gateprobe exited $rc"
  python3 "$COMMON/compare.py" "$STATE/report-$1.json" "$3"
}

# swap_audit CONFIG SNIPPET: CONFIG with its top-level `audit:` block replaced by SNIPPET.
swap_audit() {
  awk '/^audit:/{skip=1; next} skip && /^[a-z]/{skip=0} !skip' "$1"
  cat "$2"
}

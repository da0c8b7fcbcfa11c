#!/usr/bin/env bash
# Benchmark of `gateprobe serve` (not a timed test): starts Alertmanager, the reference gateway
# (its own process, over a temp copy of policies/) and serve monitoring it, then measures
#   1. time from a policy file change to the GateprobeRegression alert listed by Alertmanager;
#   2. idle RSS of serve between runs;
#   3. CPU used by serve while idle (policy watch polling every second, no runs).
# The suite has 100 scenarios; the version watch polls every second.
# Prints each figure with its target. Usage: benches/serve.sh [path/to/gateprobe]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gateprobe/target}"
bin="${1:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin gateprobe
  bin="$CARGO_TARGET_DIR/release/gateprobe"
fi
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
am_port=$(port); serve_port=$(port); gw_port=$(port)
cp -r policies "$tmp/policies"; mkdir -p "$tmp/scenarios"
# 100 scenarios per run by one subject: quotas above that, so no decision is a rate limit.
printf 'subject: {burst: 100000, per_second: 100000}\ntenant: {burst: 100000, per_second: 100000}\n' >"$tmp/policies/limits.yaml"
# A 100-scenario suite: 50 reads the policy edit below flips, 50 denied deletes.
python3 - "$tmp/scenarios/bench.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("suite: bench\ndefaults: { identity: alice-reader }\nscenarios:\n")
    for i in range(50):
        f.write("  - name: read %d\n    call: { tool: files.read, arguments: { path: /docs/handbook.md } }\n"
                "    expect: { decision: allow, evidence: [identity, decision, rationale] }\n" % i)
        f.write("  - name: delete %d\n    call: { tool: files.delete, arguments: { path: /docs/handbook.md } }\n"
                "    expect: { decision: deny, reason: missing_capability }\n" % i)
PY
cat > "$tmp/am.yml" <<YAML
route: { receiver: 'null', group_wait: 1s }
receivers: [{ name: 'null' }]
YAML
/usr/bin/prometheus-alertmanager --config.file="$tmp/am.yml" --storage.path="$tmp/am" \
  --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= >"$tmp/am.log" 2>&1 &
pids+=($!)
# The gateway in its own process, as in production: serve's figures are serve's alone.
head -c 32 /dev/urandom | base64 >"$tmp/key"
"$bin" gateway --policies "$tmp/policies" --listen "127.0.0.1:$gw_port" --signing-key-file "$tmp/key" \
  >"$tmp/gateway.log" 2>&1 &
pids+=($!)
"$bin" gateway token --subject alice@example.com --tenant acme --roles reader --ttl 1h \
  --signing-key-file "$tmp/key" >"$tmp/alice.token"
cat >"$tmp/gateprobe.yaml" <<YAML
target: { kind: mcp, url: "http://127.0.0.1:$gw_port/mcp" }
audit: { kind: http, url: "http://127.0.0.1:$gw_port/audit?correlation_id={correlation_id}" }
suites: [scenarios]
identities:
  alice-reader: { subject: alice@example.com, tenant: acme, roles: [reader], credential: { file: alice.token } }
YAML
(cd "$tmp" && exec "$bin" serve --config gateprobe.yaml --schedule off --watch-interval 1s --listen "127.0.0.1:$serve_port" \
  --alertmanager-url "http://127.0.0.1:$am_port") >"$tmp/serve.log" 2>&1 &
serve_pid=$!
pids+=($serve_pid)

wait_for() { # description, seconds, command
  local what=$1 limit=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then echo "timed out waiting for $what" >&2; tail -20 "$tmp/serve.log" >&2; exit 1; fi
    sleep 0.05
  done
}
first_run() { curl -fsS "http://127.0.0.1:$serve_port/status" | grep -q '"result"'; }
am_up() { curl -fsS "http://127.0.0.1:$am_port/-/ready"; }
alert_listed() { curl -fsS "http://127.0.0.1:$am_port/api/v2/alerts" | grep -q GateprobeRegression; }
wait_for "Alertmanager" 20 am_up
wait_for "the first run" 30 first_run
sleep 3 # let the watch record the starting version

start=$(date +%s.%N)
sed -i 's/Action::"files.read", Action::"search.query"/Action::"search.query"/' "$tmp/policies/roles.cedar"
wait_for "the alert in Alertmanager" 30 alert_listed
end=$(date +%s.%N)
detect=$(python3 -c "print(f'{$end - $start:.2f}')")

sleep 5 # idle: the run is over, only the watch polls
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$serve_pid/status")
anon_kb=$(awk '/^RssAnon/ {print $2}' "/proc/$serve_pid/status")
file_kb=$(awk '/^RssFile/ {print $2}' "/proc/$serve_pid/status")
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$serve_pid/stat"; }
c0=$(cpu); sleep 10; c1=$(cpu)
idle_cpu=$(python3 -c "print(f'{($c1 - $c0) / $ticks / 10 * 100:.2f}')")

printf '%-45s %10s   %s\n' "figure" "value" "target"
printf '%-45s %9ss   %s\n' "policy change -> alert listed by Alertmanager" "$detect" "< 5 s"
printf '%-45s %8.1fMB   %s\n' "idle RSS of serve between runs" "$(python3 -c "print($rss_kb/1024)")" "< 15 MB"
# RSS splits into the heap and stacks (anonymous) and the binary's code pages in use (file-backed,
# shared and reclaimable).
printf '%-45s %8.1fMB\n' "  of which anonymous (heap, stacks)" "$(python3 -c "print($anon_kb/1024)")"
printf '%-45s %8.1fMB\n' "  of which file-backed (binary pages)" "$(python3 -c "print($file_kb/1024)")"
printf '%-45s %9s%%   %s\n' "CPU of serve while idle (10 s)" "$idle_cpu" "~0 %"

#!/usr/bin/env bash
# Golden prompts (issue 18): what gateprobe itself adds to a prompt scenario, beside what the
# model takes. Two runs of the README's example suite (examples/golden-prompts/prompts.yaml,
# three prompts) against the embedded reference gateway:
#  1. the real model: SmolLM2-135M-Instruct behind llama.cpp's server on the CPU (installed by
#     scripts/install-deps), json_schema mode, temperature 0;
#  2. an instant assistant: a fixture chat endpoint (Python, on loopback) that answers every
#     request at once with the same tool call, so a scenario's time is the harness's own: the tool
#     listing, the agent loop, the gateway's answer and the evidence lookup.
# Per prompt scenario it prints the wall time, the time spent waiting for the model, and the
# rest (the harness and the gateway); the target is a harness share under 5% of the model's
# time. ROUNDS runs of each (default 3); every load is bounded by the suite.
#
# Usage: benches/prompts.sh   (ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
VENV="${GATEPROBE_MODEL_VENV:-$HOME/.cache/gateprobe/model-venv}"
[ -x "$VENV/bin/python" ] || { echo "no model in $VENV (run scripts/install-deps)" >&2; exit 2; }

cargo build --quiet --release --bin gateprobe
BIN="${CARGO_TARGET_DIR:-target}/release/gateprobe"
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 600); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "$1 did not come up" >&2; exit 1; }

MODEL_PORT=$(free_port)
"$VENV/bin/python" scripts/model_server.py --port "$MODEL_PORT" --ctx 8192 --threads 2 >"$TMP/model.log" 2>&1 &
PIDS+=($!)
INSTANT_PORT=$(free_port)
python3 - "$INSTANT_PORT" >"$TMP/instant.log" 2>&1 <<'PY' &
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
ANSWER = json.dumps({"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
    "content": json.dumps({"name": "search_query", "arguments": {"q": "quarterly report"}})}}]}).encode()
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(ANSWER))); self.end_headers(); self.wfile.write(ANSWER)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
PIDS+=($!)
wait_up "http://127.0.0.1:$MODEL_PORT/health"
wait_up "http://127.0.0.1:$INSTANT_PORT/"

config() { # name url
  cat >"$TMP/$1.yaml" <<YAML
target: { kind: embedded, policies: $PWD/policies }
suites: [$PWD/examples/golden-prompts/prompts.yaml]
identities:
  alice-reader: { subject: alice@example.com, tenant: acme, roles: [reader] }
assistants:
  - { name: $1, url: "$2", model: smollm2, mode: json_schema, prompt_bundle: $PWD/prompts/assistant.md, temperature: 0, seed: 1 }
YAML
}
config model "http://127.0.0.1:$MODEL_PORT/v1"
config instant "http://127.0.0.1:$INSTANT_PORT/v1"

for name in model instant; do
  for i in $(seq 1 "$ROUNDS"); do
    "$BIN" run --config "$TMP/$name.yaml" --state "$TMP/$name-state.json" --snapshots "$TMP/snapshots" \
      --report "json=$TMP/$name-$i.json" >/dev/null 2>&1 || true
  done
done

python3 - "$TMP" "$ROUNDS" <<'PY'
import json, sys, statistics as st
tmp, rounds = sys.argv[1], int(sys.argv[2])
def load(name):
    rows = []
    for i in range(1, rounds + 1):
        for r in json.load(open(f"{tmp}/{name}-{i}.json"))["results"]:
            p = r.get("proposal") or {}
            model = sum(p.get("model_ms") or [])
            rows.append((r["scenario"], r["outcome"], r["duration_ms"], model, len(p.get("model_ms") or [])))
    return rows
def med(xs): return st.median(xs) if xs else 0.0
model, instant = load("model"), load("instant")
print(f"golden prompts, {rounds} rounds, json_schema mode, embedded reference gateway")
print(f"{'scenario':52} {'outcome':12} {'wall ms':>9} {'model ms':>9} {'harness ms':>10} {'asks':>4}")
for name in sorted({r[0] for r in model}):
    rows = [r for r in model if r[0] == name]
    wall, m = med([r[2] for r in rows]), med([r[3] for r in rows])
    print(f"{name[:52]:52} {rows[0][1]:12} {wall:9.1f} {m:9.1f} {wall - m:10.1f} {rows[0][4]:4}")
wall, m = med([r[2] for r in model]), med([r[3] for r in model])
share = (wall - m) / wall * 100 if wall else 0
print(f"real model: median {wall:.1f} ms a scenario, {m:.1f} ms of it the model; harness and gateway {wall - m:.1f} ms = {share:.1f}% (target < 5%)")
iw = med([r[2] for r in instant]); im = med([r[3] for r in instant])
print(f"instant assistant: median {iw:.1f} ms a scenario ({im:.1f} ms in the fixture's answers): the harness's own cost per prompt scenario")
PY

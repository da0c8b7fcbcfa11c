#!/usr/bin/env bash
# Policy mutation testing (issue 21): mutants per second on the bundled policies and suites, the
# release build, `--jobs` 1 and 2. Each mutant is a copy of policies/, its own embedded gateway
# and a full run of the bundled suites, so a mutant costs about one `gateprobe run` (plus the
# gateway's start and the policy check).
#
# Target: the whole bundled set (28 mutants) in under 60 s on 2 cores, i.e. at least 0.5
# mutants/s: short enough for the policy-gate workflow to run it on every pull request beside
# the gate itself, whose budget is minutes. ROUNDS runs of each (default 3); every load is
# bounded by the bundled suites.
#
# Usage: benches/mutate.sh   (ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
TARGET_SECONDS=60

cargo build --quiet --release --bin gateprobe
BIN="${CARGO_TARGET_DIR:-target}/release/gateprobe"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

for jobs in 1 2; do
  for round in $(seq 1 "$ROUNDS"); do
    start=$(date +%s.%N)
    "$BIN" mutate --jobs "$jobs" --color never --report "json=$TMP/mutate.json" >/dev/null 2>"$TMP/err" \
      || { cat "$TMP/err" >&2; exit 1; }
    end=$(date +%s.%N)
    python3 - "$TMP/mutate.json" "$start" "$end" "$jobs" "$round" "$TARGET_SECONDS" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
start, end, jobs, round_, target = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5], float(sys.argv[6])
wall = end - start
n = report["counts"]["mutants"]
verdict = "met" if wall < target else "NOT met"
print(f"jobs {jobs} round {round_}: {n} mutants (+ baseline) in {wall:.2f} s wall = {n / wall:.2f} mutants/s; "
      f"score {report['score']}% over {report['scenarios']} scenarios each; target < {target:.0f} s: {verdict}")
PY
  done
done

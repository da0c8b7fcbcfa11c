#!/usr/bin/env python3
"""compare.py REPORT.json EXPECTED.json: exit 1 when a scenario's outcome differs from the expected one.

EXPECTED maps scenario name to outcome (`pass`, `fail`, `evidence_missing`, `leak`, `error`), or to
`{"target": NAME, "outcome": OUTCOME}` when the config names its targets (`targets:`): the result
must then also have run on that target. Each line printed is one scenario: expected, observed,
and gateprobe's message.
"""
import json
import sys

try:
    report = json.load(open(sys.argv[1]))
except OSError as e:
    sys.exit(f"no report to compare: {e}")
expected = json.load(open(sys.argv[2]))
observed = {r["scenario"] if "scenario" in r else r["name"]: r for r in report["results"]}
bad = 0
for name, want in expected.items():
    r = observed.get(name)
    got = r["outcome"] if r else "absent"
    if isinstance(want, dict):
        # "outcome@target", so a result on the wrong target differs like a wrong outcome.
        want = f"{want['outcome']}@{want['target']}"
        got = f"{got}@{r.get('target')}" if r else got
    mark = "ok  " if got == want else "DIFF"
    bad += got != want
    r = r or {}
    seen = f"{r.get('observed')}/{r.get('reason')}" if r else ""
    msg = r.get("message") or ""
    print(f"{mark} expected {want:<16} got {got:<16} [{seen}] {name}  {msg}")
for name in sorted(set(observed) - set(expected)):
    print(f"DIFF expected {'(not listed)':<16} got {observed[name]['outcome']:<16} {name}")
    bad += 1
sys.exit(1 if bad else 0)

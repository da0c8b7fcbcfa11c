//! Fixtures for the tests of this crate and of the `gateprobe` binary (renderers, coverage):
//! a realistic run, built by hand, with fixed times and ids so snapshots are stable. Not API.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::decision::Decision;
use crate::outcome::{Outcome, RunSummary, ScenarioResult};
use crate::suite::Location;

pub const POLICY: &str = "sha256:9f2c4e1a0b7d";

fn fields(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn base(suite: &str, scenario: &str, line: usize, tool: &str, expected: Decision) -> ScenarioResult {
    ScenarioResult {
        suite: suite.to_string(),
        scenario: scenario.to_string(),
        file: PathBuf::from(format!("scenarios/{suite}.yaml")),
        location: Location { line, column: 5 },
        identity: "alice-reader".to_string(),
        tool: tool.to_string(),
        outcome: Outcome::Pass,
        message: None,
        expected,
        observed: Some(expected),
        expected_reason: None,
        reason: None,
        evidence_fields: fields(&["action", "decision", "identity", "policy_version", "rationale", "tenant"]),
        missing_fields: vec![],
        contradicted_fields: vec![],
        policy_version: Some(POLICY.to_string()),
        error_kind: None,
        endpoint: None,
        calls: 1,
        correlation_ids: vec![],
        duration: Duration::from_millis(42),
        latencies: vec![Duration::from_millis(40)],
        evidence_lags: vec![Duration::from_millis(2)],
        policy_ids: BTreeSet::new(),
        reasons: BTreeSet::new(),
        evidence: None,
    }
}

/// Four scenarios in two suites: a pass, a wrong decision, missing evidence, and a timeout.
pub fn summary() -> RunSummary {
    let mut pass = base("documents", "reader can read a handbook page", 5, "files.read", Decision::Allow);
    pass.reason = Some("granted".to_string());
    pass.correlation_ids = vec!["0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d01".to_string()];

    let mut fail = base("documents", "reader cannot delete", 10, "files.delete", Decision::Deny);
    fail.outcome = Outcome::Fail;
    fail.observed = Some(Decision::Allow);
    fail.expected_reason = Some("missing_capability".to_string());
    fail.reason = Some("granted_by_role".to_string());
    fail.message = Some("expected deny (missing_capability), the gateway answered allow (granted_by_role)".to_string());
    fail.correlation_ids = vec!["0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d02".to_string()];
    fail.duration = Duration::from_millis(57);

    let mut missing = base("tickets", "ticket creation is audited | with result", 8, "tickets.create", Decision::Allow);
    missing.identity = "bob-agent".to_string();
    missing.outcome = Outcome::EvidenceMissing;
    missing.reason = Some("granted".to_string());
    missing.evidence_fields = fields(&["action", "decision", "identity", "tenant"]);
    missing.missing_fields = vec!["policy_version".to_string(), "result".to_string()];
    missing.message = Some("audit record lacks required fields: policy_version, result".to_string());
    missing.correlation_ids = vec!["0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d03".to_string()];
    missing.duration = Duration::from_millis(1250);

    let mut error = base("tickets", "burst of searches is throttled", 14, "search.query", Decision::Allow);
    error.outcome = Outcome::Error;
    error.observed = None;
    error.evidence_fields = BTreeSet::new();
    error.policy_version = None;
    error.error_kind = Some("timeout");
    error.calls = 3;
    error.message = Some("call 3 of 30 timed out after 5s:\nno answer from http://127.0.0.1:8080/mcp".to_string());
    error.correlation_ids = vec![
        "0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d04".to_string(),
        "0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d05".to_string(),
        "0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d06".to_string(),
    ];
    error.latencies = vec![Duration::from_millis(30), Duration::from_millis(31)];
    error.evidence_lags = vec![];
    error.duration = Duration::from_millis(5061);

    RunSummary {
        started_at: "2025-01-15T09:30:00Z".to_string(),
        duration: Duration::from_millis(6410),
        target: "embedded http://127.0.0.1:8080/mcp".to_string(),
        results: vec![pass, fail, missing, error],
        coverage: None,
    }
}

/// The same run with every scenario passing.
pub fn all_pass() -> RunSummary {
    let mut s = summary();
    s.results.truncate(1);
    let mut second = base("tickets", "agent can create a ticket", 3, "tickets.create", Decision::Allow);
    second.correlation_ids = vec!["0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d07".to_string()];
    s.results.push(second);
    s.duration = Duration::from_millis(410);
    s
}

/// Insta filters for values that differ between runs of a real harness (ids, times).
pub fn filters() -> Vec<(&'static str, &'static str)> {
    vec![(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[correlation-id]")]
}

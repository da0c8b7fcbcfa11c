//! Fixtures for the tests of this crate and of the `gateprobe` binary (renderers, coverage):
//! a realistic run, built by hand, with fixed times and ids so snapshots are stable; and the
//! response decoders, for the fuzz targets. Not API.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::RunSummary;
use crate::decision::Decision;
use crate::outcome::{Outcome, ScenarioResult};
use crate::suite::Location;

/// The decoders the fuzz targets drive: an MCP answer (JSON or SSE) and an HTTP gateway's answer,
/// each to a decision or a `CallError`.
pub mod decoders {
    pub use crate::adapter::Reply;
    pub use crate::adapter::http::decode_answer as http_answer;
    pub use crate::adapter::mcp::decode_reply as mcp_reply;
    pub use crate::transport::CallError;
}

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
        target: None,
        endpoint: None,
        calls: 1,
        correlation_ids: vec![],
        duration: Duration::from_millis(42),
        latencies: vec![Duration::from_millis(40)],
        evidence_lags: vec![Duration::from_millis(2)],
        policy_ids: BTreeSet::new(),
        reasons: BTreeSet::new(),
        evidence: None,
        proposal: None,
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

/// The compare stage's fixtures: two policy versions and hand-built results (the compare stage
/// needs nothing of a real run).
pub mod compare {
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::RunSummary;
    use crate::compare::{Comparison, Defined, Observation, Snapshots, State, compare};
    use crate::decision::Decision;
    use crate::outcome::{Outcome, ScenarioResult};
    use crate::suite::Location;

    /// A hand-built result: the compare stage needs nothing of a real run.
    pub fn result(
        suite: &str,
        scenario: &str,
        outcome: Outcome,
        decision: Option<Decision>,
        version: &str,
    ) -> ScenarioResult {
        ScenarioResult {
            suite: suite.into(),
            scenario: scenario.into(),
            file: PathBuf::from(format!("scenarios/{suite}.yaml")),
            location: Location { line: 5, column: 5 },
            identity: "alice-reader".into(),
            tool: "files.read".into(),
            outcome,
            message: None,
            expected: Decision::Allow,
            observed: decision,
            expected_reason: None,
            reason: None,
            evidence_fields: ["action", "decision", "identity", "policy_version", "rationale", "tenant"]
                .into_iter()
                .map(String::from)
                .collect(),
            missing_fields: Vec::new(),
            contradicted_fields: Vec::new(),
            policy_version: Some(version.into()),
            error_kind: None,
            target: None,
            endpoint: None,
            calls: 1,
            correlation_ids: vec!["0190-abc".into()],
            duration: Duration::from_millis(3),
            latencies: vec![Duration::from_millis(2)],
            evidence_lags: Vec::new(),
            policy_ids: Default::default(),
            reasons: Default::default(),
            evidence: None,
            proposal: None,
        }
    }

    pub fn summary(results: Vec<ScenarioResult>) -> RunSummary {
        RunSummary {
            started_at: "2025-01-01T00:00:00Z".into(),
            duration: Duration::from_millis(10),
            target: "embedded http://127.0.0.1:1".into(),
            results,
            coverage: None,
        }
    }

    pub fn defined(pairs: &[(&str, &str)]) -> Defined {
        let mut d = Defined::new();
        for (s, n) in pairs {
            d.entry(s.to_string()).or_default().insert(n.to_string());
        }
        d
    }

    pub const V1: &str = "sha256:3f2a91c0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    pub const V2: &str = "sha256:91c0d4e2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    /// A state in which every scenario of `names` passed under `version`.
    pub fn passing_state(names: &[&str], version: &str) -> State {
        let mut s = State::default();
        let results =
            names.iter().map(|n| result("documents", n, Outcome::Pass, Some(Decision::Allow), version)).collect();
        s.record(&summary(results), &[]);
        s
    }

    /// `name` now denied (`missing_capability`) where it was allowed.
    pub fn flipped(name: &str, version: &str) -> ScenarioResult {
        let mut r = result("documents", name, Outcome::Fail, Some(Decision::Deny), version);
        r.reason = Some("missing_capability".into());
        r
    }

    /// `name` still allowed, its record without `rationale`.
    pub fn lost_rationale(name: &str, version: &str) -> ScenarioResult {
        let mut r = result("documents", name, Outcome::EvidenceMissing, Some(Decision::Allow), version);
        r.evidence_fields.remove("rationale");
        r.missing_fields = vec!["rationale".into()];
        r
    }

    /// Five scenarios passed under V1; under V2 three flipped to deny, one lost `rationale` and
    /// one still passes: that run compared with that state.
    pub fn one_update_four_regressions() -> Comparison {
        let state = passing_state(&["a", "b", "c", "d", "e"], V1);
        let run = summary(vec![
            flipped("a", V2),
            flipped("b", V2),
            flipped("c", V2),
            lost_rationale("d", V2),
            result("documents", "e", Outcome::Pass, Some(Decision::Allow), V2),
        ]);
        let names =
            [("documents", "a"), ("documents", "b"), ("documents", "c"), ("documents", "d"), ("documents", "e")];
        compare(&run, &Snapshots::default(), &state, &defined(&names))
    }

    /// An observation of `documents › x`: a pass with `decision` under `version`.
    pub fn obs(decision: Decision, version: &str) -> Observation {
        Observation::from_result(&result("documents", "x", Outcome::Pass, Some(decision), version))
    }

    /// A state that recorded `results` as one run.
    pub fn state_with(results: Vec<ScenarioResult>) -> State {
        let mut s = State::default();
        s.record(&summary(results), &[]);
        s
    }

    /// What a snapshot review starts from, in `dir`: reads allowed and deletes denied, both
    /// approved under V1, and an entry for a scenario no suite has any more.
    pub fn approved(dir: PathBuf) -> Snapshots {
        let mut snaps = Snapshots { dir, ..Default::default() };
        snaps.insert("documents", "reader reads", obs(Decision::Allow, V1));
        snaps.insert("documents", "reader deletes", obs(Decision::Deny, V1));
        snaps.insert("documents", "removed scenario", obs(Decision::Deny, V1));
        snaps
    }

    /// The last run a review compares [`approved`] with, under V2: reads flipped to deny,
    /// deletes unchanged, a brand new scenario; and the scenarios the suites define (one never
    /// run).
    pub fn reviewed_run() -> (State, Defined) {
        let mut flipped = result("documents", "reader reads", Outcome::Fail, Some(Decision::Deny), V2);
        flipped.reason = Some("missing_capability".into());
        let state = state_with(vec![
            flipped,
            result("documents", "reader deletes", Outcome::Pass, Some(Decision::Deny), V2),
            result("documents", "brand new", Outcome::Pass, Some(Decision::Allow), V2),
        ]);
        let defined = defined(&[
            ("documents", "reader reads"),
            ("documents", "reader deletes"),
            ("documents", "brand new"),
            ("documents", "never run"),
        ]);
        (state, defined)
    }
}

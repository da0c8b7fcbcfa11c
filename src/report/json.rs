//! The JSON report: a stable document for dashboards, scripts and later comparison. Its shape is
//! described by the JSON Schema `schemas/report.schema.json` ([`SCHEMA`]) and a test validates
//! real output against it. `version` changes only when a field is removed or changes meaning;
//! fields may be added within a version. Durations are milliseconds (with microsecond decimals).
//!
//! ```json
//! {
//!   "version": 1,
//!   "started_at": "2025-01-15T09:30:00Z",
//!   "duration_ms": 6410.0,
//!   "target": "embedded http://127.0.0.1:8080/mcp",
//!   "policy_versions": ["sha256:9f2c4e1a0b7d"],
//!   "prompt_versions": [{ "assistant": "smollm2", "prompt_version": "1a2b3c4d5e6f" }],
//!   "counts": { "pass": 1, "fail": 1, "evidence_missing": 0, "leak": 0, "model_drift": 1, "error": 0 },
//!   "results": [
//!     {
//!       "suite": "documents",
//!       "scenario": "reader cannot delete",
//!       "file": "scenarios/documents.yaml",
//!       "line": 10,
//!       "column": 5,
//!       "identity": "alice-reader",
//!       "tool": "files.delete",
//!       "outcome": "fail",
//!       "message": "expected deny (missing_capability), the gateway answered allow (granted_by_role)",
//!       "expected": "deny",
//!       "observed": "allow",
//!       "expected_reason": "missing_capability",
//!       "reason": "granted_by_role",
//!       "evidence_fields": ["action", "decision", "identity", "policy_version", "rationale", "tenant"],
//!       "missing_fields": [],
//!       "contradicted_fields": [],
//!       "policy_version": "sha256:9f2c4e1a0b7d",
//!       "error_kind": null,
//!       "calls": 1,
//!       "correlation_ids": ["0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d02"],
//!       "duration_ms": 57.0,
//!       "proposal": null
//!     },
//!     {
//!       "suite": "assistant",
//!       "scenario": "an e-mail request proposes email.send",
//!       "file": "scenarios/assistant.yaml",
//!       "line": 10,
//!       "column": 5,
//!       "identity": "alice-reader",
//!       "tool": "admin.grant_role",
//!       "outcome": "model_drift",
//!       "message": "the assistant proposed admin.grant_role, expected email.send (the gateway decided deny)",
//!       "expected": "allow",
//!       "observed": "deny",
//!       "expected_reason": null,
//!       "reason": "missing_capability",
//!       "evidence_fields": ["action", "decision", "identity", "policy_version", "rationale", "tenant"],
//!       "missing_fields": [],
//!       "contradicted_fields": [],
//!       "policy_version": "sha256:9f2c4e1a0b7d",
//!       "error_kind": null,
//!       "calls": 1,
//!       "correlation_ids": ["0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7e10"],
//!       "duration_ms": 1460.0,
//!       "proposal": {
//!         "assistant": "smollm2",
//!         "prompt_version": "1a2b3c4d5e6f",
//!         "expected": "email.send",
//!         "proposed": ["admin.grant_role"]
//!       }
//!     }
//!   ]
//! }
//! ```
//!
//! Every key is always present (absent values are `null`), so consumers need no defaults. A
//! golden-prompt scenario has a `proposal` (what its assistant proposed; `null` for a fixed
//! call); its results under a candidate assistant are keyed `<scenario> [<assistant>]`.
//! No field carries call arguments, tokens or canary values.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use gateprobe::RunSummary;
use gateprobe::decision::Decision;
use gateprobe::outcome::{Outcome, ScenarioResult};

use super::{PromptVersion, ReportError};

/// The report format version written in `version`.
pub const VERSION: u32 = 1;

/// The JSON Schema (draft 2020-12) of the report.
pub const SCHEMA: &str = include_str!("../../schemas/report.schema.json");

/// Renders the report, pretty-printed, with a trailing newline.
pub fn render(summary: &RunSummary) -> Result<String, ReportError> {
    let mut text = serde_json::to_string_pretty(&Report::from(summary))?;
    text.push('\n');
    Ok(text)
}

/// Renders the report as a JSON value (for embedding, e.g. in `/status`).
pub fn to_value(summary: &RunSummary) -> Result<serde_json::Value, ReportError> {
    Ok(serde_json::to_value(Report::from(summary))?)
}

/// The document, decoupled from [`RunSummary`] so that internal changes do not change the format.
#[derive(Serialize)]
struct Report<'a> {
    version: u32,
    started_at: &'a str,
    duration_ms: f64,
    target: &'a str,
    policy_versions: Vec<String>,
    prompt_versions: Vec<PromptVersion>,
    counts: Counts,
    results: Vec<ResultEntry<'a>>,
}

#[derive(Serialize)]
struct Counts {
    pass: usize,
    fail: usize,
    evidence_missing: usize,
    leak: usize,
    model_drift: usize,
    error: usize,
}

#[derive(Serialize)]
struct ResultEntry<'a> {
    suite: &'a str,
    scenario: &'a str,
    file: String,
    line: usize,
    column: usize,
    identity: &'a str,
    tool: &'a str,
    outcome: Outcome,
    message: Option<&'a str>,
    expected: Decision,
    observed: Option<Decision>,
    expected_reason: Option<&'a str>,
    reason: Option<&'a str>,
    evidence_fields: &'a BTreeSet<String>,
    missing_fields: &'a [String],
    contradicted_fields: &'a [String],
    policy_version: Option<&'a str>,
    /// The named target it ran on (configs with `targets:` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    /// The replica that answered (targets with `replicas`), or with named targets the URL the
    /// calls went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
    error_kind: Option<&'a str>,
    calls: usize,
    correlation_ids: &'a [String],
    duration_ms: f64,
    proposal: Option<Proposal<'a>>,
}

/// What the assistant of a golden-prompt scenario proposed.
#[derive(Serialize)]
struct Proposal<'a> {
    assistant: &'a str,
    prompt_version: &'a str,
    expected: &'a str,
    proposed: &'a [String],
    model_ms: Vec<f64>,
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

impl<'a> From<&'a RunSummary> for Report<'a> {
    fn from(s: &'a RunSummary) -> Self {
        let counts = s.counts();
        Report {
            version: VERSION,
            started_at: &s.started_at,
            duration_ms: millis(s.duration),
            target: &s.target,
            policy_versions: s.policy_versions(),
            prompt_versions: super::prompt_versions(s),
            counts: Counts {
                pass: counts[&Outcome::Pass],
                fail: counts[&Outcome::Fail],
                evidence_missing: counts[&Outcome::EvidenceMissing],
                leak: counts[&Outcome::Leak],
                model_drift: counts[&Outcome::ModelDrift],
                error: counts[&Outcome::Error],
            },
            results: s.results.iter().map(ResultEntry::from).collect(),
        }
    }
}

impl<'a> From<&'a ScenarioResult> for ResultEntry<'a> {
    fn from(r: &'a ScenarioResult) -> Self {
        ResultEntry {
            suite: &r.suite,
            scenario: &r.scenario,
            file: r.file.to_string_lossy().into_owned(),
            line: r.location.line,
            column: r.location.column,
            identity: &r.identity,
            tool: &r.tool,
            outcome: r.outcome,
            message: r.message.as_deref(),
            expected: r.expected,
            observed: r.observed,
            expected_reason: r.expected_reason.as_deref(),
            reason: r.reason.as_deref(),
            evidence_fields: &r.evidence_fields,
            missing_fields: &r.missing_fields,
            contradicted_fields: &r.contradicted_fields,
            policy_version: r.policy_version.as_deref(),
            target: r.target.as_deref(),
            endpoint: r.endpoint.as_deref(),
            error_kind: r.error_kind,
            calls: r.calls,
            correlation_ids: &r.correlation_ids,
            duration_ms: millis(r.duration),
            proposal: r.proposal.as_ref().map(|p| Proposal {
                assistant: &p.assistant,
                prompt_version: &p.prompt_version,
                expected: &p.expected,
                proposed: &p.proposed,
                model_ms: p.latencies.iter().copied().map(millis).collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::report::{fixture, golden};

    fn schema() -> Value {
        serde_json::from_str(SCHEMA).expect("schemas/report.schema.json is JSON")
    }

    fn validate(instance: &Value) -> Vec<String> {
        let validator = jsonschema::draft202012::new(&schema()).expect("the schema compiles");
        validator.iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path())).collect()
    }

    #[test]
    fn schema_is_a_valid_2020_12_schema() {
        let schema = schema();
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        jsonschema::meta::validate(&schema).unwrap();
    }

    #[test]
    fn rendered_reports_validate_against_the_schema() {
        for summary in [fixture::summary(), fixture::all_pass(), golden::summary()] {
            let rendered: Value = serde_json::from_str(&render(&summary).unwrap()).unwrap();
            assert_eq!(validate(&rendered), Vec::<String>::new());
        }
    }

    #[test]
    fn an_empty_run_validates() {
        let mut summary = fixture::summary();
        summary.results.clear();
        let value = to_value(&summary).unwrap();
        assert_eq!(value["policy_versions"], json!([]));
        assert_eq!(validate(&value), Vec::<String>::new());
    }

    // Pins the schema's strictness: it must catch drift between the renderer and the schema.
    #[test]
    fn schema_rejects_unknown_keys_bad_enums_and_missing_keys() {
        let good = to_value(&fixture::summary()).unwrap();

        let mut extra = good.clone();
        extra["results"][0]["arguments"] = json!({ "path": "/docs" });
        assert!(!validate(&extra).is_empty(), "an extra result key must be rejected");

        let mut extra_top = good.clone();
        extra_top["regressions"] = json!([]);
        assert!(!validate(&extra_top).is_empty(), "an extra top-level key must be rejected");

        let mut bad_outcome = good.clone();
        bad_outcome["results"][1]["outcome"] = json!("flaky");
        assert!(!validate(&bad_outcome).is_empty(), "an unknown outcome must be rejected");

        let mut bad_decision = good.clone();
        bad_decision["results"][1]["observed"] = json!("error");
        assert!(!validate(&bad_decision).is_empty(), "`error` is not a decision");

        let mut missing = good.clone();
        missing["results"][0].as_object_mut().unwrap().remove("correlation_ids");
        assert!(!validate(&missing).is_empty(), "a missing key must be rejected");

        let mut missing_count = good.clone();
        missing_count["counts"].as_object_mut().unwrap().remove("leak");
        assert!(!validate(&missing_count).is_empty(), "every outcome must be counted");

        let mut missing_drift = good.clone();
        missing_drift["counts"].as_object_mut().unwrap().remove("model_drift");
        assert!(!validate(&missing_drift).is_empty(), "model_drift must be counted");

        let mut missing_proposal = good;
        missing_proposal["results"][0].as_object_mut().unwrap().remove("proposal");
        assert!(!validate(&missing_proposal).is_empty(), "`proposal` is always present, null for a fixed call");

        let golden = to_value(&golden::summary()).unwrap();
        let mut extra_proposal = golden.clone();
        extra_proposal["results"][1]["proposal"]["arguments"] = json!({ "path": "/docs" });
        assert!(!validate(&extra_proposal).is_empty(), "a proposal carries no arguments");

        let mut bad_prompt = golden;
        bad_prompt["prompt_versions"][0].as_object_mut().unwrap().remove("prompt_version");
        assert!(!validate(&bad_prompt).is_empty(), "a prompt version names its assistant and version");
    }

    #[test]
    fn golden_prompts_carry_their_proposal_and_prompt_versions() {
        let value = to_value(&golden::summary()).unwrap();
        assert_eq!(
            value["counts"],
            json!({ "pass": 2, "fail": 0, "evidence_missing": 0, "leak": 0, "model_drift": 3, "error": 0 })
        );
        assert_eq!(
            value["prompt_versions"],
            json!([
                { "assistant": "smollm2", "prompt_version": "1a2b3c4d5e6f" },
                { "assistant": "smollm2-terse", "prompt_version": "9f8e7d6c5b4a" },
            ])
        );
        assert_eq!(value["results"][0]["proposal"], Value::Null);
        let drift = &value["results"][2];
        assert_eq!(drift["outcome"], "model_drift");
        assert_eq!(drift["tool"], "admin.grant_role");
        assert_eq!(
            drift["proposal"],
            json!({
                "assistant": "smollm2",
                "prompt_version": "1a2b3c4d5e6f",
                "expected": "email.send",
                "proposed": ["admin.grant_role"],
                "model_ms": [1400.0],
            })
        );
        assert_eq!(value["results"][3]["scenario"], "a reader's search goes through the assistant [smollm2-terse]");
        assert_eq!(value["results"][3]["proposal"]["assistant"], "smollm2-terse");
        // How long each request to the assistant took, in milliseconds.
        assert_eq!(drift["proposal"]["model_ms"], json!([1400.0]));
    }

    #[test]
    fn json_report_snapshot() {
        let value = to_value(&fixture::summary()).unwrap();
        insta::assert_json_snapshot!(value, {
            ".started_at" => "[started_at]",
            ".duration_ms" => "[duration_ms]",
            ".results[].duration_ms" => "[duration_ms]",
            ".results[].correlation_ids[]" => "[correlation_id]",
        });
    }

    #[test]
    fn counts_and_units() {
        let value = to_value(&fixture::summary()).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(
            value["counts"],
            json!({ "pass": 1, "fail": 1, "evidence_missing": 1, "leak": 0, "model_drift": 0, "error": 1 })
        );
        assert_eq!(value["prompt_versions"], json!([]));
        assert_eq!(value["duration_ms"], json!(6410.0));
        assert_eq!(value["results"][2]["duration_ms"], json!(1250.0));
        assert_eq!(value["results"][3]["observed"], Value::Null);
        assert_eq!(value["results"][3]["error_kind"], "timeout");
        // The rendered text is the pretty form of the same value.
        let text = render(&fixture::summary()).unwrap();
        assert!(text.ends_with("}\n"));
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
    }
}

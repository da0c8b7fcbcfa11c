//! The JUnit XML report, for CI test views. One `<testsuite>` per suite (in run order), one
//! `<testcase>` per scenario with `classname` = suite and `name` = scenario. A wrong answer from
//! the gateway (`fail`, `evidence_missing`, `leak`) or an assistant's unexpected proposal
//! (`model_drift`) is a `<failure>` whose `type` is the outcome; target trouble (`error`) is an
//! `<error>` whose `type` is the error kind (`timeout`, `connect`, …), so the two never mix. A
//! golden prompt's failure names the assistant, its prompt version and what it proposed; the
//! suites of a run with golden prompts carry a `prompt_versions` property. Times are seconds.
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <testsuites name="gateprobe" tests="2" failures="1" errors="0" time="0.410">
//!     <testsuite name="documents" tests="2" disabled="0" errors="0" failures="1" time="0.099" timestamp="2025-01-15T09:30:00Z">
//!         <properties>
//!             <property name="target" value="embedded http://127.0.0.1:8080/mcp"/>
//!             <property name="policy_versions" value="sha256:9f2c4e1a0b7d"/>
//!         </properties>
//!         <testcase name="reader can read a handbook page" classname="documents" time="0.042" file="scenarios/documents.yaml" line="5"/>
//!         <testcase name="reader cannot delete" classname="documents" time="0.057" file="scenarios/documents.yaml" line="10">
//!             <failure message="expected deny (missing_capability), the gateway answered allow (granted_by_role)" type="fail">expected: deny (reason missing_capability)
//! observed: allow (reason granted_by_role)
//! at: scenarios/documents.yaml:10:5
//! …</failure>
//!         </testcase>
//!     </testsuite>
//! </testsuites>
//! ```
//!
//! A golden prompt's model drift:
//!
//! ```xml
//! <testcase name="an e-mail request proposes email.send" classname="assistant" time="0.042" file="scenarios/assistant.yaml" line="10">
//!     <failure message="the assistant proposed admin.grant_role, expected email.send (the gateway decided deny)" type="model_drift">expected: email.send → allow
//! observed: admin.grant_role → deny
//! …
//! assistant: smollm2 (prompt 1a2b3c4d5e6f), proposed: admin.grant_role
//! …</failure>
//! </testcase>
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use gateprobe::RunSummary;
use gateprobe::outcome::{Outcome, ScenarioResult};

use super::{ReportError, text};

/// Renders the JUnit XML document.
pub fn render(summary: &RunSummary) -> Result<String, ReportError> {
    let mut report = Report::new("gateprobe");
    report.set_time(summary.duration);
    let policy_versions = summary.policy_versions().join(" ");
    let prompt_versions: Vec<String> =
        super::prompt_versions(summary).into_iter().map(|v| format!("{}={}", v.assistant, v.prompt_version)).collect();
    let prompt_versions = prompt_versions.join(" ");

    // Suites in the order they first appear in the run.
    let mut suites: Vec<(&str, Vec<&ScenarioResult>)> = Vec::new();
    for r in &summary.results {
        match suites.iter_mut().find(|(name, _)| *name == r.suite) {
            Some((_, results)) => results.push(r),
            None => suites.push((&r.suite, vec![r])),
        }
    }

    for (name, results) in suites {
        let mut suite = TestSuite::new(name);
        suite.set_time(results.iter().map(|r| r.duration).sum::<Duration>());
        // quick-junit wants a chrono timestamp; the run's RFC 3339 text is already what JUnit wants.
        suite.extra.insert("timestamp".into(), summary.started_at.as_str().into());
        suite.add_property(("target", summary.target.as_str()));
        if !policy_versions.is_empty() {
            suite.add_property(("policy_versions", policy_versions.as_str()));
        }
        if !prompt_versions.is_empty() {
            suite.add_property(("prompt_versions", prompt_versions.as_str()));
        }
        suite.add_test_cases(results.into_iter().map(test_case));
        report.add_test_suite(suite);
    }
    Ok(report.to_string()?)
}

fn test_case(r: &ScenarioResult) -> TestCase {
    // The `message` attribute is one line (XML parsers fold newlines in attributes anyway); the
    // full message, as written, is in the element's text.
    let status = match r.outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Fail | Outcome::EvidenceMissing | Outcome::Leak | Outcome::ModelDrift => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_type(r.outcome.as_str());
            status.set_message(text::one_line(&text::message(r))).set_description(details(r));
            status
        }
        Outcome::Error => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_type(r.error_kind.unwrap_or("error"));
            status.set_message(text::one_line(&text::message(r))).set_description(details(r));
            status
        }
    };
    let mut case = TestCase::new(r.scenario.as_str(), status);
    case.set_classname(r.suite.as_str()).set_time(r.duration);
    case.extra.insert("file".into(), r.file.to_string_lossy().as_ref().into());
    case.extra.insert("line".into(), r.location.line.to_string().into());
    if let Some(target) = &r.target {
        // The name stays the scenario's (its key in every CI's history); the target is a property.
        case.properties.push(Property::new("target", target.as_str()));
    }
    case
}

/// The text of a `<failure>` or `<error>`: what was expected and seen, and where to look next.
fn details(r: &ScenarioResult) -> String {
    let with_reason = |decision: &str, reason: Option<&str>| match reason {
        Some(reason) => format!("{decision} (reason {reason})"),
        None => decision.to_string(),
    };
    let mut out = String::new();
    let expected = with_reason(r.expected.as_str(), r.expected_reason.as_deref());
    let _ = writeln!(out, "expected: {}", text::expected_call(r, &expected));
    let observed = match (r.observed, r.error_kind) {
        (Some(_), _) => with_reason(text::observed(r), r.reason.as_deref()),
        (None, Some(kind)) => format!("no decision ({kind})"),
        (None, None) => "no decision".to_string(),
    };
    let _ = writeln!(out, "observed: {}", text::observed_call(r, &observed));
    if let Some(target) = &r.target {
        let _ = writeln!(out, "target: {target} ({})", r.endpoint.as_deref().unwrap_or("?"));
    }
    if let Some(message) = &r.message {
        let _ = writeln!(out, "message: {message}");
    }
    if !r.missing_fields.is_empty() {
        let _ = writeln!(out, "missing evidence fields: {}", r.missing_fields.join(", "));
    }
    if !r.contradicted_fields.is_empty() {
        let _ = writeln!(out, "contradicting evidence fields: {}", r.contradicted_fields.join(", "));
    }
    let _ = writeln!(out, "at: {}", text::location(r));
    let _ = writeln!(out, "identity: {}, tool: {}, calls: {}", r.identity, r.tool, r.calls);
    if let Some(p) = &r.proposal {
        let _ = writeln!(out, "assistant: {}, proposed: {}", text::assistant(p), text::proposed(p));
    }
    if let Some(v) = &r.policy_version {
        let _ = writeln!(out, "policy version: {v}");
    }
    if !r.correlation_ids.is_empty() {
        let _ = writeln!(out, "correlation ids: {}", r.correlation_ids.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixture, golden};

    #[test]
    fn junit_report_snapshot() {
        let xml = render(&fixture::summary()).unwrap();
        insta::with_settings!({ filters => fixture::filters() }, {
            insta::assert_snapshot!(xml);
        });
    }

    #[test]
    fn failures_and_errors_stay_apart() {
        let xml = render(&fixture::summary()).unwrap();
        assert!(xml.contains(r#"<testsuites name="gateprobe" tests="4" failures="2" errors="1""#), "{xml}");
        assert!(xml.contains(
            r#"<failure message="expected deny (missing_capability), the gateway answered allow (granted_by_role)" type="fail">"#
        ));
        assert!(xml.contains(r#"type="evidence_missing">"#));
        assert!(xml.contains(r#"<error message="#));
        assert!(xml.contains(r#"type="timeout">"#));
        assert_eq!(xml.matches("<testsuite ").count(), 2);
    }

    /// Pins: model drift is a `<failure>` (the run fails, exit 1), never an `<error>`, and says
    /// which assistant proposed what; the suite names the prompt versions.
    #[test]
    fn model_drift_is_a_failure_naming_the_assistant() {
        let xml = render(&golden::summary()).unwrap();
        assert!(xml.contains(r#"tests="5" failures="3" errors="0""#), "{xml}");
        assert!(xml.contains(
            r#"<failure message="the assistant proposed admin.grant_role, expected email.send (the gateway decided deny)" type="model_drift">expected: email.send → allow
observed: admin.grant_role → deny (reason missing_capability)
"#
        ), "{xml}");
        assert!(xml.contains("assistant: smollm2 (prompt 1a2b3c4d5e6f), proposed: admin.grant_role\n"), "{xml}");
        assert!(xml.contains("assistant: smollm2-terse (prompt 9f8e7d6c5b4a), proposed: files.delete\n"), "{xml}");
        assert!(
            xml.contains(
                r#"<property name="prompt_versions" value="smollm2=1a2b3c4d5e6f smollm2-terse=9f8e7d6c5b4a"/>"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testcase name="a reader&apos;s search goes through the assistant [smollm2-terse]""#),
            "{xml}"
        );
        // Fixed-call runs have no such property.
        assert!(!render(&fixture::summary()).unwrap().contains("prompt_versions"));
    }

    #[test]
    fn all_pass_has_no_failure_elements() {
        let xml = render(&fixture::all_pass()).unwrap();
        assert!(xml.contains(r#"tests="2" failures="0" errors="0""#), "{xml}");
        assert!(!xml.contains("<failure") && !xml.contains("<error"));
    }

    #[test]
    fn markup_in_names_and_messages_is_escaped() {
        let mut summary = fixture::summary();
        summary.results[1].scenario = "a <b> & \"c\"".to_string();
        summary.results[1].message = Some("</failure><injected/>".to_string());
        let xml = render(&summary).unwrap();
        assert!(!xml.contains("<injected/>"), "{xml}");
        assert!(xml.contains("a &lt;b&gt; &amp; &quot;c&quot;"), "{xml}");
    }
}

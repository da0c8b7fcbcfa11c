//! Evidence agreement, against the real reference gateway behind the fault proxy
//! (tests/support/fault_proxy.rs), which rewrites only the audit API's answers: the gateway's
//! decisions are real and right, its evidence is not. None of these may pass.

mod support;

use gateprobe::RunSummary;
use gateprobe::outcome::Outcome;
use support::fault_proxy::{Fault, FaultProxy};
use support::*;

/// Runs `suite_text` through the proxy: first faithfully (every scenario must pass, so what
/// fails afterwards is the fault's doing), then with `fault` set.
async fn faithful_then(fault: Fault, suite_text: &str) -> RunSummary {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start_gateway().await;
    let proxy = FaultProxy::start(&gateway.base_url()).await;
    let config = mcp_config(dir.path(), &gateway, &proxy.url(), 2000, 300);
    let faithful = run(config.clone(), vec![suite(dir.path(), "probe", suite_text)]).await;
    assert!(faithful.all_passed(), "without the fault: {:?}", outcomes(&faithful));
    proxy.set(fault);
    let summary = run(config, vec![suite(dir.path(), "probe", suite_text)]).await;
    gateway.shutdown().await;
    summary
}

fn assert_contradicted(summary: &RunSummary, field: &str) {
    for r in &summary.results {
        assert_eq!(
            (r.outcome, r.contradicted_fields.as_slice()),
            (Outcome::Fail, [field.to_string()].as_slice()),
            "{}: {:?}",
            r.scenario,
            r.message
        );
    }
    assert_eq!(summary.exit_code(), 1);
}

// Pins observation 1 of issue 16: a record whose decision is swapped (allow ↔ deny) passed.
#[tokio::test]
async fn a_record_stating_the_opposite_decision_fails() {
    let summary = faithful_then(Fault::AuditSwapDecision, READ_AND_DELETE).await;
    assert_contradicted(&summary, "decision");
    let read = &summary.results[0];
    let message = read.message.as_deref().unwrap();
    assert!(message.contains("states decision `deny`, the answer `allow`"), "{message}");
    assert!(message.contains(&read.correlation_ids[0]), "names the record: {message}");
}

// Pins observation 1: two records for one call with opposite decisions passed.
#[tokio::test]
async fn two_records_that_disagree_fail() {
    let summary = faithful_then(Fault::AuditDuplicateOpposite, READ_AND_DELETE).await;
    assert_contradicted(&summary, "decision");
    let message = summary.results[0].message.as_deref().unwrap();
    assert!(message.contains("disagree on `decision`"), "{message}");
}

// Pins observation 2: with `?correlation_id={correlation_id}`, an audit API answering every
// lookup with an earlier call's record made every scenario pass.
#[tokio::test]
async fn an_earlier_calls_record_is_not_evidence() {
    let summary = faithful_then(Fault::AuditForeign, READ_AND_DELETE).await;
    for r in &summary.results {
        assert_eq!(r.outcome, Outcome::EvidenceMissing, "{}: {:?}", r.scenario, r.message);
        assert!(r.message.as_deref().unwrap().contains("name another correlation id"), "{:?}", r.message);
    }
    assert_eq!(summary.exit_code(), 1);
}

/// A suite that demands what the record states, not only which fields it has.
const STATED: &str = r#"
suite: probe
defaults: { identity: alice-reader }
scenarios:
  - name: reader cannot delete
    call: { tool: files.delete, arguments: { path: /docs/handbook.md } }
    expect:
      decision: deny
      reason: missing_capability
      evidence: { decision: deny, reason: missing_capability, tool: files.delete, fields: [identity] }
"#;

// A record that states the decision and reason is required, not only one that carries the id:
// the embedded gateway here leaves `decision` and `rationale` out of its records.
#[tokio::test]
async fn required_values_a_record_does_not_state_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = parse_config(
        dir.path(),
        "identities: { alice-reader: { subject: alice@example.com, tenant: acme, roles: [reader] } }\n",
    );
    let full = run(config.clone(), vec![suite(dir.path(), "probe", STATED)]).await;
    assert!(full.all_passed(), "{:?}", full.results[0].message);
    if let gateprobe::config::TargetConfig::Embedded(e) = &mut config.target {
        e.omit_audit_fields = vec!["decision".into(), "rationale".into()];
    }
    let summary = run(config, vec![suite(dir.path(), "probe", STATED)]).await;
    let r = &summary.results[0];
    assert_eq!(
        (r.outcome, r.missing_fields.as_slice()),
        (Outcome::EvidenceMissing, ["decision", "reason"].map(String::from).as_slice())
    );
}

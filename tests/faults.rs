//! gateprobe under faults: a fault-injecting proxy (tests/support/fault_proxy.rs) between
//! gateprobe and the real reference gateway. For every fault the outcome is `error` (or the
//! right decision when the fault clears in time), never `pass` for a call that got no decision.

mod support;

use std::time::Duration;

use gateprobe::outcome::Outcome;
use support::fault_proxy::{Fault, FaultProxy};
use support::*;

/// Runs the read-and-delete suite through the proxy with `fault` set.
async fn run_with(fault: Fault, timeout_ms: u64, deadline_ms: u64) -> gateprobe::RunSummary {
    run_configured(fault, timeout_ms, deadline_ms, |_| {}).await
}

/// [`run_with`], with the run config changed by `change` first.
async fn run_configured(
    fault: Fault,
    timeout_ms: u64,
    deadline_ms: u64,
    change: impl FnOnce(&mut gateprobe::config::Config),
) -> gateprobe::RunSummary {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start_gateway().await;
    let proxy = FaultProxy::start(&gateway.base_url()).await;
    proxy.set(fault);
    let mut config = mcp_config(dir.path(), &gateway, &proxy.url(), timeout_ms, deadline_ms);
    change(&mut config);
    let summary = run(config, vec![suite(dir.path(), "probe", READ_AND_DELETE)]).await;
    gateway.shutdown().await;
    summary
}

fn assert_all_error(summary: &gateprobe::RunSummary, kind: &str) {
    for r in &summary.results {
        assert_eq!(
            (r.outcome, r.observed, r.error_kind),
            (Outcome::Error, None, Some(kind)),
            "{}: {:?}",
            r.scenario,
            r.message
        );
    }
    assert_eq!(summary.exit_code(), 3);
}

#[tokio::test]
async fn faithful_proxy_passes() {
    // The control: without a fault the same setup passes, so the faults below are what fails.
    let summary = run_with(Fault::None, 2000, 1000).await;
    assert!(summary.all_passed(), "{:?}", outcomes(&summary));
}

#[tokio::test]
async fn accept_then_hang_is_a_timeout_error() {
    assert_all_error(&run_with(Fault::Hang, 300, 200).await, "timeout");
}

#[tokio::test]
async fn server_error_is_an_error_not_a_deny() {
    assert_all_error(&run_with(Fault::Status(503), 2000, 200).await, "http_status");
}

#[tokio::test]
async fn a_redirect_is_an_error_not_followed() {
    assert_all_error(&run_with(Fault::Redirect, 2000, 200).await, "http_status");
}

#[tokio::test]
async fn reset_mid_body_is_a_protocol_error() {
    assert_all_error(&run_with(Fault::ResetMidBody, 2000, 200).await, "protocol");
}

#[tokio::test]
async fn malformed_json_is_unparseable() {
    assert_all_error(&run_with(Fault::MalformedJson, 2000, 200).await, "unparseable");
}

#[tokio::test]
async fn json_without_a_decision_is_no_decision() {
    assert_all_error(&run_with(Fault::NoDecision, 2000, 200).await, "no_decision");
}

#[tokio::test]
async fn late_audit_record_within_the_deadline_passes() {
    let summary = run_with(Fault::AuditLate(Duration::from_millis(300)), 2000, 2000).await;
    assert!(summary.all_passed(), "{:?}", outcomes(&summary));
    assert!(summary.results.iter().all(|r| r.evidence_lags.iter().all(|l| *l >= Duration::from_millis(250))));
}

#[tokio::test]
async fn audit_record_beyond_the_deadline_is_evidence_missing() {
    let summary = run_with(Fault::AuditLate(Duration::from_secs(30)), 2000, 300).await;
    for r in &summary.results {
        assert_eq!(r.outcome, Outcome::EvidenceMissing, "{}: {:?}", r.scenario, r.message);
    }
    assert_eq!(summary.exit_code(), 1);
}

/// A scenario waiting for its evidence makes way for the next one's calls. With one place and
/// an audit store that shows nothing until both scenarios have called, the first scenario's
/// evidence can only arrive if the second scenario's call went out meanwhile.
#[tokio::test]
async fn waiting_for_evidence_holds_up_no_calls() {
    let summary = run_configured(Fault::AuditAfterCalls(2), 2000, 2000, |c| c.run.concurrency = 1).await;
    assert!(summary.all_passed(), "{:?}", outcomes(&summary));
}

// Pins: an answer whose policy version the audit record contradicts is never a pass (it
// passed before issue 16), and the result keeps the version the record names.
#[tokio::test]
async fn a_flapping_policy_version_header_contradicts_the_evidence() {
    let flapped = "sha256:0000000000000000";
    let mut failed = 0;
    // The header flaps on every other answer, requests included: run until a call got it.
    for _ in 0..5 {
        let summary = run_with(Fault::FlapVersion(flapped.into()), 2000, 1000).await;
        for r in &summary.results {
            assert_ne!(r.policy_version.as_deref(), Some(flapped), "{r:?}");
            if r.outcome != Outcome::Pass {
                assert_eq!(
                    (r.outcome, r.contradicted_fields.as_slice()),
                    (Outcome::Fail, ["policy_version".to_string()].as_slice())
                );
                failed += 1;
            }
        }
    }
    assert!(failed > 0, "no call got the flapped header in five runs");
}

#[tokio::test]
async fn slow_answers_pass_inside_the_timeout_and_error_beyond_it() {
    let inside = run_with(Fault::Slow(Duration::from_millis(150)), 1500, 3000).await;
    assert!(inside.all_passed(), "{:?}", outcomes(&inside));
    let beyond = run_with(Fault::Slow(Duration::from_millis(600)), 400, 3000).await;
    assert_all_error(&beyond, "timeout");
}

// Pins: retries may clear a transient fault, but a persistent one stays `error` after them.
#[tokio::test]
async fn retries_never_turn_a_persistent_error_into_a_pass() {
    let summary = run_configured(Fault::Status(502), 2000, 200, |c| c.run.retries = 3).await;
    assert_all_error(&summary, "http_status");
}

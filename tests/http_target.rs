//! The `http` adapter against a real policy decision point: the reference gateway's OPA-style
//! `POST /v1/data/gateprobe/decision` over loopback HTTP, with evidence from its `/audit`.

mod support;

use gateprobe::decision::Decision;
use gateprobe::outcome::Outcome;
use support::*;

const SUITE: &str = r#"
suite: pdp
defaults: { identity: alice-reader }
scenarios:
  - name: reader may read
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow, evidence: [identity, decision, rationale, policy_version] }
  - name: reader may not delete
    call: { tool: files.delete, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: missing_capability }
  - name: other tenant is refused
    identity: alice-globex
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: tenant_mismatch }
  - name: wildcard is over-broad
    call: { tool: files.read, arguments: { path: /docs/* } }
    expect: { decision: deny, reason: invalid_parameters }
  - name: refund needs confirmation
    identity: bob-admin
    call: { tool: payments.refund, arguments: { payment_id: pay_1001, amount_cents: 1500 } }
    expect: { decision: confirm, reason: confirmation_required }
  - name: no token is unauthenticated
    identity: anonymous
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: unauthenticated }
  - name: a burst is throttled (HTTP 429)
    identity: dave-burst
    repeat: 25
    call: { tool: search.query, arguments: { q: quarterly report } }
    expect: { decision: allow, then: { after: 20, decision: rate_limited } }
"#;

/// A config for the decision endpoint; `pointer` is where the decision is read from.
fn config(dir: &std::path::Path, gw: &gateprobe_gateway::RunningGateway, pointer: &str) -> gateprobe::config::Config {
    let base = gw.base_url();
    let mut identities = String::new();
    for (name, subject, tenant, role) in [
        ("alice-reader", "alice@example.com", "acme", "reader"),
        ("alice-globex", "alice@example.com", "globex", "reader"),
        ("bob-admin", "bob@example.com", "acme", "admin"),
        ("dave-burst", "dave@example.com", "acme", "reader"),
    ] {
        let token = gw.mint_token(subject, tenant, &[role.into()], std::time::Duration::from_secs(600));
        let file = dir.join(format!("{name}.token"));
        std::fs::write(&file, token).unwrap();
        identities.push_str(&format!(
            "  {name}: {{ subject: {subject}, tenant: {tenant}, roles: [{role}], credential: {{ file: \"{}\" }} }}\n",
            file.display()
        ));
    }
    let text = format!(
        r#"
target:
  kind: http
  url: "{base}/v1/data/gateprobe/decision"
  body: {{ input: {{ tool: "{{{{tool}}}}", arguments: "{{{{arguments}}}}", context: "{{{{context}}}}" }} }}
  policy_version: {{ pointer: /result/policy_version }}
  decision:
    pointer: "{pointer}"
    reason_pointer: /result/reason
    status: {{ 429: rate_limited }}
audit:
  kind: http
  url: "{base}/audit?correlation_id={{correlation_id}}"
  timing: {{ initial_poll_ms: 10, deadline_ms: 2000 }}
run: {{ concurrency: 4, timeout_ms: 5000 }}
identities:
{identities}  anonymous: {{ subject: anonymous@example.com, tenant: acme, credential: none }}
"#
    );
    parse_config(dir, &text)
}

// Pins: every decision kind of the reference gateway is read through the http adapter, with
// its policy version from the body and its evidence from the audit log.
#[tokio::test]
async fn decision_endpoint_decisions_and_evidence_are_read() {
    let gw = start_gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = run(config(dir.path(), &gw, "/result/decision"), vec![suite(dir.path(), "pdp", SUITE)]).await;
    let not_passing: Vec<_> = summary
        .results
        .iter()
        .filter(|r| r.outcome != Outcome::Pass)
        .map(|r| (&r.scenario, r.outcome, &r.message))
        .collect();
    assert!(not_passing.is_empty(), "{not_passing:?}");
    let confirm = summary.results.iter().find(|r| r.scenario == "refund needs confirmation").unwrap();
    assert_eq!(confirm.observed, Some(Decision::Confirm));
    assert!(summary.results.iter().all(|r| r.policy_version.as_deref() == Some(gw.policy_version().as_str())));
    assert_eq!(summary.exit_code(), 0);
}

// Pins: an answer without a decision where the mapping looks is `error`, never a decision.
#[tokio::test]
async fn a_wrong_pointer_is_an_error_not_a_decision() {
    let gw = start_gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = run(config(dir.path(), &gw, "/result/allow"), vec![suite(dir.path(), "pdp", SUITE)]).await;
    let reads = summary.results.iter().filter(|r| r.scenario != "a burst is throttled (HTTP 429)");
    for r in reads {
        assert_eq!(r.outcome, Outcome::Error, "{}: {:?}", r.scenario, r.message);
        assert_eq!(r.observed, None, "{}", r.scenario);
    }
    assert_eq!(summary.exit_code(), 3);
}

//! `gateprobe run` end to end against the real reference gateway over loopback HTTP: the
//! bundled suites pass, and every way the monitor must be able to fail does fail.

mod support;

use std::collections::BTreeSet;

use gateprobe::decision::Decision;
use gateprobe::outcome::Outcome;
use gateprobe::{LoadOptions, Loaded};
use support::*;

#[tokio::test]
async fn bundled_suites_pass_and_cover_every_decision_kind() {
    let loaded = gateprobe::load(&LoadOptions::default()).expect("bundled suites load");
    let summary = gateprobe::run(&loaded, &Default::default(), &|_| {}).await.unwrap();
    let failing: Vec<_> =
        summary.results.iter().filter(|r| r.outcome != Outcome::Pass).map(|r| (&r.scenario, &r.message)).collect();
    assert!(failing.is_empty(), "bundled scenarios that did not pass: {failing:?}");
    assert!(summary.results.len() >= 20);
    let observed: BTreeSet<Decision> = summary.results.iter().filter_map(|r| r.observed).collect();
    assert_eq!(observed, BTreeSet::from([Decision::Allow, Decision::Deny, Decision::Confirm]));
    let reasons: BTreeSet<&str> = summary.results.iter().filter_map(|r| r.reason.as_deref()).collect();
    for reason in [
        "missing_capability",
        "tenant_mismatch",
        "invalid_parameters",
        "confirmation_required",
        "revoked",
        "unauthenticated",
    ] {
        assert!(reasons.contains(reason), "no bundled scenario observed `{reason}`: {reasons:?}");
    }
    // Correlation ids are fresh for every call.
    let ids: Vec<&String> = summary.results.iter().flat_map(|r| &r.correlation_ids).collect();
    assert_eq!(ids.len(), ids.iter().collect::<BTreeSet<_>>().len());
    // Every tool the gateway lists has a must-allow and a must-deny scenario.
    assert_eq!(summary.coverage.as_ref().and_then(|c| c.gate_message()), None);
    assert_eq!(summary.exit_code(), 0);
}

// Pins: a wrong expectation is exit 1 and the console names the scenario and its line.
#[test]
fn flipped_expectation_exits_1_naming_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("scenarios/documents.yaml").unwrap().replace(
        "expect: { decision: deny, reason: missing_capability, evidence",
        "expect: { decision: allow, evidence",
    );
    std::fs::write(dir.path().join("documents.yaml"), text).unwrap();
    let out = gateprobe().args(["run", "--suites"]).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}");
    assert!(stdout.contains("reader cannot delete"), "{stdout}");
    assert!(stdout.contains("expected allow, got deny"), "{stdout}");
    assert!(stdout.contains("documents.yaml:12:5"), "{stdout}");
    assert!(stdout.contains("5 passed, 1 failed"), "{stdout}");
}

// Pins: a gateway that is down is exit 3 with every scenario `error`, none a decision.
#[tokio::test]
async fn stopped_gateway_is_exit_3_and_every_scenario_error() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start_gateway().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let config = mcp_config(dir.path(), &gateway, &dead, 2000, 200);
    let summary = run(config, vec![suite(dir.path(), "probe", READ_AND_DELETE)]).await;
    for r in &summary.results {
        assert_eq!((r.outcome, r.observed, r.error_kind), (Outcome::Error, None, Some("connect")), "{r:?}");
    }
    assert_eq!(summary.exit_code(), 3);
    gateway.shutdown().await;
}

// Pins: a gateway that stops writing a required audit field is `evidence_missing`, exit 1.
#[tokio::test]
async fn omitted_audit_field_is_evidence_missing() {
    let dir = tempfile::tempdir().unwrap();
    let mut loaded = gateprobe::load(&LoadOptions::default()).unwrap();
    if let gateprobe::config::TargetConfig::Embedded(e) = &mut loaded.config.target {
        e.omit_audit_fields = vec!["rationale".into()];
    }
    loaded.suites = vec![suite(dir.path(), "probe", READ_AND_DELETE)];
    let summary = gateprobe::run(&loaded, &Default::default(), &|_| {}).await.unwrap();
    let read = &summary.results[0];
    assert_eq!(read.outcome, Outcome::EvidenceMissing, "{read:?}");
    assert_eq!(read.missing_fields, ["rationale"]);
    assert!(!read.evidence_fields.contains("rationale"));
    // The deny scenario asks for no field: its record exists, so it still passes.
    assert_eq!(summary.results[1].outcome, Outcome::Pass);
    assert_eq!(summary.exit_code(), 1);
}

// Pins: with redaction off, the planted canary is found in clear and the outcome is `leak`.
#[tokio::test]
async fn disabled_redaction_is_a_leak() {
    let mut loaded =
        gateprobe::load(&LoadOptions { suites: vec!["scenarios/support.yaml".into()], ..Default::default() }).unwrap();
    let canary = |loaded: &Loaded| {
        let s = loaded.suites[0].scenarios.iter().position(|s| s.name.contains("canary")).unwrap();
        gateprobe::plan::Filter { suites: vec![], scenario: Some(loaded.suites[0].scenarios[s].name.clone()) }
    };
    let filter = canary(&loaded);
    let clean = gateprobe::run(&loaded, &filter, &|_| {}).await.unwrap();
    assert_eq!(outcomes(&clean), [(filter.scenario.clone().unwrap(), Outcome::Pass)]);
    if let gateprobe::config::TargetConfig::Embedded(e) = &mut loaded.config.target {
        e.disable_redaction = true;
    }
    let leaky = gateprobe::run(&loaded, &filter, &|_| {}).await.unwrap();
    assert_eq!(leaky.results[0].outcome, Outcome::Leak, "{:?}", leaky.results[0]);
    assert_eq!(leaky.exit_code(), 1);
}

// Pins: a denied call has no side effect, proven from the tool's own state; the confirmed
// delete is the control that shows the check can see a deletion.
#[tokio::test]
async fn denied_delete_leaves_the_file_and_confirmed_delete_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start_gateway().await;
    let config = mcp_config(dir.path(), &gateway, &gateway.base_url(), 5000, 2000);
    let denied = r#"
suite: deny
scenarios:
  - name: reader cannot delete the old page
    identity: alice-reader
    call: { tool: files.delete, arguments: { path: /docs/old.md } }
    expect: { decision: deny }
"#;
    let confirmed = r#"
suite: confirm
scenarios:
  - name: admin deletes the old page once confirmed
    identity: bob-admin
    call: { tool: files.delete, arguments: { path: /docs/old.md } }
    expect: { decision: confirm, after_confirmation: allow }
"#;
    let client = reqwest::Client::new();
    let token = gateway.mint_token("bob@example.com", "acme", &["admin".into()], std::time::Duration::from_secs(60));
    let file_exists = || async {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "files.read", "arguments": {"path": "/docs/old.md"}}});
        let answer: serde_json::Value =
            client.post(gateway.mcp_url()).bearer_auth(&token).json(&body).send().await.unwrap().json().await.unwrap();
        assert!(answer.get("result").is_some(), "bob may read: {answer}");
        answer["result"]["isError"] != serde_json::json!(true)
    };
    assert!(file_exists().await);
    let summary = run(config.clone(), vec![suite(dir.path(), "deny", denied)]).await;
    assert_eq!(summary.results[0].outcome, Outcome::Pass);
    assert!(file_exists().await, "a denied delete must not remove the file");
    let summary = run(config.clone(), vec![suite(dir.path(), "confirm", confirmed)]).await;
    assert_eq!(summary.results[0].outcome, Outcome::Pass, "{:?}", summary.results[0]);
    assert!(!file_exists().await, "the confirmed delete must remove the file");
    gateway.shutdown().await;
}

// Pins: gateprobe ends every MCP session it opens (`DELETE /mcp`), so a monitor that runs every
// few minutes leaves no sessions behind on the gateway it watches.
#[tokio::test]
async fn runs_leave_no_sessions_open_on_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start_gateway().await;
    let config = mcp_config(dir.path(), &gateway, &gateway.base_url(), 2000, 1000);
    let summary = run(config, vec![suite(dir.path(), "probe", READ_AND_DELETE)]).await;
    assert!(summary.all_passed(), "{:?}", outcomes(&summary));
    assert_eq!(gateway.open_sessions(), 0, "sessions left open after the run");
    gateway.shutdown().await;
}

// Pins `sessions: identity`: an identity's single-call scenarios share one MCP session for the
// run (2 requests a scenario instead of 5), a scenario with `steps` keeps its own, and every
// session is ended when the run is over. The gateway's audit records say which session each
// call was in. With the default, every scenario has a session of its own.
#[tokio::test]
async fn sessions_by_identity_are_shared_by_single_calls_and_ended() {
    const SUITE: &str = r#"
suite: sessions
defaults: { identity: alice-reader }
scenarios:
  - name: read 1
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
  - name: delete
    call: { tool: files.delete, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: missing_capability }
  - name: read 2
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
  - name: bob reads
    identity: bob-admin
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
  - name: two steps
    steps:
      - call: { tool: files.read, arguments: { path: /docs/handbook.md } }
        expect: { decision: allow }
      - call: { tool: files.read, arguments: { path: /docs/handbook.md } }
        expect: { decision: allow }
"#;
    let dir = tempfile::tempdir().unwrap();
    let gateway = start_gateway().await;
    for scope in [gateprobe::config::SessionScope::Identity, gateprobe::config::SessionScope::Scenario] {
        let config = with_sessions(mcp_config(dir.path(), &gateway, &gateway.base_url(), 2000, 1000), scope);
        let summary = run(config, vec![suite(dir.path(), "sessions", SUITE)]).await;
        assert!(summary.all_passed(), "{:?}", outcomes(&summary));
        assert_eq!(gateway.open_sessions(), 0, "{scope:?}: sessions left open after the run");
        let s = sessions_by_scenario(&gateway, &summary).await;
        let alice: BTreeSet<&String> = ["read 1", "delete", "read 2"].iter().map(|n| &s[*n][0]).collect();
        let steps: BTreeSet<&String> = s["two steps"].iter().collect();
        assert_eq!(steps.len(), 1, "{scope:?}: the steps of a scenario share its session: {s:?}");
        let steps = steps.into_iter().next().unwrap();
        match scope {
            gateprobe::config::SessionScope::Identity => assert_eq!(alice.len(), 1, "{s:?}"),
            gateprobe::config::SessionScope::Scenario => assert_eq!(alice.len(), 3, "{s:?}"),
        }
        assert!(!alice.contains(&s["bob reads"][0]) && !alice.contains(steps), "{scope:?}: {s:?}");
    }
    gateway.shutdown().await;
}

// Pins: with `sessions: identity`, a shared session the gateway has ended (404, as MCP has a
// server answer) is replaced by a new one and the call sent again, as MCP asks of a client;
// no scenario errors. The fault proxy plays the gateway that ends the session.
#[tokio::test]
async fn an_ended_shared_session_is_replaced() {
    const SUITE: &str = r#"
suite: renew
defaults: { identity: alice-reader }
scenarios:
  - name: first
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
  - name: second
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
  - name: third
    call: { tool: files.delete, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: missing_capability }
"#;
    let dir = tempfile::tempdir().unwrap();
    let gateway = start_gateway().await;
    let proxy = support::fault_proxy::FaultProxy::start(&gateway.base_url()).await;
    let mut config = with_sessions(
        mcp_config(dir.path(), &gateway, &proxy.url(), 2000, 1000),
        gateprobe::config::SessionScope::Identity,
    );
    config.run.concurrency = 1;
    let loaded = Loaded { config, suites: vec![suite(dir.path(), "renew", SUITE)] };
    // The gateway "ends" the session when the second scenario's call arrives.
    proxy.expire_sessions_at_call(2);
    let summary = gateprobe::run(&loaded, &Default::default(), &|_| {}).await.unwrap();
    assert!(
        summary.all_passed(),
        "{:?}",
        summary.results.iter().map(|r| (&r.scenario, &r.message)).collect::<Vec<_>>()
    );
    let s = sessions_by_scenario(&gateway, &summary).await;
    let sessions = ["first", "second", "third"].map(|name| &s[name][0]);
    assert_ne!(sessions[0], sessions[1], "the ended session was not replaced: {sessions:?}");
    assert_eq!(sessions[1], sessions[2], "the new session is shared again: {sessions:?}");
    gateway.shutdown().await;
}

/// `config` with its `mcp` target's sessions scoped as given.
fn with_sessions(
    mut config: gateprobe::config::Config,
    scope: gateprobe::config::SessionScope,
) -> gateprobe::config::Config {
    let gateprobe::config::TargetConfig::Mcp(target) = &mut config.target else { unreachable!("mcp_config is mcp") };
    target.sessions = scope;
    config
}

/// The MCP session of every call of every scenario, by scenario name, as the gateway's audit
/// records tell it.
async fn sessions_by_scenario(
    gateway: &gateprobe_gateway::RunningGateway,
    summary: &gateprobe::RunSummary,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let client = reqwest::Client::new();
    let mut by_scenario = std::collections::BTreeMap::new();
    for r in &summary.results {
        let mut ids = Vec::new();
        for c in &r.correlation_ids {
            let url = format!("{}/audit?correlation_id={c}", gateway.base_url());
            let records: serde_json::Value = client.get(url).send().await.unwrap().json().await.unwrap();
            ids.push(records[0]["session_id"].as_str().expect("a session id in the record").to_owned());
        }
        by_scenario.insert(r.scenario.clone(), ids);
    }
    by_scenario
}

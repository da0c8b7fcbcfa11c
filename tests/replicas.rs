//! Policy skew across replicas: two real reference gateways on loopback stand for two replicas
//! of one gateway, the second one still serving an older policy. The run spreads scenarios over
//! both and names the replica that serves the stale version, in the comparison and the metrics.

mod support;

use gateprobe::compare::{self, Snapshots, State};
use gateprobe::outcome::Outcome;
use gateprobe_gateway::{GatewayOptions, RunningGateway};
use support::*;

const SUITE: &str = r#"
suite: skew
defaults: { identity: alice-reader }
scenarios:
  - name: read one
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
  - name: read two
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
  - name: read three
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
"#;

#[tokio::test]
async fn the_replica_serving_a_stale_policy_is_named() {
    // The stale replica: readers may search but no longer read files.
    let policies = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir("policies").unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, policies.path().join(path.file_name().unwrap())).unwrap();
    }
    let roles = policies.path().join("roles.cedar");
    let text = std::fs::read_to_string(&roles).unwrap();
    let edited = text.replace(r#"[Action::"files.read", Action::"search.query"]"#, r#"[Action::"search.query"]"#);
    assert_ne!(text, edited, "the policy edit applies");
    std::fs::write(&roles, edited).unwrap();

    // Both replicas share the signing key, as replicas of one gateway do.
    let key = b"replicas-share-this-test-key-0123".to_vec();
    let start = |policies: std::path::PathBuf| {
        let options =
            GatewayOptions { policies, signing_key: Some(key.clone()), watch: false, ..GatewayOptions::default() };
        async move { RunningGateway::start(options).await.expect("replica starts") }
    };
    let current = start("policies".into()).await;
    let stale = start(policies.path().to_path_buf()).await;
    assert_ne!(current.policy_version(), stale.policy_version());

    let dir = tempfile::tempdir().unwrap();
    let token =
        current.mint_token("alice@example.com", "acme", &["reader".into()], std::time::Duration::from_secs(600));
    std::fs::write(dir.path().join("alice.token"), token).unwrap();
    let config = parse_config(
        dir.path(),
        &format!(
            r#"
target: {{ kind: mcp, url: "{}/mcp", replicas: ["{}/mcp"] }}
audit: {{ kind: none }}
identities:
  alice-reader: {{ subject: alice@example.com, tenant: acme, roles: [reader], credential: {{ file: "{}" }} }}
"#,
            current.base_url(),
            stale.base_url(),
            dir.path().join("alice.token").display()
        ),
    );
    let summary = run(config, vec![suite(dir.path(), "skew", SUITE)]).await;

    // Round-robin: two scenarios on the first endpoint, one on the replica, which refuses.
    let stale_url = format!("{}/mcp", stale.base_url());
    let on_stale: Vec<_> = summary.results.iter().filter(|r| r.endpoint.as_deref() == Some(&stale_url)).collect();
    assert_eq!(on_stale.len(), 1, "{:?}", summary.results.iter().map(|r| &r.endpoint).collect::<Vec<_>>());
    assert_eq!(on_stale[0].outcome, Outcome::Fail);
    assert_eq!(summary.results.iter().filter(|r| r.outcome == Outcome::Pass).count(), 2);

    let defined = compare::defined_scenarios(&[], &[]);
    let comparison = compare::compare(&summary, &Snapshots::default(), &State::default(), &defined);
    assert_eq!(comparison.policy_skew, vec![current.policy_version(), stale.policy_version()]);
    assert_eq!(comparison.stale_endpoints, vec![(stale_url.clone(), vec![stale.policy_version()])]);
    let text = gateprobe_cli::report::comparison::render_drift(&comparison, false);
    assert!(text.contains(&format!("{stale_url} served")), "{text}");

    let metrics = gateprobe_cli::metrics::Metrics::new();
    metrics.record_run(&summary, Some(&comparison), std::time::SystemTime::now());
    let exposition = metrics.encode();
    let series = format!(
        "gateprobe_endpoint_policy_version_info{{endpoint=\"{stale_url}\",version=\"{}\"}} 1",
        stale.policy_version()
    );
    assert!(exposition.contains(&series), "{exposition}");
}

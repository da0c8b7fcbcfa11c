//! Several endpoints in one run (`targets:`): two real reference gateways on loopback, one with
//! the bundled policies and one where readers may no longer read files, named `main` and
//! `strict` in one config. The same call, chosen per suite and per scenario, gets allow on one
//! and deny on the other in one run, with one audit log, one report and one state; every result
//! names its target. A choice the config cannot honour is caught by `gateprobe lint`, pointing
//! at the `target:` it is written in.

mod support;

use std::path::{Path, PathBuf};

use gateprobe::compare::{self, Snapshots, State};
use gateprobe::outcome::Outcome;
use gateprobe_gateway::{GatewayOptions, RunningGateway};
use serde_json::Value;
use support::*;

/// The same read on both targets: the suite's `target:` says `main`, the second scenario's own
/// says `strict` and wins.
const MIXED: &str = r#"
suite: mixed
target: main
defaults: { identity: alice-reader }
scenarios:
  - name: reader reads on main
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow, evidence: [identity, decision, rationale] }
  - name: reader is refused on strict
    target: strict
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, evidence: [identity, decision, rationale] }
"#;

/// A whole suite on `strict`, with a sequence in one session there.
const STRICT: &str = r#"
suite: strict-only
target: strict
defaults: { identity: alice-reader }
scenarios:
  - name: reader may still search on strict
    call: { tool: search.query, arguments: { q: handbook } }
    expect: { decision: allow }
  - name: search then read on strict
    steps:
      - { call: { tool: search.query, arguments: { q: handbook } }, expect: { decision: allow } }
      - { call: { tool: files.read, arguments: { path: /docs/handbook.md } }, expect: { decision: deny } }
"#;

/// A policy directory like the bundled one, where readers may search but not read files.
fn strict_policies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir("policies").unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let roles = dir.path().join("roles.cedar");
    let text = std::fs::read_to_string(&roles).unwrap();
    let edited = text.replace(r#"[Action::"files.read", Action::"search.query"]"#, r#"[Action::"search.query"]"#);
    assert_ne!(text, edited, "the policy edit applies");
    std::fs::write(&roles, edited).unwrap();
    dir
}

struct Gateways {
    main: RunningGateway,
    strict: RunningGateway,
    _policies: tempfile::TempDir,
}

/// Both gateways share the signing key (one token works on both) and append to one audit log
/// (one audit source for the run), as two endpoints of one deployment do.
async fn start_gateways(audit_log: &Path) -> Gateways {
    start_gateways_watching(audit_log, false).await
}

/// [`start_gateways`], the gateways reloading their policies when the files change (`watch`).
async fn start_gateways_watching(audit_log: &Path, watch: bool) -> Gateways {
    let policies = strict_policies();
    let key = b"named-targets-share-this-key-0123".to_vec();
    let start = |policies: PathBuf| {
        let options = GatewayOptions {
            policies,
            signing_key: Some(key.clone()),
            audit_log: Some(audit_log.to_path_buf()),
            watch,
            ..GatewayOptions::default()
        };
        async move { RunningGateway::start(options).await.expect("gateway starts") }
    };
    let main = start("policies".into()).await;
    let strict = start(policies.path().to_path_buf()).await;
    assert_ne!(main.policy_version(), strict.policy_version());
    Gateways { main, strict, _policies: policies }
}

/// The config naming both gateways; `extra` is appended (e.g. a third target).
fn config_text(dir: &Path, g: &Gateways, audit_log: &Path, extra: &str) -> String {
    let token = g.main.mint_token("alice@example.com", "acme", &["reader".into()], std::time::Duration::from_secs(600));
    let token_file = dir.join("alice.token");
    std::fs::write(&token_file, token).unwrap();
    format!(
        r#"targets:
  main: {{ kind: mcp, url: "{}/mcp" }}
  strict: {{ kind: mcp, url: "{}/mcp", sessions: identity }}
{extra}audit: {{ kind: json_lines, path: "{}", timing: {{ initial_poll_ms: 10, deadline_ms: 3000 }} }}
identities:
  alice-reader: {{ subject: alice@example.com, tenant: acme, roles: [reader], credential: {{ file: "{}" }} }}
suites: [suites]
"#,
        g.main.base_url(),
        g.strict.base_url(),
        audit_log.display(),
        token_file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_covers_two_named_targets() {
    let dir = tempfile::tempdir().unwrap();
    let audit_log = dir.path().join("audit.jsonl");
    let g = start_gateways(&audit_log).await;
    let config = parse_config(dir.path(), &config_text(dir.path(), &g, &audit_log, ""));
    let suites = vec![suite(dir.path(), "mixed", MIXED), suite(dir.path(), "strict", STRICT)];
    let summary = run(config, suites).await;

    let got: Vec<(&str, Option<&str>, Outcome)> =
        summary.results.iter().map(|r| (r.scenario.as_str(), r.target.as_deref(), r.outcome)).collect();
    assert_eq!(
        got,
        [
            ("reader reads on main", Some("main"), Outcome::Pass),
            ("reader is refused on strict", Some("strict"), Outcome::Pass),
            ("reader may still search on strict", Some("strict"), Outcome::Pass),
            ("search then read on strict", Some("strict"), Outcome::Pass),
        ],
        "{:#?}",
        summary.results.iter().map(|r| (&r.scenario, &r.message)).collect::<Vec<_>>()
    );
    // Each result names where its calls went, and carries that gateway's policy version; the
    // evidence of both came from the one shared log.
    for r in &summary.results {
        let (url, version) = match r.target.as_deref() {
            Some("main") => (g.main.mcp_url(), g.main.policy_version()),
            _ => (g.strict.mcp_url(), g.strict.policy_version()),
        };
        assert_eq!(r.endpoint.as_deref(), Some(url.as_str()), "{}", r.scenario);
        assert_eq!(r.policy_version.as_deref(), Some(version.as_str()), "{}", r.scenario);
    }
    assert!(summary.results[0].evidence_fields.contains("rationale"), "{:?}", summary.results[0]);
    assert!(summary.results[1].evidence_fields.contains("rationale"), "{:?}", summary.results[1]);
    assert!(summary.target.starts_with("main: mcp http://127.0.0.1:"), "{}", summary.target);
    assert!(summary.target.contains(", strict: mcp http://127.0.0.1:"), "{}", summary.target);

    // Two gateways with two policies are not skew: skew is within one target.
    let defined = compare::defined_scenarios(&[], &[]);
    let comparison = compare::compare(&summary, &Snapshots::default(), &State::default(), &defined);
    assert!(comparison.policy_skew.is_empty(), "{:?}", comparison.policy_skew);
    // One state for the whole run, each entry with its target.
    let mut state = State::default();
    state.record(&summary, &[]);
    let entry = state.get("mixed", "reader is refused on strict").expect("in the state");
    assert_eq!(entry.last.target.as_deref(), Some("strict"));

    g.main.shutdown().await;
    g.strict.shutdown().await;
}

/// The binary end to end: one report whose every result names its target (and validates against
/// the checked-in schema), the console naming the target of what did not pass, exit 1 for the
/// scenario that expects the wrong thing of `strict`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_and_the_console_name_each_target() {
    let dir = tempfile::tempdir().unwrap();
    let audit_log = dir.path().join("audit.jsonl");
    let g = start_gateways(&audit_log).await;
    std::fs::write(dir.path().join("gateprobe.yaml"), config_text(dir.path(), &g, &audit_log, "")).unwrap();
    std::fs::create_dir(dir.path().join("suites")).unwrap();
    std::fs::write(dir.path().join("suites/mixed.yaml"), MIXED).unwrap();
    // Expects of `strict` what only `main` does: it must fail, and say where it ran.
    let wrong = MIXED
        .replace("suite: mixed", "suite: wrong")
        .replace("expect: { decision: deny,", "expect: { decision: allow,");
    std::fs::write(dir.path().join("suites/wrong.yaml"), wrong).unwrap();
    let report = dir.path().join("run.json");
    let (config, report2) = (dir.path().join("gateprobe.yaml"), report.clone());
    let out =
        tokio::task::spawn_blocking(move || run_with_report(&mut gateprobe(), &config, &report2).0).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("✗ wrong › reader is refused on strict (target strict) — fail: expected allow, observed deny"),
        "{stdout}"
    );

    let json: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let targets: Vec<(&str, &str, &str)> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["suite"].as_str().unwrap(), r["target"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        targets,
        [
            ("mixed", "main", "pass"),
            ("mixed", "strict", "pass"),
            ("wrong", "main", "pass"),
            ("wrong", "strict", "fail")
        ]
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string("schemas/report.schema.json").unwrap()).unwrap();
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator.iter_errors(&json).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The state file of the run keeps each scenario's target.
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(state.contains(r#""target":"strict""#) || state.contains(r#""target": "strict""#), "{state}");

    g.main.shutdown().await;
    g.strict.shutdown().await;
}

/// `gateprobe lint` catches a choice the config cannot honour, each at its file:line:col: an
/// unknown name (the known ones listed), and a suite that chooses none among several targets.
/// It calls nothing, so the targets need not be up.
#[test]
fn lint_points_at_a_wrong_target_choice() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gateprobe.yaml"),
        r#"targets:
  main: { kind: mcp, url: "http://127.0.0.1:9/mcp" }
  strict: { kind: mcp, url: "http://127.0.0.1:9/strict/mcp" }
audit: { kind: none }
identities:
  alice-reader: { subject: alice@example.com, tenant: acme, roles: [reader], credential: { env: ALICE_TOKEN } }
suites: [suites]
"#,
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("suites")).unwrap();
    std::fs::write(dir.path().join("suites/mixed.yaml"), MIXED.replace("target: strict", "target: stritc")).unwrap();
    std::fs::write(dir.path().join("suites/strict.yaml"), STRICT.replace("target: strict\n", "")).unwrap();
    let out = gateprobe()
        .args(["lint", "--color", "never", "--config"])
        .arg(dir.path().join("gateprobe.yaml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let mixed = dir.path().join("suites/mixed.yaml");
    let strict = dir.path().join("suites/strict.yaml");
    // Line 10 of MIXED (which starts with a newline) holds `    target: stritc`, the name at column 13.
    assert!(stderr.contains(&format!("--> {}:10:13", mixed.display())), "{stderr}");
    assert!(stderr.contains("scenario `reader is refused on strict` uses unknown target `stritc`"), "{stderr}");
    assert!(stderr.contains("the config's targets: main, strict"), "{stderr}");
    assert!(stderr.contains(&format!("--> {}:2:8", strict.display())), "{stderr}");
    assert!(stderr.contains("suite `strict-only` does not say which target its scenarios run on"), "{stderr}");

    // Fixed, it lints clean.
    std::fs::write(dir.path().join("suites/mixed.yaml"), MIXED).unwrap();
    std::fs::write(dir.path().join("suites/strict.yaml"), STRICT).unwrap();
    let out = gateprobe().args(["lint", "--config"]).arg(dir.path().join("gateprobe.yaml")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `serve` watches the policy version of every named target: a policy update on `strict` alone
/// starts a run (reason `policy_change`), whose results name the target the flip is on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_when_any_target_changes_its_policy() {
    use std::time::Duration;
    use support::process::{Proc, free_port, wait_for};

    let dir = tempfile::tempdir().unwrap();
    let audit_log = dir.path().join("audit.jsonl");
    let g = start_gateways_watching(&audit_log, true).await;
    std::fs::write(dir.path().join("gateprobe.yaml"), config_text(dir.path(), &g, &audit_log, "")).unwrap();
    std::fs::create_dir(dir.path().join("suites")).unwrap();
    std::fs::write(dir.path().join("suites/mixed.yaml"), MIXED).unwrap();
    let port = free_port();
    let mut cmd = gateprobe();
    cmd.args(["serve", "--schedule", "off", "--watch-interval", "200ms", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--config")
        .arg(dir.path().join("gateprobe.yaml"))
        .arg("--state")
        .arg(dir.path().join("state.json"))
        .arg("--snapshots")
        .arg(dir.path().join("snapshots"));
    let serve = Proc::start("serve", dir.path(), &mut cmd);
    let client = reqwest::Client::new();
    let status = || async {
        let r = client.get(format!("http://127.0.0.1:{port}/status")).send().await.ok()?;
        r.json::<Value>().await.ok()
    };
    // The startup run: both scenarios pass.
    let first = wait_for("the startup run", Duration::from_secs(30), &[&serve], || async {
        let s = status().await?;
        (s["last_run"]["reason"] == "startup" && s["running"] == false).then_some(s)
    })
    .await;
    assert_eq!(first["last_run"]["result"], "pass", "{first:#}");
    // Let the watch read both versions once, then update only `strict`: readers may read again.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let roles = g._policies.path().join("roles.cedar");
    let text = std::fs::read_to_string(&roles).unwrap();
    let restored = text.replace(r#"[Action::"search.query"]"#, r#"[Action::"files.read", Action::"search.query"]"#);
    assert_ne!(text, restored, "the policy edit applies");
    std::fs::write(&roles, restored).unwrap();
    let changed = wait_for("a run for the policy change", Duration::from_secs(30), &[&serve], || async {
        let s = status().await?;
        (s["last_run"]["reason"] == "policy_change" && s["running"] == false).then_some(s)
    })
    .await;
    let not_passing: Vec<&str> =
        changed["last_run"]["not_passing"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(not_passing.len(), 1, "{changed:#}");
    assert!(not_passing[0].starts_with("mixed / reader is refused on strict (target strict): fail"), "{not_passing:?}");
    g.main.shutdown().await;
    g.strict.shutdown().await;
}

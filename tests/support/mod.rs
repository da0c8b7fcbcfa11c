//! Shared test setup: a real reference gateway on loopback, configs that point gateprobe at it,
//! and suites written on the fly.

#![allow(dead_code, reason = "each test file uses the helpers it needs")]

pub mod dashboard;
pub mod fault_proxy;
pub mod process;
pub mod tls;

use std::path::{Path, PathBuf};
use std::time::Duration;

use gateprobe::Loaded;
use gateprobe::RunSummary;
use gateprobe::config::Config;
use gateprobe::outcome::Outcome;
use gateprobe::plan::Filter;
use gateprobe_gateway::{GatewayOptions, RunningGateway};

/// A reference gateway on an ephemeral loopback port with the bundled policies.
pub async fn start_gateway() -> RunningGateway {
    RunningGateway::start(GatewayOptions { watch: false, ..GatewayOptions::default() }).await.expect("gateway starts")
}

/// A config for an `mcp` target at `base_url` (a gateway or a proxy in front of one), with the
/// identities' tokens in files under `dir`, minted by `gateway`.
pub fn mcp_config(dir: &Path, gateway: &RunningGateway, base_url: &str, timeout_ms: u64, deadline_ms: u64) -> Config {
    let alice = write_token(
        dir,
        "alice",
        &gateway.mint_token("alice@example.com", "acme", &["reader".into()], Duration::from_secs(600)),
    );
    let bob = write_token(
        dir,
        "bob",
        &gateway.mint_token("bob@example.com", "acme", &["admin".into()], Duration::from_secs(600)),
    );
    let text = format!(
        r#"
target: {{ kind: mcp, url: "{base_url}/mcp" }}
audit:
  kind: http
  url: "{base_url}/audit?correlation_id={{correlation_id}}"
  timing: {{ initial_poll_ms: 10, deadline_ms: {deadline_ms} }}
run: {{ concurrency: 4, timeout_ms: {timeout_ms} }}
identities:
  alice-reader: {{ subject: alice@example.com, tenant: acme, roles: [reader], credential: {{ file: "{alice}" }} }}
  bob-admin: {{ subject: bob@example.com, tenant: acme, roles: [admin], credential: {{ file: "{bob}" }} }}
"#,
        alice = alice.display(),
        bob = bob.display(),
    );
    parse_config(dir, &text)
}

pub fn parse_config(dir: &Path, text: &str) -> Config {
    let path = dir.join("gateprobe.yaml");
    std::fs::write(&path, text).unwrap();
    gateprobe::config::parse_config(&path, text).unwrap_or_else(|e| panic!("test config is valid: {e}"))
}

fn write_token(dir: &Path, name: &str, token: &str) -> PathBuf {
    let path = dir.join(format!("{name}.token"));
    std::fs::write(&path, token).unwrap();
    path
}

/// A suite parsed from text, as if it were `dir/<name>.yaml`.
pub fn suite(dir: &Path, name: &str, text: &str) -> gateprobe::suite::Suite {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    gateprobe::suite::parse_suite(&path, text).unwrap_or_else(|d| panic!("test suite is valid: {d:?}"))
}

/// The small suite most fault tests replay: one allow and one deny, both with evidence.
pub const READ_AND_DELETE: &str = r#"
suite: probe
defaults: { identity: alice-reader }
scenarios:
  - name: reader can read
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow, evidence: [identity, decision, rationale] }
  - name: reader cannot delete
    call: { tool: files.delete, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: missing_capability }
"#;

pub async fn run(config: Config, suites: Vec<gateprobe::suite::Suite>) -> RunSummary {
    let loaded = Loaded { config, suites };
    gateprobe::run(&loaded, &Filter::default(), &|_| {}).await.expect("run starts")
}

pub fn outcomes(summary: &RunSummary) -> Vec<(String, Outcome)> {
    summary.results.iter().map(|r| (r.scenario.clone(), r.outcome)).collect()
}

/// `cmd` (made by [`gateprobe`], its environment set) as `run --config <config>`, with the run
/// state and snapshots beside the config and a JSON report at `report`: its output (stdout then
/// stderr, as text), and the report when one was written.
pub fn run_with_report(
    cmd: &mut std::process::Command,
    config: &Path,
    report: &Path,
) -> (std::process::Output, String, Option<serde_json::Value>) {
    let out = cmd
        .arg("run")
        .arg("--config")
        .arg(config)
        .arg("--state")
        .arg(config.with_file_name("state.json"))
        .arg("--snapshots")
        .arg(config.with_file_name("snapshots"))
        .arg("--report")
        .arg(format!("json={}", report.display()))
        .output()
        .expect("gateprobe runs");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let json = std::fs::read_to_string(report).ok().and_then(|r| serde_json::from_str(&r).ok());
    (out, text, json)
}

/// The built binary, run in the crate root.
pub fn gateprobe() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_gateprobe"));
    c.current_dir(env!("CARGO_MANIFEST_DIR")).env("NO_COLOR", "1").env_remove("GITHUB_ACTIONS");
    c
}

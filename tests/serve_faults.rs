//! `gateprobe serve` under faults. The built binary runs every second against the real reference
//! gateway through the fault proxy (tests/support/fault_proxy.rs: it fakes a broken gateway or
//! network: hangs, 5xx, resets, nonsense, late audit records, a flapping policy version, and
//! finally the gateway gone), and pushes regressions to a real Alertmanager.
//!
//! Pins, for every fault: serve keeps running; `gateprobe_target_up` says whether the gateway
//! answered; a scenario that got no decision is `error`, never `pass`, and never a regression;
//! no regression is ever blamed on a policy update. Audit records held past the deadline are
//! `evidence_missing`, opened as regressions "without a policy update" and resolved when the
//! fault clears. Then a real policy flip through the same set-up opens a policy-update regression
//! that Alertmanager lists, so the quiet before is not the quiet of a broken alert path.

mod support;

use std::process::Command;
use std::time::Duration;

use gateprobe_gateway::{GatewayOptions, RunningGateway};
use serde_json::Value;
use support::fault_proxy::{Fault, FaultProxy};
use support::process::{Proc, copy_dir, free_port, start_alertmanager, wait_for};
use support::{READ_AND_DELETE, mcp_config};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

struct Service {
    client: reqwest::Client,
    serve_url: String,
    am_url: String,
}

impl Service {
    async fn text(&self, url: &str) -> Option<String> {
        let response = self.client.get(url).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.text().await.ok()
    }

    async fn metrics(&self) -> Option<String> {
        self.text(&format!("{}/metrics", self.serve_url)).await
    }

    async fn status(&self) -> Option<Value> {
        serde_json::from_str(&self.text(&format!("{}/status", self.serve_url)).await?).ok()
    }

    /// GateprobeRegression alerts Alertmanager lists.
    async fn regression_alerts(&self) -> Vec<Value> {
        let text = self.text(&format!("{}/api/v2/alerts", self.am_url)).await.expect("Alertmanager answers");
        let alerts: Value = serde_json::from_str(&text).expect("alerts JSON");
        alerts
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == "GateprobeRegression")
            .cloned()
            .collect()
    }
}

/// The sum of every sample of metric `name` (all label sets).
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{'])))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `scenario → outcome` of the last run, from `/status`.
fn outcomes(status: &Value) -> Vec<(String, String)> {
    status["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| (s["scenario"].as_str().unwrap().to_string(), s["outcome"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_never_blamed_on_a_policy_update_and_target_up_tells_the_truth() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    copy_dir(&std::path::Path::new(MANIFEST).join("policies"), &dir.join("policies"));
    // Runs every second for a minute: quotas far above that, so no decision is a rate limit.
    std::fs::write(
        dir.join("policies/limits.yaml"),
        "subject: {burst: 100000, per_second: 100000}\ntenant: {burst: 100000, per_second: 100000}\n",
    )
    .expect("limits");
    let gateway = RunningGateway::start(GatewayOptions { policies: dir.join("policies"), ..GatewayOptions::default() })
        .await
        .expect("gateway starts");
    let proxy = FaultProxy::start(&gateway.base_url()).await;
    mcp_config(dir, &gateway, &proxy.url(), 1000, 1500); // writes dir/gateprobe.yaml
    std::fs::write(dir.join("probe.yaml"), READ_AND_DELETE).expect("suite");

    let (am_port, serve_port) = (free_port(), free_port());
    let service = Service {
        client: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap(),
        serve_url: format!("http://127.0.0.1:{serve_port}"),
        am_url: format!("http://127.0.0.1:{am_port}"),
    };
    let am = start_alertmanager(dir, am_port);
    let mut serve = Proc::start(
        "serve",
        dir,
        Command::new(env!("CARGO_BIN_EXE_gateprobe"))
            .current_dir(dir)
            .env_remove("GATEPROBE_CONFIG")
            .args(["--log-format", "json", "serve", "--config", "gateprobe.yaml", "--suites", "probe.yaml"])
            .args(["--schedule", "* * * * * *", "--jitter", "0s", "--watch-interval", "500ms"])
            .arg("--listen")
            .arg(format!("127.0.0.1:{serve_port}"))
            .arg("--alertmanager-url")
            .arg(&service.am_url),
    );
    wait_for("Alertmanager", Duration::from_secs(30), &[&am], || async {
        service.text(&format!("{}/-/ready", service.am_url)).await
    })
    .await;

    // Sets `fault`, waits for two whole runs under it, and returns the last run's outcomes, its
    // open regressions and `gateprobe_target_up`, after checking what must hold under any fault:
    // serve is alive and no regression is blamed on a policy update (the version never changed).
    let phase = async |fault: Fault, serve: &mut Proc| -> (Vec<(String, String)>, Vec<Value>, f64) {
        let what = format!("{fault:?}");
        let runs_before = sample(&service.metrics().await.unwrap_or_default(), "gateprobe_runs_total");
        proxy.set(fault);
        let metrics = wait_for(&format!("two runs under {what}"), Duration::from_secs(60), &[serve], || async {
            service.metrics().await.filter(|m| sample(m, "gateprobe_runs_total") >= runs_before + 2.0)
        })
        .await;
        assert!(serve.alive(), "serve exited under {what}\n{}", serve.tail());
        let status = service.status().await.expect("/status answers");
        let open = status["open_regressions"].as_array().expect("open_regressions").clone();
        let blamed: Vec<&Value> = open.iter().filter(|r| r["policy_from"] != r["policy_to"]).collect();
        assert!(blamed.is_empty(), "{what}: a policy update was blamed: {blamed:?}");
        let alerts = service.regression_alerts().await;
        let blamed: Vec<&Value> =
            alerts.iter().filter(|a| a["labels"]["policy_from"] != a["labels"]["policy_to"]).collect();
        assert!(blamed.is_empty(), "{what}: Alertmanager got a policy-update regression: {blamed:?}");
        (outcomes(&status), open, sample(&metrics, "gateprobe_target_up"))
    };
    let all = |outcome: &str| {
        vec![
            ("reader can read".to_string(), outcome.to_string()),
            ("reader cannot delete".to_string(), outcome.to_string()),
        ]
    };
    let none: Vec<Value> = Vec::new();

    assert_eq!(phase(Fault::None, &mut serve).await, (all("pass"), none.clone(), 1.0), "faithful proxy");
    // No decision read: `error`, target down, and an error is never a regression.
    for fault in [Fault::Hang, Fault::Status(502), Fault::ResetMidBody, Fault::MalformedJson, Fault::NoDecision] {
        let what = format!("{fault:?}");
        assert_eq!(phase(fault, &mut serve).await, (all("error"), none.clone(), 0.0), "{what}");
    }
    assert_eq!(service.regression_alerts().await, none, "no alert after target trouble");
    // Audit records held back past the deadline: the gateway decided (up) but the evidence is
    // missing. That is a true failure of scenarios that passed, so it opens regressions, marked
    // as appearing without a policy update (checked in `phase`).
    let (late, open, up) = phase(Fault::AuditLate(Duration::from_secs(3600)), &mut serve).await;
    assert_eq!((late, up), (all("evidence_missing"), 1.0), "audit beyond the deadline");
    assert_eq!(open.len(), 2, "{open:?}");
    // Cleared: everything passes, the regressions close and Alertmanager drops the alerts.
    assert_eq!(phase(Fault::None, &mut serve).await, (all("pass"), none.clone(), 1.0), "fault cleared");
    wait_for("the no-update alerts resolved", Duration::from_secs(30), &[&serve, &am], || async {
        service.regression_alerts().await.is_empty().then_some(())
    })
    .await;
    // A flapping version header: a call whose answer names a version its audit record
    // contradicts fails (never a pass), yet no policy update is blamed (checked in `phase`):
    // the result keeps the version the record names.
    let (flapping, _, up) = phase(Fault::FlapVersion("v-flapped".into()), &mut serve).await;
    assert!(flapping.iter().all(|(_, o)| o == "pass" || o == "fail"), "flapping version: {flapping:?}");
    assert_eq!(up, 1.0, "flapping version");
    assert_eq!(phase(Fault::None, &mut serve).await, (all("pass"), none.clone(), 1.0), "steady again");
    wait_for("the flapping-version alerts resolved", Duration::from_secs(30), &[&serve, &am], || async {
        service.regression_alerts().await.is_empty().then_some(())
    })
    .await;

    // The same set-up does raise a real regression: readers lose files.read.
    let roles = dir.join("policies/roles.cedar");
    let text = std::fs::read_to_string(&roles).expect("roles.cedar");
    let flipped = text.replace(r#"Action::"files.read", Action::"search.query""#, r#"Action::"search.query""#);
    assert_ne!(flipped, text, "the policy edit applies");
    std::fs::write(&roles, flipped).expect("edit policy");
    let alerts = wait_for("the regression in Alertmanager", Duration::from_secs(60), &[&serve, &am], || async {
        Some(service.regression_alerts().await).filter(|a| !a.is_empty())
    })
    .await;
    assert_eq!(alerts[0]["labels"]["suite"], "probe", "{alerts:?}");
    let status = service.status().await.expect("/status");
    let open: Vec<&str> =
        status["open_regressions"].as_array().unwrap().iter().filter_map(|r| r["scenario"].as_str()).collect();
    assert_eq!(open, ["reader can read"], "{status}");

    // Gateway gone: connection refused. serve stays up and says the target is down.
    proxy.stop();
    let metrics = wait_for("target_up 0 with the gateway gone", Duration::from_secs(30), &[&serve], || async {
        service.metrics().await.filter(|m| sample(m, "gateprobe_target_up") == 0.0)
    })
    .await;
    assert!(serve.alive(), "serve exited with the gateway gone\n{}", serve.tail());
    assert!(sample(&metrics, "gateprobe_runs_total") > 0.0);
    assert!(service.text(&format!("{}/healthz", service.serve_url)).await.is_some(), "healthz with the gateway gone");
    gateway.shutdown().await;
}

//! End to end, with real components on 127.0.0.1 and ephemeral ports: `gateprobe serve` (the
//! built binary, running the embedded reference gateway over a temp copy of `policies/`),
//! Prometheus scraping it every second with the shipped rules, and Alertmanager.
//!
//! Pins: a policy edit that flips a decision reaches Alertmanager as GateprobeRegression pushed
//! by gateprobe (and fired by the Prometheus rule); fixing the policy resolves the pushed alert;
//! every PromQL expression of the Grafana dashboard returns data; `/trigger` needs the token;
//! `/metrics` is clean under `promtool check metrics`; SIGTERM stops the service cleanly.
//! Every wait is bounded; every child is killed when the test ends, however it ends.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::process::{self, Proc, copy_dir, free_port};

use serde_json::Value;

const TOKEN: &str = "e2e-trigger-token";
const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

struct Env {
    procs: Vec<Proc>,
    client: reqwest::Client,
}

impl Env {
    fn logs(&self) -> String {
        self.procs.iter().map(Proc::tail).collect::<Vec<_>>().join("\n")
    }

    /// Polls `probe` until it returns `Some`, at most `limit`; fails with every child's log.
    async fn wait_for<T, F, Fut>(&self, what: &str, limit: Duration, probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let procs: Vec<&Proc> = self.procs.iter().collect();
        process::wait_for(what, limit, &procs, probe).await
    }

    async fn json(&self, url: &str) -> Option<Value> {
        self.client.get(url).send().await.ok()?.json().await.ok()
    }
}

/// Alerts named GateprobeRegression for suite documents that Alertmanager lists (it leaves out
/// resolved ones); the pushed one has no `source` label, the Prometheus rule's has `source=prometheus`.
fn regression_alerts(alerts: &Value, from_prometheus: bool) -> Vec<Value> {
    alerts
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["labels"]["alertname"] == "GateprobeRegression" && a["labels"]["suite"] == "documents")
        .filter(|a| (a["labels"]["source"] == "prometheus") == from_prometheus)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_change_alerts_in_alertmanager_and_resolves_when_fixed() {
    let test_start = Instant::now();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    copy_dir(&Path::new(MANIFEST).join("policies"), &dir.join("policies"));
    // One suite keeps runs short and far from the per-subject rate limits of other suites.
    std::fs::create_dir_all(dir.join("scenarios")).expect("mkdir");
    std::fs::copy(Path::new(MANIFEST).join("scenarios/documents.yaml"), dir.join("scenarios/documents.yaml"))
        .expect("copy suite");

    let (am_port, prom_port, serve_port) = (free_port(), free_port(), free_port());
    let am_url = format!("http://127.0.0.1:{am_port}");
    let prom_url = format!("http://127.0.0.1:{prom_port}");
    let serve_url = format!("http://127.0.0.1:{serve_port}");

    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
             rule_files: ['{rules}']\n\
             alerting: {{ alertmanagers: [ {{ static_configs: [ {{ targets: ['127.0.0.1:{am_port}'] }} ] }} ] }}\n\
             scrape_configs: [ {{ job_name: gateprobe, static_configs: [ {{ targets: ['127.0.0.1:{serve_port}'] }} ] }} ]\n",
            rules = Path::new(MANIFEST).join("dashboards/alerts.yml").display()
        ),
    )
    .expect("write");

    let mut env =
        Env { procs: Vec::new(), client: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap() };
    env.procs.push(process::start_alertmanager(dir, am_port));
    env.procs.push(Proc::start(
        "serve",
        dir,
        Command::new(env!("CARGO_BIN_EXE_gateprobe"))
            .current_dir(dir)
            .env("GATEPROBE_TRIGGER_TOKEN", TOKEN)
            .env_remove("GATEPROBE_CONFIG")
            .args(["--log-format", "json", "serve", "--schedule", "off", "--watch-interval", "200ms"])
            .arg("--listen")
            .arg(format!("127.0.0.1:{serve_port}"))
            .arg("--alertmanager-url")
            .arg(&am_url)
            .args(["--label", "location=eu-west"]),
    ));
    env.procs.push(Proc::start(
        "prometheus",
        dir,
        Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("prom").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
    ));

    // The startup run passes the scenario this test breaks.
    let reader_reads = "reader can read a handbook page";
    let status = env
        .wait_for("the first run of serve", Duration::from_secs(20), || async {
            let s = env.json(&format!("{serve_url}/status")).await?;
            (s["last_run"]["result"].is_string()).then_some(s)
        })
        .await;
    let passing = status["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .any(|s| s["scenario"] == reader_reads && s["outcome"] == "pass");
    assert!(passing, "{reader_reads} should pass at first: {status:#}\n{}", env.logs());

    // /metrics is clean under promtool.
    let metrics = env.client.get(format!("{serve_url}/metrics")).send().await.unwrap().text().await.unwrap();
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), metrics.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    let lint = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && lint.trim().is_empty(), "promtool check metrics:\n{lint}");
    assert!(metrics.contains("gateprobe_instance_info{location=\"eu-west\","), "the instance's labels are exported");
    // gzip when the scraper asks for it, as Prometheus does.
    let zipped = env.client.get(format!("{serve_url}/metrics")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(zipped.headers().get("content-encoding").map(|v| v.to_str().unwrap_or("")), Some("gzip"));
    let body = zipped.bytes().await.unwrap();
    assert!(
        body.starts_with(&[0x1f, 0x8b]) && body.len() < metrics.len(),
        "{} gzip bytes for {}",
        body.len(),
        metrics.len()
    );

    // /trigger needs the token.
    let trigger = format!("{serve_url}/trigger");
    assert_eq!(env.client.post(&trigger).send().await.unwrap().status(), 401);
    assert_eq!(env.client.post(&trigger).bearer_auth("wrong").send().await.unwrap().status(), 401);
    assert_eq!(env.client.post(&trigger).bearer_auth(TOKEN).send().await.unwrap().status(), 202);

    // Break the policy: readers lose files.read.
    let roles = dir.join("policies/roles.cedar");
    let original = std::fs::read_to_string(&roles).expect("roles.cedar");
    let broken = original.replace("Action::\"files.read\", Action::\"search.query\"", "Action::\"search.query\"");
    assert_ne!(broken, original, "roles.cedar no longer grants readers files.read as this test expects");
    let changed_at = Instant::now();
    std::fs::write(&roles, &broken).expect("write policy");

    let pushed = env
        .wait_for("GateprobeRegression pushed by gateprobe in Alertmanager", Duration::from_secs(20), || async {
            let alerts = env.json(&format!("{am_url}/api/v2/alerts")).await?;
            regression_alerts(&alerts, false).into_iter().next()
        })
        .await;
    let detect = changed_at.elapsed();
    eprintln!("policy change → alert listed by Alertmanager: {detect:?}");
    assert!(pushed["annotations"]["summary"].as_str().unwrap_or("").contains(reader_reads), "{pushed:#}");
    assert_ne!(pushed["labels"]["policy_from"], pushed["labels"]["policy_to"]);
    assert_eq!(pushed["labels"]["location"], "eu-west", "the instance's labels are on what it pushes: {pushed:#}");

    let status = env.json(&format!("{serve_url}/status")).await.expect("status");
    assert!(
        status["open_regressions"].as_array().is_some_and(|r| r.iter().any(|r| r["scenario"] == reader_reads)),
        "{status:#}"
    );

    // The Prometheus rule sees the same regression from the scraped metrics.
    env.wait_for("GateprobeRegression from the Prometheus rule in Alertmanager", Duration::from_secs(20), || async {
        let alerts = env.json(&format!("{am_url}/api/v2/alerts")).await?;
        regression_alerts(&alerts, true).into_iter().next()
    })
    .await;

    // Every dashboard query returns data while the regression is open.
    for expr in support::dashboard::exprs() {
        let result = env
            .wait_for(&format!("data for dashboard query {expr}"), Duration::from_secs(10), || async {
                let v = env
                    .client
                    .get(format!("{prom_url}/api/v1/query"))
                    .query(&[("query", expr.as_str())])
                    .send()
                    .await
                    .ok()?
                    .json::<Value>()
                    .await
                    .ok()?;
                assert_eq!(v["status"], "success", "query {expr} failed: {v}");
                v["data"]["result"].as_array().is_some_and(|r| !r.is_empty()).then_some(v)
            })
            .await;
        assert_eq!(result["status"], "success");
    }

    // Fix the policy: the pushed alert resolves.
    std::fs::write(&roles, &original).expect("write policy");
    env.wait_for("the pushed GateprobeRegression to resolve", Duration::from_secs(20), || async {
        let alerts = env.json(&format!("{am_url}/api/v2/alerts")).await?;
        regression_alerts(&alerts, false).is_empty().then_some(())
    })
    .await;
    let status = env.json(&format!("{serve_url}/status")).await.expect("status");
    assert_eq!(status["open_regressions"].as_array().map(Vec::len), Some(0), "{status:#}");
    assert!(status["history"].as_array().is_some_and(|h| h.iter().any(|r| r["result"] == "fail")), "{status:#}");

    // SIGTERM stops serve cleanly.
    let serve = env.procs.iter_mut().find(|p| p.name == "serve").expect("serve");
    let pid = serve.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let code = loop {
        if let Some(status) = serve.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop within 15 s of SIGTERM\n{}", serve.tail());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(code.success(), "serve exited with {code}\n{}", serve.tail());
    eprintln!("end-to-end test took {:?}", test_start.elapsed());
}

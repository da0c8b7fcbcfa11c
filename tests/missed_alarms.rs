//! No missed alarm (issue 16, observations 5 and 6), against the built binary and the real
//! reference gateway.
//!
//! The run state cannot be saved: a full disk, made with a file size limit of 0 on the gateprobe
//! process (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so a write fails with `EFBIG` instead of
//! killing it). Unlike permission bits, the limit holds for root, and each test checks that the
//! state file really stayed as it was. Pins:
//! - `serve` still compares with the state it holds, opens the regression and pushes it to a
//!   real Alertmanager; it shows the fault (`/healthz` 503 with the reason,
//!   `gateprobe_state_write_errors_total`, `gateprobe_state_last_write_successful 0`,
//!   `state_write_error` in `/status`) until a save succeeds, then saves what it held;
//! - `run` prints the failed scenario and the regression, then the error, and exits 1; with every
//!   scenario passing, the failed save alone is exit 4.
//!
//! And a serve run in which no scenario read a decision is `runs_total{result="error"}`, not
//! `fail`.

mod support;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::process::{Proc, copy_dir, free_port, start_alertmanager, wait_for};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");
const TOKEN: &str = "missed-alarms-trigger-token";
const READER_READS: &str = "reader can read a handbook page";
const STATE: &str = "state/state.json";

/// A temporary directory with a copy of `policies/`, the documents suite and the bundled
/// config: the embedded reference gateway, as a user gets it.
fn workspace() -> tempfile::TempDir {
    let root = Path::new(MANIFEST);
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&root.join("policies"), &dir.path().join("policies"));
    std::fs::create_dir_all(dir.path().join("scenarios")).expect("mkdir");
    std::fs::copy(root.join("scenarios/documents.yaml"), dir.path().join("scenarios/documents.yaml")).expect("suite");
    std::fs::copy(root.join("gateprobe.yaml"), dir.path().join("gateprobe.yaml")).expect("config");
    dir
}

/// Readers lose `files.read` (`true`), or get it back (`false`).
fn break_policy(dir: &Path, broken: bool) {
    let roles = dir.join("policies/roles.cedar");
    let text = std::fs::read_to_string(&roles).expect("roles.cedar");
    let (granted, revoked) = (r#"Action::"files.read", Action::"search.query""#, r#"Action::"search.query""#);
    let edited = if broken { text.replace(granted, revoked) } else { text.replace(revoked, granted) };
    assert_ne!(edited, text, "roles.cedar no longer grants readers files.read as this test expects");
    std::fs::write(&roles, edited).expect("edit policy");
}

/// The binary in `dir`, with the defaults of a user there and the state under `state/`.
fn gateprobe(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gateprobe"));
    c.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GATEPROBE_CONFIG")
        .env_remove("GATEPROBE_STATE")
        .env_remove("GATEPROBE_SNAPSHOTS")
        .env_remove("GATEPROBE_CI");
    c
}

/// The child ignores `SIGXFSZ` (inherited through exec), so writing past its file size limit
/// fails with `EFBIG` instead of killing it; with `limit`, the limit is `limit` bytes from the
/// start.
fn ignore_sigxfsz(cmd: &mut Command, limit: Option<u64>) {
    // SAFETY: between fork and exec only async-signal-safe calls (signal, setrlimit) are made,
    // on memory owned by the closure.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            if let Some(bytes) = limit {
                let rlimit = libc::rlimit { rlim_cur: bytes, rlim_max: libc::RLIM_INFINITY };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Sets the file size limit of a running process: 0 is a full disk, `None` none.
fn set_file_size_limit(pid: u32, bytes: Option<u64>) {
    let rlimit = libc::rlimit { rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY), rlim_max: libc::RLIM_INFINITY };
    // SAFETY: prlimit reads `rlimit` and writes nothing (the old-limit pointer is null).
    let done = unsafe { libc::prlimit(pid as libc::pid_t, libc::RLIMIT_FSIZE, &rlimit, std::ptr::null_mut()) };
    assert_eq!(done, 0, "prlimit: {}", std::io::Error::last_os_error());
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `gateprobe run` with the state under `state/`; with `full_disk`, no file can grow.
fn run(dir: &Path, full_disk: bool) -> Output {
    let mut cmd = gateprobe(dir);
    cmd.args(["run", "--color", "never", "--state", STATE]);
    if full_disk {
        ignore_sigxfsz(&mut cmd, Some(0));
    }
    cmd.output().expect("gateprobe runs")
}

#[test]
fn run_reports_the_failure_and_the_regression_and_exits_1_when_the_state_cannot_be_saved() {
    let ws = workspace();
    let dir = ws.path();
    let first = run(dir, false);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let saved = std::fs::read(dir.join(STATE)).expect("the first run saved the state");

    // A policy update breaks a scenario that passed, and the disk is full.
    break_policy(dir, true);
    let out = run(dir, true);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "the failed scenario's exit code\n{}", text(&out));
    assert!(stdout.contains(READER_READS) && stdout.contains("expected allow, got deny"), "{}", text(&out));
    let regression = format!("documents › {READER_READS}: allow→deny");
    assert!(
        stdout.lines().skip_while(|l| l.trim() != "regressions").any(|l| l.contains(&regression)),
        "the regression is reported though the state cannot be saved\n{}",
        text(&out)
    );
    assert!(stderr.contains("could not save the run state") && stderr.contains(STATE), "{}", text(&out));
    assert!(stderr.contains("File too large"), "the save failed for the full disk\n{}", text(&out));
    assert_eq!(std::fs::read(dir.join(STATE)).expect("state"), saved, "the state file was not written");

    // Every scenario passes again: the failed save alone is exit 4, not the invalid-input 2.
    break_policy(dir, false);
    let out = run(dir, true);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("passed"), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not save the run state"), "{}", text(&out));
    assert_eq!(std::fs::read(dir.join(STATE)).expect("state"), saved, "the state file was not written");
}

/// `gateprobe serve` with its log copied through a pipe into `dir/serve.log`: a pipe is not a
/// file, so the file size limit put on serve does not silence its log.
fn start_serve(dir: &Path, serve_port: u16, am_url: &str) -> Proc {
    let mut cmd = gateprobe(dir);
    cmd.env("GATEPROBE_TRIGGER_TOKEN", TOKEN)
        .args(["--log-format", "json", "serve", "--schedule", "off", "--watch-interval", "200ms"])
        .args(["--state", STATE, "--listen", &format!("127.0.0.1:{serve_port}"), "--alertmanager-url", am_url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    ignore_sigxfsz(&mut cmd, None);
    let mut child = cmd.spawn().expect("serve starts");
    let log: PathBuf = dir.join("serve.log");
    let mut file = std::fs::File::create(&log).expect("log file");
    let mut stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 || std::io::Write::write_all(&mut file, &buf[..n]).is_err() {
                break;
            }
        }
    });
    Proc { name: "serve".into(), child, log }
}

struct Service {
    client: reqwest::Client,
    serve_url: String,
    am_url: String,
}

impl Service {
    async fn get(&self, path: &str) -> Option<(u16, String)> {
        let response = self.client.get(format!("{}{path}", self.serve_url)).send().await.ok()?;
        Some((response.status().as_u16(), response.text().await.ok()?))
    }

    async fn status(&self) -> Option<Value> {
        serde_json::from_str(&self.get("/status").await?.1).ok()
    }

    async fn metrics(&self) -> String {
        self.get("/metrics").await.expect("/metrics answers").1
    }

    /// `/status` once a run after run `id` has finished (and `accept` accepts it).
    async fn finished_after(&self, id: u64, procs: &[&Proc], accept: impl Fn(&Value) -> bool) -> Value {
        wait_for(&format!("a run after run {id}"), Duration::from_secs(30), procs, || async {
            let status = self.status().await?;
            let done = status["last_run"]["id"].as_u64() > Some(id) && status["running"] == false;
            (done && accept(&status)).then_some(status)
        })
        .await
    }

    /// Starts a run; returns the id of the last finished run before it.
    async fn trigger(&self, procs: &[&Proc]) -> u64 {
        let idle = wait_for("serve idle", Duration::from_secs(30), procs, || async {
            self.status().await.filter(|s| s["running"] == false)
        })
        .await;
        let url = format!("{}/trigger", self.serve_url);
        let response = self.client.post(url).bearer_auth(TOKEN).send().await.expect("POST /trigger");
        assert_eq!(response.status(), 202);
        idle["last_run"]["id"].as_u64().unwrap_or(0)
    }

    /// GateprobeRegression alerts pushed by gateprobe that Alertmanager lists for the scenario.
    async fn pushed_regressions(&self) -> Vec<Value> {
        let url = format!("{}/api/v2/alerts", self.am_url);
        let Ok(response) = self.client.get(url).send().await else { return vec![] };
        let alerts: Value = response.json().await.unwrap_or_default();
        alerts
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == "GateprobeRegression" && a["labels"]["suite"] == "documents")
            .filter(|a| a["annotations"]["scenarios"].as_str().is_some_and(|s| s.contains(READER_READS)))
            .cloned()
            .collect()
    }
}

/// The value of the sample `name` (a metric without labels).
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in\n{metrics}"))
}

fn open_regressions(status: &Value) -> Vec<&str> {
    status["open_regressions"]
        .as_array()
        .expect("open_regressions")
        .iter()
        .filter_map(|r| r["scenario"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_alerts_a_regression_while_the_state_cannot_be_saved_and_says_it_is_degraded() {
    let ws = workspace();
    let dir = ws.path();
    let (am_port, serve_port) = (free_port(), free_port());
    let service = Service {
        client: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap(),
        serve_url: format!("http://127.0.0.1:{serve_port}"),
        am_url: format!("http://127.0.0.1:{am_port}"),
    };
    let am = start_alertmanager(dir, am_port);
    let serve = start_serve(dir, serve_port, &service.am_url);
    let procs = [&serve, &am];

    // The startup run passes, is saved, and serve is healthy.
    let status = service.finished_after(0, &procs, |_| true).await;
    assert_eq!(status["last_run"]["result"], "pass", "{status:#}");
    assert_eq!(service.get("/healthz").await, Some((200, "ok\n".to_string())));
    let metrics = service.metrics().await;
    assert_eq!(sample(&metrics, "gateprobe_state_write_errors_total"), 0.0);
    assert_eq!(sample(&metrics, "gateprobe_state_last_write_successful"), 1.0);
    let saved = std::fs::read(dir.join(STATE)).expect("the startup run saved the state");

    // The disk fills up, then a policy update breaks a scenario (the watch starts run 2).
    set_file_size_limit(serve.child.id(), Some(0));
    break_policy(dir, true);
    wait_for("the regression pushed to Alertmanager", Duration::from_secs(30), &procs, || async {
        Some(service.pushed_regressions().await).filter(|a| !a.is_empty())
    })
    .await;
    let status = service.finished_after(1, &procs, |_| true).await;
    assert_eq!(open_regressions(&status), [READER_READS], "{status:#}");
    let why = status["state_write_error"].as_str().unwrap_or_else(|| panic!("no state_write_error: {status:#}"));
    assert!(why.contains("could not save the run state") && why.contains("File too large"), "{why}");
    let (code, body) = service.get("/healthz").await.expect("/healthz answers");
    assert_eq!(code, 503, "{body}");
    assert!(body.starts_with("degraded: could not save the run state"), "{body}");
    let metrics = service.metrics().await;
    assert!(sample(&metrics, "gateprobe_state_write_errors_total") >= 1.0, "{metrics}");
    assert_eq!(sample(&metrics, "gateprobe_state_last_write_successful"), 0.0);
    assert_eq!(std::fs::read(dir.join(STATE)).expect("state"), saved, "the state file was not written");

    // Another run while the disk is still full: the regression stays open, still degraded.
    let before = service.trigger(&procs).await;
    let status = service.finished_after(before, &procs, |_| true).await;
    assert_eq!(open_regressions(&status), [READER_READS], "{status:#}");
    assert_eq!(service.get("/healthz").await.map(|(code, _)| code), Some(503));
    assert!(sample(&service.metrics().await, "gateprobe_state_write_errors_total") >= 2.0);

    // Space is freed: the next run saves what serve held, and it is healthy again.
    set_file_size_limit(serve.child.id(), None);
    let before = service.trigger(&procs).await;
    let status = service.finished_after(before, &procs, |s| s["state_write_error"].is_null()).await;
    assert_eq!(open_regressions(&status), [READER_READS], "{status:#}");
    assert_eq!(service.get("/healthz").await, Some((200, "ok\n".to_string())));
    assert_eq!(sample(&service.metrics().await, "gateprobe_state_last_write_successful"), 1.0);
    let (state, warning) = gateprobe::compare::state::load(&dir.join(STATE));
    assert!(warning.is_none(), "{warning:?}");
    let entry = state.get("documents", READER_READS).expect("the scenario in the saved state");
    assert_eq!(entry.last.outcome, "fail");
    assert!(entry.last_pass().is_some(), "the pass before the update is kept");
    assert!(state.reported.iter().any(|r| r.scenario == READER_READS), "the regression is recorded as reported");
    assert!(!service.pushed_regressions().await.is_empty(), "the alert is still firing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serve_run_in_which_no_scenario_read_a_decision_counts_as_an_error() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    // A gateway that is down: a port that was free a moment ago.
    let down = free_port();
    std::fs::write(
        dir.join("gateprobe.yaml"),
        format!(
            r#"
target: {{ kind: mcp, url: "http://127.0.0.1:{down}/mcp" }}
audit: {{ kind: http, url: "http://127.0.0.1:{down}/audit?correlation_id={{correlation_id}}" }}
run: {{ timeout_ms: 1000 }}
identities:
  alice-reader: {{ subject: alice@example.com, tenant: acme, roles: [reader], credential: none }}
"#
        ),
    )
    .expect("config");
    std::fs::write(dir.join("probe.yaml"), support::READ_AND_DELETE).expect("suite");
    let serve_port = free_port();
    let service = Service {
        client: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap(),
        serve_url: format!("http://127.0.0.1:{serve_port}"),
        am_url: String::new(),
    };
    let serve = Proc::start(
        "serve",
        dir,
        gateprobe(dir)
            .args(["serve", "--config", "gateprobe.yaml", "--suites", "probe.yaml", "--schedule", "off"])
            .args(["--watch-interval", "0s", "--state", STATE, "--listen", &format!("127.0.0.1:{serve_port}")]),
    );

    let status = service.finished_after(0, &[&serve], |_| true).await;
    assert_eq!(status["last_run"]["counts"]["error"], 2, "every scenario is an error: {status:#}");
    assert_eq!(status["last_run"]["result"], "error", "{status:#}");
    let metrics = service.metrics().await;
    let runs = |result: &str| {
        let series = format!("gateprobe_runs_total{{result=\"{result}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(&series)?.parse::<f64>().ok())
    };
    assert_eq!((runs("pass"), runs("fail"), runs("error")), (Some(0.0), Some(0.0), Some(1.0)), "{metrics}");
}

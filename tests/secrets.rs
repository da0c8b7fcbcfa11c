//! Pins: the tokens of the synthetic identities never appear in any output of the built binary.
//!
//! A reference gateway runs in this process on 127.0.0.1 (behind the fault proxy, which forwards
//! faithfully until told otherwise); tokens it signed reach gateprobe through every credential
//! source the config allows (file, environment variable, command), for good, revoked, tampered
//! and expired identities and for the audit reader. Then every command of the built binary runs
//! against it over HTTP: `lint`, `run` with all four reports, the console, GitHub annotations and
//! step summary, both log formats up to `trace`, `--state`, `--snapshots`, `snapshot review` and
//! `accept`, `coverage`, runs whose scenarios fail and runs that read no decision, and `serve`
//! for two runs with `/metrics` and `/status` scraped. No token, nor its JWT payload or
//! signature segment alone, nor the start of it a truncated quote would keep, may appear in any
//! stdout, stderr, log, report, snapshot, state file, metric or status text. Each run's own result is asserted too, so the scan cannot pass on
//! output that never saw a token.
//!
//! Then the same against a gateway that echoes the caller's token back (in JSON-RPC error
//! messages and reasons, the policy version header and the audit records, as gateways that log
//! or quote request headers do): gateprobe shows `[REDACTED]` where the token was, and nothing of
//! it anywhere.
//!
//! Every wait is bounded; every child is killed when the test ends, however it ends.

mod support;

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::fault_proxy::{Fault, FaultProxy};
use support::process::wait_for_run;

const BIN: &str = env!("CARGO_BIN_EXE_gateprobe");
/// Longest any one command may take; a run here takes well under a second.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
const TRIGGER_TOKEN: &str = "secrets-test-trigger-token-5c1d8e";

/// The values that must never be printed, each with a name to report it by.
#[derive(Default)]
struct Needles(Vec<(String, String)>);

impl Needles {
    /// A token, and for a JWT its payload and signature segments: each is unique to the token
    /// (the payload carries a fresh `jti`), so any one of them printed is a leak. The header
    /// segment is the same for every HS256 token and says nothing.
    fn add_token(&mut self, name: &str, token: &str) {
        self.0.push((format!("{name} token"), token.to_string()));
        // What a quote cut at 120 characters would keep of a token at its start.
        if token.len() > 120 {
            self.0.push((format!("{name} token's first 80 characters"), token[..80].to_string()));
        }
        let parts: Vec<&str> = token.split('.').collect();
        if let [_, payload, signature] = parts[..] {
            self.0.push((format!("{name} token payload"), payload.to_string()));
            self.0.push((format!("{name} token signature"), signature.to_string()));
        }
    }

    fn add(&mut self, name: &str, value: &str) {
        self.0.push((name.to_string(), value.to_string()));
    }

    /// Names of the needles found in `text`.
    fn found_in(&self, text: &str) -> Vec<&str> {
        self.0.iter().filter(|(_, v)| text.contains(v.as_str())).map(|(n, _)| n.as_str()).collect()
    }
}

/// Everything the binary printed or served, by where it came from.
#[derive(Default)]
struct Outputs(Vec<(String, String)>);

impl Outputs {
    fn add(&mut self, label: impl Into<String>, text: impl Into<String>) {
        self.0.push((label.into(), text.into()));
    }

    /// Every file under `dir` but the credential files the test wrote on purpose.
    fn add_files(&mut self, dir: &Path, skip: &[PathBuf]) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                self.add_files(&path, skip);
            } else if !skip.contains(&path) {
                let bytes = std::fs::read(&path).expect("read output file");
                self.add(format!("file {}", path.display()), String::from_utf8_lossy(&bytes));
            }
        }
    }

    fn leaks(&self, needles: &Needles) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|(label, text)| needles.found_in(text).into_iter().map(move |n| format!("{n} in {label}")))
            .collect()
    }

    fn total_bytes(&self) -> usize {
        self.0.iter().map(|(_, t)| t.len()).sum()
    }
}

/// What one command of the binary left behind.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    fn both(&self) -> String {
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", self.stdout, self.stderr)
    }
}

/// Runs the built binary in `dir` with only the environment it is given (so no GATEPROBE_* or
/// GITHUB_* of the developer's shell changes what it does).
struct Binary {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Binary {
    fn command(&self, extra_env: &[(&str, &str)], args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(BIN);
        c.current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra_env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// Runs to completion within [`COMMAND_LIMIT`] and records stdout and stderr in `outputs`.
    async fn run(&self, outputs: &mut Outputs, label: &str, extra_env: &[(&str, &str)], args: &[&str]) -> Ran {
        let child = self
            .command(extra_env, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gateprobe starts");
        // On timeout the future, and with it the child, is dropped: kill_on_drop kills it.
        let out = tokio::time::timeout(COMMAND_LIMIT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("`gateprobe {}` did not finish within {COMMAND_LIMIT:?}", args.join(" ")))
            .expect("gateprobe output");
        let ran = Ran {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        outputs.add(format!("stdout of {label}"), ran.stdout.clone());
        outputs.add(format!("stderr of {label}"), ran.stderr.clone());
        ran
    }
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).expect("write test file");
    path.to_path_buf()
}

/// The identities of the suite below, every credential source but `invalid` (which only the
/// embedded target mints), and an audit reader with a token of its own.
fn config(target_base: &str, dir: &Path) -> String {
    let f = |name: &str| dir.join(format!("{name}.token")).display().to_string();
    format!(
        r#"
target: {{ kind: mcp, url: "{target_base}/mcp", policy_version: {{ header: x-policy-version }} }}
audit:
  kind: http
  url: "{target_base}/audit?correlation_id={{correlation_id}}"
  credential: {{ env: GP_TEST_AUDIT_TOKEN }}
  timing: {{ initial_poll_ms: 10, deadline_ms: 2000 }}
run: {{ concurrency: 4, timeout_ms: 3000 }}
suites: [scenarios]
identities:
  alice-reader: {{ subject: alice@example.com, tenant: acme, roles: [reader], credential: {{ file: "{alice}" }} }}
  bob-admin: {{ subject: bob@example.com, tenant: acme, roles: [admin], credential: {{ env: GP_TEST_BOB_TOKEN }} }}
  carol-support:
    {{ subject: carol@example.com, tenant: acme, roles: [support], credential: {{ command: [cat, "{carol}"] }} }}
  mallory-revoked:
    {{ subject: mallory@example.com, tenant: acme, roles: [reader], credential: {{ file: "{mallory}" }} }}
  alice-tampered:
    {{ subject: alice@example.com, tenant: acme, roles: [reader], credential: {{ file: "{tampered}" }} }}
  alice-expired:
    {{ subject: alice@example.com, tenant: acme, roles: [reader], credential: {{ env: GP_TEST_EXPIRED_TOKEN }} }}
  anonymous: {{ subject: anonymous@example.com, tenant: acme, credential: none }}
"#,
        alice = f("alice"),
        carol = f("carol"),
        mallory = f("mallory"),
        tampered = f("tampered"),
    )
}

/// Nine scenarios that pass (every identity, allow and deny, every refusal of a bad credential)
/// and three that fail, one of them on a revoked and one on a tampered token, so that failure
/// messages quoting the gateway's refusal are printed too.
const SUITE: &str = r#"
suite: secrets
description: every credential source and every refusal path
defaults: { identity: alice-reader }
scenarios:
  - name: reader can read
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow, evidence: [identity, tenant, decision, rationale] }
  - name: reader cannot delete
    call: { tool: files.delete, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: missing_capability }
  - name: admin can read
    identity: bob-admin
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
  - name: support can mail a customer
    identity: carol-support
    call: { tool: email.send, arguments: { to: someone@example.org, subject: your ticket } }
    expect: { decision: allow }
  - name: planted canary is redacted
    identity: carol-support
    call: { tool: tickets.create, arguments: { title: printer, api_key: "{{canary}}" } }
    expect: { decision: allow, redacted: [canary] }
  - name: revoked subject is refused
    identity: mallory-revoked
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: revoked }
  - name: tampered token is unauthenticated
    identity: alice-tampered
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: unauthenticated }
  - name: expired token is unauthenticated
    identity: alice-expired
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: unauthenticated }
  - name: no token is unauthenticated
    identity: anonymous
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: unauthenticated }
  - name: reader wrongly expected to delete
    call: { tool: files.delete, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
  - name: revoked subject wrongly expected to read
    identity: mallory-revoked
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
  - name: tampered token wrongly expected to read
    identity: alice-tampered
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow }
"#;
const SCENARIOS: u64 = 12;

fn json_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// `counts` of a JSON report, as (pass, fail, error).
fn counts(report: &Value) -> (u64, u64, u64) {
    let c = &report["counts"];
    (c["pass"].as_u64().unwrap_or(99), c["fail"].as_u64().unwrap_or(99), c["error"].as_u64().unwrap_or(99))
}

/// `gateprobe serve`, killed on drop; its stderr goes to a log file.
struct Serve {
    child: tokio::process::Child,
    log: PathBuf,
}

impl Serve {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The address serve says it listens on (it binds port 0, so no port can be taken meanwhile).
    async fn address(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            let found = log.lines().find_map(|l| {
                let at = l.find("127.0.0.1:")?;
                let rest = &l[at..];
                let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':')).unwrap_or(rest.len());
                Some(rest[..end].to_string()).filter(|_| l.contains("listening"))
            });
            if let Some(addr) = found {
                return addr;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("serve exited with {status} before listening\n{log}");
            }
            assert!(Instant::now() < deadline, "serve did not say where it listens within 20 s\n{log}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// `gateprobe run` verbose, with every report format under `out/`, then `compare`.
fn run_with_every_report<'a>(compare: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--verbose", "--color", "never"];
    args.extend(["--report", "json=out/run.json", "--report", "junit=out/junit.xml"]);
    args.extend(["--report", "markdown=out/summary.md", "--report", "html=out/report.html"]);
    args.extend(compare);
    args
}

async fn get_text(client: &reqwest::Client, url: &str) -> String {
    let r = client.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    r.text().await.expect("body")
}

/// A reference gateway in this process, tokens it signed in credential files and variables, and
/// the suite: what both tests share.
struct Fixture {
    tmp: tempfile::TempDir,
    gateway: gateprobe_gateway::RunningGateway,
    needles: Needles,
    credential_files: Vec<PathBuf>,
    bin: Binary,
}

impl Fixture {
    async fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        let gateway = support::start_gateway().await;

        // Tokens signed by the gateway, so that they are really verified (the allow scenarios
        // pass only if they were sent and accepted).
        let ttl = Duration::from_secs(600);
        let reader = vec!["reader".to_string()];
        let alice = gateway.mint_token("alice@example.com", "acme", &reader, ttl);
        let bob = gateway.mint_token("bob@example.com", "acme", &["admin".into()], ttl);
        let carol = gateway.mint_token("carol@example.com", "acme", &["support".into()], ttl);
        let mallory = gateway.mint_token("mallory@example.com", "acme", &reader, ttl);
        let tampered = gateway.mint_tampered_token("alice@example.com", "acme", &reader);
        let expired = gateway.mint_expired_token("alice@example.com", "acme", &reader);
        let audit_reader = gateway.mint_token("auditor@example.com", "acme", &["auditor".into()], ttl);
        let mut needles = Needles::default();
        let mut credential_files = Vec::new();
        for (name, token) in [("alice", &alice), ("carol", &carol), ("mallory", &mallory), ("tampered", &tampered)] {
            // A trailing newline, as `gateway token > file` leaves it.
            credential_files.push(write(&dir.join(format!("{name}.token")), &format!("{token}\n")));
            needles.add_token(name, token);
        }
        needles.add_token("bob", &bob);
        needles.add_token("expired", &expired);
        needles.add_token("audit reader", &audit_reader);
        needles.add("trigger token", TRIGGER_TOKEN);

        // The scanner finds what it looks for: each credential file holds its token, whole and
        // in parts.
        for (name, file) in ["alice", "carol", "mallory", "tampered"].iter().zip(&credential_files) {
            let text = std::fs::read_to_string(file).unwrap();
            let found = needles.found_in(&text);
            for part in ["token", "token payload", "token signature", "token's first 80 characters"] {
                assert!(found.contains(&format!("{name} {part}").as_str()), "{}: {found:?}", file.display());
            }
        }

        std::fs::create_dir_all(dir.join("scenarios")).unwrap();
        write(&dir.join("scenarios/secrets.yaml"), SUITE);
        std::fs::create_dir_all(dir.join("out")).unwrap();
        let bin = Binary {
            dir: dir.to_path_buf(),
            env: vec![
                ("GP_TEST_BOB_TOKEN".into(), bob),
                ("GP_TEST_EXPIRED_TOKEN".into(), expired),
                ("GP_TEST_AUDIT_TOKEN".into(), audit_reader),
            ],
        };
        Fixture { tmp, gateway, needles, credential_files, bin }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes `name` (e.g. `gateprobe.yaml`): the config for a gateway at `base`.
    fn config(&self, name: &str, base: &str) {
        write(&self.dir().join(name), &config(base, self.dir()));
    }

    /// Every file under the workspace but the credential files, then the scan.
    fn assert_no_leak(&self, out: &mut Outputs) {
        out.add_files(self.dir(), &self.credential_files);
        let leaks = out.leaks(&self.needles);
        assert!(leaks.is_empty(), "token values printed:\n{}", leaks.join("\n"));
    }
}

/// Starts `gateprobe serve` (JSON logs at debug level, trigger on) and waits until it listens.
async fn start_serve(f: &Fixture, log: &str) -> (Serve, String) {
    let log = f.dir().join(log);
    let mut args = vec!["--log-format", "json", "serve", "--schedule", "off", "--listen", "127.0.0.1:0"];
    args.extend(["--watch-interval", "200ms", "--state", "state/state.json", "--snapshots", "snaps"]);
    let mut serve = Serve {
        child: f
            .bin
            .command(&[("GATEPROBE_TRIGGER_TOKEN", TRIGGER_TOKEN), ("GATEPROBE_LOG", "debug")], &args)
            .stdout(std::fs::File::create(log.with_extension("stdout")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("serve starts"),
        log,
    };
    let base = format!("http://{}", serve.address().await);
    (serve, base)
}

/// SIGTERM, so that the shutdown lines are in the log too; serve must stop cleanly.
async fn stop_serve(serve: &mut Serve) {
    let pid = serve.child.id().expect("serve pid").to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let stopped = tokio::time::timeout(Duration::from_secs(20), serve.child.wait()).await;
    assert!(matches!(stopped, Ok(Ok(s)) if s.success()), "serve did not stop cleanly: {stopped:?}\n{}", serve.log());
    assert!(serve.log().contains("run finished"), "{}", serve.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_appear_in_any_output() {
    let started = Instant::now();
    let f = Fixture::new().await;
    let (dir, bin) = (f.dir(), &f.bin);
    let proxy = FaultProxy::start(&f.gateway.base_url()).await;
    f.config("gateprobe.yaml", &proxy.url());
    // A gateway that is down: a port that was free a moment ago.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    f.config("down.yaml", &format!("http://{down}"));

    let mut out = Outputs::default();
    let compare = ["--state", "state/state.json", "--snapshots", "snaps"];

    // lint
    let ran = bin.run(&mut out, "lint", &[], &["lint"]).await;
    assert_eq!(ran.code(), Some(0), "{}", ran.both());
    assert!(ran.stdout.contains(&format!("1 suites, {SCENARIOS} scenarios")), "{}", ran.both());

    // run: every report, the console with every scenario, GitHub annotations and step summary,
    // human logs at debug level. Three scenarios fail: exit 1.
    let summary = dir.join("out/step-summary.md");
    let summary_env = summary.display().to_string();
    let github =
        [("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary_env.as_str()), ("GATEPROBE_LOG", "debug")];
    let args = run_with_every_report(&compare);
    let ran = bin.run(&mut out, "run (human log)", &github, &args).await;
    assert_eq!(ran.code(), Some(1), "{}", ran.both());
    let report = json_file(&dir.join("out/run.json"));
    assert_eq!(report["results"].as_array().map(Vec::len), Some(SCENARIOS as usize), "{report:#}");
    assert_eq!(counts(&report), (9, 3, 0), "{report:#}");
    assert!(ran.stdout.contains("::error file="), "no annotations:\n{}", ran.both());
    assert!(summary.exists() && dir.join("state/state.json").exists());
    for (file, text) in [("out/junit.xml", "tampered token wrongly expected"), ("out/summary.md", "revoked subject")] {
        let body = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(body.contains(text), "{file} lacks `{text}`:\n{body}");
    }

    // snapshot review shows the drift (every scenario is new); accept writes it.
    let ran = bin.run(&mut out, "snapshot review", &[], &[&["snapshot", "review"][..], &compare].concat()).await;
    assert_eq!(ran.code(), Some(0), "{}", ran.both());
    assert!(ran.stdout.contains("reader wrongly expected to delete"), "{}", ran.both());
    let ran = bin.run(&mut out, "snapshot accept", &[], &[&["snapshot", "accept"][..], &compare].concat()).await;
    assert_eq!(ran.code(), Some(0), "{}", ran.both());
    assert!(dir.join("snaps/secrets.yaml").exists(), "{}", ran.both());

    // The CI gate with JSON logs at trace level (every HTTP exchange logged): the failures are
    // accepted, so it passes.
    let mut args = vec!["--log-format", "json", "run", "--ci", "--report", "json=out/ci.json"];
    args.extend(compare);
    let ran = bin.run(&mut out, "run --ci (json log, trace)", &[("GATEPROBE_LOG", "trace")], &args).await;
    assert_eq!(ran.code(), Some(0), "{}", ran.both());
    assert_eq!(counts(&json_file(&dir.join("out/ci.json"))), (9, 3, 0));
    assert!(ran.stderr.lines().count() > 50, "trace logging is not on:\n{}", ran.both());

    // No decision can be read (the proxy answers every call with an unmapped JSON-RPC error):
    // every scenario is `error`, exit 3, and the error path prints.
    proxy.set(Fault::NoDecision);
    let mut args = vec!["run", "--verbose", "--report", "json=out/error.json", "--report", "html=out/error.html"];
    args.extend(["--report", "junit=out/error.xml", "--report", "markdown=out/error.md"]);
    args.extend(compare);
    let ran = bin.run(&mut out, "run (no decision)", &[("GATEPROBE_LOG", "debug")], &args).await;
    proxy.set(Fault::None);
    assert_eq!(ran.code(), Some(3), "{}", ran.both());
    assert_eq!(counts(&json_file(&dir.join("out/error.json"))), (0, 0, SCENARIOS), "{}", ran.both());

    // The gateway is down.
    let mut args = vec!["--log-format", "json", "run", "--config", "down.yaml", "--report", "json=out/down.json"];
    args.extend(compare);
    let ran = bin.run(&mut out, "run (gateway down)", &[], &args).await;
    assert_eq!(ran.code(), Some(3), "{}", ran.both());
    assert_eq!(counts(&json_file(&dir.join("out/down.json"))), (0, 0, SCENARIOS), "{}", ran.both());

    // coverage (lists the tools over MCP with a token).
    let ran = bin.run(&mut out, "coverage", &[], &["coverage", "--color", "never"]).await;
    assert_eq!(ran.code(), Some(0), "{}", ran.both());
    assert!(ran.stdout.contains("listed by the gateway"), "{}", ran.both());

    // serve: a passing-and-failing run at start, then a triggered run that reads no decision.
    let (mut serve, base) = start_serve(&f, "out/serve.log").await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let status = wait_for_run(&client, &base, 1, Duration::from_secs(30), || serve.log()).await;
    assert_eq!(status["scenarios"].as_array().map(Vec::len), Some(SCENARIOS as usize), "{status:#}");
    assert_eq!(status["last_run"]["counts"]["fail"], 3, "{status:#}");
    out.add("GET /status after run 1", status.to_string());
    let metrics = get_text(&client, &format!("{base}/metrics")).await;
    assert!(metrics.contains(r#"suite="secrets""#), "{metrics}");
    out.add("GET /metrics after run 1", metrics);
    out.add("GET /healthz", get_text(&client, &format!("{base}/healthz")).await);

    proxy.set(Fault::NoDecision);
    let refused = client.post(format!("{base}/trigger")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let trigger = client.post(format!("{base}/trigger")).bearer_auth(TRIGGER_TOKEN).send().await.unwrap();
    assert_eq!(trigger.status(), 202);
    let status = wait_for_run(&client, &base, 2, Duration::from_secs(30), || serve.log()).await;
    proxy.set(Fault::None);
    assert_eq!(status["last_run"]["counts"]["error"], SCENARIOS, "{status:#}");
    out.add("GET /status after run 2", status.to_string());
    let metrics = get_text(&client, &format!("{base}/metrics")).await;
    assert!(metrics.contains("gateprobe_target_up"), "{metrics}");
    out.add("GET /metrics after run 2", metrics);

    stop_serve(&mut serve).await;

    // Every stdout and stderr above, every file the binary wrote (reports, step summary, state,
    // snapshots, serve's log), and what serve answered.
    f.assert_no_leak(&mut out);
    eprintln!(
        "scanned {} outputs ({} bytes) for {} needles in {:?}",
        out.0.len(),
        out.total_bytes(),
        f.needles.0.len(),
        started.elapsed()
    );
    drop(serve);
    f.gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_a_gateway_echoes_are_redacted() {
    let f = Fixture::new().await;
    let (dir, bin) = (f.dir(), &f.bin);
    // The real gateway behind a proxy that echoes the caller's credential.
    let proxy = FaultProxy::start(&f.gateway.base_url()).await;
    proxy.set(Fault::EchoCredentials);
    f.config("gateprobe.yaml", &proxy.url());
    let mut out = Outputs::default();
    let compare = ["--state", "state/state.json", "--snapshots", "snaps"];

    let summary = dir.join("out/step-summary.md");
    let summary_env = summary.display().to_string();
    let github = [("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary_env.as_str())];
    let args = run_with_every_report(&compare);
    let ran = bin.run(&mut out, "run against the echoing gateway", &github, &args).await;
    assert_eq!(ran.code(), Some(1), "{}", ran.both());
    let report = json_file(&dir.join("out/run.json"));
    assert_eq!(report["results"].as_array().map(Vec::len), Some(SCENARIOS as usize), "{report:#}");
    // The two calls of files.delete read no decision; the echo reached gateprobe and was redacted.
    assert_eq!(counts(&report).2, 2, "{report:#}");
    assert!(ran.stdout.contains("[REDACTED]"), "the echoed token is not shown redacted:\n{}", ran.both());
    let html = std::fs::read_to_string(dir.join("out/report.html")).unwrap();
    assert!(html.contains("authorization"), "the audit record with the echoed header is not in the HTML report");

    for command in ["review", "accept"] {
        let ran = bin
            .run(&mut out, &format!("snapshot {command}"), &[], &[&["snapshot", command][..], &compare].concat())
            .await;
        assert_eq!(ran.code(), Some(0), "{}", ran.both());
    }
    let ran = bin.run(&mut out, "coverage", &[], &["coverage", "--color", "never"]).await;
    assert_eq!(ran.code(), Some(3), "{}", ran.both());

    let (mut serve, base) = start_serve(&f, "out/serve.log").await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let status = wait_for_run(&client, &base, 1, Duration::from_secs(30), || serve.log()).await;
    assert_eq!(status["last_run"]["counts"]["error"], 2, "{status:#}");
    out.add("GET /status", status.to_string());
    out.add("GET /metrics", get_text(&client, &format!("{base}/metrics")).await);
    stop_serve(&mut serve).await;

    f.assert_no_leak(&mut out);
    drop(serve);
    drop(proxy);
    f.gateway.shutdown().await;
}

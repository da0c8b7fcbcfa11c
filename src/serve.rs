//! SERVE: `gateprobe serve`, the long-lived service.
//!
//! Runs the suites on a cron schedule, on `POST /trigger` (bearer token) and as soon as the
//! gateway's policy version changes (polled), against one connected [`Target`] kept across runs.
//! Runs never overlap: a trigger during a run queues at most one more. Serves `/metrics`,
//! `/healthz` and `/status` (blackbox style: the last run, its outcomes, open regressions and a
//! short history that keeps failures). The run state is read once and then held: each run is
//! compared with the state of the one before, and a state that cannot be saved costs no alarm
//! (`/healthz` says so until a save succeeds). SIGTERM/SIGINT let the current run finish (up to
//! [`SHUTDOWN_GRACE`]) then stop; SIGHUP reloads suites and config, keeping the last good ones
//! when the new ones are invalid.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::alert::{Alertmanager, Incidents, push_all};
use crate::metrics::Metrics;
use gateprobe::RunSummary;
use gateprobe::Secret;
use gateprobe::Target;
use gateprobe::compare::{Comparison, Regression};
use gateprobe::config::{PolicyVersionSource, TargetConfig};
use gateprobe::outcome::{Exit, Outcome};
use gateprobe::plan::Filter;
use gateprobe::{LoadOptions, Loaded};

/// How long a stop signal waits for the current run before abandoning it.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Runs kept in `/status`: the most recent ones, and separately the most recent failures.
const HISTORY: usize = 10;

/// Everything `gateprobe serve` is told on its command line.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub load: LoadOptions,
    /// When to run; `None` runs only at start, on trigger and on policy change.
    pub schedule: Option<cron::Schedule>,
    /// Random delay added to each scheduled run.
    pub jitter: Duration,
    pub listen: SocketAddr,
    /// The token `POST /trigger` requires; `None` turns the endpoint off.
    pub trigger_token: Option<Secret>,
    /// Policy version poll interval; zero turns the watch off.
    pub watch_interval: Duration,
    /// Overrides the config's `alerting` URLs when not empty: every Alertmanager (every node of
    /// a cluster) regressions are pushed to.
    pub alertmanager_urls: Vec<String>,
    /// Snapshots and the persisted run state: regressions survive a restart.
    pub compare: gateprobe::compare::CompareOptions,
    /// `--shard`: the part of the scenarios this instance runs.
    pub shard: Option<gateprobe::plan::Shard>,
    /// `--label`: instance labels over the config's `labels`.
    pub labels: BTreeMap<String, String>,
}

/// Loads suites and config, the `--label` flags over the config's instance labels, and makes the
/// clients of the Alertmanagers to push to (the `--alertmanager-url` flags over the config's),
/// once: unusable `alerting.tls` files are bad input, said at start (or reload), not at the
/// first regression's push.
fn load(options: &ServeOptions) -> Result<(Loaded, Vec<Alertmanager>), gateprobe::RunError> {
    let mut loaded = gateprobe::load(&options.load)?;
    loaded.config.labels.extend(options.labels.clone());
    let urls = if options.alertmanager_urls.is_empty() {
        loaded.config.alerting.urls()
    } else {
        options.alertmanager_urls.clone()
    };
    let client = crate::alert::client(loaded.config.alerting.tls.as_ref())?;
    let alertmanagers = urls.iter().map(|url| Alertmanager::with_client(url, client.clone())).collect();
    Ok((loaded, alertmanagers))
}

/// What a good load (at start, or on SIGHUP) sets: the series its suites call for (which of a
/// scenario's own, `metrics.per_scenario` says, so it goes first), and the instance labels of
/// the info series and of the alerts pushed from now on.
fn apply_load(metrics: &Metrics, incidents: &mut Incidents, loaded: &Loaded) {
    metrics.set_per_scenario(loaded.config.metrics.per_scenario);
    metrics.set_suites(&loaded.suites, &loaded.config.assistants);
    metrics.set_instance(&loaded.config.labels);
    incidents.set_instance_labels(loaded.config.labels.clone());
    metrics.record_load(true, SystemTime::now());
}

/// Why `serve` could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "invalid --schedule `{0}`: {1}; the format is `sec min hour day-of-month month day-of-week [year]`, e.g. `0 */5 * * * *` for every five minutes"
    )]
    Schedule(String, String),
    #[error("could not read the trigger token file {0}: {1}")]
    TokenFile(PathBuf, std::io::Error),
    #[error(transparent)]
    Load(#[from] gateprobe::RunError),
    #[error("could not listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("could not install signal handlers: {0}")]
    Signals(std::io::Error),
}

impl ServeError {
    pub fn exit_code(&self) -> Exit {
        match self {
            ServeError::Load(e) => e.exit_code(),
            ServeError::Listen(..) | ServeError::Signals(_) => Exit::NoDecision,
            _ => Exit::InvalidInput,
        }
    }
}

/// Parses `--schedule`: the `cron` crate's format, with a leading seconds field; `off` for none.
pub fn parse_schedule(text: &str) -> Result<Option<cron::Schedule>, ServeError> {
    if text.trim().eq_ignore_ascii_case("off") || text.trim().is_empty() {
        return Ok(None);
    }
    let schedule =
        cron::Schedule::from_str(text).map_err(|e| ServeError::Schedule(text.to_string(), one_line(&e, text)))?;
    // A valid expression that never fires (`0 0 0 31 2 *`) would leave the service silent.
    if schedule.upcoming(chrono::Utc).next().is_none() {
        return Err(ServeError::Schedule(text.to_string(), "it never fires".into()));
    }
    Ok(Some(schedule))
}

/// The cron crate's errors repeat the expression and put a caret under it on lines of their
/// own; keep the explanation only.
fn one_line(e: &cron::error::Error, text: &str) -> String {
    let message = e.to_string();
    message
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && *l != "^" && *l != text.trim())
        .unwrap_or("not a cron expression")
        .to_string()
}

/// The trigger token: `GATEPROBE_TRIGGER_TOKEN`, else the first line of the file.
pub fn trigger_token(file: Option<&std::path::Path>) -> Result<Option<Secret>, ServeError> {
    if let Some(t) = std::env::var("GATEPROBE_TRIGGER_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
        return Ok(Some(Secret::new(t.trim().to_string())));
    }
    let Some(file) = file else { return Ok(None) };
    let text = std::fs::read_to_string(file).map_err(|e| ServeError::TokenFile(file.to_path_buf(), e))?;
    Ok(Some(Secret::new(text.lines().next().unwrap_or_default().trim().to_string())).filter(|s| !s.expose().is_empty()))
}

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Startup,
    Schedule,
    Trigger,
    PolicyChange,
}

/// One run as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: u64,
    pub reason: Reason,
    pub started_at: String,
    pub duration_ms: u64,
    /// As `gateprobe_runs_total{result}`: `pass`, `fail`, or `error` (the run could not start, or
    /// no scenario read a decision); see [`crate::metrics::run_result`].
    pub result: &'static str,
    pub counts: BTreeMap<Outcome, usize>,
    pub policy_versions: Vec<String>,
    /// Why the run could not start.
    pub error: Option<String>,
    /// `suite / scenario: outcome: message` of every scenario that did not pass.
    pub not_passing: Vec<String>,
}

/// A short history of runs that keeps failures (blackbox_exporter's `ResultHistory`).
#[derive(Debug, Default)]
struct History {
    recent: VecDeque<RunRecord>,
    failures: VecDeque<RunRecord>,
}

impl History {
    fn push(&mut self, record: RunRecord) {
        if record.result != "pass" {
            self.failures.push_back(record.clone());
            if self.failures.len() > HISTORY {
                self.failures.pop_front();
            }
        }
        self.recent.push_back(record);
        if self.recent.len() > HISTORY {
            self.recent.pop_front();
        }
    }

    /// Newest first, each run once.
    fn list(&self) -> Vec<RunRecord> {
        let mut all: BTreeMap<u64, &RunRecord> = BTreeMap::new();
        for r in self.recent.iter().chain(&self.failures) {
            all.insert(r.id, r);
        }
        all.into_values().rev().cloned().collect()
    }
}

/// The result of one scenario in the last run, for `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioStatus {
    pub suite: String,
    pub scenario: String,
    pub outcome: Outcome,
    pub expected: gateprobe::decision::Decision,
    pub observed: Option<gateprobe::decision::Decision>,
    pub message: Option<String>,
}

/// What `/status` answers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub target: Option<String>,
    pub running: bool,
    pub policy_version: Option<String>,
    pub last_run: Option<RunRecord>,
    pub scenarios: Vec<ScenarioStatus>,
    pub open_regressions: Vec<Regression>,
    pub history: Vec<RunRecord>,
    pub last_reload_ok: bool,
    pub last_reload_error: Option<String>,
    /// Why the last run's state could not be saved; `None` once a save succeeds. While set,
    /// regressions are still detected and pushed (from the state held in memory) but the state
    /// file is older than what serve knows, and `/healthz` answers 503.
    pub state_write_error: Option<String>,
}

/// What the HTTP handlers, the scheduler and the watch share with the runner.
struct Shared {
    metrics: Metrics,
    status: Mutex<Status>,
    triggers: mpsc::Sender<Reason>,
    token: Option<Secret>,
    /// When the watch saw the policy version change and no run has checked it yet.
    pending_change: Mutex<Option<Instant>>,
    /// Where and how the watch polls the version (changes on reload).
    watch_target: Mutex<Vec<VersionProbe>>,
}

impl Shared {
    /// Queues a run; a run already queued absorbs this one.
    fn trigger(&self, reason: Reason) -> bool {
        match self.triggers.try_send(reason) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => false,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A cheap request that reads the gateway's policy version. With named targets, one per target
/// that puts its version in a header; a change on any of them starts a run.
#[derive(Debug, Clone)]
struct VersionProbe {
    url: String,
    /// `true`: POST a JSON-RPC `ping` (MCP); else GET.
    mcp_ping: bool,
    header: String,
    /// The version is logged and compared; a gateway may put the caller's token in it.
    scrubber: Arc<gateprobe::Scrubber>,
    /// The target's client: its `tls` (private CA, client certificate) applies to the probe too.
    client: reqwest::Client,
}

impl VersionProbe {
    fn for_target(target: &Target, config: &gateprobe::config::Config) -> Vec<VersionProbe> {
        let mut probes = Vec::new();
        for (name, settings) in config.all_targets() {
            let Some(client) = target.client(name) else { continue };
            let probe = |url: String, mcp_ping: bool, header: String| VersionProbe {
                url,
                mcp_ping,
                header,
                scrubber: target.scrubber.clone(),
                client: client.clone(),
            };
            probes.extend(match settings {
                TargetConfig::Embedded(_) => target.embedded().map(|g| {
                    let url = format!("{}/version", g.base_url().trim_end_matches('/'));
                    probe(url, false, "x-policy-version".into())
                }),
                TargetConfig::Mcp(m) => match &m.policy_version {
                    PolicyVersionSource::Header(h) => Some(probe(m.url.clone(), true, h.clone())),
                    _ => None,
                },
                TargetConfig::Http(h) => match &h.policy_version {
                    PolicyVersionSource::Header(name) => Some(probe(h.url.clone(), false, name.clone())),
                    _ => None,
                },
            });
        }
        probes
    }

    async fn poll(&self, timeout: Duration) -> Option<String> {
        let request = if self.mcp_ping {
            self.client
                .post(&self.url)
                .header(header::ACCEPT, "application/json, text/event-stream")
                .json(&serde_json::json!({"jsonrpc": "2.0", "id": "gateprobe-watch", "method": "ping"}))
        } else {
            self.client.get(&self.url)
        };
        let response = request.timeout(timeout).header(gateprobe::SYNTHETIC_HEADER, "1").send().await.ok()?;
        response.headers().get(&self.header)?.to_str().ok().map(|v| self.scrubber.scrub(v).into_owned())
    }
}

/// Runs the service until SIGTERM or SIGINT.
pub async fn serve(options: ServeOptions) -> Result<(), ServeError> {
    let (loaded, alertmanagers) = load(&options)?;
    let listener =
        tokio::net::TcpListener::bind(options.listen).await.map_err(|e| ServeError::Listen(options.listen, e))?;
    let local = listener.local_addr().map_err(|e| ServeError::Listen(options.listen, e))?;
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;
    let sighup = signal(SignalKind::hangup()).map_err(ServeError::Signals)?;

    let (tx, rx) = mpsc::channel(1);
    let shared = Arc::new(Shared {
        metrics: Metrics::new(),
        status: Mutex::new(Status { version: env!("CARGO_PKG_VERSION"), last_reload_ok: true, ..Default::default() }),
        triggers: tx,
        token: options.trigger_token.clone(),
        pending_change: Mutex::new(None),
        watch_target: Mutex::new(Vec::new()),
    });
    let mut incidents = Incidents::default();
    apply_load(&shared.metrics, &mut incidents, &loaded);
    let (stop_tx, stop_rx) = watch::channel(false);

    let app = Router::new()
        .route("/metrics", get(metrics_handler).layer(tower_http::compression::CompressionLayer::new()))
        .route("/healthz", get(healthz_handler))
        .route("/status", get(status_handler))
        .route("/trigger", post(trigger_handler))
        .with_state(shared.clone());
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = http_stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            warn!(error = %e, "HTTP server stopped");
        }
    });
    info!(
        listen = %local,
        schedule = options.schedule.as_ref().map(|s| s.to_string()).unwrap_or_else(|| "off".into()),
        watch_interval = ?options.watch_interval,
        trigger = if shared.token.is_some() { "on" } else { "off (no token)" },
        suites = loaded.suites.len(),
        "gateprobe serve listening"
    );

    let scheduler = options.schedule.clone().map(|s| tokio::spawn(schedule_loop(s, options.jitter, shared.clone())));
    let watcher =
        (!options.watch_interval.is_zero()).then(|| tokio::spawn(watch_loop(options.watch_interval, shared.clone())));

    let runner = Runner {
        shared: shared.clone(),
        options: options.clone(),
        loaded,
        alertmanagers,
        target: None,
        open: BTreeMap::new(),
        state: None,
        incidents,
        next_id: 1,
        listen: local,
    };
    shared.trigger(Reason::Startup);
    let stop = async move {
        tokio::select! {
            _ = sigterm.recv() => info!("SIGTERM: stopping"),
            _ = sigint.recv() => info!("SIGINT: stopping"),
        }
        let _ = stop_tx.send(true);
    };
    let (_, runner) = tokio::join!(stop, runner.run_loop(rx, sighup, stop_rx));
    for task in scheduler.into_iter().chain(watcher) {
        task.abort();
    }
    let _ = server.await;
    runner.finish().await;
    Ok(())
}

async fn metrics_handler(State(shared): State<Arc<Shared>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], shared.metrics.encode()).into_response()
}

async fn status_handler(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.status().clone()).into_response()
}

/// `ok` while serve does its job; 503 with the reason while it runs degraded: the last run's
/// state could not be saved (regressions are still pushed, from the state held in memory, but a
/// restart now would forget what was seen since the last save).
async fn healthz_handler(State(shared): State<Arc<Shared>>) -> Response {
    match shared.status().state_write_error.clone() {
        None => "ok\n".into_response(),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("degraded: {reason}\n")).into_response(),
    }
}

async fn trigger_handler(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(token) = &shared.token else {
        return (StatusCode::FORBIDDEN, "trigger is off: set GATEPROBE_TRIGGER_TOKEN or --trigger-token-file\n")
            .into_response();
    };
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| constant_time_eq(g.trim().as_bytes(), token.expose().as_bytes())) {
        warn!("POST /trigger refused: missing or wrong bearer token");
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "bearer token required\n")
            .into_response();
    }
    let queued = shared.trigger(Reason::Trigger);
    info!(queued, "POST /trigger");
    let body = if queued {
        serde_json::json!({"queued": true})
    } else {
        serde_json::json!({"queued": false, "reason": "a run is already queued; it will include this trigger"})
    };
    (StatusCode::ACCEPTED, axum::Json(body)).into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn schedule_loop(schedule: cron::Schedule, jitter: Duration, shared: Arc<Shared>) {
    loop {
        let Some(next) = schedule.upcoming(chrono::Utc).next() else {
            info!("the schedule has no more runs");
            return;
        };
        let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
        let extra = if jitter.is_zero() { Duration::ZERO } else { jitter.mul_f64(rand::random::<f64>()) };
        tokio::time::sleep(wait + extra).await;
        if !shared.trigger(Reason::Schedule) {
            info!("scheduled run skipped: a run is already queued");
        }
    }
}

async fn watch_loop(interval: Duration, shared: Arc<Shared>) {
    let timeout = interval.max(Duration::from_secs(2));
    // The last version each probe read, by its URL and header.
    let mut last: HashMap<(String, String), String> = HashMap::new();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let probes = shared.watch_target.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for probe in probes {
            let Some(version) = probe.poll(timeout).await else { continue };
            let key = (probe.url.clone(), probe.header.clone());
            if let Some(before) = last.get(&key).filter(|l| **l != version) {
                info!(from = %before, to = %version, url = %probe.url, "policy version changed: running now");
                shared.pending_change.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(Instant::now);
                shared.trigger(Reason::PolicyChange);
            }
            last.insert(key, version);
        }
    }
}

/// Owns everything a run touches; only one exists, so runs never overlap.
struct Runner {
    shared: Arc<Shared>,
    options: ServeOptions,
    loaded: Loaded,
    /// Where regressions are pushed: every node of an Alertmanager cluster (none: no push).
    alertmanagers: Vec<Alertmanager>,
    target: Option<Target>,
    /// Open regressions by (suite, scenario): opened when detected, closed when it passes again.
    open: BTreeMap<(String, String), Regression>,
    /// The run state after the last compared run: read from `--state` by the first run, then
    /// held, so each run is compared with the one before even when it could not be saved.
    state: Option<gateprobe::compare::State>,
    incidents: Incidents,
    next_id: u64,
    listen: SocketAddr,
}

impl Runner {
    async fn run_loop(
        mut self,
        mut triggers: mpsc::Receiver<Reason>,
        mut sighup: tokio::signal::unix::Signal,
        mut stop: watch::Receiver<bool>,
    ) -> Runner {
        enum Event {
            Stop,
            Reload,
            Run(Reason),
        }
        loop {
            let event = tokio::select! {
                _ = stop.wait_for(|s| *s) => Event::Stop,
                _ = sighup.recv() => Event::Reload,
                reason = triggers.recv() => reason.map_or(Event::Stop, Event::Run),
            };
            match event {
                Event::Stop => break,
                Event::Reload => self.reload().await,
                Event::Run(reason) => {
                    let run = self.run_once(reason);
                    tokio::pin!(run);
                    let stopped = tokio::select! {
                        _ = &mut run => false,
                        _ = stop.wait_for(|s| *s) => true,
                    };
                    if stopped {
                        info!(grace = ?SHUTDOWN_GRACE, "stopping: letting the current run finish");
                        if tokio::time::timeout(SHUTDOWN_GRACE, &mut run).await.is_err() {
                            warn!("stopping: the current run was abandoned");
                        }
                        break;
                    }
                }
            }
        }
        self
    }

    /// Stops the target and leaves the last status in the log.
    async fn finish(self) {
        if let Some(t) = self.target {
            t.shutdown().await;
        }
        let status = self.shared.status();
        info!(runs = self.next_id - 1, open_regressions = status.open_regressions.len(), "gateprobe serve stopped");
    }

    async fn connect(&mut self) -> Result<(), String> {
        if self.target.is_none() {
            let target = Target::connect(&self.loaded.config).await.map_err(|e| e.to_string())?;
            let probe = VersionProbe::for_target(&target, &self.loaded.config);
            if probe.is_empty() && !self.options.watch_interval.is_zero() {
                info!("policy version watch off: the target's version is not in a response header");
            }
            *self.shared.watch_target.lock().unwrap_or_else(|e| e.into_inner()) = probe;
            self.shared.status().target = Some(target.description.clone());
            self.target = Some(target);
        }
        Ok(())
    }

    async fn run_once(&mut self, reason: Reason) {
        let id = self.next_id;
        self.next_id += 1;
        let started = Instant::now();
        let started_at = time::OffsetDateTime::now_utc();
        self.shared.status().running = true;
        info!(run = id, ?reason, "run started");
        let result = match (self.connect().await, &self.target) {
            (Ok(()), Some(target)) => gateprobe::run_on(
                target,
                &self.loaded,
                &Filter { shard: self.options.shard, ..Filter::default() },
                &|_| {},
            )
            .await
            .map_err(|e| e.to_string()),
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err("no target".into()),
        };
        let finished = SystemTime::now();
        match result {
            Ok(summary) => self.record(id, reason, started, summary, finished).await,
            Err(error) => {
                warn!(run = id, %error, "run could not start");
                self.shared.metrics.record_run_error(finished);
                let record = RunRecord {
                    id,
                    reason,
                    started_at: rfc3339(started_at),
                    duration_ms: started.elapsed().as_millis() as u64,
                    result: "error",
                    counts: BTreeMap::new(),
                    policy_versions: vec![],
                    error: Some(error),
                    not_passing: vec![],
                };
                let mut status = self.shared.status();
                status.running = false;
                status.last_run = Some(record.clone());
                let mut history = History::from_list(&status.history);
                history.push(record);
                status.history = history.list();
            }
        }
        release_free_memory();
    }

    /// COMPARE and RECORD ([`gateprobe::compare::record`], as `gateprobe run` does) against the state
    /// held from the last run. A state that cannot be saved costs no alarm: the comparison
    /// stands, the new state is held for the next run, and serve is degraded (`/healthz` 503,
    /// `gateprobe_state_last_write_successful 0`) until a save succeeds. Snapshots that cannot
    /// be read lose this run's comparison only; the held state stays as it was.
    fn compare(&mut self, summary: &RunSummary) -> Comparison {
        let options = &self.options.compare;
        let references = match gateprobe::compare::References::load_keeping(options, &mut self.state) {
            Ok(r) => r,
            Err(e) => {
                // The run's results stand; only its comparison with the snapshots and earlier runs is lost.
                warn!(error = %e, "could not compare with the snapshots and the run state");
                return Comparison::default();
            }
        };
        let defined = gateprobe::compare::defined_scenarios(&self.loaded.suites, &self.loaded.config.assistants);
        let compared = gateprobe::compare::record(summary, &defined, options, references);
        if let Some(w) = &compared.state_warning {
            warn!(warning = %w, "run state was not usable; started from an empty one");
        }
        let failure = compared.save_failure();
        self.shared.metrics.record_state_write(failure.is_none());
        let mut status = self.shared.status();
        match &failure {
            Some(f) => {
                warn!(error = %f, "run state not saved: held in memory for the next run; degraded until a save succeeds")
            }
            None if status.state_write_error.is_some() => info!("run state saved again: no longer degraded"),
            None => {}
        }
        status.state_write_error = failure;
        drop(status);
        self.state = Some(compared.state);
        compared.comparison
    }

    async fn record(&mut self, id: u64, reason: Reason, started: Instant, summary: RunSummary, finished: SystemTime) {
        let comparison = self.compare(&summary);
        for r in &comparison.regressions {
            warn!(suite = %r.suite, scenario = %r.scenario, change = %r.change,
                  policy_from = r.policy_from.as_deref().unwrap_or("unknown"),
                  policy_to = r.policy_to.as_deref().unwrap_or("unknown"), "regression");
            self.open.insert((r.suite.clone(), r.scenario.clone()), r.clone());
        }
        // A regression closes when its scenario passes again or no longer exists.
        let now_outcomes: BTreeMap<(&str, &str), Outcome> =
            summary.results.iter().map(|r| ((r.suite.as_str(), r.scenario.as_str()), r.outcome)).collect();
        self.open.retain(|(suite, scenario), _| {
            now_outcomes.get(&(suite.as_str(), scenario.as_str())).is_some_and(|o| !o.is_pass())
        });
        let metrics = &self.shared.metrics;
        metrics.record_run(&summary, Some(&comparison), finished);
        metrics.set_open_regressions(self.open.values());
        if let Some(seen) =
            self.shared.pending_change.lock().unwrap_or_else(|e| e.into_inner()).take_if(|t| *t <= started)
        {
            let detect = seen.elapsed();
            metrics.record_time_to_detect(detect);
            info!(run = id, seconds = detect.as_secs_f64(), "policy change checked");
        }
        self.push_alerts().await;

        let counts = summary.counts();
        let not_passing: Vec<String> = summary
            .results
            .iter()
            .filter(|r| !r.outcome.is_pass())
            .map(|r| {
                let on = crate::report::text::on_target(r);
                format!("{} / {}{on}: {}: {}", r.suite, r.scenario, r.outcome, r.message.as_deref().unwrap_or(""))
            })
            .collect();
        // One line for the run, naming the first few: 10,000 failing scenarios are not 10,000
        // log lines (`/status` and the metrics list them all).
        if !not_passing.is_empty() {
            const NAMED: usize = 5;
            let first: Vec<&str> = not_passing.iter().take(NAMED).map(String::as_str).collect();
            warn!(run = id, count = not_passing.len(), first = %first.join(" | "), "scenarios did not pass");
        }
        info!(
            run = id,
            ?reason,
            passed = counts[&Outcome::Pass],
            total = summary.results.len(),
            duration_ms = summary.duration.as_millis() as u64,
            open_regressions = self.open.len(),
            "run finished"
        );
        let record = RunRecord {
            id,
            reason,
            started_at: summary.started_at.clone(),
            duration_ms: summary.duration.as_millis() as u64,
            result: crate::metrics::run_result(&summary),
            counts,
            policy_versions: summary.policy_versions(),
            error: None,
            not_passing,
        };
        {
            let mut status = self.shared.status();
            status.running = false;
            status.policy_version = summary.policy_versions().into_iter().next().or(status.policy_version.take());
            status.last_run = Some(record.clone());
            status.scenarios = summary
                .results
                .iter()
                .map(|r| ScenarioStatus {
                    suite: r.suite.clone(),
                    scenario: r.scenario.clone(),
                    outcome: r.outcome,
                    expected: r.expected,
                    observed: r.observed,
                    message: r.message.clone(),
                })
                .collect();
            status.open_regressions = self.open.values().cloned().collect();
            let mut history = History::from_list(&status.history);
            history.push(record);
            status.history = history.list();
        }
    }

    async fn push_alerts(&mut self) {
        if self.alertmanagers.is_empty() {
            return;
        }
        let generator = format!("http://{}/status", self.listen);
        let alerts = self.incidents.update(
            self.open.values(),
            time::OffsetDateTime::now_utc(),
            self.alert_validity(),
            Some(&generator),
        );
        if alerts.is_empty() {
            return;
        }
        let results = push_all(&self.alertmanagers, &alerts).await;
        let mut pushed = 0;
        for (i, result) in results.iter().enumerate() {
            match result {
                Ok(()) => pushed += 1,
                Err(e) => {
                    self.shared.metrics.record_alert_push_error();
                    // The node by its place in the list: a URL may hold credentials.
                    warn!(error = %e, alertmanager = i + 1, of = results.len(), "could not push alerts to Alertmanager");
                }
            }
        }
        if pushed > 0 {
            info!(
                alerts = alerts.len(),
                open_incidents = self.incidents.open(),
                alertmanagers = pushed,
                "alerts pushed to Alertmanager"
            );
        }
    }

    /// How long a firing alert stays valid without being re-sent: three scheduled periods, at
    /// least five minutes, so Alertmanager resolves it by itself only if gateprobe stops.
    fn alert_validity(&self) -> Duration {
        let period = self.options.schedule.as_ref().and_then(|s| {
            let mut it = s.upcoming(chrono::Utc);
            let (a, b) = (it.next()?, it.next()?);
            (b - a).to_std().ok()
        });
        period.map_or(Duration::from_secs(3600), |p| {
            (p * 3).clamp(crate::alert::INCIDENT_WINDOW, Duration::from_secs(86_400))
        })
    }

    /// SIGHUP: loads suites and config again; a bad load keeps the last good ones.
    async fn reload(&mut self) {
        match load(&self.options) {
            Ok((loaded, alertmanagers)) => {
                let reconnect = target_settings(&loaded.config) != target_settings(&self.loaded.config);
                apply_load(&self.shared.metrics, &mut self.incidents, &loaded);
                let scenarios: usize = loaded.suites.iter().map(|s| s.scenarios.len()).sum();
                info!(suites = loaded.suites.len(), scenarios, reconnect, "SIGHUP: suites and config reloaded");
                self.loaded = loaded;
                self.alertmanagers = alertmanagers;
                if reconnect && let Some(t) = self.target.take() {
                    t.shutdown().await;
                }
                let mut status = self.shared.status();
                status.last_reload_ok = true;
                status.last_reload_error = None;
            }
            Err(e) => {
                self.shared.metrics.record_load(false, SystemTime::now());
                warn!(error = %e, "SIGHUP: reload failed; keeping the last good suites and config");
                let mut status = self.shared.status();
                status.last_reload_ok = false;
                status.last_reload_error = Some(e.to_string());
            }
        }
    }
}

impl History {
    fn from_list(list: &[RunRecord]) -> History {
        let mut h = History::default();
        for r in list.iter().rev() {
            h.push(r.clone());
        }
        h
    }
}

/// The settings a connected target was built from: a reload that changes them reconnects.
fn target_settings(config: &gateprobe::config::Config) -> serde_json::Value {
    serde_json::json!([config.target, config.targets, config.identities, config.audit, config.run])
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Hands the heap pages a run freed back to the system. glibc keeps them for reuse, so a
/// service that runs for a second every few minutes would otherwise idle at the size of its
/// busiest moment.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of glibc's own heap; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_has_a_seconds_field_and_can_be_off() {
        assert!(parse_schedule("off").unwrap().is_none());
        assert!(parse_schedule("0 */5 * * * *").unwrap().is_some());
        let e = parse_schedule("*/5 * * * *").unwrap_err().to_string();
        assert!(e.contains("sec min hour"), "{e}");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    fn record(id: u64, result: &'static str) -> RunRecord {
        RunRecord {
            id,
            reason: Reason::Schedule,
            started_at: String::new(),
            duration_ms: 0,
            result,
            counts: BTreeMap::new(),
            policy_versions: vec![],
            error: None,
            not_passing: vec![],
        }
    }

    #[test]
    fn history_keeps_failures_beyond_the_recent_runs() {
        let mut h = History::default();
        h.push(record(1, "fail"));
        for id in 2..30 {
            h.push(record(id, "pass"));
        }
        let list = h.list();
        assert_eq!(list.len(), HISTORY + 1);
        assert_eq!(list[0].id, 29);
        assert_eq!(list.last().unwrap().id, 1);
        assert_eq!(History::from_list(&list).list().len(), list.len());
    }
}

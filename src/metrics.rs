//! METRICS: the Prometheus registry of `gateprobe serve`, fed from each [`RunSummary`] (and the
//! comparison of it), never from raw calls.
//!
//! What `/metrics` looks like (abridged):
//! ```text
//! # HELP gateprobe_scenario_outcome Outcome of each scenario in the last run (1 for the outcome it had, 0 for the others).
//! # TYPE gateprobe_scenario_outcome gauge
//! gateprobe_scenario_outcome{outcome="pass",scenario="reader cannot delete",suite="documents"} 1
//! gateprobe_scenario_outcome{outcome="fail",scenario="reader cannot delete",suite="documents"} 0
//! # TYPE gateprobe_decisions_total counter
//! gateprobe_decisions_total{actual="deny",expected="deny"} 12
//! # TYPE gateprobe_regressions_open gauge
//! gateprobe_regressions_open{policy_from="sha256:1a…",policy_to="sha256:9f…",suite="documents"} 1
//! # TYPE gateprobe_prompt_version_info gauge
//! gateprobe_prompt_version_info{assistant="smollm2",prompt_version="1a2b3c4d5e6f"} 1
//! ```
//! Blackbox habits: label values are created up front (every outcome, every expected × actual
//! decision, every evidence field a suite asks for; every scenario's own series only under
//! `metrics.per_scenario: all`, else a scenario has them while it does not pass) so series exist
//! before the first failure; series of deleted scenarios are removed on reload; a gauge says whether the
//! last reload worked; the last-run timestamp lets a stalled scheduler alert. Labels hold suite
//! and scenario names, outcomes, decisions, field names, policy versions, assistant names and
//! prompt versions: never a token or an argument value.
//!
//! Golden prompts: `model_drift` is an outcome like the others (`gateprobe_scenario_outcome`,
//! `gateprobe_scenarios`, `gateprobe_scenario_results_total`), so it needs no series of its own;
//! a candidate assistant's results are scenarios of their own (`<scenario> [<assistant>]`,
//! created up front from the config's assistants), and `gateprobe_prompt_version_info` says which
//! prompt bundle each assistant ran with, as `gateprobe_policy_version_info` does for the policy.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::{Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge};
use prometheus::{IntGaugeVec, Opts, Registry, TextEncoder};

use gateprobe::AGREEMENT_FIELDS;
use gateprobe::RunSummary;
use gateprobe::compare::{Comparison, Regression};
use gateprobe::config::{AssistantConfig, PerScenario};
use gateprobe::decision::Decision;
use gateprobe::outcome::Outcome;
use gateprobe::suite::Suite;

/// The `actual` label when no decision could be read (outcome `error`).
pub const NO_DECISION: &str = "none";
/// The policy version label when the gateway reports none.
pub const UNKNOWN_VERSION: &str = "unknown";

/// Every metric of the service, registered in its own registry.
pub struct Metrics {
    registry: Registry,
    scenario_outcome: IntGaugeVec,
    scenario_duration: GaugeVec,
    scenarios: IntGaugeVec,
    scenario_results: IntCounterVec,
    decisions: IntGaugeVec,
    decisions_total: IntCounterVec,
    evidence_missing: IntGaugeVec,
    evidence_missing_total: IntCounterVec,
    evidence_contradicted: IntGaugeVec,
    evidence_contradictions_total: IntCounterVec,
    regressions_open: IntGaugeVec,
    regressions_total: IntCounterVec,
    policy_version_info: IntGaugeVec,
    prompt_version_info: IntGaugeVec,
    endpoint_policy_version: IntGaugeVec,
    policy_version_changes: IntCounter,
    target_up: IntGauge,
    runs_total: IntCounterVec,
    run_duration: Gauge,
    last_run: Gauge,
    last_success: Gauge,
    call_latency: HistogramVec,
    evidence_lag: HistogramVec,
    time_to_detect: Gauge,
    time_to_detect_hist: Histogram,
    suite_load_errors: IntCounter,
    reload_success: IntGauge,
    reload_timestamp: Gauge,
    alert_push_errors: IntCounter,
    state_write_errors: IntCounter,
    state_write_success: IntGauge,
    instance: InstanceInfo,
    state: std::sync::Mutex<Known>,
}

/// `gateprobe_instance_info`, built at each scrape from the labels it holds then. A collector of
/// its own because its label names are the config's: a registry refuses, for the life of the
/// process, a name registered again with other label names, so a gauge could not follow a
/// reload that adds a label.
#[derive(Clone, Default)]
struct InstanceInfo {
    labels: std::sync::Arc<std::sync::Mutex<Option<BTreeMap<String, String>>>>,
}

impl prometheus::core::Collector for InstanceInfo {
    /// None: its label names may change, so the registry has none to hold it to.
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        Vec::new()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let Some(labels) = self.labels.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return Vec::new() };
        let mut constants: std::collections::HashMap<String, String> = labels.into_iter().collect();
        constants.insert("version".into(), env!("CARGO_PKG_VERSION").into());
        let opts =
            Opts::new("gateprobe_instance_info", "This instance's labels (config `labels`, `--label`) and version.")
                .const_labels(constants);
        // Label names were checked when the config was read; one the library still refuses leaves
        // the series out rather than the scrape failing.
        let Ok(gauge) = IntGauge::with_opts(opts) else { return Vec::new() };
        gauge.set(1);
        prometheus::core::Collector::collect(&gauge)
    }
}

/// Label values created so far, to remove the series of what no longer exists.
#[derive(Default)]
struct Known {
    scenarios: BTreeSet<(String, String)>,
    fields: BTreeSet<String>,
    policy_version: Option<String>,
    /// Assistant → the prompt version its info series holds.
    prompt_versions: BTreeMap<String, String>,
    /// Which scenarios get series of their own (config `metrics.per_scenario`).
    per_scenario: PerScenario,
}

/// Outcomes of whole runs, for `gateprobe_runs_total{result}` (see [`run_result`]).
pub const RUN_RESULTS: [&str; 3] = ["pass", "fail", "error"];

/// The `result` of a finished run: `pass` when every scenario passed; `error` when none read a
/// decision (every scenario `error`: the gateway was down or answered nonsense, so nothing was
/// checked); else `fail` (some scenario did not pass, and at least one decision was read). A run
/// that could not start at all is `error` too ([`Metrics::record_run_error`]).
pub fn run_result(summary: &RunSummary) -> &'static str {
    if summary.all_passed() {
        "pass"
    } else if summary.results.iter().all(|r| r.outcome == Outcome::Error) {
        "error"
    } else {
        "fail"
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        macro_rules! reg {
            ($m:expr) => {{
                let m = $m.expect("metric definitions are valid");
                registry.register(Box::new(m.clone())).expect("metric names are unique");
                m
            }};
        }
        let latency_buckets = vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
        let lag_buckets = vec![0.0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0];
        let detect_buckets = vec![0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0];
        let metrics = Metrics {
            scenario_outcome: reg!(IntGaugeVec::new(
                Opts::new(
                    "gateprobe_scenario_outcome",
                    "Outcome of each scenario in the last run (1 for the outcome it had, 0 for the others).",
                ),
                &["suite", "scenario", "outcome"],
            )),
            scenario_duration: reg!(GaugeVec::new(
                Opts::new("gateprobe_scenario_duration_seconds", "Duration of each scenario in the last run."),
                &["suite", "scenario"],
            )),
            scenarios: reg!(IntGaugeVec::new(
                Opts::new("gateprobe_scenarios", "Scenarios of the last run by outcome."),
                &["outcome"],
            )),
            scenario_results: reg!(IntCounterVec::new(
                Opts::new("gateprobe_scenario_results_total", "Scenario results by outcome, over all runs."),
                &["outcome"],
            )),
            decisions: reg!(IntGaugeVec::new(
                Opts::new(
                    "gateprobe_decisions",
                    "Scenarios of the last run by expected and actual decision of their first call (actual=none: no decision read; \
                     model_drift results are left out, their expected decision is about a call that was not proposed).",
                ),
                &["expected", "actual"],
            )),
            decisions_total: reg!(IntCounterVec::new(
                Opts::new(
                    "gateprobe_decisions_total",
                    "Scenario first-call decisions by expected and actual decision, over all runs (model_drift results left out).",
                ),
                &["expected", "actual"],
            )),
            evidence_missing: reg!(IntGaugeVec::new(
                Opts::new(
                    "gateprobe_evidence_missing",
                    "Scenarios of the last run whose audit record lacked a required field, by field.",
                ),
                &["field"],
            )),
            evidence_missing_total: reg!(IntCounterVec::new(
                Opts::new(
                    "gateprobe_evidence_missing_total",
                    "Required audit record fields found missing, by field, over all runs.",
                ),
                &["field"],
            )),
            evidence_contradicted: reg!(IntGaugeVec::new(
                Opts::new(
                    "gateprobe_evidence_contradicted",
                    "Scenarios of the last run whose audit record contradicted the answer, the call or another record, by field.",
                ),
                &["field"],
            )),
            evidence_contradictions_total: reg!(IntCounterVec::new(
                Opts::new(
                    "gateprobe_evidence_contradictions_total",
                    "Audit records found contradicting the answer, the call or another record, by field, over all runs.",
                ),
                &["field"],
            )),
            regressions_open: reg!(IntGaugeVec::new(
                Opts::new(
                    "gateprobe_regressions_open",
                    "Open regressions (scenarios that passed under policy_from and do not pass under policy_to).",
                ),
                &["suite", "policy_from", "policy_to"],
            )),
            regressions_total: reg!(IntCounterVec::new(
                Opts::new("gateprobe_regressions_total", "Regressions detected, by suite and policy update."),
                &["suite", "policy_from", "policy_to"],
            )),
            policy_version_info: reg!(IntGaugeVec::new(
                Opts::new("gateprobe_policy_version_info", "Policy version the gateway reported in the last run."),
                &["version"],
            )),
            prompt_version_info: reg!(IntGaugeVec::new(
                Opts::new(
                    "gateprobe_prompt_version_info",
                    "Prompt bundle version (content hash) each assistant ran the golden prompts with in its last run.",
                ),
                &["assistant", "prompt_version"],
            )),
            endpoint_policy_version: reg!(IntGaugeVec::new(
                Opts::new(
                    "gateprobe_endpoint_policy_version_info",
                    "Policy versions each replica (`target.replicas`) answered with in the last run; \
                     two versions in one run is policy skew.",
                ),
                &["endpoint", "version"],
            )),
            policy_version_changes: reg!(IntCounter::new(
                "gateprobe_policy_version_changes_total",
                "Policy version changes seen (by the watch or between runs).",
            )),
            target_up: reg!(IntGauge::new(
                "gateprobe_target_up",
                "1 when the last run or version poll read an answer from the gateway, else 0.",
            )),
            runs_total: reg!(IntCounterVec::new(
                Opts::new(
                    "gateprobe_runs_total",
                    "Runs by result: pass (every scenario passed), fail (some did not, and some decision was read), \
                     error (the run could not start, or no scenario read a decision).",
                ),
                &["result"],
            )),
            run_duration: reg!(Gauge::new("gateprobe_run_duration_seconds", "Duration of the last run.")),
            last_run: reg!(Gauge::new(
                "gateprobe_last_run_timestamp_seconds",
                "Unix time the last run finished (whatever its result).",
            )),
            last_success: reg!(Gauge::new(
                "gateprobe_last_success_timestamp_seconds",
                "Unix time the last run in which every scenario passed finished.",
            )),
            call_latency: reg!(HistogramVec::new(
                HistogramOpts::new("gateprobe_call_latency_seconds", "Latency of gateway calls that got an answer.")
                    .buckets(latency_buckets),
                &["suite"],
            )),
            evidence_lag: reg!(HistogramVec::new(
                HistogramOpts::new(
                    "gateprobe_evidence_lag_seconds",
                    "Time from a decision until its audit record was visible.",
                )
                .buckets(lag_buckets),
                &["suite"],
            )),
            time_to_detect: reg!(Gauge::new(
                "gateprobe_time_to_detect_seconds",
                "Time from the last policy version change seen to the end of the run that checked it.",
            )),
            time_to_detect_hist: reg!(Histogram::with_opts(
                HistogramOpts::new(
                    "gateprobe_detection_duration_seconds",
                    "Times from policy version changes seen to the end of the runs that checked them.",
                )
                .buckets(detect_buckets)
            )),
            suite_load_errors: reg!(IntCounter::new(
                "gateprobe_suite_load_errors_total",
                "Loads or reloads of suites and config that failed (the last good ones stay).",
            )),
            reload_success: reg!(IntGauge::new(
                "gateprobe_config_last_reload_successful",
                "1 when the last load of suites and config succeeded, else 0.",
            )),
            reload_timestamp: reg!(Gauge::new(
                "gateprobe_config_last_reload_success_timestamp_seconds",
                "Unix time of the last successful load of suites and config.",
            )),
            alert_push_errors: reg!(IntCounter::new(
                "gateprobe_alertmanager_push_errors_total",
                "Pushes of alerts to Alertmanager that failed.",
            )),
            state_write_errors: reg!(IntCounter::new(
                "gateprobe_state_write_errors_total",
                "Saves of the run state (--state) that failed; regressions were still detected from the state held in memory.",
            )),
            state_write_success: reg!(IntGauge::new(
                "gateprobe_state_last_write_successful",
                "0 while the last save of the run state failed (the state file is older than what serve holds), else 1.",
            )),
            instance: reg!(Ok::<_, prometheus::Error>(InstanceInfo::default())),
            registry,
            state: Default::default(),
        };
        // No save has failed yet.
        metrics.state_write_success.set(1);
        metrics
    }

    /// Creates every series the suites can produce (a golden prompt's under each candidate
    /// assistant too), and removes those of scenarios, evidence fields and assistants that no
    /// longer exist. Call on every successful (re)load.
    pub fn set_suites(&self, suites: &[Suite], assistants: &[AssistantConfig]) {
        let scenarios: BTreeSet<(String, String)> = gateprobe::compare::defined_scenarios(suites, assistants)
            .into_iter()
            .flat_map(|(suite, names)| names.into_iter().map(move |n| (suite.clone(), n)))
            .collect();
        let fields: BTreeSet<String> = suites
            .iter()
            .flat_map(|s| &s.scenarios)
            .flat_map(|sc| sc.steps.iter().map(|st| &st.expect).chain(sc.asks.as_ref().map(|a| &a.expect)))
            .flat_map(|expect| expect.evidence.fields.iter().cloned())
            .collect();
        let suite_names: BTreeSet<&str> = suites.iter().map(|s| s.name.as_str()).collect();
        self.set_series(&scenarios, &fields, &suite_names);
        let configured: BTreeSet<&str> = assistants.iter().map(|a| a.name.as_str()).collect();
        let mut known = self.state.lock().unwrap_or_else(|e| e.into_inner());
        known.prompt_versions.retain(|assistant, version| {
            let keep = configured.contains(assistant.as_str());
            if !keep {
                let _ = self.prompt_version_info.remove_label_values(&[assistant, version]);
            }
            keep
        });
    }

    fn set_series(&self, scenarios: &BTreeSet<(String, String)>, fields: &BTreeSet<String>, suites: &BTreeSet<&str>) {
        let mut known = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (suite, scenario) in known.scenarios.difference(scenarios) {
            self.remove_scenario(suite, scenario);
        }
        let old_suites: BTreeSet<&str> = known.scenarios.iter().map(|(s, _)| s.as_str()).collect();
        for gone in old_suites.difference(suites) {
            let _ = self.call_latency.remove_label_values(&[gone]);
            let _ = self.evidence_lag.remove_label_values(&[gone]);
        }
        for field in known.fields.difference(fields) {
            let _ = self.evidence_missing.remove_label_values(&[field]);
            let _ = self.evidence_missing_total.remove_label_values(&[field]);
        }
        if known.per_scenario == PerScenario::All {
            for (suite, scenario) in scenarios {
                for o in Outcome::ALL {
                    self.scenario_outcome.with_label_values(&[suite, scenario, o.as_str()]);
                }
            }
        }
        for suite in suites {
            self.call_latency.with_label_values(&[suite]);
            self.evidence_lag.with_label_values(&[suite]);
        }
        for field in fields {
            self.evidence_missing.with_label_values(&[field]);
            self.evidence_missing_total.with_label_values(&[field]);
        }
        for field in AGREEMENT_FIELDS {
            self.evidence_contradicted.with_label_values(&[field]);
            self.evidence_contradictions_total.with_label_values(&[field]);
        }
        for o in Outcome::ALL {
            self.scenarios.with_label_values(&[o.as_str()]);
            self.scenario_results.with_label_values(&[o.as_str()]);
        }
        for e in Decision::ALL {
            for a in Decision::ALL.iter().map(|d| d.as_str()).chain([NO_DECISION]) {
                self.decisions.with_label_values(&[e.as_str(), a]);
                self.decisions_total.with_label_values(&[e.as_str(), a]);
            }
        }
        for r in RUN_RESULTS {
            self.runs_total.with_label_values(&[r]);
        }
        known.scenarios = scenarios.clone();
        known.fields = fields.clone();
    }

    /// Which scenarios get series of their own; a change takes effect at once (series of
    /// scenarios the new setting leaves out go, those it adds come with the next run).
    pub fn set_per_scenario(&self, mode: PerScenario) {
        let mut known = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if known.per_scenario == mode {
            return;
        }
        known.per_scenario = mode;
        if mode != PerScenario::All {
            for (suite, scenario) in &known.scenarios {
                self.remove_scenario(suite, scenario);
            }
        }
    }

    fn remove_scenario(&self, suite: &str, scenario: &str) {
        for o in Outcome::ALL {
            let _ = self.scenario_outcome.remove_label_values(&[suite, scenario, o.as_str()]);
        }
        let _ = self.scenario_duration.remove_label_values(&[suite, scenario]);
    }

    /// Records a (re)load of suites and config: a failed one keeps the last good series.
    pub fn record_load(&self, ok: bool, now: SystemTime) {
        self.reload_success.set(i64::from(ok));
        if ok {
            self.reload_timestamp.set(unix(now));
        } else {
            self.suite_load_errors.inc();
        }
    }

    /// Records a finished run. `comparison` adds the regressions it detected to the totals; the
    /// open ones are set with [`Metrics::set_open_regressions`].
    pub fn record_run(&self, summary: &RunSummary, comparison: Option<&Comparison>, finished: SystemTime) {
        let per_scenario = self.state.lock().unwrap_or_else(|e| e.into_inner()).per_scenario;
        for r in &summary.results {
            let own = match per_scenario {
                PerScenario::All => true,
                PerScenario::Failing => !r.outcome.is_pass(),
                PerScenario::None => false,
            };
            if own {
                for o in Outcome::ALL {
                    self.scenario_outcome
                        .with_label_values(&[r.suite.as_str(), r.scenario.as_str(), o.as_str()])
                        .set(i64::from(o == r.outcome));
                }
                self.scenario_duration.with_label_values(&[&r.suite, &r.scenario]).set(r.duration.as_secs_f64());
            } else {
                self.remove_scenario(&r.suite, &r.scenario);
            }
            self.scenario_results.with_label_values(&[r.outcome.as_str()]).inc();
            if r.outcome != Outcome::ModelDrift {
                let actual = r.observed.map_or(NO_DECISION, Decision::as_str);
                self.decisions_total.with_label_values(&[r.expected.as_str(), actual]).inc();
            }
            for field in &r.missing_fields {
                self.evidence_missing_total.with_label_values(&[field]).inc();
            }
            for field in &r.contradicted_fields {
                self.evidence_contradictions_total.with_label_values(&[field]).inc();
            }
            let latency = self.call_latency.with_label_values(&[&r.suite]);
            for l in &r.latencies {
                latency.observe(l.as_secs_f64());
            }
            let lag = self.evidence_lag.with_label_values(&[&r.suite]);
            for l in &r.evidence_lags {
                lag.observe(l.as_secs_f64());
            }
        }
        self.endpoint_policy_version.reset();
        for r in &summary.results {
            if let (Some(endpoint), Some(version)) = (&r.endpoint, &r.policy_version) {
                self.endpoint_policy_version.with_label_values(&[endpoint, version]).set(1);
            }
        }
        for (outcome, n) in summary.counts() {
            self.scenarios.with_label_values(&[outcome.as_str()]).set(n as i64);
        }
        for e in Decision::ALL {
            for a in Decision::ALL.iter().map(|d| Some(*d)).chain([None]) {
                let n = summary
                    .results
                    .iter()
                    .filter(|r| r.outcome != Outcome::ModelDrift && r.expected == e && r.observed == a)
                    .count();
                self.decisions.with_label_values(&[e.as_str(), a.map_or(NO_DECISION, Decision::as_str)]).set(n as i64);
            }
        }
        let known_fields = self.state.lock().unwrap_or_else(|e| e.into_inner()).fields.clone();
        let mut missing: BTreeSet<&String> = BTreeSet::new();
        for f in summary.results.iter().flat_map(|r| &r.missing_fields) {
            missing.insert(f);
        }
        for f in known_fields.iter().chain(missing.iter().copied()) {
            let n = summary.results.iter().filter(|r| r.missing_fields.contains(f)).count();
            self.evidence_missing.with_label_values(&[f]).set(n as i64);
        }
        for f in AGREEMENT_FIELDS {
            let n = summary.results.iter().filter(|r| r.contradicted_fields.iter().any(|c| c == f)).count();
            self.evidence_contradicted.with_label_values(&[f]).set(n as i64);
        }
        if let Some(c) = comparison {
            for r in &c.regressions {
                self.regressions_total.with_label_values(&regression_labels(r)).inc();
            }
        }
        self.set_policy_version(summary.policy_versions().first().map(String::as_str));
        self.set_prompt_versions(&crate::report::prompt_versions(summary));
        let answered = summary.results.iter().any(|r| r.outcome != Outcome::Error) || summary.results.is_empty();
        self.target_up.set(i64::from(answered));
        self.runs_total.with_label_values(&[run_result(summary)]).inc();
        self.run_duration.set(summary.duration.as_secs_f64());
        self.last_run.set(unix(finished));
        if summary.all_passed() {
            self.last_success.set(unix(finished));
        }
    }

    /// Records a run that could not start (the target could not be set up).
    pub fn record_run_error(&self, finished: SystemTime) {
        self.runs_total.with_label_values(&["error"]).inc();
        self.target_up.set(0);
        self.last_run.set(unix(finished));
    }

    /// Replaces the open regressions, counted by suite and policy update.
    pub fn set_open_regressions<'a>(&self, open: impl IntoIterator<Item = &'a Regression>) {
        self.regressions_open.reset();
        for r in open {
            self.regressions_open.with_label_values(&regression_labels(r)).inc();
        }
    }

    /// Sets the current policy version; a change from the previous one is counted.
    pub fn set_policy_version(&self, version: Option<&str>) {
        let Some(version) = version else { return };
        let mut known = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if known.policy_version.as_deref() == Some(version) {
            return;
        }
        if known.policy_version.is_some() {
            self.policy_version_changes.inc();
        }
        self.policy_version_info.reset();
        self.policy_version_info.with_label_values(&[version]).set(1);
        known.policy_version = Some(version.to_string());
    }

    /// `gateprobe_instance_info{location="eu-west",…,version="0.1.0"} 1`: this instance's labels
    /// (config `labels`, `--label`) and gateprobe's version, for joins on `job` and `instance`.
    /// A reload that changes them, their names included, replaces the series.
    pub fn set_instance(&self, labels: &BTreeMap<String, String>) {
        *self.instance.labels.lock().unwrap_or_else(|e| e.into_inner()) = Some(labels.clone());
    }

    /// Sets the prompt version of each assistant the run asked: one series per assistant,
    /// replaced when its version changes (assistants the run did not ask keep theirs).
    fn set_prompt_versions(&self, versions: &[crate::report::PromptVersion]) {
        let mut known = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = BTreeSet::new();
        for v in versions {
            // The first version seen of an assistant in the run (it reads its bundle once a run).
            if !seen.insert(v.assistant.as_str()) || known.prompt_versions.get(&v.assistant) == Some(&v.prompt_version)
            {
                continue;
            }
            if let Some(old) = known.prompt_versions.insert(v.assistant.clone(), v.prompt_version.clone()) {
                let _ = self.prompt_version_info.remove_label_values(&[&v.assistant, &old]);
            }
            self.prompt_version_info.with_label_values(&[&v.assistant, &v.prompt_version]).set(1);
        }
    }

    /// Whether the gateway answered the last run or version poll.
    pub fn set_target_up(&self, up: bool) {
        self.target_up.set(i64::from(up));
    }

    /// Time from a policy version change seen to the end of the run that checked it.
    pub fn record_time_to_detect(&self, d: Duration) {
        self.time_to_detect.set(d.as_secs_f64());
        self.time_to_detect_hist.observe(d.as_secs_f64());
    }

    pub fn record_alert_push_error(&self) {
        self.alert_push_errors.inc();
    }

    /// Records a save of the run state: a failed one is counted and holds
    /// `gateprobe_state_last_write_successful` at 0 until one succeeds.
    pub fn record_state_write(&self, ok: bool) {
        self.state_write_success.set(i64::from(ok));
        if !ok {
            self.state_write_errors.inc();
        }
    }

    /// The text exposition format, for `/metrics`.
    pub fn encode(&self) -> String {
        TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_default()
    }
}

/// Label values of a regression: suite, policy_from, policy_to.
pub fn regression_labels(r: &Regression) -> [&str; 3] {
    [
        r.suite.as_str(),
        r.policy_from.as_deref().unwrap_or(UNKNOWN_VERSION),
        r.policy_to.as_deref().unwrap_or(UNKNOWN_VERSION),
    ]
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use gateprobe::outcome::ScenarioResult;
    use gateprobe::suite::{Ask, Expectation, Location, Proposes, Scenario, Step, ToolCall, ToolPattern};

    use crate::report::golden;

    fn suite(name: &str, scenarios: &[&str]) -> Suite {
        Suite {
            name: name.into(),
            description: None,
            path: PathBuf::from(format!("scenarios/{name}.yaml")),
            scenarios: scenarios
                .iter()
                .map(|s| Scenario {
                    name: s.to_string(),
                    location: Location::default(),
                    identity: "alice-reader".into(),
                    target: None,
                    prompt: None,
                    context: None,
                    steps: vec![Step {
                        call: ToolCall { tool: "files.read".into(), arguments: Default::default() },
                        expect: Expectation {
                            decision: Decision::Allow,
                            reason: None,
                            evidence: gateprobe::suite::EvidenceExpectation {
                                fields: vec!["rationale".into()],
                                ..Default::default()
                            },
                            redacted: vec![],
                            then: None,
                            after_confirmation: None,
                        },
                        repeat: 1,
                        location: Location::default(),
                        follow_up: false,
                    }],
                    asks: None,
                })
                .collect(),
        }
    }

    pub(crate) fn result(suite: &str, scenario: &str, outcome: Outcome, observed: Option<Decision>) -> ScenarioResult {
        ScenarioResult {
            suite: suite.into(),
            scenario: scenario.into(),
            file: PathBuf::from("scenarios/x.yaml"),
            location: Location::default(),
            identity: "alice-reader".into(),
            tool: "files.read".into(),
            outcome,
            message: None,
            expected: Decision::Allow,
            observed,
            expected_reason: None,
            reason: None,
            evidence_fields: Default::default(),
            missing_fields: if outcome == Outcome::EvidenceMissing { vec!["rationale".into()] } else { vec![] },
            contradicted_fields: vec![],
            policy_version: Some("sha256:aaaa".into()),
            error_kind: None,
            target: None,
            endpoint: None,
            calls: 1,
            correlation_ids: vec!["c1".into()],
            duration: Duration::from_millis(12),
            latencies: vec![Duration::from_millis(3)],
            evidence_lags: vec![Duration::from_millis(1)],
            policy_ids: BTreeSet::new(),
            reasons: BTreeSet::new(),
            evidence: None,
            proposal: None,
        }
    }

    /// The golden fixture's suite: two golden prompts (asking for `rationale` in evidence) and no
    /// fixed call.
    fn golden_suite() -> Suite {
        let mut s = suite("assistant", &[golden::SEARCH, golden::EMAIL]);
        for sc in &mut s.scenarios {
            let step = sc.steps.remove(0);
            let mut expect = step.expect;
            expect.evidence.fields = vec!["tenant".into()];
            let tool = if sc.name == golden::SEARCH { "search.query" } else { "email.send" };
            sc.asks = Some(Ask {
                proposes: Proposes::Call(ToolPattern { tool: tool.into(), arguments: Default::default() }),
                expect,
            });
        }
        s
    }

    fn assistants(names: &[&str]) -> Vec<AssistantConfig> {
        names
            .iter()
            .map(|n| {
                serde_json::from_value(serde_json::json!({
                    "name": n, "url": "http://127.0.0.1:8081/v1", "model": "smollm2", "prompt_bundle": "prompts/assistant.md",
                }))
                .expect("an assistant config")
            })
            .collect()
    }

    fn golden_metrics() -> Metrics {
        let m = all();
        m.set_suites(
            &[suite("documents", &["reader can read a handbook page"]), golden_suite()],
            &assistants(&[golden::BASELINE, golden::CANDIDATE]),
        );
        m
    }

    /// Metrics with a series of its own for every scenario (the tests of series per scenario).
    fn all() -> Metrics {
        let m = Metrics::new();
        m.set_per_scenario(PerScenario::All);
        m
    }

    /// Pins the cardinality budget: by default only scenarios that did not pass have series of
    /// their own (gone once they pass); `none` keeps only the totals.
    #[test]
    fn per_scenario_series_follow_the_setting() {
        let suites = [suite("documents", &["reader reads", "reader cannot delete"])];
        let line = |scenario: &str| {
            format!("gateprobe_scenario_outcome{{outcome=\"fail\",scenario=\"{scenario}\",suite=\"documents\"}}")
        };
        let m = Metrics::new();
        m.set_suites(&suites, &[]);
        assert!(!m.encode().contains("gateprobe_scenario_outcome{"), "no series before a failure by default");
        let mut failing = result("documents", "reader cannot delete", Outcome::Fail, Some(Decision::Allow));
        let passing = result("documents", "reader reads", Outcome::Pass, Some(Decision::Allow));
        m.record_run(&summary(vec![passing.clone(), failing.clone()]), None, SystemTime::UNIX_EPOCH);
        let text = m.encode();
        assert!(text.contains(&format!("{} 1", line("reader cannot delete"))), "{text}");
        assert!(!text.contains("scenario=\"reader reads\""), "{text}");
        assert!(text.contains("gateprobe_scenarios{outcome=\"pass\"} 1"), "the totals count every scenario");
        failing.outcome = Outcome::Pass;
        m.record_run(&summary(vec![passing.clone(), failing.clone()]), None, SystemTime::UNIX_EPOCH);
        assert!(!m.encode().contains("gateprobe_scenario_outcome{"), "a scenario that passes again loses its series");

        failing.outcome = Outcome::Fail;
        m.set_per_scenario(PerScenario::None);
        m.record_run(&summary(vec![passing, failing]), None, SystemTime::UNIX_EPOCH);
        let text = m.encode();
        assert!(
            !text.contains("gateprobe_scenario_outcome{") && !text.contains("gateprobe_scenario_duration_seconds{"),
            "{text}"
        );
        assert!(text.contains("gateprobe_scenarios{outcome=\"fail\"} 1"), "{text}");
    }

    fn summary(results: Vec<ScenarioResult>) -> RunSummary {
        RunSummary {
            started_at: "2026-01-01T00:00:00Z".into(),
            duration: Duration::from_millis(40),
            target: "embedded".into(),
            results,
            coverage: None,
        }
    }

    /// Pins: the instance's labels and version are one info series, replaced (not added to)
    /// when a reload changes them.
    #[test]
    fn instance_info_holds_the_instance_labels() {
        let m = all();
        let labels = |v: &str| BTreeMap::from([("location".to_string(), v.to_string())]);
        m.set_instance(&labels("eu-west"));
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            m.encode().contains(&format!("gateprobe_instance_info{{location=\"eu-west\",version=\"{version}\"}} 1"))
        );
        m.set_instance(&labels("us-east"));
        let text = m.encode();
        assert!(text.contains("location=\"us-east\"") && !text.contains("eu-west"), "{text}");
        // A reload that adds a label name: the registry keeps a name's label names for good,
        // so a re-registered gauge would be refused and the series lost.
        let mut more = labels("us-east");
        more.insert("region".into(), "us".into());
        m.set_instance(&more);
        let text = m.encode();
        assert!(
            text.contains(&format!(
                "gateprobe_instance_info{{location=\"us-east\",region=\"us\",version=\"{version}\"}} 1"
            )),
            "{text}"
        );
    }

    #[test]
    fn series_exist_before_the_first_failure() {
        let m = all();
        m.set_suites(&[suite("documents", &["reader can read"])], &[]);
        let text = m.encode();
        for o in Outcome::ALL {
            let line = format!(
                "gateprobe_scenario_outcome{{outcome=\"{}\",scenario=\"reader can read\",suite=\"documents\"}} 0",
                o.as_str()
            );
            assert!(text.contains(&line), "missing {line}");
        }
        assert!(text.contains("gateprobe_decisions_total{actual=\"none\",expected=\"deny\"} 0"));
        assert!(text.contains("gateprobe_evidence_missing_total{field=\"rationale\"} 0"));
        assert!(text.contains("gateprobe_evidence_contradictions_total{field=\"decision\"} 0"));
        assert!(text.contains("gateprobe_runs_total{result=\"error\"} 0"));
    }

    /// Pins: a golden prompt's results under a candidate assistant are scenarios of their own,
    /// created up front (model_drift included) from the config's assistants, with the evidence
    /// fields their expectation asks for.
    #[test]
    fn golden_prompt_series_exist_per_assistant_before_the_first_run() {
        let text = golden_metrics().encode();
        for scenario in [golden::SEARCH.to_string(), gateprobe::plan::candidate_key(golden::SEARCH, golden::CANDIDATE)]
        {
            let line = format!(
                "gateprobe_scenario_outcome{{outcome=\"model_drift\",scenario=\"{scenario}\",suite=\"assistant\"}} 0"
            );
            assert!(text.contains(&line), "missing {line} in\n{text}");
        }
        assert!(text.contains("gateprobe_scenarios{outcome=\"model_drift\"} 0"), "{text}");
        assert!(text.contains("gateprobe_scenario_results_total{outcome=\"model_drift\"} 0"), "{text}");
        assert!(text.contains("gateprobe_evidence_missing_total{field=\"tenant\"} 0"), "{text}");
        // No prompt version before a run has read the bundles.
        assert!(!text.contains("gateprobe_prompt_version_info{"), "{text}");
    }

    #[test]
    fn a_golden_run_sets_model_drift_and_the_prompt_versions() {
        let m = golden_metrics();
        m.record_run(&golden::summary(), None, SystemTime::UNIX_EPOCH + Duration::from_secs(100));
        let text = m.encode();
        let candidate_search = gateprobe::plan::candidate_key(golden::SEARCH, golden::CANDIDATE);
        for needle in [
            format!(
                "gateprobe_scenario_outcome{{outcome=\"model_drift\",scenario=\"{}\",suite=\"assistant\"}} 1",
                golden::EMAIL
            ),
            format!(
                "gateprobe_scenario_outcome{{outcome=\"pass\",scenario=\"{}\",suite=\"assistant\"}} 1",
                golden::SEARCH
            ),
            format!(
                "gateprobe_scenario_outcome{{outcome=\"model_drift\",scenario=\"{candidate_search}\",suite=\"assistant\"}} 1"
            ),
            "gateprobe_scenarios{outcome=\"model_drift\"} 3".into(),
            "gateprobe_scenario_results_total{outcome=\"model_drift\"} 3".into(),
            "gateprobe_prompt_version_info{assistant=\"smollm2\",prompt_version=\"1a2b3c4d5e6f\"} 1".into(),
            "gateprobe_prompt_version_info{assistant=\"smollm2-terse\",prompt_version=\"9f8e7d6c5b4a\"} 1".into(),
            // Model drift is a failing run, not target trouble.
            "gateprobe_runs_total{result=\"fail\"} 1".into(),
            "gateprobe_target_up 1".into(),
            // The two passes only: a drifted proposal's expected decision is about another call.
            "gateprobe_decisions{actual=\"allow\",expected=\"allow\"} 2".into(),
            "gateprobe_decisions{actual=\"deny\",expected=\"allow\"} 0".into(),
            "gateprobe_decisions_total{actual=\"deny\",expected=\"allow\"} 0".into(),
        ] {
            assert!(text.contains(&needle), "missing {needle} in\n{text}");
        }
    }

    /// Pins: one prompt-version series per assistant, replaced when its bundle changes, kept
    /// while a run does not ask it, and removed when the config no longer has it.
    #[test]
    fn prompt_version_info_is_one_series_per_assistant() {
        let m = golden_metrics();
        m.record_run(&golden::summary(), None, SystemTime::now());
        let mut edited = golden::summary();
        for r in &mut edited.results {
            if let Some(p) = r.proposal.as_mut().filter(|p| p.assistant == golden::BASELINE) {
                p.prompt_version = "0123456789ab".into();
            }
        }
        edited.results.retain(|r| r.proposal.as_ref().is_none_or(|p| p.assistant == golden::BASELINE));
        m.record_run(&edited, None, SystemTime::now());
        let series = |m: &Metrics| -> Vec<String> {
            m.encode().lines().filter(|l| l.starts_with("gateprobe_prompt_version_info{")).map(str::to_string).collect()
        };
        assert_eq!(
            series(&m),
            [
                "gateprobe_prompt_version_info{assistant=\"smollm2\",prompt_version=\"0123456789ab\"} 1",
                "gateprobe_prompt_version_info{assistant=\"smollm2-terse\",prompt_version=\"9f8e7d6c5b4a\"} 1",
            ]
        );
        // The candidate leaves the config: its prompt version and its scenarios' series go.
        m.set_suites(&[golden_suite()], &assistants(&[golden::BASELINE]));
        assert_eq!(
            series(&m),
            ["gateprobe_prompt_version_info{assistant=\"smollm2\",prompt_version=\"0123456789ab\"} 1"]
        );
        assert!(!m.encode().contains(&format!("[{}]", golden::CANDIDATE)));
    }

    #[test]
    fn deleted_scenarios_lose_their_series_on_reload() {
        let m = all();
        m.set_suites(&[suite("documents", &["a", "b"]), suite("old", &["c"])], &[]);
        m.set_suites(&[suite("documents", &["a"])], &[]);
        let text = m.encode();
        assert!(text.contains("scenario=\"a\""));
        assert!(!text.contains("scenario=\"b\""));
        assert!(!text.contains("suite=\"old\""));
    }

    #[test]
    fn a_run_sets_one_hot_outcomes_and_counts() {
        let m = all();
        m.set_suites(&[suite("documents", &["a", "b"])], &[]);
        let mut contradicted = result("documents", "c", Outcome::Fail, Some(Decision::Allow));
        contradicted.contradicted_fields = vec!["decision".into()];
        let s = summary(vec![
            result("documents", "a", Outcome::Pass, Some(Decision::Allow)),
            result("documents", "b", Outcome::EvidenceMissing, Some(Decision::Allow)),
            contradicted,
        ]);
        let regression = Regression {
            suite: "documents".into(),
            scenario: "b".into(),
            policy_from: Some("sha256:1".into()),
            policy_to: None,
            prompt_from: None,
            prompt_to: None,
            was: Some(Decision::Allow),
            now: Some(Decision::Allow),
            outcome: Outcome::EvidenceMissing,
            change: "lost evidence field rationale".into(),
        };
        let comparison = Comparison { regressions: vec![regression.clone()], ..Default::default() };
        m.record_run(&s, Some(&comparison), SystemTime::UNIX_EPOCH + Duration::from_secs(100));
        m.set_open_regressions([&regression]);
        let text = m.encode();
        for needle in [
            "gateprobe_scenario_outcome{outcome=\"pass\",scenario=\"a\",suite=\"documents\"} 1",
            "gateprobe_scenario_outcome{outcome=\"evidence_missing\",scenario=\"a\",suite=\"documents\"} 0",
            "gateprobe_scenario_outcome{outcome=\"evidence_missing\",scenario=\"b\",suite=\"documents\"} 1",
            "gateprobe_scenarios{outcome=\"evidence_missing\"} 1",
            "gateprobe_decisions{actual=\"allow\",expected=\"allow\"} 3",
            "gateprobe_evidence_contradicted{field=\"decision\"} 1",
            "gateprobe_evidence_contradicted{field=\"tool\"} 0",
            "gateprobe_evidence_contradictions_total{field=\"decision\"} 1",
            "gateprobe_evidence_missing{field=\"rationale\"} 1",
            "gateprobe_evidence_missing_total{field=\"rationale\"} 1",
            "gateprobe_regressions_open{policy_from=\"sha256:1\",policy_to=\"unknown\",suite=\"documents\"} 1",
            "gateprobe_regressions_total{policy_from=\"sha256:1\",policy_to=\"unknown\",suite=\"documents\"} 1",
            "gateprobe_policy_version_info{version=\"sha256:aaaa\"} 1",
            "gateprobe_runs_total{result=\"fail\"} 1",
            "gateprobe_last_run_timestamp_seconds 100",
            "gateprobe_last_success_timestamp_seconds 0",
            "gateprobe_target_up 1",
            "gateprobe_call_latency_seconds_count{suite=\"documents\"} 3",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        m.set_open_regressions([]);
        assert!(!m.encode().contains("gateprobe_regressions_open{"));
    }

    /// Pins the `result` label of `gateprobe_runs_total`: a run in which no scenario read a
    /// decision is `error`, not `fail`; one decision read makes a failing run `fail`.
    #[test]
    fn a_run_without_any_decision_is_an_error() {
        let errors = summary(vec![
            result("documents", "a", Outcome::Error, None),
            result("documents", "b", Outcome::Error, None),
        ]);
        let mixed = summary(vec![
            result("documents", "a", Outcome::Error, None),
            result("documents", "b", Outcome::Fail, Some(Decision::Deny)),
        ]);
        let passing = summary(vec![result("documents", "a", Outcome::Pass, Some(Decision::Allow))]);
        assert_eq!([run_result(&errors), run_result(&mixed), run_result(&passing)], ["error", "fail", "pass"]);
        let m = all();
        m.set_suites(&[suite("documents", &["a", "b"])], &[]);
        m.record_run(&errors, None, SystemTime::now());
        let text = m.encode();
        for needle in ["gateprobe_runs_total{result=\"error\"} 1", "gateprobe_runs_total{result=\"fail\"} 0"] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }

    /// Pins: a failed save of the state is counted and holds the gauge at 0 until one succeeds.
    #[test]
    fn state_saves_are_counted_by_failure_and_the_last_one_is_a_gauge() {
        let m = all();
        let read = |m: &Metrics| {
            let text = m.encode();
            let value = |name: &str| {
                text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok()).unwrap()
            };
            (value("gateprobe_state_write_errors_total"), value("gateprobe_state_last_write_successful"))
        };
        assert_eq!(read(&m), (0.0, 1.0));
        m.record_state_write(false);
        m.record_state_write(false);
        assert_eq!(read(&m), (2.0, 0.0));
        m.record_state_write(true);
        assert_eq!(read(&m), (2.0, 1.0));
    }

    #[test]
    fn exposition_is_clean_under_promtool() {
        let Ok(promtool) = which("promtool") else { return };
        let m = all();
        m.set_suites(&[suite("documents", &["a"])], &[]);
        m.record_run(
            &summary(vec![result("documents", "a", Outcome::Pass, Some(Decision::Allow))]),
            None,
            SystemTime::now(),
        );
        m.record_load(true, SystemTime::now());
        m.record_time_to_detect(Duration::from_secs(1));
        m.record_state_write(false);
        // A golden-prompt run too: model drift and the prompt versions.
        let g = golden_metrics();
        g.record_run(&golden::summary(), None, SystemTime::now());
        for exposition in [m.encode(), g.encode()] {
            let mut child = std::process::Command::new(&promtool)
                .args(["check", "metrics"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("promtool starts");
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(exposition.as_bytes()).expect("write");
            let out = child.wait_with_output().expect("promtool runs");
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success() && text.trim().is_empty(), "promtool check metrics:\n{text}");
        }
    }

    fn which(name: &str) -> Result<PathBuf, ()> {
        std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
            .ok_or(())
    }
}

//! ALERT: open regressions pushed straight to Alertmanager (API v2, `POST /api/v2/alerts`).
//!
//! One alert per policy update and suite, re-sent on every run while it is open and resolved
//! (`endsAt` = now) once its scenarios pass again. What it posts:
//! ```json
//! [{"labels": {"alertname": "GateprobeRegression", "suite": "documents",
//!              "policy_from": "sha256:1a…", "policy_to": "sha256:9f…"},
//!   "annotations": {"summary": "policy update sha256:1a… → sha256:9f… flipped 1 scenario of suite documents: reader cannot delete (deny→allow)"},
//!   "startsAt": "2026-11-25T10:00:00Z", "endsAt": "2026-11-25T10:15:00Z"}]
//! ```
//! The instance's own labels (config `labels`, e.g. `location: eu-west`) are added, so two
//! locations' alerts stay two and one's resolve never ends the other's.
//! Labels are stable (no scenario list, no counts), so repeated sends are one alert; a
//! regression that clears and comes back within [`INCIDENT_WINDOW`] keeps the `startsAt` of
//! the first, so it stays one incident.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::metrics::UNKNOWN_VERSION;
use gateprobe::compare::Regression;
use gateprobe::config::TlsConfig;

/// The alert name of pushed regressions (and of the shipped Prometheus rule).
pub const ALERT_NAME: &str = "GateprobeRegression";
/// Failures that come back within this time after clearing are the same incident.
pub const INCIDENT_WINDOW: Duration = Duration::from_secs(300);
/// How much of a refusing Alertmanager's answer is read: enough for the 200 characters quoted.
const ALERTMANAGER_ANSWER_PREFIX: usize = 4 << 10;
/// Where the TLS settings towards Alertmanager are, for the advice of a failed handshake.
const TLS_SETTING: &str = "alerting.tls";

/// One alert in Alertmanager's v2 wire format.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
}

impl Alert {
    pub fn is_resolved(&self, now: OffsetDateTime) -> bool {
        OffsetDateTime::parse(&self.ends_at, &Rfc3339).is_ok_and(|t| t <= now)
    }
}

/// (suite, policy_from, policy_to): what makes one incident.
type Key = (String, String, String);

#[derive(Debug, Clone)]
struct Incident {
    /// The instance's labels when it opened: its resolve carries the same, whatever a reload
    /// changed since.
    instance: BTreeMap<String, String>,
    starts_at: OffsetDateTime,
    /// Scenario and its change, e.g. ("reader cannot delete", "deny→allow").
    scenarios: BTreeMap<String, String>,
    resolved_at: Option<OffsetDateTime>,
}

/// The incidents gateprobe has told Alertmanager about: turns each run's open regressions into
/// the alerts to post (firing and resolved).
#[derive(Debug, Clone, Default)]
pub struct Incidents {
    incidents: BTreeMap<Key, Incident>,
    /// The instance's labels (config `labels`, `--label`), added to every alert it opens.
    instance: BTreeMap<String, String>,
}

impl Incidents {
    /// Sets the labels of this instance, for the incidents opened from now on.
    pub fn set_instance_labels(&mut self, labels: BTreeMap<String, String>) {
        self.instance = labels;
    }

    /// The alerts to post after a run whose open regressions are `open`. A firing alert's
    /// `endsAt` is `now + valid_for`, so Alertmanager resolves it by itself if gateprobe stops
    /// sending; `valid_for` must outlast the time between two runs.
    pub fn update<'a>(
        &mut self,
        open: impl IntoIterator<Item = &'a Regression>,
        now: OffsetDateTime,
        valid_for: Duration,
        generator_url: Option<&str>,
    ) -> Vec<Alert> {
        // Cleared for longer than the window: the next failure is a new incident.
        self.incidents.retain(|_, i| i.resolved_at.is_none_or(|t| now - t < INCIDENT_WINDOW));
        let mut groups: BTreeMap<Key, BTreeMap<String, String>> = BTreeMap::new();
        for r in open {
            let key = (
                r.suite.clone(),
                r.policy_from.clone().unwrap_or_else(|| UNKNOWN_VERSION.into()),
                r.policy_to.clone().unwrap_or_else(|| UNKNOWN_VERSION.into()),
            );
            groups.entry(key).or_default().insert(r.scenario.clone(), r.change.clone());
        }
        let mut alerts = Vec::new();
        let ends_at = now + valid_for;
        for (key, scenarios) in &groups {
            let instance = &self.instance;
            let incident = self.incidents.entry(key.clone()).or_insert_with(|| Incident {
                instance: instance.clone(),
                starts_at: now,
                scenarios: BTreeMap::new(),
                resolved_at: None,
            });
            incident.resolved_at = None;
            incident.scenarios = scenarios.clone();
            alerts.push(render(key, incident, ends_at, generator_url));
        }
        for (key, incident) in &mut self.incidents {
            if incident.resolved_at.is_none() && !groups.contains_key(key) {
                incident.resolved_at = Some(now);
                alerts.push(render(key, incident, now, generator_url));
            }
        }
        alerts
    }

    /// Open incidents, for `/status`.
    pub fn open(&self) -> usize {
        self.incidents.values().filter(|i| i.resolved_at.is_none()).count()
    }
}

fn render(key: &Key, incident: &Incident, ends_at: OffsetDateTime, generator_url: Option<&str>) -> Alert {
    let (suite, from, to) = key;
    let mut labels = incident.instance.clone();
    labels.extend([
        ("alertname".to_string(), ALERT_NAME.to_string()),
        ("suite".to_string(), suite.clone()),
        ("policy_from".to_string(), from.clone()),
        ("policy_to".to_string(), to.clone()),
    ]);
    let n = incident.scenarios.len();
    let list: Vec<String> = incident.scenarios.iter().map(|(s, change)| format!("{s} ({change})")).collect();
    let summary = format!(
        "policy update {from} → {to} flipped {n} scenario{} of suite {suite}: {}",
        if n == 1 { "" } else { "s" },
        list.join("; ")
    );
    let annotations = BTreeMap::from([
        ("summary".to_string(), summary),
        ("scenarios".to_string(), incident.scenarios.keys().cloned().collect::<Vec<_>>().join("\n")),
    ]);
    Alert {
        labels,
        annotations,
        starts_at: rfc3339(incident.starts_at),
        ends_at: rfc3339(ends_at),
        generator_url: generator_url.map(str::to_string),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// `alerting.tls` cannot be used (a file unreadable or holding no certificate or key).
    #[error("Alertmanager client: {0}")]
    Setup(String),
    #[error("Alertmanager could not be reached: {0}")]
    Transport(String),
    #[error("Alertmanager answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
}

/// Posts `alerts` to every Alertmanager at once, and says how each push went, in their order.
/// Nodes of an Alertmanager cluster gossip silences and which notifications went out, not
/// alerts, so a client sends each alert to every node ("The Alertmanager implementation expects
/// all alerts to be sent to all Alertmanagers to ensure high availability", its README); the
/// cluster still notifies once. One node down fails only its own push.
pub async fn push_all(alertmanagers: &[Alertmanager], alerts: &[Alert]) -> Vec<Result<(), AlertError>> {
    futures::future::join_all(alertmanagers.iter().map(|a| a.push(alerts))).await
}

/// The HTTP client of pushes, with `alerting.tls` (a private CA, a client certificate) applied:
/// built once and shared by every node, so its files are read once.
pub fn client(tls: Option<&TlsConfig>) -> Result<reqwest::Client, gateprobe::TargetError> {
    let builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("gateprobe/", env!("CARGO_PKG_VERSION")));
    gateprobe::build_client(builder, tls, TLS_SETTING)
}

/// A client of Alertmanager's API v2.
#[derive(Debug, Clone)]
pub struct Alertmanager {
    client: reqwest::Client,
    url: String,
}

impl Alertmanager {
    /// `url` is Alertmanager's base URL (e.g. `http://127.0.0.1:9093`) or the full
    /// `…/api/v2/alerts` endpoint; `tls` is `alerting.tls` (a private CA, a client certificate).
    pub fn new(url: &str, tls: Option<&TlsConfig>) -> Result<Alertmanager, AlertError> {
        let client = client(tls).map_err(|e| AlertError::Setup(e.to_string()))?;
        Ok(Alertmanager::with_client(url, client))
    }

    /// [`Alertmanager::new`] with a [`client`] already built.
    pub fn with_client(url: &str, client: reqwest::Client) -> Alertmanager {
        let base = url.trim_end_matches('/');
        let url = if base.ends_with("/api/v2/alerts") { base.to_string() } else { format!("{base}/api/v2/alerts") };
        Alertmanager { client, url }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Posts the alerts (nothing when there are none).
    pub async fn push(&self, alerts: &[Alert]) -> Result<(), AlertError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let response = self.client.post(&self.url).json(alerts).send().await.map_err(|e| {
            AlertError::Transport(match gateprobe::tls_failure(&e, TLS_SETTING) {
                Some(cause) => format!("TLS: {cause}"),
                None if e.is_timeout() => "timed out".into(),
                None => "connection failed".into(),
            })
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // Only quoted (its first 200 characters), so no more than that is read.
        let body = gateprobe::read_prefix(response, ALERTMANAGER_ANSWER_PREFIX).await;
        Err(AlertError::Status {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).chars().take(200).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateprobe::decision::Decision;
    use gateprobe::outcome::Outcome;

    fn regression(scenario: &str) -> Regression {
        Regression {
            suite: "documents".into(),
            scenario: scenario.into(),
            policy_from: Some("sha256:a".into()),
            policy_to: Some("sha256:b".into()),
            prompt_from: None,
            prompt_to: None,
            was: Some(Decision::Deny),
            now: Some(Decision::Allow),
            outcome: Outcome::Fail,
            change: "deny→allow".into(),
        }
    }

    const VALID: Duration = Duration::from_secs(900);

    #[test]
    fn open_regressions_fire_with_stable_labels_and_resolve_when_they_pass() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut incidents = Incidents::default();
        let r = [regression("reader cannot delete"), regression("reader cannot export")];
        let first = incidents.update(&r, t0, VALID, None);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].labels["alertname"], ALERT_NAME);
        assert_eq!(first[0].labels["policy_from"], "sha256:a");
        assert_eq!(first[0].labels["policy_to"], "sha256:b");
        assert!(first[0].annotations["summary"].contains("reader cannot delete (deny→allow)"));
        assert!(first[0].annotations["summary"].contains("flipped 2 scenarios"));
        assert!(!first[0].is_resolved(t0));

        // Re-sent while open: same labels, same start.
        let again = incidents.update(&r[..1], t0 + Duration::from_secs(60), VALID, None);
        assert_eq!(again[0].labels, first[0].labels);
        assert_eq!(again[0].starts_at, first[0].starts_at);

        let t2 = t0 + Duration::from_secs(120);
        let resolved = incidents.update([], t2, VALID, None);
        assert_eq!(resolved.len(), 1);
        assert!(resolved[0].is_resolved(t2));
        assert_eq!(resolved[0].starts_at, first[0].starts_at);
        assert_eq!(incidents.open(), 0);
        // Nothing more to say once resolved.
        assert!(incidents.update([], t2 + Duration::from_secs(1), VALID, None).is_empty());
    }

    #[test]
    fn a_failure_back_within_five_minutes_is_the_same_incident() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut incidents = Incidents::default();
        let r = [regression("x")];
        let first = incidents.update(&r, t0, VALID, None);
        incidents.update([], t0 + Duration::from_secs(60), VALID, None);
        let back = incidents.update(&r, t0 + Duration::from_secs(240), VALID, None);
        assert_eq!(back[0].starts_at, first[0].starts_at);
        // Cleared for longer than the window: a new incident.
        incidents.update([], t0 + Duration::from_secs(300), VALID, None);
        let later = incidents.update(&r, t0 + Duration::from_secs(700), VALID, None);
        assert_ne!(later[0].starts_at, first[0].starts_at);
    }

    /// Pins: an instance's labels are on every alert it pushes, firing and resolved alike, and a
    /// relabelled instance resolves its open alerts with the labels they fired with.
    #[test]
    fn instance_labels_go_on_every_alert_and_its_resolve() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut incidents = Incidents::default();
        incidents.set_instance_labels(BTreeMap::from([("location".to_string(), "eu-west".to_string())]));
        let fired = incidents.update(&[regression("x")], t0, VALID, None);
        assert_eq!(fired[0].labels["location"], "eu-west");
        assert_eq!(fired[0].labels["alertname"], ALERT_NAME);
        incidents.set_instance_labels(BTreeMap::from([("location".to_string(), "us-east".to_string())]));
        let resolved = incidents.update([], t0 + Duration::from_secs(60), VALID, None);
        assert_eq!(resolved[0].labels, fired[0].labels);
        // Back within the window: the same incident, with its labels; later, a new one with the new.
        let back = incidents.update(&[regression("x")], t0 + Duration::from_secs(120), VALID, None);
        assert_eq!(back[0].labels["location"], "eu-west");
        incidents.update([], t0 + Duration::from_secs(180), VALID, None);
        let new = incidents.update(&[regression("x")], t0 + Duration::from_secs(900), VALID, None);
        assert_eq!(new[0].labels["location"], "us-east");
    }

    #[test]
    fn wire_format_is_alertmanager_v2() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let alerts = Incidents::default().update(&[regression("x")], t0, VALID, Some("http://127.0.0.1:9464/status"));
        let v = serde_json::to_value(&alerts).unwrap();
        assert_eq!(v[0]["startsAt"], "2027-01-15T08:00:00Z");
        assert_eq!(v[0]["endsAt"], "2027-01-15T08:15:00Z");
        assert_eq!(v[0]["generatorURL"], "http://127.0.0.1:9464/status");
        assert_eq!(Alertmanager::new("http://am:9093/", None).unwrap().url(), "http://am:9093/api/v2/alerts");
    }
}

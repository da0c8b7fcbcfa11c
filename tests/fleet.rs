//! A fleet, end to end, with real components on 127.0.0.1 and ephemeral ports:
//! - three `gateprobe serve` (the built binary, each with its embedded reference gateway) in two
//!   locations: an HA pair in eu-west (`eu-west-a`, `eu-west-b`, identical labels, one policy
//!   directory: one gateway watched twice) and `us-east` with a policy directory of its own;
//! - a real Prometheus scraping them under two job names (`gateprobe-eu-west`,
//!   `gateprobe-us-east`) with a `location` target label, loading the rules of
//!   `dashboards/alerts.yml` (their `for:` shortened to seconds, every expression as shipped);
//! - a real two-node Alertmanager cluster (gossip on 127.0.0.1) that every serve and Prometheus
//!   send to, both nodes; it notifies a webhook receiver in this test.
//!
//! Pins: the same regression in two locations is two pushed alerts (told apart by `location`,
//! on both nodes) that resolve independently; the dashboard's queries and variables split the
//! fleet by location; the HA pair gives one notification per incident and one resolve
//! (four pushes of each alert: two instances × two nodes); an instance killed is
//! GateprobeInstanceDown naming its instance, job and location, while the others stay up.
//! Every wait is bounded; every child is killed when the test ends, however it ends.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::process::{self, Proc, copy_dir, free_port};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");
/// How long the second Alertmanager node waits for the first to notify before it checks the
/// gossiped notification log (`--cluster.peer-timeout`; 15 s by default).
const PEER_TIMEOUT: Duration = Duration::from_secs(2);
/// Alertmanager's group_interval here, longer than [`PEER_TIMEOUT`]: a node snapshots its
/// alerts when it flushes a group, then waits its turn. Were flushes more frequent than that
/// wait, the second node would always hold a flush taken just before a resolve and, finding the
/// first node's "resolved" in the notification log, notify a stale "firing" (a real cluster
/// whose group_interval is shorter than its peer timeout does the same). Longer, it cannot: each
/// alert reaches both nodes at once, so their groups start, and flush, in step.
const GROUP_INTERVAL: Duration = Duration::from_secs(4);
const READER_READS: &str = "reader can read a handbook page";

/// One `serve` instance of the fleet.
struct Instance {
    name: &'static str,
    location: &'static str,
    job: &'static str,
    port: u16,
}

impl Instance {
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

struct Fleet {
    procs: Vec<Proc>,
    client: reqwest::Client,
    prom: String,
    /// The Alertmanager nodes' base URLs.
    ams: [String; 2],
    /// Every notification the Alertmanager cluster sent, as posted.
    notifications: Arc<Mutex<Vec<Value>>>,
}

impl Fleet {
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

    /// The result vector of an instant query (fails the test on a query error).
    async fn query(&self, expr: &str) -> Option<Vec<Value>> {
        let url = format!("{}/api/v1/query", self.prom);
        let v: Value = self.client.get(url).query(&[("query", expr)]).send().await.ok()?.json().await.ok()?;
        assert_eq!(v["status"], "success", "query {expr} failed: {v}");
        v["data"]["result"].as_array().cloned()
    }

    /// The alerts one Alertmanager node lists as active (it leaves out resolved ones).
    async fn active(&self, node: usize) -> Option<Vec<Value>> {
        self.json(&format!("{}/api/v2/alerts", self.ams[node])).await?.as_array().cloned()
    }

    /// The firing alerts Prometheus's rules hold.
    async fn prometheus_firing(&self, alertname: &str) -> Option<Vec<Value>> {
        let v = self.json(&format!("{}/api/v1/alerts", self.prom)).await?;
        let alerts = v["data"]["alerts"].as_array()?;
        Some(
            alerts
                .iter()
                .filter(|a| a["labels"]["alertname"] == alertname && a["state"] == "firing")
                .cloned()
                .collect(),
        )
    }

    /// One line per notification: the node that sent it, its status and its group.
    fn summary(&self) -> String {
        let notifications = self.notifications.lock().unwrap();
        let lines: Vec<String> = notifications
            .iter()
            .map(|n| {
                let alerts: Vec<String> = n["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| format!("{} {}", a["status"], a["labels"]))
                    .collect();
                format!("{} {}: {}", n["receivedAt"], n["externalURL"], alerts.join(", "))
            })
            .collect();
        lines.join("\n")
    }

    /// How many notifications carried `location`'s pushed regression with that status.
    fn notified(&self, location: &str, status: &str) -> usize {
        let notifications = self.notifications.lock().unwrap();
        notifications
            .iter()
            .filter(|n| {
                n["alerts"].as_array().is_some_and(|a| a.iter().any(|a| pushed(a, location) && a["status"] == status))
            })
            .count()
    }
}

/// Whether `alert` is the GateprobeRegression a serve of `location` pushed (the Prometheus
/// rule's twin has `source=prometheus`).
fn pushed(alert: &Value, location: &str) -> bool {
    let labels = &alert["labels"];
    labels["alertname"] == "GateprobeRegression"
        && labels["suite"] == "documents"
        && labels["location"] == location
        && labels.get("source").is_none()
}

/// A webhook receiver for Alertmanager's notifications: a fixture on 127.0.0.1 that records
/// what it is sent and answers 200, so the test can count notifications. It fakes nothing.
async fn start_webhook(notifications: Arc<Mutex<Vec<Value>>>) -> u16 {
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let notifications = notifications.clone();
            async move {
                let mut body = body;
                // When it arrived, for failure messages.
                body["receivedAt"] = time::OffsetDateTime::now_utc().unix_timestamp_nanos().to_string().into();
                notifications.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind webhook");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// The shipped rules with every `for:` shortened so the test takes seconds; expressions,
/// labels and annotations are those of `dashboards/alerts.yml`.
fn rules_with_short_for(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(MANIFEST).join("dashboards/alerts.yml")).expect("alerts.yml");
    let mut rules: serde_yaml::Value = serde_yaml::from_str(&text).expect("alerts.yml is YAML");
    let mut shortened = 0;
    for group in rules["groups"].as_sequence_mut().expect("groups") {
        for rule in group["rules"].as_sequence_mut().expect("rules") {
            if let Some(f) = rule.get_mut("for") {
                *f = "2s".into();
                shortened += 1;
            }
        }
    }
    assert!(shortened > 0, "alerts.yml has no `for:` left to shorten; drop this step");
    let path = dir.join("alerts.yml");
    std::fs::write(&path, serde_yaml::to_string(&rules).unwrap()).expect("write rules");
    path
}

/// Replaces `policies/roles.cedar` in one rename, so the gateway's watcher never reads a
/// half-written file.
fn write_policy(policies: &Path, text: &str, scratch: &Path) {
    let tmp = scratch.join("roles.cedar.next");
    std::fs::write(&tmp, text).expect("write policy");
    std::fs::rename(&tmp, policies.join("roles.cedar")).expect("rename policy");
}

fn start_alertmanager(dir: &Path, node: usize, web: u16, cluster: [u16; 2]) -> Proc {
    let (own, peer) = (cluster[node], cluster[1 - node]);
    Proc::start(
        &format!("alertmanager-{node}"),
        dir,
        Command::new("/usr/bin/prometheus-alertmanager")
            .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.join(format!("am-{node}")).display()))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .arg(format!("--cluster.listen-address=127.0.0.1:{own}"))
            .arg(format!("--cluster.advertise-address=127.0.0.1:{own}"))
            .arg(format!("--cluster.peer=127.0.0.1:{peer}"))
            .arg("--cluster.gossip-interval=100ms")
            .arg("--cluster.pushpull-interval=1s")
            // The node started first cannot join the other yet; it retries this often.
            .arg("--cluster.reconnect-interval=1s")
            .arg(format!("--cluster.peer-timeout={}s", PEER_TIMEOUT.as_secs())),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_in_two_locations_alerts_per_instance_and_location_and_an_ha_pair_notifies_once() {
    let test_start = Instant::now();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    // One suite keeps runs short and far from the rate limits of other suites.
    std::fs::create_dir_all(dir.join("scenarios")).expect("mkdir");
    std::fs::copy(Path::new(MANIFEST).join("scenarios/documents.yaml"), dir.join("scenarios/documents.yaml"))
        .expect("copy suite");
    for location in ["eu-west", "us-east"] {
        copy_dir(&Path::new(MANIFEST).join("policies"), &dir.join(location).join("policies"));
    }
    let instances = [
        Instance { name: "eu-west-a", location: "eu-west", job: "gateprobe-eu-west", port: free_port() },
        Instance { name: "eu-west-b", location: "eu-west", job: "gateprobe-eu-west", port: free_port() },
        Instance { name: "us-east", location: "us-east", job: "gateprobe-us-east", port: free_port() },
    ];
    let (am_web, am_cluster, prom_port) = ([free_port(), free_port()], [free_port(), free_port()], free_port());
    let ams = am_web.map(|p| format!("http://127.0.0.1:{p}"));

    let notifications = Arc::new(Mutex::new(Vec::new()));
    let webhook = start_webhook(notifications.clone()).await;
    // Each alert its own group, so notifications can be counted per alert; send_resolved is
    // the webhook's default.
    std::fs::write(
        dir.join("alertmanager.yml"),
        format!(
            "route: {{ receiver: webhook, group_by: ['...'], group_wait: 1s, group_interval: {g}s, repeat_interval: 1h }}\n\
             receivers: [ {{ name: webhook, webhook_configs: [ {{ url: 'http://127.0.0.1:{webhook}/' }} ] }} ]\n",
            g = GROUP_INTERVAL.as_secs()
        ),
    )
    .expect("write");
    let targets = |location: &str| {
        let t: Vec<String> =
            instances.iter().filter(|i| i.location == location).map(|i| format!("'{}'", i.addr())).collect();
        t.join(", ")
    };
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
             rule_files: ['{rules}']\n\
             alerting: {{ alertmanagers: [ {{ static_configs: [ {{ targets: ['127.0.0.1:{am0}', '127.0.0.1:{am1}'] }} ] }} ] }}\n\
             scrape_configs:\n\
             - {{ job_name: gateprobe-eu-west, static_configs: [ {{ targets: [{eu}], labels: {{ location: eu-west }} }} ] }}\n\
             - {{ job_name: gateprobe-us-east, static_configs: [ {{ targets: [{us}], labels: {{ location: us-east }} }} ] }}\n",
            rules = rules_with_short_for(dir).display(),
            am0 = am_web[0],
            am1 = am_web[1],
            eu = targets("eu-west"),
            us = targets("us-east"),
        ),
    )
    .expect("write");

    let mut fleet = Fleet {
        procs: Vec::new(),
        client: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap(),
        prom: format!("http://127.0.0.1:{prom_port}"),
        ams: ams.clone(),
        notifications,
    };
    for (node, web) in am_web.into_iter().enumerate() {
        fleet.procs.push(start_alertmanager(dir, node, web, am_cluster));
    }
    for i in &instances {
        let cwd = dir.join(format!("serve-{}", i.name));
        std::fs::create_dir_all(&cwd).expect("mkdir");
        fleet.procs.push(Proc::start(
            i.name,
            dir,
            Command::new(env!("CARGO_BIN_EXE_gateprobe"))
                .current_dir(&cwd)
                .env_remove("GATEPROBE_CONFIG")
                .env_remove("GATEPROBE_ALERTMANAGER_URL")
                .env_remove("GATEPROBE_TRIGGER_TOKEN")
                .env("GATEPROBE_POLICIES", dir.join(i.location).join("policies"))
                .args(["--log-format", "json", "serve", "--schedule", "off", "--watch-interval", "200ms"])
                .arg("--suites")
                .arg(dir.join("scenarios"))
                .arg("--listen")
                .arg(i.addr())
                // Every node of the cluster.
                .args(["--alertmanager-url", &ams[0], "--alertmanager-url", &ams[1]])
                .arg(format!("--label=location={}", i.location)),
        ));
    }
    fleet.procs.push(Proc::start(
        "prometheus",
        dir,
        Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("prom").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
    ));

    // Everything up: each instance's first run passed the scenario this test breaks, the
    // Alertmanagers are one settled cluster of two, Prometheus scrapes all three.
    for i in &instances {
        let url = format!("http://{}/status", i.addr());
        let status = fleet
            .wait_for(&format!("the first run of {}", i.name), Duration::from_secs(30), || async {
                let s = fleet.json(&url).await?;
                s["last_run"]["result"].is_string().then_some(s)
            })
            .await;
        let passing = status["scenarios"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["scenario"] == READER_READS && s["outcome"] == "pass"));
        assert!(passing, "{}: {READER_READS} should pass at first: {status:#}", i.name);
    }
    for am in &ams {
        fleet
            .wait_for(&format!("{am} in a settled cluster of two"), Duration::from_secs(30), || async {
                let s = fleet.json(&format!("{am}/api/v2/status")).await?;
                (s["cluster"]["status"] == "ready" && s["cluster"]["peers"].as_array()?.len() == 2).then_some(())
            })
            .await;
    }
    fleet
        .wait_for("Prometheus scraping the three instances", Duration::from_secs(30), || async {
            (fleet.query("gateprobe:up == 1").await?.len() == 3).then_some(())
        })
        .await;
    eprintln!("fleet up after {:?}", test_start.elapsed());

    // The same policy change in both locations: readers lose files.read.
    let original = std::fs::read_to_string(dir.join("eu-west/policies/roles.cedar")).expect("roles.cedar");
    let broken = original.replace("Action::\"files.read\", Action::\"search.query\"", "Action::\"search.query\"");
    assert_ne!(broken, original, "roles.cedar no longer grants readers files.read as this test expects");
    for location in ["eu-west", "us-east"] {
        write_policy(&dir.join(location).join("policies"), &broken, dir);
    }

    // Two pushed alerts, told apart by location, listed by both nodes (each got every push).
    let mut policy_updates = BTreeSet::new();
    for node in 0..2 {
        for location in ["eu-west", "us-east"] {
            let alert = fleet
                .wait_for(
                    &format!("{location}'s pushed GateprobeRegression on Alertmanager node {node}"),
                    Duration::from_secs(30),
                    || async { fleet.active(node).await?.into_iter().find(|a| pushed(a, location)) },
                )
                .await;
            assert!(alert["annotations"]["summary"].as_str().unwrap_or("").contains(READER_READS), "{alert:#}");
            policy_updates
                .insert((alert["labels"]["policy_from"].to_string(), alert["labels"]["policy_to"].to_string()));
        }
    }
    assert_eq!(policy_updates.len(), 1, "one policy update, the same in both locations: {policy_updates:?}");
    for location in ["eu-west", "us-east"] {
        fleet
            .wait_for(&format!("the notification of {location}'s regression"), Duration::from_secs(20), || async {
                (fleet.notified(location, "firing") > 0).then_some(())
            })
            .await;
    }
    let notified_at = Instant::now();

    // The dashboard, while regressions are open, with every selector at "All": its variables
    // list both locations, both jobs and the three instances; each query succeeds and those split
    // by location return both.
    let mut variables = std::collections::BTreeMap::new();
    for (name, query, label) in support::dashboard::variables() {
        let values: BTreeSet<String> = fleet
            .wait_for(&format!("values of the dashboard variable {name}"), Duration::from_secs(10), || async {
                let r = fleet.query(&query).await?;
                (!r.is_empty())
                    .then(|| r.iter().filter_map(|s| s["metric"][&label].as_str().map(str::to_owned)).collect())
            })
            .await;
        variables.insert(name, values);
    }
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(variables["location"], set(&["eu-west", "us-east"]));
    assert_eq!(variables["job"], set(&["gateprobe-eu-west", "gateprobe-us-east"]));
    assert_eq!(variables["instance"], instances.iter().map(Instance::addr).collect::<BTreeSet<_>>());
    let mut split = 0;
    for expr in support::dashboard::exprs() {
        let by_location = expr.contains("location");
        let locations: BTreeSet<String> = fleet
            .wait_for(&format!("data for dashboard query {expr}"), Duration::from_secs(10), || async {
                let r = fleet.query(&expr).await?;
                let locations: BTreeSet<String> =
                    r.iter().filter_map(|s| s["metric"]["location"].as_str().map(str::to_owned)).collect();
                (!r.is_empty() && (!by_location || locations.len() == 2)).then_some(locations)
            })
            .await;
        if by_location {
            assert_eq!(locations, set(&["eu-west", "us-east"]), "{expr}");
            split += 1;
        }
    }
    assert!(split >= 2, "the pass rate by location and the instances table split by location");

    // Past the second node's wait, still one notification each.
    tokio::time::sleep((notified_at + PEER_TIMEOUT + Duration::from_secs(1)).saturating_duration_since(Instant::now()))
        .await;
    for location in ["eu-west", "us-east"] {
        assert_eq!(fleet.notified(location, "firing"), 1, "{location}: one notification\n{}", fleet.summary());
    }

    // Fix us-east only: its alert resolves on both nodes while eu-west's stays firing.
    write_policy(&dir.join("us-east/policies"), &original, dir);
    for node in 0..2 {
        fleet
            .wait_for(&format!("us-east's alert resolved on node {node}"), Duration::from_secs(30), || async {
                let active = fleet.active(node).await?;
                (!active.iter().any(|a| pushed(a, "us-east"))).then_some(())
            })
            .await;
    }
    fleet
        .wait_for("the resolve notification of us-east", Duration::from_secs(20), || async {
            (fleet.notified("us-east", "resolved") > 0).then_some(())
        })
        .await;
    let us_resolved_at = Instant::now();
    for node in 0..2 {
        let active = fleet.active(node).await.expect("alerts");
        let eu = active.iter().find(|a| pushed(a, "eu-west"));
        assert!(
            eu.is_some_and(|a| a["status"]["state"] == "active"),
            "eu-west's alert must stay firing on node {node} after us-east's resolve: {active:#?}"
        );
    }
    assert_eq!(fleet.notified("eu-west", "resolved"), 0, "eu-west was resolved with us-east");

    // Fix eu-west: its alert resolves too.
    write_policy(&dir.join("eu-west/policies"), &original, dir);
    fleet
        .wait_for("the resolve notification of eu-west", Duration::from_secs(30), || async {
            (fleet.notified("eu-west", "resolved") > 0).then_some(())
        })
        .await;
    for node in 0..2 {
        let active = fleet.active(node).await.expect("alerts");
        assert!(!active.iter().any(|a| pushed(a, "eu-west")), "eu-west's alert still active on node {node}");
    }

    // One notification per incident and one resolve, although each alert reached the cluster
    // four times (eu-west: two instances × two nodes) and each node could notify: past the
    // second node's wait, nothing more arrives.
    tokio::time::sleep(PEER_TIMEOUT + Duration::from_secs(1)).await;
    assert!(us_resolved_at.elapsed() > PEER_TIMEOUT);
    for location in ["eu-west", "us-east"] {
        let (firing, resolved) = (fleet.notified(location, "firing"), fleet.notified(location, "resolved"));
        assert_eq!(
            (firing, resolved),
            (1, 1),
            "{location}: {firing} firing and {resolved} resolved notifications, one each expected:\n{}",
            fleet.summary()
        );
    }
    eprintln!("regressions fired and resolved per location after {:?}", test_start.elapsed());

    // Kill one instance of the HA pair: Prometheus names it, with its job and location; the
    // other two are not reported.
    let victim = &instances[1];
    fleet.procs.iter_mut().find(|p| p.name == victim.name).expect("the victim").sigkill();
    let down = fleet
        .wait_for("GateprobeInstanceDown from Prometheus", Duration::from_secs(30), || async {
            let firing = fleet.prometheus_firing("GateprobeInstanceDown").await?;
            (!firing.is_empty()).then_some(firing)
        })
        .await;
    assert_eq!(down.len(), 1, "only the killed instance is down: {down:#?}");
    let labels = &down[0]["labels"];
    assert_eq!(labels["instance"], victim.addr().as_str(), "{labels}");
    assert_eq!(labels["job"], victim.job, "{labels}");
    assert_eq!(labels["location"], victim.location, "{labels}");
    assert!(down[0]["annotations"]["summary"].as_str().unwrap_or("").contains(&victim.addr()), "{down:#?}");
    // ... and Prometheus sent it on to the cluster, which notified.
    fleet
        .wait_for("GateprobeInstanceDown notified by Alertmanager", Duration::from_secs(20), || async {
            let notifications = fleet.notifications.lock().unwrap();
            notifications
                .iter()
                .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
                .any(|a| {
                    a["labels"]["alertname"] == "GateprobeInstanceDown"
                        && a["labels"]["instance"] == victim.addr().as_str()
                })
                .then_some(())
        })
        .await;
    assert!(fleet.prometheus_firing("GateprobeAbsent").await.expect("alerts").is_empty());
    eprintln!("fleet test took {:?}", test_start.elapsed());
}

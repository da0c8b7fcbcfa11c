//! The shipped dashboards: alert rules pass `promtool test rules`, the example Alertmanager
//! config passes `amtool check-config`, and the Grafana dashboard is valid JSON whose every
//! panel queries something (the PromQL itself is evaluated against a real Prometheus in
//! `serve_e2e.rs`).

use std::path::Path;
use std::process::Command;

fn dashboards() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards"))
}

/// Runs a tool in `dashboards/` and fails with its output when it fails.
fn run_tool(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dashboards())
        .output()
        .unwrap_or_else(|e| panic!("{program} could not start ({e}); scripts/install-deps installs it"));
    assert!(
        out.status.success(),
        "{program} {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alert_rules_pass_their_promtool_tests() {
    run_tool("promtool", &["check", "rules", "alerts.yml"]);
    run_tool("promtool", &["test", "rules", "alerts_test.yml"]);
}

#[test]
fn example_alertmanager_config_is_valid() {
    run_tool("amtool", &["check-config", "alertmanager.yml"]);
}

#[test]
fn grafana_dashboard_panels_all_query_prometheus() {
    let text = std::fs::read_to_string(dashboards().join("gateprobe.json")).expect("dashboard exists");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 6);
    for panel in panels {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for t in targets {
            assert!(t["expr"].as_str().is_some_and(|e| e.contains("gateprobe_")), "panel {}: {t}", panel["title"]);
        }
    }
    let annotations = dashboard["annotations"]["list"].as_array().expect("annotations");
    assert!(
        annotations.iter().any(|a| a["expr"].as_str().is_some_and(|e| e.contains("gateprobe_policy_version_info")))
    );
}

/// Model drift is the assistant's fault, not the gateway's: it has an alert of its own (a
/// warning, with its own runbook line) and a panel of its own, each selecting the outcome by name.
#[test]
fn model_drift_has_its_own_alert_and_panel() {
    let rules = std::fs::read_to_string(dashboards().join("alerts.yml")).expect("alert rules exist");
    let rule = rules.split("- alert: ").find(|r| r.starts_with("GateprobeModelDrift\n")).expect("GateprobeModelDrift");
    assert!(rule.contains(r#"outcome="model_drift""#), "{rule}");
    assert!(rule.contains("severity: warning"), "{rule}");
    assert!(rule.contains("description: ") && rule.contains("not the gateway"), "{rule}");
    let tests = std::fs::read_to_string(dashboards().join("alerts_test.yml")).expect("alert tests exist");
    assert!(tests.contains("alertname: GateprobeModelDrift"));

    let text = std::fs::read_to_string(dashboards().join("gateprobe.json")).expect("dashboard exists");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.iter().any(|p| p["targets"].as_array().is_some_and(|t| {
        t.iter().any(|t| t["expr"].as_str().is_some_and(|e| e.contains(r#"outcome="model_drift""#)))
    })));
}

/// Pins the dashboard for a fleet: a datasource variable (so `${DS_PROMETHEUS}` resolves under
/// file provisioning as well as import), job, location, instance and suite variables, every
/// query scoped to the chosen jobs and instances, and a panel split by location.
#[test]
fn dashboard_selects_a_fleet() {
    let text = std::fs::read_to_string(dashboards().join("gateprobe.json")).expect("dashboard exists");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let vars = dashboard["templating"]["list"].as_array().expect("templating");
    let names: Vec<&str> = vars.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, ["DS_PROMETHEUS", "job", "location", "instance", "suite"]);
    assert_eq!(vars[0]["type"], "datasource");
    let mut exprs = Vec::new();
    for p in dashboard["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            exprs.push((
                p["title"].as_str().unwrap_or_default().to_owned(),
                t["expr"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    for (title, expr) in &exprs {
        for metric in expr.match_indices("gateprobe_").map(|(i, _)| &expr[i..]) {
            let name_end = metric.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(metric.len());
            let selector = metric[name_end..].strip_prefix('{').and_then(|s| s.split_once('}')).map(|(s, _)| s);
            let scoped =
                selector.is_some_and(|s| s.contains(r#"job=~"$job""#) && s.contains(r#"instance=~"$instance""#));
            assert!(scoped, "{title}: unscoped {}", &metric[..name_end]);
        }
    }
    assert!(exprs.iter().any(|(_, e)| e.contains("sum by (location)") && e.contains("gateprobe_instance_info")));
}

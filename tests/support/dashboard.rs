//! The Grafana dashboard's PromQL made ready for Prometheus's query API, as Grafana would send
//! it with every fleet selector (`$job`, `$location`, `$instance`, `$suite`) at "All" (`.*`).

use std::path::Path;

use serde_json::Value;

fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/gateprobe.json");
    let text = std::fs::read_to_string(&path).expect("dashboards/gateprobe.json");
    serde_json::from_str(&text).expect("dashboard JSON")
}

/// Grafana's variables replaced: intervals by fixed ones, the fleet selectors by their "All".
fn at_all(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$job", ".*")
        .replace("$location", ".*")
        .replace("$instance", ".*")
        .replace("$suite", ".*")
}

/// Every `expr` in the dashboard (panels and annotations).
pub fn exprs() -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", Value::String(e)) => out.push(at_all(e)),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&dashboard(), &mut out);
    out
}

/// The query variables as (name, a PromQL query giving one series per value, the label holding
/// the value): Grafana's `label_values(selector, label)` is `group by (label) (selector)`.
pub fn variables() -> Vec<(String, String, String)> {
    let dashboard = dashboard();
    let mut out = Vec::new();
    for v in dashboard["templating"]["list"].as_array().expect("templating").iter().filter(|v| v["type"] == "query") {
        let name = v["name"].as_str().expect("variable name");
        let definition = v["definition"].as_str().expect("variable definition");
        let args = definition
            .strip_prefix("label_values(")
            .and_then(|d| d.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {name}: not a label_values(…) query: {definition}"));
        let (selector, label) = args.rsplit_once(',').expect("label_values(selector, label)");
        let label = label.trim();
        out.push((name.to_owned(), format!("group by ({label}) ({})", at_all(selector.trim())), label.to_owned()));
    }
    out
}

//! The deployment files are checked, not only shipped: the systemd unit passes
//! `systemd-analyze verify` (with ExecStart pointed at the built binary: verify wants it to exist)
//! and stays hardened (`systemd-analyze security` exposure at most 2.0 of 10); the Kubernetes
//! manifests pass `kubernetes-validate --strict` (Kubernetes' own schemas, offline), and the
//! config and suite their ConfigMap carries pass `gateprobe lint`; the Prometheus Operator
//! objects (a PodMonitor, a PrometheusRule) validate against the operator's CRD schemas, offline,
//! and carry exactly the shipped alert rules.

use std::process::Command;

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/systemd/gateprobe.service"))
        .expect("deploy/systemd/gateprobe.service");
    assert!(text.contains("ExecStart=/usr/local/bin/gateprobe serve"), "the unit starts serve");
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("gateprobe.service");
    std::fs::write(&unit, text.replace("/usr/local/bin/gateprobe", env!("CARGO_BIN_EXE_gateprobe"))).unwrap();

    let run = |args: &[&str]| {
        let out = Command::new("systemd-analyze").args(args).arg(&unit).output().unwrap_or_else(|e| {
            panic!("systemd-analyze could not start ({e}); scripts/install-deps installs it (Debian's systemd)")
        });
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (ok, said) = run(&["verify"]);
    assert!(ok && said.trim().is_empty(), "systemd-analyze verify:\n{said}");
    // The threshold is in tenths: 20 is an exposure of 2.0 ("OK" in systemd's words).
    let (ok, said) = run(&["security", "--offline=true", "--threshold=20"]);
    assert!(ok, "exposure above 2.0:\n{said}");
}

#[test]
fn kubernetes_manifests_validate_and_carry_a_valid_config() {
    let manifests = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes/gateprobe.yaml");
    let venv = std::env::var("GATEPROBE_K8S_VENV")
        .unwrap_or_else(|_| format!("{}/.cache/gateprobe/venv/k8s", std::env::var("HOME").unwrap_or_default()));
    let out = Command::new(format!("{venv}/bin/kubernetes-validate"))
        .args(["--strict", manifests])
        .output()
        .unwrap_or_else(|e| panic!("kubernetes-validate could not start ({e}); scripts/install-deps installs it"));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "kubernetes-validate:\n{said}");
    for resource in ["configmap/gateprobe", "deployment/gateprobe-eu-west", "service/gateprobe"] {
        assert!(said.contains(&format!("passed for resource {resource}")), "{resource} not validated:\n{said}");
    }

    // The ConfigMap's files are a config and a suite gateprobe accepts.
    let text = std::fs::read_to_string(manifests).unwrap();
    let config_map: serde_yaml::Value = serde_yaml::from_str(text.split("\n---\n").next().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for file in ["gateprobe.yaml", "documents.yaml"] {
        std::fs::write(dir.path().join(file), config_map["data"][file].as_str().expect(file)).unwrap();
    }
    let lint = Command::new(env!("CARGO_BIN_EXE_gateprobe"))
        .args(["lint", "--config"])
        .arg(dir.path().join("gateprobe.yaml"))
        .arg("--suites")
        .arg(dir.path().join("documents.yaml"))
        .output()
        .unwrap();
    assert!(lint.status.success(), "{}", String::from_utf8_lossy(&lint.stderr));
}

/// A CRD schema as JSON Schema sees it, made as strict as Kubernetes:
/// - Kubernetes refuses fields a CRD's schema does not declare (it prunes them, and `kubectl
///   apply` with strict validation fails on them); JSON Schema accepts them unless told. So every
///   object schema that lists its properties gets `additionalProperties: false`, except where the
///   CRD keeps unknown fields.
/// - Kubernetes reads `pattern` as Go's RE2; JSON Schema as ECMA-262, which has no inline flags:
///   a leading `(?i)` becomes letter classes (`a` → `[aA]`).
fn strict(schema: &mut serde_json::Value) {
    use serde_json::Value;
    match schema {
        Value::Object(m) => {
            let keeps_unknown = m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if m.contains_key("properties") && !m.contains_key("additionalProperties") && !keeps_unknown {
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            if let Some(Value::String(p)) = m.get_mut("pattern")
                && let Some(rest) = p.strip_prefix("^(?i)")
            {
                assert!(!rest.contains(['\\', '[']), "rewrite {p} by hand");
                let classes: String = rest
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphabetic() {
                            format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                        } else {
                            c.to_string()
                        }
                    })
                    .collect();
                *p = format!("^{classes}");
            }
            m.values_mut().for_each(strict);
        }
        Value::Array(a) => a.iter_mut().for_each(strict),
        _ => {}
    }
}

/// Validates `object` against the vendored openAPIV3Schema of its kind (the Prometheus
/// Operator's CRDs, tests/fixtures/prometheus-operator/); returns the errors.
fn crd_errors(object: &serde_yaml::Value) -> Vec<String> {
    let file = match object["kind"].as_str() {
        Some("PodMonitor") => "podmonitors",
        Some("PrometheusRule") => "prometheusrules",
        other => panic!("no CRD schema vendored for kind {other:?}"),
    };
    assert_eq!(object["apiVersion"].as_str(), Some("monitoring.coreos.com/v1"), "{file}: the CRDs' served version");
    let path = format!("{}/tests/fixtures/prometheus-operator/{file}.v1.openapi.yaml", env!("CARGO_MANIFEST_DIR"));
    let schema: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).expect(&path)).expect(&path);
    let mut schema = serde_json::to_value(schema).expect("schema as JSON");
    strict(&mut schema);
    // OpenAPI v3's schema objects are JSON Schema draft 4 with extensions (x-kubernetes-*), which
    // a validator ignores.
    let validator = jsonschema::draft4::new(&schema).expect("the CRD schema compiles");
    let instance = serde_json::to_value(object).expect("object as JSON");
    validator.iter_errors(&instance).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

fn yaml_documents(path: &str) -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(path).expect(path);
    serde_yaml::Deserializer::from_str(&text).map(|d| serde::Deserialize::deserialize(d).expect(path)).collect()
}

/// The Prometheus Operator objects: a PodMonitor and a PrometheusRule valid under the operator's
/// CRD schemas (v0.93.0, vendored; kubernetes-validate knows only built-in kinds), the rule
/// groups exactly those of dashboards/alerts.yml (so the two cannot drift), and the PodMonitor
/// aimed at the Deployments: their pods' labels, their port, a job name the rules select.
#[test]
fn prometheus_operator_objects_validate_and_carry_the_shipped_rules() {
    let objects = yaml_documents(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes/monitoring.yaml"));
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(kinds, ["PodMonitor", "PrometheusRule"]);
    for object in &objects {
        assert_eq!(crd_errors(object), Vec::<String>::new(), "{:?} against its CRD", object["kind"]);
    }
    // The validation is strict: a misspelt field and a malformed duration are refused.
    let mut typo = objects[0].clone();
    typo["spec"]["podMetricEndpoints"] = typo["spec"]["podMetricsEndpoints"].clone();
    assert!(!crd_errors(&typo).is_empty(), "a misspelt PodMonitor field passed");
    let mut bad_for = objects[1].clone();
    bad_for["spec"]["groups"][1]["rules"][1]["for"] = "5 minutes".into();
    assert!(!crd_errors(&bad_for).is_empty(), "a malformed `for` passed");

    let rules: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/alerts.yml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        objects[1]["spec"]["groups"], rules["groups"],
        "the PrometheusRule's groups are dashboards/alerts.yml's"
    );

    let monitor = &objects[0]["spec"];
    let deployments: Vec<serde_yaml::Value> =
        yaml_documents(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes/gateprobe.yaml"))
            .into_iter()
            .filter(|o| o["kind"] == "Deployment")
            .collect();
    assert!(!deployments.is_empty());
    for d in &deployments {
        let pod = &d["spec"]["template"];
        let labels = pod["metadata"]["labels"].as_mapping().expect("pod labels");
        for (k, v) in monitor["selector"]["matchLabels"].as_mapping().expect("matchLabels") {
            assert_eq!(labels.get(k), Some(v), "the PodMonitor selects {:?}'s pods", d["metadata"]["name"]);
        }
        let job = labels.get(&monitor["jobLabel"]).and_then(|v| v.as_str()).expect("the job label is a pod label");
        assert!(job.starts_with("gateprobe"), "job {job} is not selected by gateprobe:up (job=~\"gateprobe.*\")");
        for label in monitor["podTargetLabels"].as_sequence().expect("podTargetLabels") {
            assert!(labels.contains_key(label), "pod label {label:?} missing on {:?}", d["metadata"]["name"]);
        }
        let ports: Vec<&serde_yaml::Value> =
            pod["spec"]["containers"][0]["ports"].as_sequence().expect("ports").iter().map(|p| &p["name"]).collect();
        for endpoint in monitor["podMetricsEndpoints"].as_sequence().expect("endpoints") {
            assert!(ports.contains(&&endpoint["port"]), "no container port named {:?}", endpoint["port"]);
        }
    }
}

//! The deployment files are checked, not only shipped: the systemd unit passes
//! `systemd-analyze verify` (with ExecStart pointed at the built binary: verify wants it to exist)
//! and stays hardened (`systemd-analyze security` exposure at most 2.0 of 10); the Kubernetes
//! manifests pass `kubernetes-validate --strict` (Kubernetes' own schemas, offline), and the
//! config and suite their ConfigMap carries pass `gateprobe lint`.

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

//! `gateprobe tools` against the embedded reference gateway (real HTTP on loopback), and against
//! an `http` target that cannot list its tools: what a suite author reads before writing a
//! scenario.

use std::process::{Command, Output};

use serde_json::Value;

fn gateprobe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gateprobe"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env_remove("GATEPROBE_CONFIG")
        .output()
        .expect("gateprobe starts")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

#[test]
fn lists_tools_with_schemas_policies_reasons_and_a_sample_records_fields() {
    let out = gateprobe(&["tools", "--json", "--sample", "reader can read"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    // Listed as an identity with a valid credential, not one minted expired on purpose.
    assert_eq!(v["identity"], "alice-globex");
    let tools = v["tools"].as_array().unwrap();
    let read = tools.iter().find(|t| t["name"] == "files.read").expect("files.read is listed");
    assert_eq!(read["input_schema"]["required"], serde_json::json!(["path"]));
    assert!(read["description"].as_str().is_some_and(|d| !d.is_empty()));
    let policies = v["policies"].as_array().unwrap();
    assert!(policies.iter().any(|p| p["id"] == "tenant-isolation" && p["reason"] == "tenant_mismatch"), "{policies:?}");
    let reasons: Vec<&str> = v["reasons"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(reasons.contains(&"unauthenticated") && reasons.contains(&"missing_capability"), "{reasons:?}");
    assert_eq!(v["sample"]["scenario"], "documents › reader can read a handbook page");
    let fields: Vec<&str> =
        v["sample"]["evidence_fields"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for f in ["decision", "rationale", "correlation_id", "identity"] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }

    let text = gateprobe(&["tools", "--identity", "bob-admin"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.starts_with("gateway: embedded http://127.0.0.1:"), "{text}");
    assert!(text.contains("tools as bob-admin sees them") && text.contains("  files.read: "), "{text}");
}

#[test]
fn what_cannot_be_listed_is_said_with_its_exit_status() {
    let unknown = gateprobe(&["tools", "--identity", "nobody"]);
    assert_eq!(unknown.status.code(), Some(2), "an identity the config lacks is bad input");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no such identity"));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateprobe.yaml");
    std::fs::write(
        &config,
        "target: { kind: http, url: \"http://127.0.0.1:9/decide\", body: { tool: \"{{tool}}\" }, decision: { pointer: /allow } }\n\
         audit: { kind: none }\n\
         identities: { alice: { subject: alice@example.com, tenant: acme, credential: none } }\n",
    )
    .unwrap();
    let out = gateprobe(&["tools", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tools: unknown (") && text.contains("cannot list its tools"), "{text}");
}

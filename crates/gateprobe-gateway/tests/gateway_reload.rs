//! Policy updates without restart: a change on disk flips the decision and the version header;
//! a broken policy set is rejected and the previous one stays in force.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Gw, Reply, bundled_policies};
use gateprobe_gateway::GatewayOptions;
use gateprobe_gateway::current_version;
use serde_json::{Value, json};

fn copy_policies(to: &Path) {
    for entry in std::fs::read_dir(bundled_policies()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

async fn start(dir: &Path, watch: bool) -> Gw {
    Gw::start_with(GatewayOptions { policies: dir.to_path_buf(), watch, ..Default::default() }).await
}

async fn reload(g: &Gw) -> (u16, Value) {
    let resp = g.http.post(format!("{}/admin/reload", g.gw.base_url())).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn read_handbook(g: &Gw, token: &str) -> Reply {
    g.call(Some(token), "files.read", json!({"path": "/docs/handbook.md"})).await
}

#[tokio::test]
async fn edit_on_disk_flips_decision_and_version_then_broken_edit_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    copy_policies(dir.path());
    let g = start(dir.path(), true).await;
    let alice = g.token("alice-reader");

    let before = read_handbook(&g, &alice).await;
    assert_eq!(before.decision(), "allow");
    assert_eq!(before.policy_version, current_version(dir.path()).unwrap());

    // Take files.read away from readers.
    let roles = dir.path().join("roles.cedar");
    let text = std::fs::read_to_string(&roles).unwrap();
    let edited = text.replace(
        r#"action in [Action::"files.read", Action::"search.query"]"#,
        r#"action in [Action::"search.query"]"#,
    );
    assert_ne!(text, edited, "the edit must change the policy");
    std::fs::write(&roles, edited).unwrap();

    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let r = read_handbook(&g, &alice).await;
        if r.decision() != "allow" || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (after.decision().as_str(), after.reason().as_str()),
        ("deny", "missing_capability"),
        "watcher reloaded"
    );
    let v2 = current_version(dir.path()).unwrap();
    assert_ne!(after.policy_version, before.policy_version);
    assert_eq!(after.policy_version, v2);
    assert_eq!(g.record(&after).await["policy_version"], v2.as_str());

    // A syntax error: rejected by the explicit reload and by the watcher; v2 stays.
    std::fs::write(dir.path().join("broken.cedar"), "permit (principal, action, resource").unwrap();
    let (status, body) = reload(&g).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("broken.cedar"), "{body}");
    assert_eq!(body["policy_version"], v2.as_str());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = read_handbook(&g, &alice).await;
    assert_eq!(still.policy_version, v2);
    assert_eq!(still.reason(), "missing_capability");

    // A policy that parses but does not validate against the schema is rejected too.
    std::fs::write(
        dir.path().join("broken.cedar"),
        r#"@id("typo") permit (principal, action, resource) when { principal.rolez.contains("reader") };"#,
    )
    .unwrap();
    let (status, body) = reload(&g).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("typo"), "{body}");

    // Fixing it brings a new version in.
    std::fs::remove_file(dir.path().join("broken.cedar")).unwrap();
    let (status, body) = reload(&g).await;
    assert_eq!(status, 200);
    assert_eq!(body["policy_version"], v2.as_str(), "same content as v2 again");
}

#[tokio::test]
async fn revocation_and_quotas_follow_reload() {
    let dir = tempfile::tempdir().unwrap();
    copy_policies(dir.path());
    let g = start(dir.path(), false).await;
    let alice = g.token("alice-reader");
    assert_eq!(read_handbook(&g, &alice).await.decision(), "allow");

    let revoked = dir.path().join("revoked.txt");
    let mut list = std::fs::read_to_string(&revoked).unwrap();
    list.push_str("acme/alice@example.com\n");
    std::fs::write(&revoked, list).unwrap();
    std::fs::write(
        dir.path().join("limits.yaml"),
        "subject: {burst: 2, per_second: 1}\ntenant: {burst: 100, per_second: 50}\n",
    )
    .unwrap();
    // Without the watcher nothing changes until the explicit reload.
    assert_eq!(read_handbook(&g, &alice).await.decision(), "allow");
    let (status, body) = reload(&g).await;
    assert_eq!(status, 200, "{body}");

    let r = read_handbook(&g, &alice).await;
    assert_eq!((r.decision().as_str(), r.reason().as_str()), ("deny", "revoked"));
    // Same e-mail, other tenant: not revoked.
    assert_eq!(
        g.call(Some(&g.token("alice-globex")), "files.read", json!({"path": "/docs/globex-handbook.md"}))
            .await
            .decision(),
        "allow"
    );

    let bob = g.token("bob-admin");
    let ds: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(g.call(Some(&bob), "search.query", json!({"q": "report"})).await.decision());
        }
        v
    };
    assert_eq!(ds, ["allow", "allow", "rate_limited"]);
}

#[tokio::test]
async fn start_refuses_a_broken_policy_directory() {
    let dir = tempfile::tempdir().unwrap();
    copy_policies(dir.path());
    std::fs::write(dir.path().join("limits.yaml"), "subject: {burst: 0, per_second: 1}\n").unwrap();
    let err = gateprobe_gateway::RunningGateway::start(GatewayOptions {
        policies: dir.path().to_path_buf(),
        watch: false,
        ..Default::default()
    })
    .await
    .err()
    .expect("broken limits are rejected");
    assert!(err.to_string().contains("limits.yaml"), "{err}");
}

//! `gateprobe gateway` and `gateprobe gateway token` as a user runs them.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_gateprobe");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn cli_gateway_starts_fast_and_accepts_cli_minted_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "cli-test-signing-key-0123456789abcdef\n").unwrap();
    let audit = dir.path().join("audit.jsonl");
    let port = free_port();

    let started = Instant::now();
    let _gw = Child(
        Command::new(BIN)
            .args(["gateway", "--policies"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--signing-key-file"])
            .arg(&key)
            .arg("--audit-log")
            .arg(&audit)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    loop {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "gateway did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(1), "started in {:?}", started.elapsed());

    let token = |roles: &str| {
        let out = Command::new(BIN)
            .args([
                "gateway",
                "token",
                "--subject",
                "carol@example.com",
                "--tenant",
                "acme",
                "--roles",
                roles,
                "--ttl",
                "5m",
            ])
            .arg("--signing-key-file")
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let call = |token: String| {
        http.post(format!("{base}/mcp"))
            .bearer_auth(token)
            .header("x-request-id", "cli-1")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "crm.export", "arguments": {"segment": "all"}}}))
            .send()
    };
    let v: serde_json::Value = call(token("support")).await.unwrap().json().await.unwrap();
    assert_eq!(v["result"]["_meta"]["decision"], "allow", "{v}");
    let v: serde_json::Value = call(token("reader,support")).await.unwrap().json().await.unwrap();
    assert_eq!(v["result"]["_meta"]["decision"], "allow", "comma-separated roles: {v}");
    let v: serde_json::Value = call(token("reader")).await.unwrap().json().await.unwrap();
    assert_eq!(v["error"]["data"]["reason"], "missing_capability", "{v}");

    let lines = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(lines.lines().count(), 3, "{lines}");
}

#[test]
fn token_without_a_key_fails_clearly() {
    let out = Command::new(BIN)
        .args(["gateway", "token", "--subject", "a@example.com", "--tenant", "acme", "--roles", "reader"])
        .env_remove("GATEPROBE_GATEWAY_SIGNING_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("signing key"));
}

// Pins `--allowed-host`: the binary passes it to the gateway, which then answers under that name
// as well as loopback, and still refuses any other (DNS rebinding).
#[tokio::test]
async fn cli_allowed_host_extends_the_loopback_names() {
    let port = free_port();
    let _gw = Child(
        Command::new(BIN)
            .args(["gateway", "--policies"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--no-watch", "--allowed-host", "gw.example.com"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let healthz = format!("http://127.0.0.1:{port}/healthz");
    let started = Instant::now();
    while http.get(&healthz).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(5), "gateway did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (host, status) in [("gw.example.com:8787", 200), ("localhost", 200), ("evil.example.com", 403)] {
        let response = http.get(&healthz).header("host", host).send().await.unwrap();
        assert_eq!(response.status(), status, "Host: {host}");
    }
}

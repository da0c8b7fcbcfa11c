//! OAuth 2 identities end to end, against a real authorization server: npm `oidc-provider` 9
//! (a certified OpenID provider, installed by `scripts/install-deps` under
//! `~/.cache/gateprobe/oidc-provider`, run on the Node 22 installed beside the MCP conformance
//! suite) configured by `tests/fixtures/oauth/provider.mjs`: client-credentials clients, JWT
//! access tokens for the gateway's resource (RFC 8707) with tenant and roles claims, a lifetime
//! of a few seconds. The reference gateway runs as `gateprobe gateway --jwks-url …` and
//! gateprobe runs as the built binary.
//!
//! Pins: a suite passes with identities whose tokens come from the server (client_secret_basic
//! and client_secret_post); a token for another audience is `deny (unauthenticated)` at the
//! gateway; no token (nor its payload or signature segment) appears in the JSON report, stdout
//! or the debug log; `serve` reuses a token within its lifetime, obtains a new one once it is
//! due (a different token, which passes while the first is refused), and a refresh the server
//! cannot answer makes the calls `error`, naming the identity, never a pass; a wrong client
//! secret stops `run` with exit 2 and a message naming the identity and `invalid_client`,
//! without the secret. Every wait is bounded; every child is killed when the test ends.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::process::{Proc, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_gateprobe");
const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");
const ALICE_SECRET: &str = "alice: s3cret/with%odd&chars";
const BOB_SECRET: &str = "bob-client-secret-7f3a9c";
const TRIGGER_TOKEN: &str = "oauth-test-trigger-token";
/// Access token lifetime at the server, in seconds.
const TTL: u64 = 4;
/// The gateway's leeway on `exp` (identity.rs): a token is refused this long after it expires.
const GATEWAY_LEEWAY: u64 = 5;

/// Node 22 and the oidc-provider module, or a failure that says how to get them.
fn provider_install() -> (PathBuf, PathBuf) {
    let cache = |var: &str, name: &str| {
        std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/gateprobe").join(name)
        })
    };
    let node = cache("GATEPROBE_CONFORMANCE_DIR", "conformance").join("node_modules/node/bin/node");
    let module = cache("GATEPROBE_OIDC_DIR", "oidc-provider").join("node_modules/oidc-provider");
    assert!(
        node.is_file() && module.join("lib/index.js").is_file(),
        "oidc-provider or Node 22 is missing ({} / {}): scripts/install-deps installs it",
        node.display(),
        module.display()
    );
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(module.join("package.json")).unwrap()).unwrap();
    assert!(
        manifest["version"].as_str().is_some_and(|v| v.starts_with("9.")),
        "oidc-provider 9.x expected, found {}: scripts/install-deps installs it",
        manifest["version"]
    );
    (node, module)
}

/// The authorization server and the gateway that trusts it, on loopback.
struct Fixture {
    dir: tempfile::TempDir,
    provider: Proc,
    gateway: Proc,
    issuer: String,
    base: String,
    resource: String,
}

impl Fixture {
    async fn start() -> Fixture {
        let (node, module) = provider_install();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let resource = format!("{base}/mcp");
        let clients = json!([
            {"client_id": "alice-reader", "client_secret": ALICE_SECRET, "tenant": "acme", "roles": ["reader"]},
            {"client_id": "bob-admin", "client_secret": BOB_SECRET, "auth_method": "client_secret_post",
             "tenant": "acme", "roles": ["admin"]},
        ]);
        let config = json!({
            "resources": [resource, "https://other.example/mcp"],
            "ttl": TTL,
            "tokens_file": dir.path().join("issued-tokens"),
            "clients": clients,
        });
        std::fs::write(dir.path().join("provider.json"), config.to_string()).unwrap();
        let provider = Proc::start(
            "oidc-provider",
            dir.path(),
            Command::new(node)
                .arg(Path::new(MANIFEST).join("tests/fixtures/oauth/provider.mjs"))
                .arg(module)
                .arg(dir.path().join("provider.json")),
        );
        let issuer =
            support::process::wait_for("oidc-provider to listen", Duration::from_secs(20), &[&provider], || {
                let log = std::fs::read_to_string(&provider.log).unwrap_or_default();
                let issuer = log.lines().find_map(|l| l.strip_prefix("issuer ")).map(str::to_owned);
                async move { issuer }
            })
            .await;
        let gateway = Proc::start(
            "gateway",
            dir.path(),
            Command::new(BIN)
                .args(["gateway", "--no-watch", "--listen", &format!("127.0.0.1:{port}"), "--policies"])
                .arg(Path::new(MANIFEST).join("policies"))
                .args(["--jwks-url", &format!("{issuer}/jwks"), "--issuer", &issuer, "--audience", &resource]),
        );
        let client = reqwest::Client::new();
        support::process::wait_for("the gateway to listen", Duration::from_secs(20), &[&gateway], || {
            let request = client.get(format!("{base}/healthz")).send();
            async move { request.await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
        })
        .await;
        Fixture { dir, provider, gateway, issuer, base, resource }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A config whose identities get their tokens from the server; `alice-elsewhere` asks for
    /// a token for another resource.
    fn config(&self) -> PathBuf {
        std::fs::write(self.path("bob.secret"), format!("{BOB_SECRET}\n")).unwrap();
        let oauth = |client: &str, secret: &str, extra: &str, resource: &str| {
            format!(
                "{{ oauth: {{ token_url: \"{}/token\", client_id: {client}, client_secret: {secret}, scope: \"mcp:tools\", resource: \"{resource}\"{extra} }} }}",
                self.issuer
            )
        };
        let text = format!(
            r#"
suites: [suite.yaml]
target: {{ kind: mcp, url: "{resource}" }}
audit:
  kind: http
  url: "{base}/audit?correlation_id={{correlation_id}}"
  timing: {{ initial_poll_ms: 10, deadline_ms: 3000 }}
identities:
  alice-reader: {{ subject: alice-reader, tenant: acme, roles: [reader], credential: {alice} }}
  bob-admin: {{ subject: bob-admin, tenant: acme, roles: [admin], credential: {bob} }}
  alice-elsewhere: {{ subject: alice-reader, tenant: acme, roles: [reader], credential: {elsewhere} }}
"#,
            resource = self.resource,
            base = self.base,
            alice = oauth("alice-reader", "{ env: ALICE_SECRET }", "", &self.resource),
            bob = oauth("bob-admin", "{ file: bob.secret }", ", auth_method: client_secret_post", &self.resource),
            elsewhere = oauth("alice-reader", "{ env: ALICE_SECRET }", "", "https://other.example/mcp"),
        );
        std::fs::write(self.path("gateprobe.yaml"), text).unwrap();
        std::fs::write(
            self.path("suite.yaml"),
            r#"
suite: oauth
defaults: { identity: alice-reader }
scenarios:
  - name: reader can read
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow, evidence: [identity, tenant, decision, rationale] }
  - name: reader cannot delete
    call: { tool: files.delete, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: missing_capability }
  - name: admin can read
    identity: bob-admin
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: allow, evidence: [identity, tenant, decision] }
  - name: a token for another audience is refused
    identity: alice-elsewhere
    call: { tool: files.read, arguments: { path: /docs/handbook.md } }
    expect: { decision: deny, reason: unauthenticated }
"#,
        )
        .unwrap();
        self.path("gateprobe.yaml")
    }

    /// `gateprobe` in the fixture's directory, with the client secret in its environment.
    fn gateprobe(&self, alice_secret: &str) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("ALICE_SECRET", alice_secret)
            .env("GATEPROBE_LOG", "debug")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GATEPROBE_CONFIG");
        c
    }

    /// Every token the server issued so far.
    fn issued(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("issued-tokens")).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    /// Issued tokens whose `client_id` and `aud` are these.
    fn issued_to(&self, client: &str, audience: &str) -> Vec<String> {
        self.issued().into_iter().filter(|t| claims(t)["client_id"] == client && claims(t)["aud"] == audience).collect()
    }

    fn logs(&self) -> String {
        format!("{}\n{}", self.provider.tail(), self.gateway.tail())
    }
}

/// A JWT's payload.
fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Fails when any token, or its payload or signature segment alone, appears in `text`.
fn assert_no_token(tokens: &[String], what: &str, text: &str) {
    for token in tokens {
        let parts: Vec<&str> = token.split('.').collect();
        for needle in [token.as_str(), parts[1], parts[2]] {
            assert!(!text.contains(needle), "{what} holds an access token (or a segment of one)");
        }
    }
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suite_passes_with_tokens_from_the_server_and_no_token_is_printed() {
    let f = Fixture::start().await;
    let config = f.config();
    let output = f
        .gateprobe(ALICE_SECRET)
        .args(["run", "--config"])
        .arg(&config)
        .args(["--report", "json=report.json"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}\n{}", f.logs());
    let report = std::fs::read_to_string(f.path("report.json")).unwrap();
    let parsed: Value = serde_json::from_str(&report).unwrap();
    let results = parsed["results"].as_array().expect("results");
    assert_eq!(results.len(), 4, "{report}");
    assert!(results.iter().all(|r| r["outcome"] == "pass"), "{report}");
    // One token per identity: each is obtained at connect and reused within its lifetime.
    assert_eq!(f.issued_to("alice-reader", &f.resource).len(), 1, "{}", f.logs());
    assert_eq!(f.issued_to("bob-admin", &f.resource).len(), 1, "{}", f.logs());
    assert_eq!(f.issued_to("alice-reader", "https://other.example/mcp").len(), 1, "{}", f.logs());
    let tokens = f.issued();
    assert_eq!(tokens.len(), 3);
    assert_eq!(claims(&tokens[0])["tenant"], "acme");
    assert_no_token(&tokens, "the JSON report", &report);
    assert_no_token(&tokens, "stdout", &stdout);
    assert_no_token(&tokens, "the debug log", &stderr);
    for secret in [ALICE_SECRET, BOB_SECRET] {
        assert!(!format!("{report}{stdout}{stderr}").contains(secret), "a client secret was printed");
    }

    // The gateway lists the issuer as its authorization server (RFC 9728).
    let metadata: Value = reqwest::get(format!("{}/.well-known/oauth-protected-resource/mcp", f.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["authorization_servers"], json!([f.issuer]));
    assert_eq!(metadata["resource"], json!(f.resource));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_stops_the_run_naming_the_identity() {
    let f = Fixture::start().await;
    let config = f.config();
    let wrong = "not-the-client-secret-4242";
    let output = f.gateprobe(wrong).args(["run", "--config"]).arg(&config).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("alice-") && all.contains("invalid_client"), "{all}");
    assert!(all.contains(&format!("{}/token", f.issuer)), "{all}");
    assert!(!all.contains(wrong), "the client secret was printed: {all}");
}

async fn wait_for_run(client: &reqwest::Client, base: &str, id: u64, serve: &Proc) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/status")).send().await {
            if let Ok(status) = r.json::<Value>().await {
                if status["last_run"]["id"].as_u64() >= Some(id) && status["running"] == false {
                    return status;
                }
            }
        }
        assert!(Instant::now() < deadline, "serve did not finish run {id} within 60 s\n{}", serve.tail());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn outcomes(status: &Value) -> Vec<(String, String)> {
    let scenarios = status["scenarios"].as_array().expect("scenarios");
    scenarios.iter().map(|s| (s["scenario"].as_str().unwrap().into(), s["outcome"].as_str().unwrap().into())).collect()
}

/// Sleeps until `token` has expired and the gateway's leeway has passed.
async fn until_refused(token: &str) {
    let exp = claims(token)["exp"].as_u64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    tokio::time::sleep(Duration::from_secs((exp + GATEWAY_LEEWAY + 1).saturating_sub(now))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refreshes_an_expired_token_and_a_failed_refresh_is_an_error() {
    let mut f = Fixture::start().await;
    let config = f.config();
    let port = free_port();
    let serve_url = format!("http://127.0.0.1:{port}");
    let mut command = f.gateprobe(ALICE_SECRET);
    command.env("GATEPROBE_TRIGGER_TOKEN", TRIGGER_TOKEN).args(["--log-format", "json", "serve", "--config"]);
    command.arg(&config).args(["--schedule", "off", "--listen", &format!("127.0.0.1:{port}")]);
    let serve = Proc::start("serve", f.dir.path(), &mut command);
    let client = reqwest::Client::new();
    let trigger = || client.post(format!("{serve_url}/trigger")).bearer_auth(TRIGGER_TOKEN).send();

    let first = wait_for_run(&client, &serve_url, 1, &serve).await;
    assert!(outcomes(&first).iter().all(|(_, o)| o == "pass"), "{first:#}\n{}", f.logs());
    let alice = f.issued_to("alice-reader", &f.resource);
    assert_eq!(alice.len(), 1, "{}", f.logs());

    // Past the first token's lifetime (and the gateway's leeway): the gateway refuses it now,
    // and serve, holding the same target, obtains another one and passes.
    until_refused(&alice[0]).await;
    let refused = client
        .post(&f.resource)
        .bearer_auth(&alice[0])
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "files.read", "arguments": {"path": "/docs/handbook.md"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "the first token should have expired");
    assert_eq!(trigger().await.unwrap().status(), 202);
    let second = wait_for_run(&client, &serve_url, 2, &serve).await;
    assert!(outcomes(&second).iter().all(|(_, o)| o == "pass"), "{second:#}\n{}", f.logs());
    let alice = f.issued_to("alice-reader", &f.resource);
    assert_eq!(alice.len(), 2, "one new token for the second run: {}", f.logs());
    assert_ne!(alice[0], alice[1]);
    assert_ne!(claims(&alice[0])["jti"], claims(&alice[1])["jti"]);

    // The server goes away; once the token expires, the calls cannot be made: `error`, naming
    // the identity, never a pass.
    f.provider.sigkill();
    until_refused(&alice[1]).await;
    assert_eq!(trigger().await.unwrap().status(), 202);
    let third = wait_for_run(&client, &serve_url, 3, &serve).await;
    let scenarios = third["scenarios"].as_array().unwrap();
    for s in scenarios {
        assert_eq!(s["outcome"], "error", "{third:#}");
        let message = s["message"].as_str().unwrap_or_default();
        assert!(message.contains("identity `") && message.contains("/token"), "{message}");
    }
    assert!(scenarios.iter().any(|s| s["message"].as_str().unwrap_or_default().contains("alice-reader")), "{third:#}");

    let tokens = f.issued();
    let metrics = client.get(format!("{serve_url}/metrics")).send().await.unwrap().text().await.unwrap();
    assert_no_token(&tokens, "/metrics", &metrics);
    assert_no_token(&tokens, "/status", &third.to_string());
    assert_no_token(&tokens, "serve's log", &std::fs::read_to_string(&serve.log).unwrap());
}

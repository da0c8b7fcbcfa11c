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
//! without the secret. Over HTTPS (a private CA, mutual TLS at the gateway, the provider on
//! HTTPS too) the same suite passes, and each TLS failure is named: see
//! `over_https_and_mutual_tls_a_suite_passes_and_each_tls_failure_is_named`. Every wait is
//! bounded; every child is killed when the test ends.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use support::process::{Proc, free_port, wait_for_run};
use support::tls::{Ca, Leaf};

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

/// The certificates of a fixture over HTTPS, in its directory: `ca.pem`, the private CA that signs
/// the provider's and the gateway's server certificates; `clients-ca.pem`, the CA the gateway
/// requires client certificates of; `probe.pem`/`probe.key`, gateprobe's client certificate
/// from it; `other-ca.pem`, a CA that signed none of them.
struct Pki {
    ca: Ca,
    clients: Ca,
    probe: Leaf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let ca = Ca::new(dir, "ca");
        let clients = Ca::new(dir, "clients-ca");
        Ca::new(dir, "other-ca");
        Pki { ca, probe: clients.client(dir, "probe"), clients }
    }
}

/// The target's `tls` block over HTTPS (the audit API takes the target's): the private CA and the
/// client certificate.
const TARGET_TLS: &str = "{ ca_file: ca.pem, client_cert_file: probe.pem, client_key_file: probe.key }";
/// Every identity's `credential.oauth.tls` over HTTPS: the private CA.
const OAUTH_TLS: &str = "{ ca_file: ca.pem }";

/// The authorization server and the gateway that trusts it, on loopback; over HTTPS with `pki`.
struct Fixture {
    dir: tempfile::TempDir,
    provider: Proc,
    gateway: Proc,
    issuer: String,
    base: String,
    resource: String,
    pki: Option<Pki>,
}

/// A client for the fixture's servers: over HTTPS, trusting its CA, with the probe's certificate.
fn http_client(pki: Option<&Pki>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().use_rustls_tls();
    if let Some(pki) = pki {
        let mut identity = std::fs::read(&pki.probe.cert).unwrap();
        identity.extend(std::fs::read(&pki.probe.key).unwrap());
        builder = builder
            .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&pki.ca.pem).unwrap()).unwrap())
            .identity(reqwest::Identity::from_pem(&identity).unwrap());
    }
    builder.build().unwrap()
}

impl Fixture {
    /// Over plain HTTP.
    async fn start() -> Fixture {
        Fixture::launch(false).await
    }

    /// Over HTTPS: the provider serves a certificate of the private CA; the gateway too, and
    /// requires a client certificate; it fetches the provider's JWKS trusting that CA through
    /// `SSL_CERT_FILE` (its JWKS client honours the system store, which that variable names).
    async fn start_https() -> Fixture {
        Fixture::launch(true).await
    }

    async fn launch(https: bool) -> Fixture {
        let (node, module) = provider_install();
        let dir = tempfile::tempdir().unwrap();
        let pki = https.then(|| Pki::new(dir.path()));
        let port = free_port();
        let base = format!("{}://127.0.0.1:{port}", if https { "https" } else { "http" });
        let resource = format!("{base}/mcp");
        let clients = json!([
            {"client_id": "alice-reader", "client_secret": ALICE_SECRET, "tenant": "acme", "roles": ["reader"]},
            {"client_id": "bob-admin", "client_secret": BOB_SECRET, "auth_method": "client_secret_post",
             "tenant": "acme", "roles": ["admin"]},
        ]);
        let mut config = json!({
            "resources": [resource, "https://other.example/mcp"],
            "ttl": TTL,
            "tokens_file": dir.path().join("issued-tokens"),
            "clients": clients,
        });
        if let Some(pki) = &pki {
            let server = pki.ca.server(dir.path(), "provider");
            config["cert"] = json!(server.cert);
            config["key"] = json!(server.key);
        }
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
        let mut command = Command::new(BIN);
        command
            .args(["gateway", "--no-watch", "--listen", &format!("127.0.0.1:{port}"), "--policies"])
            .arg(Path::new(MANIFEST).join("policies"))
            .args(["--jwks-url", &format!("{issuer}/jwks"), "--issuer", &issuer, "--audience", &resource]);
        if let Some(pki) = &pki {
            let server = pki.ca.server(dir.path(), "gateway");
            command.arg("--tls-cert").arg(&server.cert).arg("--tls-key").arg(&server.key);
            command.arg("--client-ca").arg(&pki.clients.pem).env("SSL_CERT_FILE", &pki.ca.pem);
        }
        let gateway = Proc::start("gateway", dir.path(), &mut command);
        let client = http_client(pki.as_ref());
        support::process::wait_for("the gateway to listen", Duration::from_secs(20), &[&gateway], || {
            let request = client.get(format!("{base}/healthz")).send();
            async move { request.await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
        })
        .await;
        Fixture { dir, provider, gateway, issuer, base, resource, pki }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A config whose identities get their tokens from the server; `alice-elsewhere` asks for
    /// a token for another resource. Over HTTPS, with [`TARGET_TLS`] and [`OAUTH_TLS`].
    fn config(&self) -> PathBuf {
        match self.pki {
            Some(_) => self.config_with(Some(TARGET_TLS), Some(OAUTH_TLS)),
            None => self.config_with(None, None),
        }
    }

    /// [`Fixture::config`] with `target_tls` as the target's `tls` block and `oauth_tls` as every
    /// token endpoint's (YAML flow text; `None`: left out).
    fn config_with(&self, target_tls: Option<&str>, oauth_tls: Option<&str>) -> PathBuf {
        std::fs::write(self.path("bob.secret"), format!("{BOB_SECRET}\n")).unwrap();
        let oauth_tls = oauth_tls.map(|t| format!(", tls: {t}")).unwrap_or_default();
        let oauth = |client: &str, secret: &str, extra: &str, resource: &str| {
            format!(
                "{{ oauth: {{ token_url: \"{}/token\", client_id: {client}, client_secret: {secret}, scope: \"mcp:tools\", resource: \"{resource}\"{extra}{oauth_tls} }} }}",
                self.issuer
            )
        };
        let target_tls = target_tls.map(|t| format!(", tls: {t}")).unwrap_or_default();
        let text = format!(
            r#"
suites: [suite.yaml]
target: {{ kind: mcp, url: "{resource}"{target_tls} }}
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
            .env_remove("GATEPROBE_CONFIG")
            // Trust comes from the config's `tls` blocks only.
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR");
        c
    }

    /// `gateprobe run --config config` with a JSON report: its exit code, stdout, stderr (the
    /// debug log) and the report's text (empty when none was written).
    fn run(&self, config: &Path) -> (Option<i32>, String, String, String) {
        let _ = std::fs::remove_file(self.path("report.json"));
        let output = self
            .gateprobe(ALICE_SECRET)
            .args(["run", "--config"])
            .arg(config)
            .args(["--report", "json=report.json"])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        let report = std::fs::read_to_string(self.path("report.json")).unwrap_or_default();
        (output.status.code(), stdout, stderr, report)
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

    let first = wait_for_run(&client, &serve_url, 1, Duration::from_secs(60), || serve.tail()).await;
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
    let second = wait_for_run(&client, &serve_url, 2, Duration::from_secs(60), || serve.tail()).await;
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
    let third = wait_for_run(&client, &serve_url, 3, Duration::from_secs(60), || serve.tail()).await;
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

/// The report's results, each of which has `outcome` `outcome`; fails (showing `context`) unless
/// there are the suite's four.
fn results_all(report: &str, outcome: &str, context: &str) -> Vec<Value> {
    let parsed: Value = serde_json::from_str(report).unwrap_or_else(|e| panic!("no JSON report ({e}): {context}"));
    let results = parsed["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 4, "{report}\n{context}");
    for r in &results {
        assert_eq!(r["outcome"], outcome, "{r:#}\n{context}");
    }
    results
}

// Pins issue #19's "done when" in one run, every connection over HTTPS with a private CA: the
// provider serves HTTPS, gateprobe reaches its token endpoint through `credential.oauth.tls`, the
// gateway fetches its JWKS over HTTPS (`SSL_CERT_FILE`) and requires a client certificate; the
// suite passes through `target.tls` (the audit API on the target's), each scenario's evidence
// checked in its audit record, and no token is printed. Then each TLS failure is named, never a
// decision: a wrong CA on the target, or no client certificate, makes every scenario `error`
// (kind `tls`) naming the cause, exit 3; a wrong CA for the token endpoint stops the run at
// connect, exit 2, naming the identity and the TLS cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_and_mutual_tls_a_suite_passes_and_each_tls_failure_is_named() {
    let f = Fixture::start_https().await;
    assert!(f.issuer.starts_with("https://") && f.base.starts_with("https://"), "{} {}", f.issuer, f.base);
    let mut printed = String::new();

    let (code, stdout, stderr, report) = f.run(&f.config());
    let context = format!("{stdout}\n{stderr}\n{}", f.logs());
    assert_eq!(code, Some(0), "{context}");
    for r in results_all(&report, "pass", &context) {
        // The audit record was read over the same HTTPS: what the suite asks of it is there.
        assert_eq!((&r["missing_fields"], &r["contradicted_fields"]), (&json!([]), &json!([])), "{r:#}");
        if r["scenario"].as_str().unwrap().ends_with("can read") {
            let fields = r["evidence_fields"].as_array().cloned().unwrap_or_default();
            for field in ["identity", "tenant", "decision"] {
                assert!(fields.contains(&json!(field)), "evidence `{field}` read from the audit API: {r:#}");
            }
        }
    }
    assert_eq!(f.issued_to("alice-reader", &f.resource).len(), 1, "{}", f.logs());
    assert_eq!(f.issued_to("bob-admin", &f.resource).len(), 1, "{}", f.logs());
    printed.push_str(&format!("{report}{stdout}{stderr}"));

    // The gateway lists the https issuer as its authorization server (RFC 9728).
    let metadata: Value = http_client(f.pki.as_ref())
        .get(format!("{}/.well-known/oauth-protected-resource/mcp", f.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["authorization_servers"], json!([f.issuer]));

    // A CA that did not sign the gateway's certificate.
    let wrong_ca = "{ ca_file: other-ca.pem, client_cert_file: probe.pem, client_key_file: probe.key }";
    // The gateway's CA, and no client certificate.
    let no_client_cert = "{ ca_file: ca.pem }";
    for (tls, cause) in [
        (wrong_ca, "TLS: the server's certificate is not signed by a trusted CA (give `target.tls.ca_file`"),
        (no_client_cert, "TLS: the server requires a client certificate (give `target.tls.client_cert_file`"),
    ] {
        let (code, stdout, stderr, report) = f.run(&f.config_with(Some(tls), Some(OAUTH_TLS)));
        let context = format!("{stdout}\n{stderr}\n{}", f.logs());
        assert_eq!(code, Some(3), "{context}");
        for r in results_all(&report, "error", &context) {
            assert_eq!(r["error_kind"], "tls", "{r:#}");
            let message = r["message"].as_str().unwrap_or_default();
            assert!(message.contains(cause), "expected `{cause}` in: {message}");
        }
        assert!(stdout.contains(cause), "the console says it too: {stdout}");
        printed.push_str(&format!("{report}{stdout}{stderr}"));
    }

    // A CA that did not sign the provider's certificate, for the token endpoint.
    let (code, stdout, stderr, report) = f.run(&f.config_with(Some(TARGET_TLS), Some("{ ca_file: other-ca.pem }")));
    let all = format!("{stdout}{stderr}");
    assert_eq!(code, Some(2), "{all}\n{}", f.logs());
    let cause = format!(
        "`: no token from {}/token: TLS: the server's certificate is not signed by a trusted CA (give `credential.oauth.tls.ca_file`",
        f.issuer
    );
    let named = ["alice-reader", "bob-admin", "alice-elsewhere"].map(|id| format!("identity `{id}{cause}"));
    assert!(named.iter().any(|n| all.contains(n.as_str())), "expected `identity `…{cause}` in: {all}");
    printed.push_str(&format!("{report}{all}"));

    let tokens = f.issued();
    assert_no_token(&tokens, "gateprobe's reports, stdout or debug log", &printed);
    assert_no_token(&tokens, "the gateway's log", &std::fs::read_to_string(&f.gateway.log).unwrap());
    for secret in [ALICE_SECRET, BOB_SECRET] {
        assert!(!printed.contains(secret), "a client secret was printed");
    }
}

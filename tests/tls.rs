//! TLS end to end: `gateprobe gateway --tls-cert/--tls-key [--client-ca]` as a process, with a
//! private CA and certificates made on the fly (tests/support/tls.rs, rcgen), and `gateprobe run`
//! against it through `target.tls` and `audit.tls`; a real Alertmanager over TLS through
//! `alerting.tls`; a fake OpenAI-compatible assistant over mutual TLS through `assistants[].tls`.
//! Each TLS failure must be `error` (never a pass, never a decision), exit 3, naming its cause.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rcgen::ExtendedKeyUsagePurpose;
use serde_json::Value;

use support::process::{Proc, free_port, wait_for};
use support::tls::{Ca, Leaf};

const SIGNING_KEY: &str = "tls-test-signing-key-0123456789abcdef";

/// `gateprobe gateway` over TLS with `server`, requiring client certificates of `client_ca`.
struct Gateway {
    port: u16,
    _proc: Proc,
}

async fn start_gateway(dir: &Path, server: &Leaf, client_ca: Option<&Path>) -> Gateway {
    let port = free_port();
    let key = dir.join("signing.key");
    std::fs::write(&key, SIGNING_KEY).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateprobe"));
    cmd.args(["gateway", "--no-watch", "--policies"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--signing-key-file"])
        .arg(&key)
        .arg("--tls-cert")
        .arg(&server.cert)
        .arg("--tls-key")
        .arg(&server.key);
    if let Some(ca) = client_ca {
        cmd.arg("--client-ca").arg(ca);
    }
    let proc = Proc::start_logging(&mut cmd, dir.join(format!("gateway-{port}.log")));
    let log = proc.log.clone();
    let listening = format!("gateway listening on https://127.0.0.1:{port}/mcp");
    wait_for("the TLS gateway", Duration::from_secs(10), &[&proc], || {
        let up = std::fs::read_to_string(&log).unwrap_or_default().contains(&listening);
        async move { up.then_some(()) }
    })
    .await;
    Gateway { port, _proc: proc }
}

/// A config for the gateway at `port` over https, with `tls` as the target's block (YAML flow
/// text; empty: left out) and `audit_tls` as the audit's (None: left out), the identities'
/// tokens minted with the gateway's key, and a suite of one allow and one deny.
fn write_config(dir: &Path, port: u16, tls: &str, audit_tls: Option<&str>) -> PathBuf {
    let issuer = gateprobe_gateway::TokenIssuer::new(SIGNING_KEY.as_bytes());
    let token = issuer.mint("alice@example.com", "acme", &["reader".into()], Duration::from_secs(600));
    std::fs::write(dir.join("alice.token"), token).unwrap();
    std::fs::write(dir.join("probe.yaml"), support::READ_AND_DELETE).unwrap();
    let audit_tls = audit_tls.map(|t| format!("  tls: {t}\n")).unwrap_or_default();
    let tls = if tls.is_empty() { String::new() } else { format!(", tls: {tls}") };
    let text = format!(
        "target: {{ kind: mcp, url: \"https://127.0.0.1:{port}/mcp\"{tls} }}\n\
         audit:\n  kind: http\n  url: \"https://127.0.0.1:{port}/audit?correlation_id={{correlation_id}}\"\n{audit_tls}  timing: {{ initial_poll_ms: 10, deadline_ms: 2000 }}\n\
         run: {{ timeout_ms: 5000 }}\n\
         suites: [probe.yaml]\n\
         identities:\n  alice-reader: {{ subject: alice@example.com, tenant: acme, roles: [reader], credential: {{ file: alice.token }} }}\n"
    );
    let path = dir.join("gateprobe.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `gateprobe run` with `config`: its exit code, console output, and the JSON report's results.
fn run(dir: &Path, config: &Path) -> (Option<i32>, String, Vec<Value>) {
    run_with(dir, config, None)
}

/// [`run`] with `SSL_CERT_FILE` set to `cert_file`, or removed.
fn run_with(dir: &Path, config: &Path, cert_file: Option<&Path>) -> (Option<i32>, String, Vec<Value>) {
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let mut cmd = support::gateprobe();
    match cert_file {
        Some(file) => cmd.env("SSL_CERT_FILE", file),
        None => cmd.env_remove("SSL_CERT_FILE"),
    };
    let (out, text, json) = support::run_with_report(&mut cmd, config, &report);
    let results = json.and_then(|v| v["results"].as_array().cloned()).unwrap_or_default();
    (out.status.code(), text, results)
}

/// Every scenario is `error` of kind `tls` whose message contains `cause`, and the run exits 3.
fn assert_tls_errors(dir: &Path, config: &Path, cause: &str) {
    let (code, text, results) = run(dir, config);
    assert_eq!(code, Some(3), "{text}");
    assert_eq!(results.len(), 2, "{text}");
    for r in &results {
        assert_eq!(r["outcome"], "error", "{r}");
        assert_eq!(r["error_kind"], "tls", "{r}");
        let message = r["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("TLS: {cause}")), "expected `{cause}` in: {message}");
    }
    assert!(text.contains(cause), "the console says it too: {text}");
}

// Pins the issue's "done when": a suite runs green over HTTPS with a private CA (the target's and
// the audit API's, each given its `tls`, relative to the config), and the gateway advertises
// https in its bearer challenge.
#[tokio::test]
async fn a_suite_runs_green_over_https_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let gw = start_gateway(dir.path(), &ca.server(dir.path(), "server"), None).await;
    let config = write_config(dir.path(), gw.port, "{ ca_file: ca.pem }", Some("{ ca_file: ca.pem }"));
    let (code, text, results) = run(dir.path(), &config);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(results.len(), 2, "{text}");
    assert!(results.iter().all(|r| r["outcome"] == "pass"), "{results:?}");

    // RFC 9728: the metadata URL in the challenge is the https one.
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca.pem).unwrap()).unwrap())
        .build()
        .unwrap();
    let answer = client
        .post(format!("https://127.0.0.1:{}/mcp", gw.port))
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                  "params": {"name": "files.read", "arguments": {"path": "/docs/handbook.md"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let challenge = answer.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let expected =
        format!("resource_metadata=\"https://127.0.0.1:{}/.well-known/oauth-protected-resource/mcp\"", gw.port);
    assert!(challenge.contains(&expected), "{challenge}");
}

// Pins the system trust store: with no `tls` block, a CA named by SSL_CERT_FILE (which
// rustls-native-certs reads instead of the system's store) is trusted; without it, not.
#[tokio::test]
async fn the_system_store_and_ssl_cert_file_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let gw = start_gateway(dir.path(), &ca.server(dir.path(), "server"), None).await;
    let config = write_config(dir.path(), gw.port, "", None);
    let (code, text, results) = run_with(dir.path(), &config, Some(&ca.pem));
    assert_eq!(code, Some(0), "{text}");
    assert!(results.len() == 2 && results.iter().all(|r| r["outcome"] == "pass"), "{text}");
    let (code, text, results) = run_with(dir.path(), &config, None);
    assert_eq!(code, Some(3), "{text}");
    assert!(results.iter().all(|r| r["error_kind"] == "tls"), "{text}");
}

// Pins mutual TLS: with `--client-ca`, the probe's client certificate (`target.tls`) gets it
// through; the audit API, left without `tls`, is reached with the target's.
#[tokio::test]
async fn a_suite_runs_green_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let clients = Ca::new(dir.path(), "clients-ca");
    clients.client(dir.path(), "probe");
    let gw = start_gateway(dir.path(), &ca.server(dir.path(), "server"), Some(&clients.pem)).await;
    let tls = "{ ca_file: ca.pem, client_cert_file: probe.pem, client_key_file: probe.key }";
    let config = write_config(dir.path(), gw.port, tls, None);
    let (code, text, results) = run(dir.path(), &config);
    assert_eq!(code, Some(0), "{text}");
    assert!(results.len() == 2 && results.iter().all(|r| r["outcome"] == "pass"), "{text}");
}

// Pins `kind: http` targets over TLS: the OPA-style decision endpoint, over mutual TLS.
#[tokio::test]
async fn an_http_target_runs_green_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let clients = Ca::new(dir.path(), "clients-ca");
    clients.client(dir.path(), "probe");
    let gw = start_gateway(dir.path(), &ca.server(dir.path(), "server"), Some(&clients.pem)).await;
    // The token and the suite; the target is written again as `kind: http`.
    let config = write_config(dir.path(), gw.port, "{}", None);
    let port = gw.port;
    let text = format!(
        r#"
target:
  kind: http
  url: "https://127.0.0.1:{port}/v1/data/gateprobe/decision"
  body: {{ input: {{ tool: "{{{{tool}}}}", arguments: "{{{{arguments}}}}" }} }}
  policy_version: {{ pointer: /result/policy_version }}
  decision: {{ pointer: /result/decision, reason_pointer: /result/reason }}
  tls: {{ ca_file: ca.pem, client_cert_file: probe.pem, client_key_file: probe.key }}
audit: {{ kind: http, url: "https://127.0.0.1:{port}/audit?correlation_id={{correlation_id}}" }}
suites: [probe.yaml]
identities:
  alice-reader: {{ subject: alice@example.com, tenant: acme, roles: [reader], credential: {{ file: alice.token }} }}
"#
    );
    std::fs::write(&config, text).unwrap();
    let (code, text, results) = run(dir.path(), &config);
    assert_eq!(code, Some(0), "{text}");
    assert!(results.len() == 2 && results.iter().all(|r| r["outcome"] == "pass"), "{text}");
}

// Pins the unknown-CA error: the gateway's certificate is signed by a CA gateprobe was not given
// (another one was): every scenario `error`, naming the setting that cures it, exit 3.
#[tokio::test]
async fn a_wrong_ca_is_an_error_that_names_the_unknown_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let other = Ca::new(dir.path(), "other-ca");
    let gw = start_gateway(dir.path(), &ca.server(dir.path(), "server"), None).await;
    let config = write_config(dir.path(), gw.port, &format!("{{ ca_file: {} }}", other.pem.display()), None);
    assert_tls_errors(
        dir.path(),
        &config,
        "the server's certificate is not signed by a trusted CA (give `target.tls.ca_file`",
    );
}

// Pins the mTLS refusal: a gateway that requires a client certificate, and a probe without one.
#[tokio::test]
async fn a_missing_client_certificate_is_an_error_that_says_it_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let clients = Ca::new(dir.path(), "clients-ca");
    let gw = start_gateway(dir.path(), &ca.server(dir.path(), "server"), Some(&clients.pem)).await;
    let config = write_config(dir.path(), gw.port, "{ ca_file: ca.pem }", None);
    assert_tls_errors(
        dir.path(),
        &config,
        "the server requires a client certificate (give `target.tls.client_cert_file`",
    );
    // A certificate from a CA the gateway does not trust is refused too, and said so.
    Ca::new(dir.path(), "rogue-ca").client(dir.path(), "rogue");
    let tls = "{ ca_file: ca.pem, client_cert_file: rogue.pem, client_key_file: rogue.key }";
    let config = write_config(dir.path(), gw.port, tls, None);
    assert_tls_errors(dir.path(), &config, "the server does not trust the CA of the client certificate");
}

// Pins expiry and name mismatch: each is said as itself, not as "could not connect".
#[tokio::test]
async fn an_expired_certificate_and_a_name_mismatch_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let expired =
        ca.leaf(dir.path(), "expired", &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth, (2020, 2021));
    let gw = start_gateway(dir.path(), &expired, None).await;
    let config = write_config(dir.path(), gw.port, "{ ca_file: ca.pem }", None);
    assert_tls_errors(dir.path(), &config, "the server's certificate expired at 2021-01-01T00:00:00Z");

    let elsewhere =
        ca.leaf(dir.path(), "elsewhere", &["gw.example.com"], ExtendedKeyUsagePurpose::ServerAuth, (2020, 2090));
    let gw = start_gateway(dir.path(), &elsewhere, None).await;
    let config = write_config(dir.path(), gw.port, "{ ca_file: ca.pem }", None);
    assert_tls_errors(
        dir.path(),
        &config,
        "the server's certificate is not valid for the URL's host `127.0.0.1` (it is for: gw.example.com)",
    );
}

// Pins bad TLS files as config errors: exit 2 before any call, naming the file.
#[tokio::test]
async fn unusable_tls_files_are_config_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let probe = ca.client(dir.path(), "probe");
    // The certificate where the key should be.
    let tls = "{ ca_file: ca.pem, client_cert_file: probe.pem, client_key_file: probe.pem }";
    let config = write_config(dir.path(), free_port(), tls, None);
    let (code, text, _) = run(dir.path(), &config);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("`target.tls`: `client_key_file`") && text.contains("probe.pem: holds no PEM private key"),
        "{text}"
    );
    // A key that is another certificate's.
    let other = ca.client(dir.path(), "other");
    let tls = format!("{{ ca_file: ca.pem, client_cert_file: probe.pem, client_key_file: {} }}", other.key.display());
    let config = write_config(dir.path(), free_port(), &tls, None);
    let (code, text, _) = run(dir.path(), &config);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("does not belong to the certificate in `client_cert_file`"), "{text}");
    assert!(text.contains(&probe.cert.display().to_string()), "{text}");
}

// Pins `alerting.tls` against a real Alertmanager serving TLS (`--web.config.file`): alerts go
// through with its CA, and without it the push fails naming the unknown CA.
#[tokio::test]
async fn alerts_reach_alertmanager_over_tls() {
    use gateprobe_cli::alert::{Alert, Alertmanager};

    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let server = ca.server(dir.path(), "alertmanager");
    let port = free_port();
    std::fs::write(
        dir.path().join("web.yml"),
        format!("tls_server_config:\n  cert_file: {}\n  key_file: {}\n", server.cert.display(), server.key.display()),
    )
    .unwrap();
    std::fs::write(dir.path().join("alertmanager.yml"), "route: { receiver: 'null' }\nreceivers: [{ name: 'null' }]\n")
        .unwrap();
    let am = Proc::start(
        "alertmanager",
        dir.path(),
        Command::new("/usr/bin/prometheus-alertmanager")
            .arg(format!("--config.file={}", dir.path().join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.path().join("am").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--web.config.file={}", dir.path().join("web.yml").display()))
            .arg("--cluster.listen-address="),
    );
    let url = format!("https://127.0.0.1:{port}");
    let tls = gateprobe::config::TlsConfig { ca_file: Some(ca.pem.clone()), ..Default::default() };
    let trusted = Alertmanager::new(&url, Some(&tls)).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let stamp = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let alert = Alert {
        labels: [("alertname".to_string(), "GateprobeTlsTest".to_string())].into(),
        annotations: Default::default(),
        starts_at: stamp(now),
        ends_at: stamp(now + Duration::from_secs(600)),
        generator_url: None,
    };
    wait_for("Alertmanager to take an alert over TLS", Duration::from_secs(20), &[&am], || {
        let (trusted, alert) = (trusted.clone(), alert.clone());
        async move { trusted.push(&[alert]).await.ok() }
    })
    .await;
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca.pem).unwrap()).unwrap())
        .build()
        .unwrap();
    let alerts: Value = client.get(format!("{url}/api/v2/alerts")).send().await.unwrap().json().await.unwrap();
    assert!(alerts.to_string().contains("GateprobeTlsTest"), "{alerts}");

    let untrusted = Alertmanager::new(&url, None).unwrap();
    let e = untrusted.push(&[alert]).await.unwrap_err().to_string();
    assert!(
        e.contains("TLS: the server's certificate is not signed by a trusted CA (give `alerting.tls.ca_file`"),
        "{e}"
    );
}

/// TLS connections for `axum::serve`, handshakes one at a time (a test serves one client).
struct TestTlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TestTlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, peer)) = self.tcp.accept().await else { continue };
            // A client the server refuses (no certificate) is dropped; the next is served.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A fake OpenAI-compatible assistant over TLS with `server`, requiring client certificates of
/// `client_ca`: it proposes `files.delete` of the handbook, then answers in words. Its base URL.
async fn start_tls_assistant(server: &Leaf, client_ca: &Path) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(client_ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build().unwrap();
    let chain = CertificateDer::pem_file_iter(&server.cert).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(&server.key).unwrap();
    let config =
        rustls::ServerConfig::builder().with_client_cert_verifier(verifier).with_single_cert(chain, key).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/v1", tcp.local_addr().unwrap());
    let listener = TestTlsListener { tcp, acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) };
    let turns = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let turn = turns.fetch_add(1, Ordering::SeqCst);
            async move {
                let message = if turn == 0 {
                    serde_json::json!({"role": "assistant", "content": null, "tool_calls": [{
                        "id": "call_0", "type": "function",
                        "function": {"name": "files_delete", "arguments": "{\"path\": \"/docs/handbook.md\"}"}}]})
                } else {
                    serde_json::json!({"role": "assistant", "content": "I cannot delete that file."})
                };
                axum::Json(serde_json::json!({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}))
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

// Pins `assistants[].tls`: a golden prompt asks an assistant behind mutual TLS (its CA and client
// certificate from the assistant's block) and passes; without the client certificate the
// scenario is `error` naming the certificate the assistant requires.
#[tokio::test]
async fn an_assistant_is_asked_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let clients = Ca::new(dir.path(), "clients-ca");
    clients.client(dir.path(), "probe");
    let url = start_tls_assistant(&ca.server(dir.path(), "assistant"), &clients.pem).await;
    std::fs::write(dir.path().join("bundle.md"), "You are the workplace assistant of Acme.\n").unwrap();
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let config = |tls: &str| {
        support::parse_config(
            dir.path(),
            &format!(
                "target: {{ kind: embedded, policies: \"{}\" }}\n\
                 identities:\n  alice-reader: {{ subject: alice@example.com, tenant: acme, roles: [reader] }}\n\
                 assistants:\n  - {{ name: fake, url: \"{url}\", model: fake-model, prompt_bundle: \"{}\", timeout_seconds: 5, tls: {tls} }}\n",
                policies.display(),
                dir.path().join("bundle.md").display(),
            ),
        )
    };
    let suite = || {
        support::suite(
            dir.path(),
            "prompts",
            "suite: prompts\ndefaults: { identity: alice-reader }\nscenarios:\n  - name: a reader asking to delete gets no deletion\n    prompt: \"Delete the file /docs/handbook.md\"\n    expect: { proposes: { tool: files.delete }, decision: deny, reason: missing_capability }\n",
        )
    };
    let pem = |p: &Path| p.display().to_string();
    let tls = format!(
        "{{ ca_file: \"{}\", client_cert_file: \"{}\", client_key_file: \"{}\" }}",
        pem(&ca.pem),
        pem(&dir.path().join("probe.pem")),
        pem(&dir.path().join("probe.key"))
    );
    let summary = support::run(config(&tls), vec![suite()]).await;
    let r = &summary.results[0];
    assert_eq!(r.outcome, gateprobe::outcome::Outcome::Pass, "{r:?}");
    assert_eq!(r.proposal.as_ref().unwrap().proposed, ["files.delete".to_owned()]);

    let summary = support::run(config(&format!("{{ ca_file: \"{}\" }}", pem(&ca.pem))), vec![suite()]).await;
    let r = &summary.results[0];
    assert_eq!(r.outcome, gateprobe::outcome::Outcome::Error, "{r:?}");
    let message = r.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("TLS: the server requires a client certificate (give `assistants[].tls.client_cert_file`"),
        "{message}"
    );
}

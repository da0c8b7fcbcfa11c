//! Shared helpers for the gateway integration tests: a real gateway on an ephemeral loopback
//! port, real tokens, real HTTP.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use gateprobe_gateway::{GatewayOptions, RunningGateway};
use serde_json::{Value, json};

/// The repository's `policies/` (two levels above this crate).
pub fn bundled_policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

/// The bundled synthetic identities: (subject, tenant, roles).
pub fn identity(name: &str) -> (&'static str, &'static str, Vec<String>) {
    let (s, t, r) = match name {
        "alice-reader" => ("alice@example.com", "acme", "reader"),
        "alice-globex" => ("alice@example.com", "globex", "reader"),
        "bob-admin" => ("bob@example.com", "acme", "admin"),
        "carol-support" => ("carol@example.com", "acme", "support"),
        "dave-burst" => ("dave@example.com", "acme", "reader"),
        "mallory-revoked" => ("mallory@example.com", "acme", "reader"),
        other => panic!("unknown identity {other}"),
    };
    (s, t, vec![r.to_string()])
}

pub struct Gw {
    pub gw: RunningGateway,
    pub http: reqwest::Client,
}

/// What came back from one tools/call.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub policy_version: String,
    pub correlation_id: String,
    /// The bearer challenge of a 401.
    pub www_authenticate: Option<String>,
    pub body: Value,
}

impl Reply {
    /// allow / deny / confirm / rate_limited, or "error:<code>" for protocol errors.
    pub fn decision(&self) -> String {
        if let Some(err) = self.body.get("error") {
            return match err.pointer("/data/decision").and_then(Value::as_str) {
                Some(d) => d.to_string(),
                None => format!("error:{}", err["code"]),
            };
        }
        self.body.pointer("/result/_meta/decision").and_then(Value::as_str).unwrap_or("none").to_string()
    }

    pub fn reason(&self) -> String {
        self.body.pointer("/error/data/reason").and_then(Value::as_str).unwrap_or("").to_string()
    }

    pub fn code(&self) -> i64 {
        self.body.pointer("/error/code").and_then(Value::as_i64).unwrap_or(0)
    }

    pub fn data(&self, key: &str) -> Value {
        self.body.pointer(&format!("/error/data/{key}")).cloned().unwrap_or(Value::Null)
    }

    pub fn result(&self) -> Value {
        self.body.pointer("/result/structuredContent").cloned().unwrap_or(Value::Null)
    }
}

impl Gw {
    pub async fn start() -> Gw {
        Gw::start_with(GatewayOptions { policies: bundled_policies(), watch: false, ..Default::default() }).await
    }

    pub async fn start_with(opts: GatewayOptions) -> Gw {
        let gw = RunningGateway::start(opts).await.expect("gateway starts");
        // Bounded: a gateway that stops answering fails the test instead of hanging it.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("HTTP client");
        Gw { gw, http }
    }

    pub fn token(&self, name: &str) -> String {
        let (s, t, r) = identity(name);
        self.gw.mint_token(s, t, &r, Duration::from_secs(600))
    }

    /// initialize, returning the Mcp-Session-Id.
    pub async fn session(&self) -> String {
        let resp = self
            .http
            .post(self.gw.mcp_url())
            .json(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                          "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                     "clientInfo": {"name": "test", "version": "0"}}}))
            .send()
            .await
            .expect("initialize");
        assert_eq!(resp.status(), 200);
        resp.headers()["mcp-session-id"].to_str().unwrap().to_string()
    }

    /// tools/call with a fresh correlation id.
    pub async fn call(&self, token: Option<&str>, tool: &str, arguments: Value) -> Reply {
        self.call_full(token, None, tool, arguments, json!({})).await
    }

    pub async fn call_full(
        &self,
        token: Option<&str>,
        session: Option<&str>,
        tool: &str,
        arguments: Value,
        meta: Value,
    ) -> Reply {
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let mut req = self
            .http
            .post(self.gw.mcp_url())
            .header("x-request-id", &correlation_id)
            .header("x-gateprobe-synthetic", "1")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": tool, "arguments": arguments, "_meta": meta}}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        let resp = req.send().await.expect("tools/call");
        let status = resp.status().as_u16();
        let policy_version = resp.headers()["x-policy-version"].to_str().unwrap().to_string();
        assert_eq!(resp.headers()["x-request-id"].to_str().unwrap(), correlation_id);
        let www_authenticate = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
        let body: Value = resp.json().await.expect("JSON body");
        Reply { status, policy_version, correlation_id, www_authenticate, body }
    }

    pub async fn audit(&self, correlation_id: &str) -> Vec<Value> {
        let resp = self
            .http
            .get(format!("{}/audit", self.gw.base_url()))
            .query(&[("correlation_id", correlation_id)])
            .send()
            .await
            .expect("audit query");
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("audit JSON")
    }

    /// The single audit record of a call, checked against the reply.
    pub async fn record(&self, reply: &Reply) -> Value {
        let records = self.audit(&reply.correlation_id).await;
        assert_eq!(records.len(), 1, "exactly one audit record for {}: {records:?}", reply.correlation_id);
        let r = records.into_iter().next().unwrap();
        assert_eq!(r["correlation_id"], reply.correlation_id.as_str());
        assert_eq!(r["policy_version"], reply.policy_version.as_str());
        assert_eq!(r["synthetic"], true);
        r
    }
}

//! The MCP transport and authorization rules, over real HTTP: 401 with a bearer challenge and
//! the protected resource metadata it points to, Host/Origin checks against DNS rebinding, the
//! `MCP-Protocol-Version` header, and 404 for a session that was ended.

mod common;

use common::{Gw, bundled_policies, identity};
use gateprobe_gateway::GatewayOptions;
use serde_json::{Value, json};

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
           "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
}

fn read_handbook() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
           "params": {"name": "files.read", "arguments": {"path": "/docs/handbook.md"}}})
}

/// POST /mcp with extra headers; (status, headers, body text).
async fn post(g: &Gw, headers: &[(&str, &str)], body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = g.http.post(g.gw.mcp_url()).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("POST /mcp");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

#[tokio::test]
async fn unauthenticated_call_is_401_with_a_challenge_to_the_resource_metadata() {
    let g = Gw::start().await;
    let (s, t, roles) = identity("alice-reader");
    let expired = g.gw.mint_expired_token(s, t, &roles);
    let base = g.gw.base_url();
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource/mcp");
    // No token: no error code (RFC 6750 §3.1). A token that does not verify: invalid_token.
    for (token, challenge) in [
        (None, format!("Bearer resource_metadata=\"{metadata_url}\"")),
        (Some(expired.as_str()), format!("Bearer resource_metadata=\"{metadata_url}\", error=\"invalid_token\"")),
    ] {
        let r = g.call(token, "files.read", json!({"path": "/docs/handbook.md"})).await;
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(r.www_authenticate.as_deref(), Some(challenge.as_str()));
        // The JSON-RPC error still comes along, and the refusal is audited under its id.
        assert_eq!((r.decision().as_str(), r.reason().as_str(), r.code()), ("deny", "unauthenticated", -32001));
        let record = g.record(&r).await;
        assert_eq!(
            (record["decision"].as_str(), record["rationale"]["reason"].as_str()),
            (Some("deny"), Some("unauthenticated"))
        );
    }
    // An authenticated refusal is a decision, not an authentication failure: 200, no challenge.
    let r = g.call(Some(&g.token("alice-reader")), "files.delete", json!({"path": "/docs/handbook.md"})).await;
    assert_eq!((r.status, r.reason().as_str(), r.www_authenticate), (200, "missing_capability", None));

    // The document the challenge names (RFC 9728 §3.2), and the server-wide one clients fall back to.
    for (url, resource) in
        [(metadata_url, format!("{base}/mcp")), (format!("{base}/.well-known/oauth-protected-resource"), base.clone())]
    {
        let response = g.http.get(&url).send().await.expect("metadata");
        assert_eq!(response.status(), 200, "{url}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let doc: Value = response.json().await.expect("metadata JSON");
        assert_eq!(doc["resource"], resource.as_str(), "{doc}");
        assert_eq!(doc["authorization_servers"], json!([]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
}

#[tokio::test]
async fn foreign_host_or_origin_is_403_and_loopback_names_pass() {
    let g = Gw::start().await;
    let port = g.gw.addr().port().to_string();
    for headers in [
        vec![("host", "evil.example.com".to_string())],
        vec![("host", format!("evil.example.com:{port}"))],
        vec![("origin", "http://evil.example.com".to_string())],
        vec![("origin", "null".to_string())],
        // A loopback look-alike is a domain like any other.
        vec![("host", format!("localhost.evil.example.com:{port}"))],
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, response_headers, body) = post(&g, &h, &initialize()).await;
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(!response_headers.contains_key("mcp-session-id"), "{headers:?}");
        assert!(!response_headers.contains_key("x-policy-version"), "{headers:?}");
        let v: Value = serde_json::from_str(&body).expect("JSON-RPC error body");
        assert!(v["error"]["message"].as_str().unwrap().contains("DNS rebinding"), "{v}");
    }
    // Every route is guarded, not only /mcp: the audit log is as private as the tools.
    let audit = g.http.get(format!("{}/audit?correlation_id=x", g.gw.base_url())).header("host", "evil.example.com");
    assert_eq!(audit.send().await.unwrap().status(), 403);

    for (host, origin) in [
        (format!("localhost:{port}"), format!("http://localhost:{port}")),
        (format!("127.0.0.1:{port}"), "https://127.0.0.1".to_string()),
        (format!("[::1]:{port}"), format!("http://[::1]:{port}")),
        ("LOCALHOST".to_string(), "http://localhost.".to_string()),
    ] {
        let (status, _, body) = post(&g, &[("host", &host), ("origin", &origin)], &initialize()).await;
        assert_eq!(status, 200, "{host} {origin}: {body}");
    }
}

#[tokio::test]
async fn allowed_hosts_extend_loopback_for_host_and_origin() {
    let g = Gw::start_with(GatewayOptions {
        policies: bundled_policies(),
        watch: false,
        allowed_hosts: vec!["gateway.example.com".into()],
        ..Default::default()
    })
    .await;
    let ok = [("host", "gateway.example.com:8787"), ("origin", "https://gateway.example.com")];
    assert_eq!(post(&g, &ok, &initialize()).await.0, 200);
    assert_eq!(post(&g, &[("host", "127.0.0.1")], &initialize()).await.0, 200);
    assert_eq!(post(&g, &[("host", "other.example.com")], &initialize()).await.0, 403);
    assert_eq!(post(&g, &[("origin", "http://other.example.com")], &initialize()).await.0, 403);
    // The challenge points at the name the gateway was reached under.
    let (status, headers, _) = post(&g, &[("host", "gateway.example.com:8787")], &read_handbook()).await;
    assert_eq!(status, 401);
    assert_eq!(
        headers["www-authenticate"],
        "Bearer resource_metadata=\"http://gateway.example.com:8787/.well-known/oauth-protected-resource/mcp\""
    );
}

#[tokio::test]
async fn unsupported_protocol_version_is_400_and_absent_or_negotiated_ones_pass() {
    let g = Gw::start().await;
    let token = format!("Bearer {}", g.token("alice-reader"));
    let ping = json!({"jsonrpc": "2.0", "id": 3, "method": "ping"});
    for version in ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"] {
        let (status, _, body) = post(&g, &[("mcp-protocol-version", version)], &ping).await;
        assert_eq!(status, 200, "{version}: {body}");
    }
    // Absent: the spec has the server assume 2025-03-26.
    assert_eq!(post(&g, &[], &ping).await.0, 200);
    for (version, body) in [("1999-01-01", &ping), ("banana", &read_handbook())] {
        let (status, _, text) = post(&g, &[("mcp-protocol-version", version), ("authorization", &token)], body).await;
        assert_eq!(status, 400, "{version}: {text}");
        let v: Value = serde_json::from_str(&text).expect("JSON-RPC error body");
        assert_eq!(v["error"]["code"], -32600);
        assert!(v["error"]["message"].as_str().unwrap().contains("2025-06-18"), "names what is supported: {v}");
    }
    // initialize negotiates in its body, whatever the header says.
    assert_eq!(post(&g, &[("mcp-protocol-version", "1999-01-01")], &initialize()).await.0, 200);
}

#[tokio::test]
async fn a_session_ended_by_delete_is_404_and_initialize_starts_a_new_one() {
    let g = Gw::start().await;
    let token = format!("Bearer {}", g.token("alice-reader"));
    let session = g.session().await;
    let call = [("mcp-session-id", session.as_str()), ("authorization", token.as_str())];
    assert_eq!(post(&g, &call, &read_handbook()).await.0, 200);
    let ended = g.http.delete(g.gw.mcp_url()).header("mcp-session-id", &session).send().await.unwrap();
    assert_eq!(ended.status(), 204);
    assert_eq!(g.gw.open_sessions(), 0);

    let (status, _, body) = post(&g, &call, &read_handbook()).await;
    assert_eq!(status, 404, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON-RPC error body");
    assert!(v["error"].get("data").is_none(), "a 404 states no decision: {v}");
    // Notifications and a second DELETE on it are 404 as well; so is an id never issued.
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(&g, &call, &note).await.0, 404);
    let again = g.http.delete(g.gw.mcp_url()).header("mcp-session-id", &session).send().await.unwrap();
    assert_eq!(again.status(), 404);
    assert_eq!(
        post(&g, &[("mcp-session-id", "never-issued")], &json!({"jsonrpc": "2.0", "id": 4, "method": "ping"})).await.0,
        404
    );

    // initialize with the stale id is a fresh start, and the new session works.
    let (status, headers, _) = post(&g, &[("mcp-session-id", session.as_str())], &initialize()).await;
    assert_eq!(status, 200);
    let fresh = headers["mcp-session-id"].to_str().unwrap().to_string();
    assert_ne!(fresh, session);
    let call = [("mcp-session-id", fresh.as_str()), ("authorization", token.as_str())];
    assert_eq!(post(&g, &call, &read_handbook()).await.0, 200);
}

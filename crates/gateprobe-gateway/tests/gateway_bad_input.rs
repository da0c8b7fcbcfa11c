//! The MCP surface and bad input: protocol errors are JSON-RPC errors or 4xx, never a panic,
//! and every response carries `x-policy-version`.

mod common;

use common::Gw;
use serde_json::{Value, json};

async fn post(g: &Gw, content_type: &str, body: impl Into<reqwest::Body>) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = g.http.post(g.gw.mcp_url()).header("content-type", content_type).body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn initialize_list_ping_and_notifications() {
    let g = Gw::start().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    let (status, headers, body) = post(&g, "application/json", init.to_string()).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert!(!headers["mcp-session-id"].is_empty());
    let v = json_of(&body);
    assert_eq!(v["id"], 1);
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(v["result"]["capabilities"]["tools"]["listChanged"], false);

    let (status, headers, body) =
        post(&g, "application/json", json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string())
            .await;
    assert_eq!((status, body.as_str()), (202, ""));
    assert!(headers.contains_key("x-policy-version"));

    let (_, _, body) =
        post(&g, "application/json", json!({"jsonrpc": "2.0", "id": "p", "method": "ping"}).to_string()).await;
    assert_eq!(json_of(&body), json!({"jsonrpc": "2.0", "id": "p", "result": {}}));

    let (_, _, body) =
        post(&g, "application/json", json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string()).await;
    let tools = json_of(&body)["result"]["tools"].as_array().unwrap().clone();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "files.read",
            "files.delete",
            "search.query",
            "tickets.create",
            "email.send",
            "crm.export",
            "payments.refund",
            "admin.grant_role"
        ]
    );
    assert!(tools.iter().all(|t| t["inputSchema"]["type"] == "object"));
}

#[tokio::test]
async fn malformed_requests_are_json_rpc_errors() {
    let g = Gw::start().await;
    let cases: [(&str, String, u16, i64); 5] = [
        ("application/json", "{not json".into(), 400, -32700),
        ("application/json", "[]".into(), 400, -32600),
        ("application/json", r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#.into(), 400, -32600),
        ("application/json", r#"{"jsonrpc":"2.0","id":1,"method":"resources/list"}"#.into(), 200, -32601),
        ("text/plain", r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.into(), 415, -32600),
    ];
    for (ct, body, want_status, want_code) in cases {
        let (status, headers, text) = post(&g, ct, body.clone()).await;
        assert_eq!(status, want_status, "{body}: {text}");
        assert_eq!(json_of(&text)["error"]["code"], want_code, "{body}");
        assert!(headers.contains_key("x-policy-version"));
    }
}

#[tokio::test]
async fn oversized_body_is_413() {
    let g = Gw::start().await;
    let big =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#, "x".repeat(2 * 1024 * 1024));
    let (status, headers, _) = post(&g, "application/json", big).await;
    assert_eq!(status, 413);
    assert!(headers.contains_key("x-policy-version"));
}

#[tokio::test]
async fn unknown_tool_is_denied_and_malformed_params_are_audited_protocol_errors() {
    let g = Gw::start().await;
    let alice = g.token("alice-reader");
    let r = g.call(Some(&alice), "files.shred", json!({"path": "/docs/handbook.md"})).await;
    assert_eq!((r.code(), r.reason().as_str()), (-32602, "unknown_tool"));
    assert_eq!(r.data("decision"), "deny", "a tool the gateway does not route is denied");
    let rec = g.record(&r).await;
    assert_eq!((rec["decision"].as_str(), rec["rationale"]["reason"].as_str()), (Some("deny"), Some("unknown_tool")));

    // arguments that are not an object
    let correlation_id = "malformed-params-1";
    let resp = g
        .http
        .post(g.gw.mcp_url())
        .bearer_auth(&alice)
        .header("x-request-id", correlation_id)
        .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "files.read", "arguments": "/docs"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32602);
    let recs = g.audit(correlation_id).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["decision"], "error");
}

#[tokio::test]
async fn correlation_id_from_meta_and_generated_when_absent() {
    let g = Gw::start().await;
    let alice = g.token("alice-reader");
    let call = |meta: Value| {
        g.http
            .post(g.gw.mcp_url())
            .bearer_auth(&alice)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "search.query", "arguments": {"q": "report"}, "_meta": meta}}))
            .send()
    };
    let resp = call(json!({"correlation_id": "from-meta-42"})).await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "from-meta-42");
    let recs = g.audit("from-meta-42").await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["synthetic"], false, "no x-gateprobe-synthetic header");

    let resp = call(json!({})).await.unwrap();
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(!generated.is_empty());
    assert_eq!(g.audit(&generated).await.len(), 1);
}

/// `?correlation_ids=` answers for several calls at once (how gateprobe batches its lookups),
/// in the order asked; the list is bounded, and a query must name ids one way or the other.
#[tokio::test]
async fn audit_answers_for_several_ids() {
    let g = Gw::start().await;
    let alice = g.token("alice-reader");
    for id in ["batch-a", "batch-b"] {
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "search.query", "arguments": {"q": "report"}, "_meta": {"correlation_id": id}}});
        g.http.post(g.gw.mcp_url()).bearer_auth(&alice).json(&call).send().await.unwrap();
    }
    let query = |q: String| g.http.get(format!("{}/audit?{q}", g.gw.base_url())).send();
    let records: Value = query("correlation_ids=batch-b,nothing,batch-a".into()).await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = records.as_array().unwrap().iter().map(|r| r["correlation_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["batch-b", "batch-a"]);
    let too_many = vec!["x"; gateprobe_gateway::MAX_AUDIT_IDS + 1].join(",");
    for bad in
        ["".to_owned(), "correlation_id=batch-a&correlation_ids=batch-b".into(), format!("correlation_ids={too_many}")]
    {
        assert_eq!(query(bad.clone()).await.unwrap().status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn side_endpoints_carry_the_version() {
    let g = Gw::start().await;
    let version: Value = g.http.get(format!("{}/version", g.gw.base_url())).send().await.unwrap().json().await.unwrap();
    let v = version["policy_version"].as_str().unwrap().to_string();
    assert_eq!(v, g.gw.policy_version());
    for path in ["/healthz", "/version", "/audit?correlation_id=nothing", "/no-such-route", "/mcp"] {
        let resp = g.http.get(format!("{}{path}", g.gw.base_url())).send().await.unwrap();
        assert_eq!(resp.headers()["x-policy-version"], v.as_str(), "{path}");
        match path {
            "/healthz" => assert_eq!(resp.text().await.unwrap(), "ok"),
            "/audit?correlation_id=nothing" => {
                assert_eq!(resp.json::<Value>().await.unwrap(), json!([]))
            }
            "/no-such-route" => assert_eq!(resp.status(), 404),
            "/mcp" => assert_eq!(resp.status(), 405),
            _ => assert_eq!(resp.status(), 200),
        }
    }
}

//! `POST /v1/data/gateprobe/decision`: the gateway as a policy decision point, in the shape of
//! OPA's data API (`{"input": …}` in, `{"result": …}` out). It decides exactly as `tools/call`
//! does but executes nothing; the caller (a policy enforcement point) runs the tool. It gives the
//! harness's `http` adapter a real decision endpoint to test against, and users a model of one.
//!
//! Input: `{"input": {"tool": "files.read", "arguments": {…}, "context": {"untrusted": true},
//! "confirmation_id": "…", "history": ["crm.export"]}}` with the caller's bearer token. A PDP
//! holds no session, so the enforcement point passes the session's history itself.
//! Output: `200 {"result": {"decision", "reason", "policy_ids", "policy_version", …}}`, `429`
//! with the same body when a quota is exhausted, `400` for a request that is not a decision
//! question (no decision is invented for it). Every answer writes one audit record.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::audit::AuditEntry;
use super::mcp::{Permit, decide};
use super::server::GatewayState;

pub(crate) async fn handle(State(st): State<Arc<GatewayState>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let correlation_id = header("x-request-id")
        .filter(|v| v.len() <= 200)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let synthetic = matches!(header("x-gateprobe-synthetic"), Some("1" | "true"));
    let bundle = st.bundle();
    let version = bundle.version.as_str();

    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let empty = json!({});
    let input = request.get("input").unwrap_or(&Value::Null);
    let tool_name = input.get("tool").and_then(Value::as_str);
    let arguments = input.get("arguments").unwrap_or(&empty);
    let history: Vec<String> = input
        .get("history")
        .and_then(Value::as_array)
        .map(|h| h.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    // The same shape `tools/call` reads from `_meta`.
    let meta = json!({
        "context": input.get("context").cloned().unwrap_or(Value::Null),
        "confirmation_id": input.get("confirmation_id").cloned().unwrap_or(Value::Null),
    });

    let decided = decide(&st, &bundle, header("authorization"), &history, tool_name, arguments, &meta);
    let (principal, decision, reason, policy_ids, result, status) = match &decided {
        Ok(Permit { principal, policy_ids, reason, .. }) => {
            let result = json!({"decision": "allow", "reason": reason, "policy_ids": policy_ids,
                                "policy_version": version, "correlation_id": correlation_id});
            (Some(principal), "allow", *reason, policy_ids, result, StatusCode::OK)
        }
        Err(refused) => {
            let (principal, refusal) = &**refused;
            let status = match refusal.decision {
                Some("rate_limited") => StatusCode::TOO_MANY_REQUESTS,
                Some(_) => StatusCode::OK,
                None => StatusCode::BAD_REQUEST,
            };
            let decision = refusal.decision.unwrap_or("error");
            let result = refusal.data(version, &correlation_id);
            (principal.as_ref(), decision, refusal.reason.as_str(), &refusal.policy_ids, result, status)
        }
    };
    st.audit.record(AuditEntry {
        correlation_id: &correlation_id,
        session_id: None,
        synthetic,
        principal,
        tool: tool_name,
        arguments: Some(arguments),
        decision,
        reason,
        policy_ids,
        policy_version: version,
        executed: false,
        result: None,
    });
    let mut response = (status, axum::Json(json!({"result": result}))).into_response();
    if let Ok(v) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

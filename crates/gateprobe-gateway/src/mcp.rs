//! MCP over Streamable HTTP, JSON-RPC 2.0 by hand on axum.
//!
//! Why not `rmcp` (v3.11, tried first; details in docs/gateway.md, "Why not rmcp"):
//! - its Streamable HTTP server answers JSON only in stateless mode, and stateless mode issues
//!   no `Mcp-Session-Id`; with sessions it answers SSE. The contract needs both JSON and
//!   sessions (session history feeds the Cedar context);
//! - a body that is not a valid MCP message (bad JSON, malformed `tools/call` params) is
//!   rejected inside rmcp with HTTP 415 and a text body before any handler runs, so it can be
//!   neither answered as a JSON-RPC error nor audited, both of which the contract requires;
//! - it refuses POSTs whose `Accept` lacks `text/event-stream`, which the contract does not ask.
//!
//! The subset served here is small: initialize, notifications, ping, tools/list, tools/call.
//! The transport rules around it: an unsupported `MCP-Protocol-Version` is 400, a session that
//! was ended (or never issued) is 404, an unauthenticated `tools/call` is 401 with a bearer
//! challenge (Host/Origin checks are middleware, in transport.rs).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::audit::AuditEntry;
use super::confirm::binding;
use super::identity::Principal;
use super::limits::Exhausted;
use super::policy::{AuthzOutcome, AuthzRequest, PolicyBundle};
use super::server::GatewayState;
use super::transport::{bearer_challenge, quoted};

pub(crate) const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const SUPPORTED_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
const MAX_SESSIONS: usize = 10_000;
const MAX_HISTORY: usize = 100;

/// Per-session call history (tools executed, oldest first), bounded in sessions and length.
#[derive(Default)]
pub(crate) struct Sessions {
    inner: Mutex<SessionTable>,
}

#[derive(Default)]
struct SessionTable {
    history: HashMap<String, Vec<String>>,
    /// Creation order, to drop the oldest session first.
    order: VecDeque<String>,
}

impl Sessions {
    pub(crate) fn create(&self) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.history.insert(id.clone(), Vec::new());
        g.order.push_back(id.clone());
        while g.order.len() > MAX_SESSIONS {
            if let Some(old) = g.order.pop_front() {
                g.history.remove(&old);
            }
        }
        id
    }

    /// The distinct tools the session executed within its window, in the order first seen:
    /// Cedar sees the history as a set, and a long session's window repeats the same few tools
    /// (copying all of it cost every call of a 100-call session 100 allocations).
    pub(crate) fn history(&self, id: &str) -> Vec<String> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut distinct: Vec<String> = Vec::new();
        for tool in g.history.get(id).into_iter().flatten() {
            if !distinct.contains(tool) {
                distinct.push(tool.clone());
            }
        }
        distinct
    }

    fn push(&self, id: &str, tool: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Only sessions this gateway issued carry history; an unknown id behaves like no session.
        if let Some(h) = g.history.get_mut(id) {
            if h.len() >= MAX_HISTORY {
                h.remove(0);
            }
            h.push(tool.to_owned());
        }
    }

    /// Whether the session is open: issued here and neither ended nor dropped as the oldest.
    fn exists(&self, id: &str) -> bool {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).history.contains_key(id)
    }

    pub(crate) fn end(&self, id: &str) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.history.remove(id).is_some()
    }

    /// Sessions open now (created and neither ended nor dropped as the oldest).
    pub(crate) fn count(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).history.len()
    }
}

fn rpc_result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn rpc_error(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// `POST /mcp`. The caller's `x-request-id` is echoed on every answer (tools/call also
/// echoes a generated one).
pub(crate) async fn handle(State(st): State<Arc<GatewayState>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut response = dispatch(&st, &headers, &body);
    if let Some(v) = headers.get("x-request-id")
        && !response.headers().contains_key("x-request-id")
    {
        response.headers_mut().insert("x-request-id", v.clone());
    }
    response
}

fn dispatch(st: &GatewayState, headers: &HeaderMap, body: &Bytes) -> Response {
    let is_json = header_str(headers, header::CONTENT_TYPE.as_str())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        let body = rpc_error(&Value::Null, -32600, "Content-Type must be application/json", None);
        return json_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, &body);
    }
    let message: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            let body = rpc_error(&Value::Null, -32700, &format!("parse error: {e}"), None);
            return json_response(StatusCode::BAD_REQUEST, &body);
        }
    };
    let Some(obj) = message.as_object() else {
        let body = rpc_error(&Value::Null, -32600, "expected one JSON-RPC object (batches are not supported)", None);
        return json_response(StatusCode::BAD_REQUEST, &body);
    };
    let id = obj.get("id").cloned();
    let method = obj.get("method").and_then(Value::as_str);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") || (method.is_none() && id.is_some()) {
        // A response from the client (result/error with an id) is not something we asked for.
        let body = rpc_error(id.as_ref().unwrap_or(&Value::Null), -32600, "invalid JSON-RPC 2.0 request", None);
        return json_response(StatusCode::BAD_REQUEST, &body);
    }
    // `initialize` negotiates the version in its body and starts afresh, so neither the version
    // header nor an old session id holds it back.
    if method != Some("initialize") {
        let answer_id = id.as_ref().unwrap_or(&Value::Null);
        if let Some(refusal) = unsupported_version(headers, answer_id) {
            return refusal;
        }
        if let Some(session) = header_str(headers, SESSION_HEADER)
            && !st.sessions.exists(session)
        {
            // MCP: a session the server ended is 404, and the client starts a new one. Not
            // audited: no decision was asked for, like the other transport refusals.
            let message = "session not found (ended, expired or never issued): initialize a new one";
            return json_response(StatusCode::NOT_FOUND, &rpc_error(answer_id, -32600, message, None));
        }
    }
    let (Some(method), Some(id)) = (method, id) else {
        // Notifications (no id), e.g. notifications/initialized: accepted, nothing to answer.
        return StatusCode::ACCEPTED.into_response();
    };
    let params = obj.get("params").cloned().unwrap_or_else(|| json!({}));

    match method {
        "initialize" => {
            let requested = params.get("protocolVersion").and_then(Value::as_str).unwrap_or("");
            let version = SUPPORTED_VERSIONS.iter().find(|v| **v == requested).unwrap_or(&SUPPORTED_VERSIONS[1]);
            let session = st.sessions.create();
            let result = json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "gateprobe-gateway", "version": env!("CARGO_PKG_VERSION")},
                "instructions": "Reference tool gateway of gateprobe: every tools/call is authenticated, authorized, validated, rate limited and audited.",
            });
            let mut response = json_response(StatusCode::OK, &rpc_result(&id, result));
            if let Ok(v) = HeaderValue::from_str(&session) {
                response.headers_mut().insert(SESSION_HEADER, v);
            }
            response
        }
        "ping" => json_response(StatusCode::OK, &rpc_result(&id, json!({}))),
        "tools/list" => json_response(StatusCode::OK, &rpc_result(&id, json!({"tools": st.catalog.list()}))),
        "tools/call" => {
            let correlation_id = header_str(headers, "x-request-id")
                .filter(|v| v.len() <= 200)
                .map(str::to_owned)
                .or_else(|| params.pointer("/_meta/correlation_id").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            let (body, status) = call_tool(st, headers, &id, &params, &correlation_id);
            // A 401 carries the JSON-RPC error (code -32001, `data.decision: deny`) in its body
            // too: clients that read only bodies still learn why, and which call it was.
            let mut response = json_response(status, &body);
            if status == StatusCode::UNAUTHORIZED {
                if let Ok(v) = HeaderValue::from_str(&bearer_challenge(st, headers)) {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            if let Ok(v) = HeaderValue::from_str(&correlation_id) {
                response.headers_mut().insert("x-request-id", v);
            }
            response
        }
        other => json_response(StatusCode::OK, &rpc_error(&id, -32601, &format!("method not found: {other}"), None)),
    }
}

/// 400 for a request naming an `MCP-Protocol-Version` this gateway does not speak (those it
/// negotiates in `initialize`). An absent header is accepted: the spec has servers assume
/// 2025-03-26 then, for clients older than the header.
fn unsupported_version(headers: &HeaderMap, id: &Value) -> Option<Response> {
    let version = headers.get(VERSION_HEADER)?;
    let version = version.to_str().unwrap_or("").trim();
    if SUPPORTED_VERSIONS.contains(&version) {
        return None;
    }
    let message =
        format!("unsupported MCP-Protocol-Version `{}`; supported: {}", quoted(version), SUPPORTED_VERSIONS.join(", "));
    Some(json_response(StatusCode::BAD_REQUEST, &rpc_error(id, -32600, &message, None)))
}

/// `DELETE /mcp`: the client ends its session.
pub(crate) async fn end_session(State(st): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = unsupported_version(&headers, &Value::Null) {
        return refusal;
    }
    match header_str(&headers, SESSION_HEADER) {
        Some(id) if st.sessions.end(id) => StatusCode::NO_CONTENT,
        Some(_) => StatusCode::NOT_FOUND,
        None => StatusCode::BAD_REQUEST,
    }
    .into_response()
}

/// One non-allow answer: a JSON-RPC error code plus what goes into `error.data` and the audit.
pub(super) struct Refusal {
    code: i64,
    pub decision: Option<&'static str>,
    pub reason: String,
    pub policy_ids: Vec<String>,
    message: String,
    extra: Map<String, Value>,
}

impl Refusal {
    /// The machine-readable part of a refusal: JSON-RPC `error.data`, and the decision
    /// endpoint's `result`.
    pub(super) fn data(&self, policy_version: &str, correlation_id: &str) -> Value {
        let mut data = Map::new();
        if let Some(decision) = self.decision {
            data.insert("decision".into(), decision.into());
        }
        data.insert("reason".into(), self.reason.clone().into());
        data.insert("policy_ids".into(), json!(self.policy_ids));
        data.insert("policy_version".into(), policy_version.into());
        data.insert("correlation_id".into(), correlation_id.into());
        data.extend(self.extra.clone());
        Value::Object(data)
    }

    fn new(code: i64, decision: Option<&'static str>, reason: &str, message: String) -> Refusal {
        Refusal { code, decision, reason: reason.to_owned(), policy_ids: vec![], message, extra: Map::new() }
    }
}

/// A call the gateway lets through, and why.
pub(super) struct Permit {
    pub principal: Principal,
    pub tool: String,
    pub policy_ids: Vec<String>,
    /// `permitted`, or `confirmed` for an irreversible tool whose confirmation was redeemed.
    pub reason: &'static str,
}

/// Why a call is refused, and by whom when the caller was authenticated.
pub(super) type Refused = Box<(Option<Principal>, Refusal)>;

/// The decision about a proposed call, before anything runs: authenticate → revocation →
/// quota → params → schema → Cedar → confirmation. Shared by MCP `tools/call` and the
/// OPA-style decision endpoint, so both decide alike.
pub(super) fn decide(
    st: &GatewayState,
    bundle: &PolicyBundle,
    authorization: Option<&str>,
    history: &[String],
    tool_name: Option<&str>,
    arguments: &Value,
    meta: &Value,
) -> Result<Permit, Refused> {
    let principal = match st.authenticate(authorization) {
        Ok(p) => p,
        Err(e) => {
            let r = Refusal::new(-32001, Some("deny"), "unauthenticated", format!("unauthenticated: {e}"));
            return Err(Box::new((None, r)));
        }
    };
    let refuse = |r: Refusal| Err(Box::new((Some(principal.clone()), r)));
    if bundle.is_revoked(&principal) {
        let msg = format!("revoked: {} is revoked", principal.key());
        return refuse(Refusal::new(-32002, Some("deny"), "revoked", msg));
    }
    if let Err(which) = st.limits().check(&principal.key(), &principal.tenant) {
        let scope = match which {
            Exhausted::Subject => "subject",
            Exhausted::Tenant => "tenant",
        };
        let mut r = Refusal::new(
            -32006,
            Some("rate_limited"),
            "rate_limited",
            format!("rate_limited: {scope} quota exhausted"),
        );
        r.extra.insert("scope".into(), scope.into());
        return refuse(r);
    }
    let Some(name) = tool_name else {
        return refuse(Refusal::new(-32602, None, "invalid_request", "params.name must be a string".into()));
    };
    if !arguments.is_object() || !meta.is_object() {
        let msg = "params.arguments and params._meta must be objects".into();
        return refuse(Refusal::new(-32602, None, "invalid_request", msg));
    }
    let Some(tool) = st.catalog.get(name) else {
        // A tool the gateway does not route is refused like any other, by default deny: a
        // decision (still JSON-RPC -32602, as MCP has it), so a suite can assert it.
        return refuse(Refusal::new(-32602, Some("deny"), "unknown_tool", format!("unknown tool: {name}")));
    };
    if let Err(problem) = tool.check_arguments(arguments) {
        let msg = format!("invalid_parameters: {problem}");
        return refuse(Refusal::new(-32004, Some("deny"), "invalid_parameters", msg));
    }

    let untrusted =
        meta.pointer("/context/untrusted").is_some_and(|v| !(v.is_null() || v == &json!(false) || v == &json!("")));
    let context_tenant = meta.pointer("/context/tenant").and_then(Value::as_str);
    // The workspace lock is taken briefly each time rather than held across Cedar evaluation;
    // no tool changes which tenant owns a thing, so the resource cannot go stale in between.
    let workspace = || st.workspace.lock().unwrap_or_else(|p| p.into_inner());
    let resource = workspace().resource(name, arguments, &principal);
    let authz = bundle.authorize(&AuthzRequest {
        principal: &principal,
        action: name,
        resource: &resource,
        untrusted,
        context_tenant,
        history,
    });
    let mut policy_ids = match authz {
        AuthzOutcome::Allow { policy_ids } => policy_ids,
        AuthzOutcome::Deny { reason, policy_ids } => {
            let mut r = Refusal::new(-32003, Some("deny"), &reason, format!("denied: {reason}"));
            r.policy_ids = policy_ids;
            return refuse(r);
        }
    };

    let mut reason = "permitted";
    if tool.irreversible {
        let bound = binding(&principal.key(), name, arguments);
        let confirmed =
            meta.get("confirmation_id").and_then(Value::as_str).is_some_and(|cid| st.confirmations.redeem(cid, &bound));
        if confirmed {
            reason = "confirmed";
        } else {
            let mut summary = workspace().summary(name, arguments, &principal);
            if untrusted {
                summary.push_str(" (requested while untrusted input was present)");
            }
            let confirmation_id = st.confirmations.issue(bound);
            let mut r = Refusal::new(
                -32005,
                Some("confirm"),
                "confirmation_required",
                format!("confirmation_required: {summary}"),
            );
            r.policy_ids = policy_ids;
            r.policy_ids.push(if untrusted { "gateway:untrusted-irreversible" } else { "gateway:irreversible" }.into());
            r.extra.insert("confirmation_id".into(), confirmation_id.into());
            r.extra.insert("summary".into(), summary.into());
            return refuse(r);
        }
        policy_ids.push("gateway:confirmed".into());
    }
    Ok(Permit { principal, tool: name.to_owned(), policy_ids, reason })
}

/// The tools/call pipeline: [`decide`], then execute. Every exit writes exactly one audit record,
/// the 401 of an unauthenticated call included.
fn call_tool(
    st: &GatewayState,
    headers: &HeaderMap,
    id: &Value,
    params: &Value,
    correlation_id: &str,
) -> (Value, StatusCode) {
    let bundle = st.bundle();
    let version = bundle.version.as_str();
    let session_id = header_str(headers, SESSION_HEADER);
    let synthetic = matches!(header_str(headers, "x-gateprobe-synthetic"), Some("1" | "true"));
    let tool_name = params.get("name").and_then(Value::as_str);
    let empty = json!({});
    let arguments = params.get("arguments").unwrap_or(&empty);
    let meta = params.get("_meta").unwrap_or(&empty);

    let history = session_id.map(|s| st.sessions.history(s)).unwrap_or_default();
    let authorization = header_str(headers, "authorization");
    let Permit { principal, tool: name, policy_ids, reason } =
        match decide(st, &bundle, authorization, &history, tool_name, arguments, meta) {
            Ok(permit) => permit,
            Err(refused) => {
                let (principal, r) = *refused;
                st.audit.record(AuditEntry {
                    correlation_id,
                    session_id,
                    synthetic,
                    principal: principal.as_ref(),
                    tool: tool_name,
                    arguments: Some(arguments),
                    decision: r.decision.unwrap_or("error"),
                    reason: &r.reason,
                    policy_ids: &r.policy_ids,
                    policy_version: version,
                    executed: false,
                    result: None,
                });
                // MCP authorization: an unauthenticated call is 401 (with its challenge), any
                // other refusal a 200 answer that states the decision.
                let status = if r.reason == "unauthenticated" { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
                return (rpc_error(id, r.code, &r.message, Some(r.data(version, correlation_id))), status);
            }
        };
    let name = name.as_str();
    let who = Some(&principal);
    let workspace = || st.workspace.lock().unwrap_or_else(|p| p.into_inner());

    let outcome = workspace().execute(name, arguments, &principal);
    let (result, is_error, audit_result) = match outcome {
        Ok(result) => {
            if let Some(s) = session_id {
                st.sessions.push(s, name);
            }
            let summary = result.get("summary").cloned().unwrap_or(Value::Null);
            (result, false, json!({"summary": summary}))
        }
        Err(message) => (json!({"error": message}), true, json!({"error": message})),
    };
    st.audit.record(AuditEntry {
        correlation_id,
        session_id,
        synthetic,
        principal: who,
        tool: Some(name),
        arguments: Some(arguments),
        decision: "allow",
        reason,
        policy_ids: &policy_ids,
        policy_version: version,
        executed: true,
        result: Some(audit_result),
    });
    let body = rpc_result(
        id,
        json!({
            "content": [{"type": "text", "text": result.to_string()}],
            "structuredContent": result,
            "isError": is_error,
            "_meta": {"decision": "allow", "reason": reason, "policy_ids": policy_ids,
                      "policy_version": version, "correlation_id": correlation_id},
        }),
    );
    (body, StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_the_distinct_tools_of_the_window() {
        let sessions = Sessions::default();
        let id = sessions.create();
        sessions.push(&id, "crm.export");
        for _ in 0..MAX_HISTORY - 1 {
            sessions.push(&id, "files.read");
        }
        assert_eq!(sessions.history(&id), ["crm.export", "files.read"]);
        // One more call pushes the export out of the window.
        sessions.push(&id, "files.read");
        assert_eq!(sessions.history(&id), ["files.read"]);
        assert!(sessions.history("not-a-session").is_empty());
    }
}

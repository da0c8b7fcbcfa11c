//! The `mcp` adapter: any MCP gateway over Streamable HTTP.
//!
//! Written on reqwest rather than an MCP client SDK because the decision lives in details an SDK
//! hides: the HTTP status, the JSON-RPC error code and `data`, `isError` texts, response headers
//! and the per-call correlation header.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::config::{DecisionRule, McpTarget, PolicyVersionSource, SessionScope};
use crate::decision::Decision;
use crate::secret::Scrubber;

use super::decide::{bounded, header, parse_decision, policy_version, version_header};
use super::{Adapter, Call, CallError, Reply, ResolvedIdentity, Session, ToolSpec};
use crate::transport::{MAX_RESPONSE_SETTING, read_capped};

const PROTOCOL_VERSION: &str = "2025-06-18";
const SESSION_HEADER: &str = "mcp-session-id";

/// A `tools/call` request, serialised straight from the scenario's own data: the hot path of a
/// run builds no JSON tree and copies no arguments.
#[derive(Serialize)]
struct ToolsCallRequest<'a> {
    jsonrpc: &'static str,
    id: u64,
    method: &'static str,
    params: ToolCallParams<'a>,
}

#[derive(Serialize)]
struct ToolCallParams<'a> {
    name: &'a str,
    arguments: &'a Map<String, Value>,
    #[serde(rename = "_meta")]
    meta: Meta<'a>,
}

#[derive(Serialize)]
struct Meta<'a> {
    correlation_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmation_id: Option<&'a str>,
}

/// An MCP gateway (`target: {kind: mcp}`), and the embedded reference gateway.
pub(crate) struct McpAdapter {
    client: reqwest::Client,
    config: McpTarget,
    /// `config.url` parsed once rather than on every request. The config check has already
    /// refused a URL that does not parse; were one to come here, it fails at send as before.
    url: Option<reqwest::Url>,
    next_id: AtomicU64,
    next_endpoint: AtomicUsize,
    /// Applied to every answer as it arrives: a gateway may quote the token it was sent.
    scrubber: Arc<Scrubber>,
    /// `run.max_response_bytes`: no answer is read past it.
    max_response_bytes: usize,
    /// Where its TLS settings are (`target.tls`, `targets.<name>.tls`), for a failed handshake's advice.
    tls_setting: String,
}

impl McpAdapter {
    /// An adapter for the gateway `config` describes, on the run's shared `client`.
    pub(crate) fn new(
        client: reqwest::Client,
        config: McpTarget,
        max_response_bytes: usize,
        tls_setting: String,
    ) -> McpAdapter {
        McpAdapter {
            client,
            url: reqwest::Url::parse(&config.url).ok(),
            config,
            next_id: AtomicU64::new(1),
            next_endpoint: AtomicUsize::new(0),
            scrubber: Arc::default(),
            max_response_bytes,
            tls_setting,
        }
    }
}

#[async_trait::async_trait]
impl Adapter for McpAdapter {
    fn kind(&self) -> &'static str {
        "mcp"
    }

    fn set_scrubber(&mut self, scrubber: Arc<Scrubber>) {
        self.scrubber = scrubber;
    }

    /// Round-robin over `url` and `replicas`; `None` when the target has no replicas (every
    /// call goes to `url`).
    fn next_endpoint(&self) -> Option<String> {
        if self.config.replicas.is_empty() {
            return None;
        }
        let i = self.next_endpoint.fetch_add(1, Ordering::Relaxed) % (self.config.replicas.len() + 1);
        Some(if i == 0 { self.config.url.clone() } else { self.config.replicas[i - 1].clone() })
    }

    fn shares_sessions(&self) -> bool {
        self.config.sessions == SessionScope::Identity
    }

    /// `initialize`, then `notifications/initialized`, at `endpoint` (else `url`). A gateway
    /// that refuses the handshake (401/403) still gets a session-less call, so its refusal is
    /// read as a decision there.
    async fn open_session(&self, identity: &ResolvedIdentity, endpoint: Option<String>) -> Result<Session, CallError> {
        let mut session = Session { id: None, endpoint };
        let body = json!({
            "jsonrpc": "2.0",
            "id": self.next_id(),
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "gateprobe", "version": env!("CARGO_PKG_VERSION")}
            }
        });
        let response = self.post(identity, Some(&session), None, &body).await?;
        let status = response.status();
        if status.is_client_error() {
            return Ok(session);
        }
        if !status.is_success() {
            return Err(CallError::Status(status.as_u16()));
        }
        session.id = header(&response, SESSION_HEADER);
        let message = self.read_message(response).await?;
        if message.get("result").is_none() {
            return Err(CallError::Protocol("`initialize` returned no result".into()));
        }
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = self.post(identity, Some(&session), None, &note).await?;
        if !response.status().is_success() {
            return Err(CallError::Status(response.status().as_u16()));
        }
        Ok(session)
    }

    async fn call(&self, session: &Session, identity: &ResolvedIdentity, call: &Call<'_>) -> Result<Reply, CallError> {
        let body = ToolsCallRequest {
            jsonrpc: "2.0",
            id: self.next_id(),
            method: "tools/call",
            params: ToolCallParams {
                name: call.tool,
                arguments: call.arguments,
                meta: Meta {
                    correlation_id: call.correlation_id,
                    prompt: call.prompt,
                    context: call.context,
                    confirmation_id: call.confirmation_id,
                },
            },
        };
        let response = self.post(identity, Some(session), Some(call.correlation_id), &body).await?;
        let status = response.status().as_u16();
        // MCP: a server answers 404 to a session it has ended; no decision is in such an answer.
        if status == 404 && session.id.is_some() {
            return Err(CallError::Status(404));
        }
        let version_header = version_header(&response, &self.config.policy_version, &self.scrubber);
        let content_type = header(&response, "content-type");
        let challenged = status == 401 && bearer_challenge(response.headers().get_all("www-authenticate"));
        let (rules, source) = (&self.config.decisions, &self.config.policy_version);
        let version = version_header.clone();
        let decoded = match read_capped(response, self.max_response_bytes, MAX_RESPONSE_SETTING).await {
            Ok(body) => {
                decode_reply(rules, source, &self.scrubber, status, content_type.as_deref(), version_header, &body)
            }
            // Never read as a refusal by an `http_status` rule: the answer was not read.
            Err(e @ CallError::TooLarge { .. }) => return Err(e),
            Err(e) => unreadable(rules, status, version_header, e),
        };
        if challenged { unauthenticated(decoded, version) } else { decoded }
    }

    /// Ends `session` with `DELETE` and its id, as the MCP spec asks of a client done with one:
    /// a monitor that runs every few minutes must not leave its sessions piling up on the
    /// gateway. Best effort: a gateway may keep no sessions (405), and no result depends on it.
    async fn close_session(&self, session: &Session, identity: &ResolvedIdentity) {
        if session.id.is_none() {
            return;
        }
        let Ok(request) = self.request(reqwest::Method::DELETE, identity, Some(session)).await else {
            return;
        };
        if let Err(error) = request.send().await {
            tracing::debug!(error = %CallError::from_reqwest(&error), "could not end the MCP session");
        }
    }

    /// `tools/list` in a session of its own at `url`.
    async fn list_tools(&self, identity: &ResolvedIdentity) -> Option<Result<Vec<ToolSpec>, CallError>> {
        let session = match self.open_session(identity, None).await {
            Ok(session) => session,
            Err(e) => return Some(Err(e)),
        };
        let tools = self.tools_list(&session, identity).await;
        self.close_session(&session, identity).await;
        Some(tools)
    }
}

impl McpAdapter {
    /// The tools the gateway lists (`tools/list`, following `nextCursor`).
    async fn tools_list(&self, session: &Session, identity: &ResolvedIdentity) -> Result<Vec<ToolSpec>, CallError> {
        let mut specs = Vec::new();
        let mut cursor: Option<String> = None;
        // Bounded: a gateway that keeps answering with a cursor does not hold the run forever.
        for _ in 0..100 {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let body = json!({"jsonrpc": "2.0", "id": self.next_id(), "method": "tools/list", "params": params});
            let response = self.post(identity, Some(session), None, &body).await?;
            let status = response.status();
            let mut message = self.read_message(response).await?;
            self.scrubber.scrub_json(&mut message);
            let Some(result) = message.get("result") else {
                return Err(if status.is_success() {
                    CallError::Protocol("`tools/list` returned no result".into())
                } else {
                    CallError::Status(status.as_u16())
                });
            };
            let tools = result
                .get("tools")
                .and_then(Value::as_array)
                .ok_or_else(|| CallError::Protocol("`tools/list` result has no `tools` list".into()))?;
            specs.extend(tools.iter().filter_map(|t| {
                Some(ToolSpec {
                    name: t.get("name")?.as_str()?.to_owned(),
                    description: t.get("description").and_then(Value::as_str).map(str::to_owned),
                    input_schema: t
                        .get("inputSchema")
                        .filter(|s| s.is_object())
                        .cloned()
                        .unwrap_or(json!({"type": "object"})),
                })
            }));
            cursor = result.get("nextCursor").and_then(Value::as_str).map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        Ok(specs)
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Reads one JSON-RPC message from a JSON or an SSE (`text/event-stream`) answer.
    async fn read_message(&self, response: reqwest::Response) -> Result<Value, CallError> {
        let content_type = header(&response, "content-type");
        let body = read_capped(response, self.max_response_bytes, MAX_RESPONSE_SETTING).await?;
        parse_message(content_type.as_deref(), &body)
    }

    async fn post(
        &self,
        identity: &ResolvedIdentity,
        session: Option<&Session>,
        correlation_id: Option<&str>,
        body: &impl Serialize,
    ) -> Result<reqwest::Response, CallError> {
        let mut request = self
            .request(reqwest::Method::POST, identity, session)
            .await?
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .json(body);
        if let Some(c) = correlation_id {
            request = request.header(self.config.correlation_header.as_str(), c);
        }
        request.send().await.map_err(|e| CallError::from_reqwest_at(&e, &self.tls_setting))
    }

    /// A request to the session's endpoint with what every MCP request carries: the protocol
    /// version, the identity's bearer token and the session id. `Err` when the token cannot be
    /// obtained (an OAuth refresh failed).
    async fn request(
        &self,
        method: reqwest::Method,
        identity: &ResolvedIdentity,
        session: Option<&Session>,
    ) -> Result<reqwest::RequestBuilder, CallError> {
        let request = match (session.and_then(|s| s.endpoint.as_deref()), &self.url) {
            (Some(endpoint), _) => self.client.request(method, endpoint),
            (None, Some(url)) => self.client.request(method, url.clone()),
            (None, None) => self.client.request(method, &self.config.url),
        };
        let mut request = request.header("mcp-protocol-version", PROTOCOL_VERSION);
        if let Some(token) = identity.bearer().await? {
            request = request.bearer_auth(token.expose());
        }
        if let Some(id) = session.and_then(|s| s.id.as_deref()) {
            request = request.header(SESSION_HEADER, id);
        }
        Ok(request)
    }
}

/// Reads a decision out of one `tools/call` answer as received: HTTP status, content type, the
/// policy version from a header (when `source` names one) and the body bytes. The run's
/// credentials are scrubbed from the parsed answer before anything quotes it. Pure, and the
/// whole path from a received answer to a decision, so the fuzzer drives exactly this.
pub fn decode_reply(
    rules: &[DecisionRule],
    source: &PolicyVersionSource,
    scrubber: &Scrubber,
    status: u16,
    content_type: Option<&str>,
    version_header: Option<String>,
    body: &[u8],
) -> Result<Reply, CallError> {
    let message = match parse_message(content_type, body) {
        Ok(mut m) => {
            scrubber.scrub_json(&mut m);
            m
        }
        Err(e) => return unreadable(rules, status, version_header, e),
    };
    let policy_version = policy_version(version_header, source, Some(&message));
    decide(rules, status, &message, policy_version)
}

/// An answer whose body could not be read or parsed. A refusal at the HTTP level (401, 403,
/// 429) may carry no JSON-RPC body at all, so an `http_status` rule can still name it.
fn unreadable(
    rules: &[DecisionRule],
    status: u16,
    version_header: Option<String>,
    e: CallError,
) -> Result<Reply, CallError> {
    if status < 400 {
        return Err(e);
    }
    match rule_for(rules, None, Some(status), "", false) {
        Some(rule) => Ok(reply_from_rule(rule, None, version_header)),
        None => Err(if status >= 500 { CallError::Status(status) } else { e }),
    }
}

/// Reads a decision out of one JSON-RPC answer. Pure, so every mapping case is unit-tested.
///
/// Order: the gateway's own statement (`error.data.decision`, `result._meta.decision`), then the
/// configured rules, then: a plain result is an allow; anything else is no decision at all.
pub(crate) fn decide(
    rules: &[DecisionRule],
    status: u16,
    message: &Value,
    policy_version: Option<String>,
) -> Result<Reply, CallError> {
    // A refusal at the HTTP level with a JSON body that is no JSON-RPC message (e.g. ContextForge's
    // 401 `{"detail": "Authentication required …"}`): only an `http_status` rule can read it.
    if status >= 400 && message.get("error").is_none() && message.get("result").is_none() {
        return match rule_for(rules, None, Some(status), &message.to_string(), false) {
            Some(rule) => Ok(reply_from_rule(rule, None, policy_version)),
            None => Err(CallError::Status(status)),
        };
    }
    if let Some(error) = message.get("error") {
        let code = error.get("code").and_then(Value::as_i64);
        let text = error.get("message").and_then(Value::as_str).unwrap_or_default();
        let data = error.get("data");
        let version = policy_version.or_else(|| string_at(data, "policy_version"));
        if let Some(decision) = data.and_then(|d| d.get("decision")).and_then(parse_decision) {
            return Ok(Reply {
                decision,
                reason: string_at(data, "reason"),
                confirmation_id: string_at(data, "confirmation_id"),
                policy_version: version,
            });
        }
        return match rule_for(rules, code, Some(status), text, false) {
            Some(rule) => Ok(reply_from_rule(rule, None, version)),
            None => Err(CallError::NoDecision(format!(
                "JSON-RPC error {} `{}` matches no decision rule",
                code.map_or("?".to_string(), |c| c.to_string()),
                bounded(text)
            ))),
        };
    }
    let Some(result) = message.get("result") else {
        return Err(CallError::Protocol("answer has neither `result` nor `error`".into()));
    };
    let meta = result.get("_meta");
    let version = policy_version.or_else(|| string_at(meta, "policy_version"));
    // The gateway's own statement holds even when the allowed tool then failed (`isError`).
    if let Some(decision) = meta.and_then(|m| m.get("decision")).and_then(parse_decision) {
        return Ok(Reply {
            decision,
            reason: string_at(meta, "reason"),
            confirmation_id: None,
            policy_version: version,
        });
    }
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        let text = result_text(result);
        return match rule_for(rules, None, Some(status), &text, true) {
            Some(rule) => Ok(reply_from_rule(rule, None, version)),
            None => Err(CallError::NoDecision(format!("tool error `{}` matches no decision rule", bounded(&text)))),
        };
    }
    Ok(Reply { decision: Decision::Allow, reason: None, confirmation_id: None, policy_version: version })
}

/// Whether `WWW-Authenticate` offers the Bearer scheme (RFC 6750 §3), in any of its values and
/// challenges. A challenge starts with its scheme; `name=value` pieces are its parameters.
fn bearer_challenge<'a>(values: impl IntoIterator<Item = &'a reqwest::header::HeaderValue>) -> bool {
    values.into_iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|piece| {
        let piece = piece.trim_start();
        let scheme: String = piece.chars().take_while(|c| !c.is_whitespace() && *c != '=').collect();
        !piece[scheme.len()..].starts_with('=') && scheme.eq_ignore_ascii_case("bearer")
    })
}

/// A `tools/call` answered 401 with a Bearer challenge: the gateway refused the caller's
/// identity (MCP authorization), so it is `deny` with reason `unauthenticated` when the answer
/// says nothing more specific. A refusal read from the body or a configured rule stands; an
/// answer that claims any other decision contradicts its own status and is no decision.
fn unauthenticated(decoded: Result<Reply, CallError>, policy_version: Option<String>) -> Result<Reply, CallError> {
    match decoded {
        Ok(reply) if reply.decision == Decision::Deny => Ok(reply),
        Ok(reply) => Err(CallError::Protocol(format!(
            "HTTP 401 with a Bearer challenge, but the answer says `{}`",
            reply.decision.as_str()
        ))),
        Err(_) => Ok(Reply {
            decision: Decision::Deny,
            reason: Some("unauthenticated".into()),
            confirmation_id: None,
            policy_version,
        }),
    }
}

fn rule_for<'r>(
    rules: &'r [DecisionRule],
    code: Option<i64>,
    status: Option<u16>,
    text: &str,
    is_error: bool,
) -> Option<&'r DecisionRule> {
    rules.iter().find(|r| {
        r.error_code.is_none_or(|c| Some(c) == code)
            && r.http_status.is_none_or(|s| Some(s) == status)
            && r.message_contains.as_deref().is_none_or(|m| text.contains(m))
            && r.is_error == is_error
            // A rule with no matcher at all would turn every answer into its decision.
            && (r.error_code.is_some() || r.http_status.is_some() || r.message_contains.is_some() || r.is_error)
    })
}

fn reply_from_rule(rule: &DecisionRule, confirmation_id: Option<String>, policy_version: Option<String>) -> Reply {
    Reply { decision: rule.decision, reason: rule.reason.clone(), confirmation_id, policy_version }
}

fn string_at(v: Option<&Value>, key: &str) -> Option<String> {
    v.and_then(|v| v.get(key)).and_then(Value::as_str).map(str::to_string)
}

fn result_text(result: &Value) -> String {
    result
        .get("content")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|i| i.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn parse_message(content_type: Option<&str>, body: &[u8]) -> Result<Value, CallError> {
    if content_type.is_some_and(|c| c.starts_with("text/event-stream")) {
        return sse_message(body);
    }
    serde_json::from_slice(body).map_err(|e| CallError::Unparseable(format!("not JSON ({e})")))
}

/// The first SSE event whose data is a JSON-RPC response (has `result` or `error`).
/// By hand because only this much of SSE is needed: `data:` lines joined per event.
fn sse_message(body: &[u8]) -> Result<Value, CallError> {
    let text = std::str::from_utf8(body).map_err(|_| CallError::Unparseable("event stream is not UTF-8".into()))?;
    for event in text.split("\n\n").flat_map(|e| e.split("\r\n\r\n")) {
        let data: Vec<&str> =
            event.lines().filter_map(|l| l.strip_prefix("data:")).map(|d| d.strip_prefix(' ').unwrap_or(d)).collect();
        if data.is_empty() {
            continue;
        }
        if let Ok(v) = serde_json::from_str::<Value>(&data.join("\n")) {
            if v.get("result").is_some() || v.get("error").is_some() {
                return Ok(v);
            }
        }
    }
    Err(CallError::Unparseable("event stream held no JSON-RPC response".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        code: Option<i64>,
        status: Option<u16>,
        text: Option<&str>,
        is_error: bool,
        decision: Decision,
    ) -> DecisionRule {
        DecisionRule {
            error_code: code,
            http_status: status,
            message_contains: text.map(String::from),
            is_error,
            decision,
            reason: Some("mapped".into()),
        }
    }

    #[test]
    fn gateway_statement_in_error_data_wins() {
        let m = json!({"error": {"code": -32005, "message": "confirm", "data": {"decision": "confirm", "reason": "confirmation_required", "confirmation_id": "c1", "policy_version": "v1"}}});
        let r = decide(&[], 200, &m, None).unwrap();
        assert_eq!(r.decision, Decision::Confirm);
        assert_eq!(r.confirmation_id.as_deref(), Some("c1"));
        assert_eq!(r.policy_version.as_deref(), Some("v1"));
    }

    #[test]
    fn unmapped_error_is_no_decision_never_deny() {
        let m = json!({"error": {"code": -32003, "message": "Access denied"}});
        assert_eq!(decide(&[], 200, &m, None).unwrap_err().kind(), "no_decision");
        let rules = [rule(Some(-32003), None, None, false, Decision::Deny)];
        assert_eq!(decide(&rules, 200, &m, None).unwrap().decision, Decision::Deny);
    }

    #[test]
    fn is_error_results_need_a_rule() {
        let m = json!({"result": {"isError": true, "content": [{"type": "text", "text": "Unknown tool: x"}]}});
        assert_eq!(decide(&[], 200, &m, None).unwrap_err().kind(), "no_decision");
        let rules = [rule(None, None, Some("Unknown tool"), true, Decision::Deny)];
        let r = decide(&rules, 200, &m, None).unwrap();
        assert_eq!((r.decision, r.reason.as_deref()), (Decision::Deny, Some("mapped")));
    }

    #[test]
    fn plain_result_is_allow_and_missing_both_is_protocol_error() {
        let m = json!({"result": {"content": []}});
        assert_eq!(decide(&[], 200, &m, Some("v".into())).unwrap().decision, Decision::Allow);
        assert_eq!(decide(&[], 200, &json!({"jsonrpc": "2.0"}), None).unwrap_err().kind(), "protocol");
    }

    #[test]
    fn http_refusal_with_a_plain_json_body_needs_a_status_rule() {
        let m = json!({"detail": "Authentication required for MCP endpoints"});
        assert_eq!(decide(&[], 401, &m, None).unwrap_err(), CallError::Status(401));
        let rules = [rule(None, Some(401), Some("Authentication required"), false, Decision::Deny)];
        let r = decide(&rules, 401, &m, None).unwrap();
        assert_eq!((r.decision, r.reason.as_deref()), (Decision::Deny, Some("mapped")));
        // A JSON-RPC error inside HTTP 200 is matched on its own message.
        let m = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": 0, "message": "Access denied"}});
        let rules = [rule(None, Some(200), Some("Access denied"), false, Decision::Deny)];
        assert_eq!(decide(&rules, 200, &m, None).unwrap().decision, Decision::Deny);
    }

    #[test]
    fn a_bearer_challenge_is_found_among_schemes_and_parameters() {
        let values =
            |v: &[&'static str]| v.iter().copied().map(reqwest::header::HeaderValue::from_static).collect::<Vec<_>>();
        let yes = [
            &["Bearer resource_metadata=\"http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp\""][..],
            &["bearer"],
            &["Basic realm=\"x\", Bearer error=\"invalid_token\""],
            &["Basic realm=\"x\"", "Bearer"],
        ];
        for v in yes {
            assert!(bearer_challenge(&values(v)), "{v:?}");
        }
        let no = [&["Basic realm=\"bearer\""][..], &["Basic bearer=1"], &["Bearerish"], &[]];
        for v in no {
            assert!(!bearer_challenge(&values(v)), "{v:?}");
        }
    }

    #[test]
    fn a_bearer_challenge_is_unauthenticated_unless_the_answer_says_more() {
        // No body, no rule: the challenge alone is the decision.
        let r = unauthenticated(Err(CallError::Status(401)), Some("v1".into())).unwrap();
        assert_eq!(
            (r.decision, r.reason.as_deref(), r.policy_version.as_deref()),
            (Decision::Deny, Some("unauthenticated"), Some("v1"))
        );
        let r = unauthenticated(Err(CallError::Unparseable("not JSON".into())), None).unwrap();
        assert_eq!((r.decision, r.reason.as_deref()), (Decision::Deny, Some("unauthenticated")));
        // The gateway's own statement (or a rule) keeps its reason.
        let m = json!({"error": {"code": -32001, "message": "no", "data": {"decision": "deny", "reason": "revoked"}}});
        let r = unauthenticated(decide(&[], 401, &m, None), None).unwrap();
        assert_eq!(r.reason.as_deref(), Some("revoked"));
        // A 401 that claims to allow is no decision at all.
        let m = json!({"result": {"content": []}});
        assert_eq!(unauthenticated(decide(&[], 401, &m, None), None).unwrap_err().kind(), "protocol");
    }

    #[test]
    fn a_rule_without_matchers_matches_nothing() {
        let rules = [rule(None, None, None, false, Decision::Allow)];
        let m = json!({"error": {"code": 1, "message": "x"}});
        assert!(decide(&rules, 200, &m, None).is_err());
    }

    #[test]
    fn sse_bodies_are_read() {
        let body = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
        assert!(sse_message(body).unwrap().get("result").is_some());
        assert!(sse_message(b"data: not json\n\n").is_err());
    }
}

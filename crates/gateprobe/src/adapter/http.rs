//! The `http` adapter: any JSON HTTP gateway or policy decision point (OPA-style
//! `POST /v1/data/...`), driven by a request template and a decision mapping from config.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Map, Value};

use crate::config::{HttpDecisionMapping, HttpDecisionRule, HttpTarget, PolicyVersionSource};
use crate::decision::Decision;
use crate::secret::Scrubber;

use super::decide::{bounded, parse_decision, policy_version, version_header};
use super::{Adapter, Call, CallError, Reply, ResolvedIdentity, Session, TargetError};
use crate::transport::{MAX_RESPONSE_SETTING, read_capped};

/// A JSON HTTP gateway or PDP (`target: {kind: http}`). It keeps no sessions and cannot list
/// its tools (`coverage.tools` does): the trait's defaults.
pub(crate) struct HttpAdapter {
    client: reqwest::Client,
    config: HttpTarget,
    method: Method,
    /// Applied to every answer as it arrives: a gateway may quote the token it was sent.
    scrubber: Arc<Scrubber>,
    /// `run.max_response_bytes`: no answer is read past it.
    max_response_bytes: usize,
    /// Where its TLS settings are (`target.tls`, `targets.<name>.tls`), for a failed handshake's advice.
    tls_setting: String,
}

impl HttpAdapter {
    /// An adapter for the gateway `config` describes, on the run's shared `client`; refuses a
    /// `method` that is no HTTP method.
    pub(crate) fn new(
        client: reqwest::Client,
        config: HttpTarget,
        max_response_bytes: usize,
        tls_setting: String,
    ) -> Result<HttpAdapter, TargetError> {
        let method = Method::from_bytes(config.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| TargetError::Invalid(format!("`{}` is not an HTTP method", config.method)))?;
        Ok(HttpAdapter { client, config, method, scrubber: Arc::default(), max_response_bytes, tls_setting })
    }
}

#[async_trait::async_trait]
impl Adapter for HttpAdapter {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn set_scrubber(&mut self, scrubber: Arc<Scrubber>) {
        self.scrubber = scrubber;
    }

    async fn call(&self, _session: &Session, identity: &ResolvedIdentity, call: &Call<'_>) -> Result<Reply, CallError> {
        let body = render(&self.config.body, identity, call);
        let mut request = self
            .client
            .request(self.method.clone(), &self.config.url)
            .header(self.config.correlation_header.as_str(), call.correlation_id)
            .json(&body);
        if let Some(token) = identity.bearer().await? {
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.map_err(|e| CallError::from_reqwest_at(&e, &self.tls_setting))?;
        let status = response.status().as_u16();
        let header_version = version_header(&response, &self.config.policy_version, &self.scrubber);
        let bytes = read_capped(response, self.max_response_bytes, MAX_RESPONSE_SETTING).await?;
        decode_answer(
            &self.config.decision,
            &self.config.policy_version,
            &self.scrubber,
            status,
            header_version,
            &bytes,
        )
    }
}

/// Reads a decision out of one answer as received: HTTP status, the policy version from a
/// header (when `source` names one) and the body bytes, with the run's credentials scrubbed
/// from the parsed answer. Pure, and the whole path from a
/// received answer to a decision, so the fuzzer drives exactly this.
pub fn decode_answer(
    mapping: &HttpDecisionMapping,
    source: &PolicyVersionSource,
    scrubber: &Scrubber,
    status: u16,
    header_version: Option<String>,
    body: &[u8],
) -> Result<Reply, CallError> {
    let mut answer: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(a) = &mut answer {
        scrubber.scrub_json(a);
    }
    let policy_version = policy_version(header_version, source, answer.as_ref());
    decide(mapping, status, answer.as_ref(), policy_version)
}

/// The first rule that matches decides; then status codes named in the mapping are decisions by
/// themselves; otherwise a 2xx answer must hold the decision at the configured pointer. Nothing
/// else is guessed.
fn decide(
    mapping: &HttpDecisionMapping,
    status: u16,
    answer: Option<&Value>,
    policy_version: Option<String>,
) -> Result<Reply, CallError> {
    let reason = || {
        let p = mapping.reason_pointer.as_deref()?;
        answer?.pointer(p).and_then(Value::as_str).map(str::to_string)
    };
    let matches = |rule: &HttpDecisionRule| {
        rule.http_status.is_none_or(|s| s == status)
            && rule.pointer.as_deref().is_none_or(|p| match (answer.and_then(|a| a.pointer(p)), &rule.equals) {
                (Some(found), Some(wanted)) => found == wanted,
                (found, None) => found.is_some(),
                (None, Some(_)) => false,
            })
    };
    if let Some(rule) = mapping.rules.iter().find(|r| matches(r)) {
        let reason = rule.reason.clone().or_else(reason);
        return Ok(Reply { decision: rule.decision, reason, confirmation_id: None, policy_version });
    }
    if let Some(decision) = mapping.status.get(&status) {
        return Ok(Reply { decision: *decision, reason: reason(), confirmation_id: None, policy_version });
    }
    if !(200..300).contains(&status) {
        return Err(CallError::Status(status));
    }
    let answer = answer.ok_or_else(|| CallError::Unparseable("2xx answer is not JSON".into()))?;
    let Some(pointer) = mapping.pointer.as_deref() else {
        return Err(CallError::NoDecision("no `decision.pointer` configured and the status is not mapped".into()));
    };
    let decision = match answer.pointer(pointer) {
        Some(Value::Bool(true)) => Decision::Allow,
        Some(Value::Bool(false)) => Decision::Deny,
        // The value is quoted bounded, like gateway text in `mcp` (the fuzzer found a PDP
        // answer could make the error, and so the reports, as long as the answer).
        Some(v @ Value::String(_)) => parse_decision(v).ok_or_else(|| {
            CallError::NoDecision(format!("`{pointer}` holds {}, not a decision", bounded(&v.to_string())))
        })?,
        Some(other) => {
            return Err(CallError::NoDecision(format!(
                "`{pointer}` holds {}, not a decision",
                bounded(&other.to_string())
            )));
        }
        None => return Err(CallError::NoDecision(format!("no value at `{pointer}`"))),
    };
    Ok(Reply { decision, reason: reason(), confirmation_id: None, policy_version })
}

/// Substitutes `{{…}}` placeholders. A string that is exactly one placeholder becomes that
/// value (so `"{{arguments}}"` becomes an object); placeholders inside longer strings are text.
fn render(template: &Value, identity: &ResolvedIdentity, call: &Call<'_>) -> Value {
    let value_of = |name: &str| -> Option<Value> {
        Some(match name {
            "tool" => call.tool.into(),
            "arguments" => Value::Object(call.arguments.clone()),
            "subject" => identity.subject.as_str().into(),
            "tenant" => identity.tenant.as_str().into(),
            "roles" => identity.roles.clone().into(),
            "correlation_id" => call.correlation_id.into(),
            "context" => Value::Object(call.context.cloned().unwrap_or_default()),
            "prompt" => call.prompt.map_or(Value::Null, Value::from),
            _ => return None,
        })
    };
    match template {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
                if let Some(v) = value_of(name.trim()) {
                    return v;
                }
            }
            let mut out = s.clone();
            for name in ["tool", "subject", "tenant", "correlation_id", "prompt"] {
                let placeholder = format!("{{{{{name}}}}}");
                if out.contains(&placeholder) {
                    let text = match value_of(name) {
                        Some(Value::String(t)) => t,
                        _ => String::new(),
                    };
                    out = out.replace(&placeholder, &text);
                }
            }
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| render(i, identity, call)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), render(v, identity, call))).collect::<Map<_, _>>())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn adapter(pointer: Option<&str>, status: &[(u16, Decision)]) -> HttpAdapter {
        let config = HttpTarget {
            url: "http://127.0.0.1:1/v1/data/tools/allow".into(),
            method: "post".into(),
            body: json!({"input": {"tool": "{{tool}}", "args": "{{arguments}}", "who": "{{tenant}}/{{subject}}"}}),
            correlation_header: "x-request-id".into(),
            policy_version: PolicyVersionSource::default(),
            decision: HttpDecisionMapping {
                pointer: pointer.map(String::from),
                reason_pointer: Some("/result/reason".into()),
                status: status.iter().copied().collect::<BTreeMap<_, _>>(),
                rules: vec![],
            },
            tls: None,
        };
        HttpAdapter::new(reqwest::Client::new(), config, 1 << 20, crate::adapter::TLS_SETTING.into()).unwrap()
    }

    #[test]
    fn template_substitutes_whole_values_and_text() {
        let identity = ResolvedIdentity {
            name: "a".into(),
            subject: "alice@example.com".into(),
            tenant: "acme".into(),
            roles: vec![],
            token: Default::default(),
        };
        let args = json!({"path": "/x"}).as_object().unwrap().clone();
        let call = Call {
            tool: "files.read",
            arguments: &args,
            correlation_id: "c",
            prompt: None,
            context: None,
            confirmation_id: None,
        };
        let body = render(&adapter(None, &[]).config.body, &identity, &call);
        assert_eq!(
            body,
            json!({"input": {"tool": "files.read", "args": {"path": "/x"}, "who": "acme/alice@example.com"}})
        );
    }

    #[test]
    fn decisions_from_pointer_and_status() {
        let a = adapter(Some("/result/allow"), &[(429, Decision::RateLimited)]);
        let allow = decide(&a.config.decision, 200, Some(&json!({"result": {"allow": true}})), None).unwrap();
        assert_eq!(allow.decision, Decision::Allow);
        let deny = decide(&a.config.decision, 200, Some(&json!({"result": {"allow": false, "reason": "nope"}})), None)
            .unwrap();
        assert_eq!((deny.decision, deny.reason.as_deref()), (Decision::Deny, Some("nope")));
        assert_eq!(decide(&a.config.decision, 429, None, None).unwrap().decision, Decision::RateLimited);
    }

    /// Pins the JSON-RPC mapping examples/contextforge uses on `/rpc`: rules by error code and
    /// by the presence of a result, tried in order before `status`, a rule's reason winning.
    #[test]
    fn rules_read_json_rpc_answers() {
        let mut a = adapter(None, &[(401, Decision::Deny)]);
        let rule =
            |status: Option<u16>, pointer: Option<&str>, equals: Option<Value>, decision, reason: Option<&str>| {
                HttpDecisionRule {
                    http_status: status,
                    pointer: pointer.map(String::from),
                    equals,
                    decision,
                    reason: reason.map(String::from),
                }
            };
        a.config.decision.reason_pointer = Some("/error/message".into());
        a.config.decision.rules = vec![
            rule(None, Some("/error/code"), Some(json!(-32003)), Decision::Deny, Some("access_denied")),
            rule(None, Some("/error/code"), Some(json!(-32601)), Decision::Deny, None),
            rule(Some(401), None, None, Decision::Deny, Some("unauthenticated")),
            rule(Some(200), Some("/result"), None, Decision::Allow, None),
        ];
        let m = &a.config.decision;
        let read = |status, answer: Value| decide(m, status, Some(&answer), None).map(|r| (r.decision, r.reason));
        let denied = json!({"jsonrpc": "2.0", "error": {"code": -32003, "message": "Access denied"}, "id": 1});
        assert_eq!(read(200, denied), Ok((Decision::Deny, Some("access_denied".into()))));
        let unknown = json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Tool not found: x"}, "id": 1});
        assert_eq!(read(200, unknown), Ok((Decision::Deny, Some("Tool not found: x".into()))));
        assert_eq!(
            read(401, json!({"detail": "token required"})),
            Ok((Decision::Deny, Some("unauthenticated".into())))
        );
        let result = json!({"jsonrpc": "2.0", "result": {"content": [], "isError": false}, "id": 1});
        assert_eq!(read(200, result.clone()).map(|r| r.0), Ok(Decision::Allow));
        // A result under another status, or an error code no rule names, is no decision.
        assert_eq!(read(500, result).unwrap_err().kind(), "http_status");
        let internal = json!({"jsonrpc": "2.0", "error": {"code": -32603, "message": "Internal error"}, "id": 1});
        assert_eq!(read(200, internal).unwrap_err().kind(), "no_decision");
    }

    #[test]
    fn nothing_unknown_becomes_a_decision() {
        let a = adapter(Some("/result/allow"), &[]);
        assert_eq!(
            decide(&a.config.decision, 200, Some(&json!({"result": {}})), None).unwrap_err().kind(),
            "no_decision"
        );
        assert_eq!(
            decide(&a.config.decision, 200, Some(&json!({"result": {"allow": "maybe"}})), None).unwrap_err().kind(),
            "no_decision"
        );
        assert_eq!(decide(&a.config.decision, 503, None, None).unwrap_err().kind(), "http_status");
        assert_eq!(decide(&a.config.decision, 200, None, None).unwrap_err().kind(), "unparseable");
        // A huge value at the pointer is quoted bounded (found by the fuzzer).
        let huge = json!({"result": {"allow": "x".repeat(100_000)}});
        let e = decide(&a.config.decision, 200, Some(&huge), None).unwrap_err();
        assert!(e.to_string().chars().count() < 200, "{e}");
    }
}

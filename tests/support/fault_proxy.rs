//! A fault-injecting HTTP proxy for tests. It sits between gateprobe and the real reference
//! gateway and forwards every request unchanged, except that it fakes, on demand, what a
//! troubled gateway or network does: refused connections (by closing its listener), accepted
//! connections that never answer, 5xx answers, connections reset in the middle of a body,
//! malformed JSON, well-formed JSON with no decision in it, audit records that show up late,
//! a policy version header that flaps between two values, answers slowed by a delay, a
//! gateway that echoes the caller's credential back, and sessions the gateway has ended
//! ([`FaultProxy::expire_sessions`]: 404 to them, as MCP has a server answer).
//! Everything else (decisions, audit records, headers) comes from the real gateway.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

#[derive(Debug, Clone, PartialEq)]
#[allow(dead_code, reason = "each test file uses the faults it needs")]
pub enum Fault {
    /// Forward faithfully.
    None,
    /// Accept, read the request, never answer.
    Hang,
    /// Answer `POST /mcp` with this status and an HTML body.
    Status(u16),
    /// Send the headers and half of the body, then break the connection.
    ResetMidBody,
    /// Answer `POST /mcp` with a 307 redirect to the real gateway's `/mcp`: a client that
    /// followed it would get the real decision.
    Redirect,
    /// Answer `POST /mcp` with 200 and a body that is not JSON.
    MalformedJson,
    /// Answer `POST /mcp` calls with valid JSON that holds no decision.
    NoDecision,
    /// A `tools/call` the gateway answered 401 loses its JSON-RPC body (plain text instead), as
    /// a gateway that refuses at the HTTP level sends it; its `WWW-Authenticate` is kept only
    /// when `challenge` is true.
    BareUnauthorized { challenge: bool },
    /// Answer `/audit` with an empty list until this long after the first lookup of an id.
    AuditLate(Duration),
    /// Answer `/audit` with an empty list until this many tool calls have come through, as an
    /// audit store that ships records in batches would.
    AuditAfterCalls(u64),
    /// Alternate the `x-policy-version` header between the real one and this one.
    FlapVersion(String),
    /// Hold every answer this long.
    Slow(Duration),
    /// Rewrite every audit record's decision, allow ↔ deny; a record turned to deny also says
    /// `executed: false` and `result: null`, as a real denial's would.
    AuditSwapDecision,
    /// Answer every audit query with each record twice: as it is, and with the opposite
    /// decision (allow ↔ deny).
    AuditDuplicateOpposite,
    /// Answer every audit query with the last record the gateway returned before this fault
    /// was set: an earlier call's (another correlation id, other arguments).
    AuditForeign,
    /// Echo the caller's credential, as a careless gateway might: the bearer token at the start
    /// of every JSON-RPC error message and in its reason, the token's signature in the policy
    /// version header, and the whole `Authorization` header in the audit records of the call
    /// (as a gateway that logs request headers would). Refusals of `files.delete` lose their
    /// `error.data`, so that they read as no decision and the message is quoted in the error.
    EchoCredentials,
    /// Answer every `POST /mcp` with 200 and a JSON body that never ends (chunked, no length).
    EndlessBody,
    /// Answer `tools/call` with 200 and a JSON body of this many bytes (its length announced).
    LargeBody(usize),
    /// Answer `/audit` with 200 and a JSON body that never ends (chunked, no length).
    EndlessAudit,
    /// Answer `/audit` with the real records after a padding record: valid JSON of at least
    /// this many bytes (chunked, no length).
    LargeAudit(usize),
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    fault: Mutex<Fault>,
    first_audit_lookup: Mutex<HashMap<String, Instant>>,
    counter: AtomicU64,
    /// `tools/call` requests seen.
    calls: AtomicU64,
    /// See [`FaultProxy::expire_sessions_at_call`]; 0: never.
    expire_at_call: AtomicU64,
    /// With [`Fault::EchoCredentials`]: correlation id → the `Authorization` header of the call.
    authorizations: Mutex<HashMap<String, String>>,
    /// The last audit record forwarded without an audit fault (for [`Fault::AuditForeign`]).
    last_audit_record: Mutex<Option<serde_json::Value>>,
    /// MCP session ids the gateway has handed out.
    sessions_seen: Mutex<HashSet<String>>,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on an ephemeral loopback port in front of `upstream` (`http://127.0.0.1:P`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            fault: Mutex::new(Fault::None),
            first_audit_lookup: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            expire_at_call: AtomicU64::new(0),
            authorizations: Mutex::new(HashMap::new()),
            last_audit_record: Mutex::default(),
            sessions_seen: Mutex::default(),
        });
        let app = axum::Router::new().fallback(forward).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        FaultProxy { addr, shared, server }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
    }

    /// Has the gateway end every MCP session it has handed out so far when the `n`th
    /// `tools/call` arrives (1-based), with a real `DELETE /mcp` for each before forwarding the
    /// call: the gateway itself answers that call and all later requests in those sessions with
    /// 404. Sessions opened later are served.
    pub fn expire_sessions_at_call(&self, n: u64) {
        self.shared.expire_at_call.store(n, Ordering::SeqCst);
    }

    /// Stops listening: from now on connections are refused, like a gateway that is down.
    pub fn stop(&self) {
        self.server.abort();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let fault = shared.fault.lock().unwrap().clone();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 8 << 20).await.unwrap_or_default();
    let is_mcp = parts.uri.path() == "/mcp";
    let is_call = is_mcp && body.windows(10).any(|w| w == b"tools/call");
    if is_call && shared.calls.fetch_add(1, Ordering::SeqCst) + 1 == shared.expire_at_call.load(Ordering::SeqCst) {
        let seen: Vec<String> = shared.sessions_seen.lock().unwrap().drain().collect();
        for id in seen {
            let url = format!("{}/mcp", shared.upstream);
            let delete = shared.client.delete(url).header("mcp-session-id", id).timeout(Duration::from_secs(10));
            // 404: the client had already ended that one itself.
            if !delete.send().await.is_ok_and(|r| matches!(r.status().as_u16(), 204 | 404)) {
                return plain(502, "the gateway did not end the session");
            }
        }
    }
    match &fault {
        Fault::Hang => std::future::pending::<()>().await,
        Fault::EndlessBody if is_mcp => return padded(RESULT_PAD.into(), None, Bytes::new()),
        Fault::LargeBody(n) if is_call => {
            let mut r = padded(RESULT_PAD.into(), Some(*n), Bytes::from_static(b"\"}}"));
            r.headers_mut().insert("content-length", HeaderValue::from(*n));
            return r;
        }
        Fault::EndlessAudit if parts.uri.path() == "/audit" => {
            return padded(Bytes::from_static(b"[{\"pad\":\""), None, Bytes::new());
        }
        Fault::Status(code) if is_mcp => return plain(*code, "<html>upstream trouble</html>"),
        Fault::Redirect if is_mcp => {
            let mut r = plain(307, "");
            let location = HeaderValue::from_str(&format!("{}/mcp", shared.upstream)).unwrap();
            r.headers_mut().insert("location", location);
            return r;
        }
        Fault::MalformedJson if is_mcp => return plain(200, "{\"jsonrpc\": \"2.0\", \"result\": {"),
        Fault::NoDecision if is_call => {
            return json_response(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32099,"message":"something odd"}}"#);
        }
        Fault::Slow(d) => tokio::time::sleep(*d).await,
        Fault::AuditLate(delay) if parts.uri.path() == "/audit" => {
            let id = parts.uri.query().unwrap_or_default().to_string();
            let first = *shared.first_audit_lookup.lock().unwrap().entry(id).or_insert_with(Instant::now);
            if first.elapsed() < *delay {
                return json_response("[]");
            }
        }
        Fault::AuditAfterCalls(n) if parts.uri.path() == "/audit" && shared.calls.load(Ordering::SeqCst) < *n => {
            return json_response("[]");
        }
        _ => {}
    }
    let echo = (fault == Fault::EchoCredentials).then(|| Echo::new(&shared, &parts.headers, &body));
    let url = format!("{}{}", shared.upstream, parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut upstream = shared.client.request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(answer) = upstream.send().await else { return plain(502, "upstream unreachable") };
    let status = answer.status();
    let mut headers: HeaderMap = answer.headers().clone();
    if let Some(id) = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()) {
        shared.sessions_seen.lock().unwrap().insert(id.to_string());
    }
    let mut bytes = answer.bytes().await.unwrap_or_default();
    if let Some(echo) = echo {
        bytes = echo.apply(&shared, &parts.uri, &mut headers, bytes);
    }
    if parts.uri.path() == "/audit" {
        bytes = tamper_audit(&shared, &fault, bytes);
    }
    if let Fault::BareUnauthorized { challenge } = fault
        && is_call
        && status == StatusCode::UNAUTHORIZED
    {
        if !challenge {
            headers.remove("www-authenticate");
        }
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        bytes = Bytes::from_static(b"Unauthorized");
    }
    if let (Fault::LargeAudit(n), "/audit") = (&fault, parts.uri.path()) {
        // `[{"pad":"xx…"}` then the real records' `,{…}]`, or `]` when there are none.
        let records = bytes.strip_prefix(b"[").unwrap_or_default().trim_ascii_start();
        let tail = if records.starts_with(b"]") { b"\"}]".to_vec() } else { [b"\"},", records].concat() };
        return padded(Bytes::from_static(b"[{\"pad\":\""), Some(*n), tail.into());
    }
    if let Fault::FlapVersion(other) = &fault {
        if shared.counter.fetch_add(1, Ordering::Relaxed) % 2 == 1 {
            headers.insert("x-policy-version", HeaderValue::from_str(other).unwrap());
        }
    }
    if fault == Fault::ResetMidBody && is_mcp {
        let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            vec![Ok(half), Err(std::io::Error::other("reset by fault proxy"))];
        let mut response = Response::new(Body::from_stream(futures::stream::iter(chunks)));
        *response.status_mut() = status;
        headers.remove("content-length");
        *response.headers_mut() = headers;
        return response;
    }
    headers.remove("content-length");
    headers.remove("transfer-encoding");
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// What [`Fault::EchoCredentials`] needs of a request to echo its credential in the answer.
struct Echo {
    token: Option<String>,
    tool: Option<String>,
}

impl Echo {
    fn new(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Echo {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let authorization = header("authorization");
        if let (Some(id), Some(a)) = (header("x-request-id"), &authorization) {
            shared.authorizations.lock().unwrap().insert(id, a.clone());
        }
        let call: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        Echo {
            token: authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")).map(str::to_string),
            tool: call.as_ref().and_then(|c| c["params"]["name"].as_str()).map(str::to_string),
        }
    }

    fn apply(self, shared: &Shared, uri: &axum::http::Uri, headers: &mut HeaderMap, bytes: Bytes) -> Bytes {
        use serde_json::{Value, json};
        let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else { return bytes };
        match (uri.path(), &mut value, &self.token) {
            ("/mcp", message, Some(token)) => {
                if let Some(error) = message.get_mut("error") {
                    let text = error["message"].as_str().unwrap_or_default().to_string();
                    error["message"] = json!(format!("{token} rejected: {text}"));
                    if self.tool.as_deref() == Some("files.delete") {
                        error.as_object_mut().unwrap().remove("data");
                    } else if let Some(reason) = error["data"]["reason"].as_str().map(str::to_string) {
                        error["data"]["reason"] = json!(format!("{reason} for {token}"));
                    }
                }
                let signature = token.rsplit('.').next().unwrap_or_default();
                let version = headers.get("x-policy-version").and_then(|v| v.to_str().ok()).unwrap_or("v");
                let echoed = HeaderValue::from_str(&format!("{version}+{signature}")).unwrap();
                headers.insert("x-policy-version", echoed);
            }
            ("/audit", Value::Array(records), _) => {
                let id = uri.query().and_then(|q| q.strip_prefix("correlation_id=")).unwrap_or_default();
                if let Some(a) = shared.authorizations.lock().unwrap().get(id) {
                    for r in records.iter_mut() {
                        r["request"] = json!({"headers": {"authorization": a}});
                    }
                }
            }
            _ => {}
        }
        Bytes::from(serde_json::to_vec(&value).unwrap())
    }
}

/// 64 KiB of padding, sent again and again without a copy.
static PAD: [u8; 64 << 10] = [b'x'; 64 << 10];
/// The start of a JSON-RPC result padded by [`padded`].
const RESULT_PAD: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"pad":""#;

/// A 200 JSON answer: `head`, then padding, then `tail`; exactly `total` bytes when given (the
/// padding is cut to fit), else padding without end.
fn padded(head: Bytes, total: Option<usize>, tail: Bytes) -> Response {
    use futures::StreamExt;
    let mut left = total.map(|t| t - head.len() - tail.len());
    let pad = futures::stream::iter(std::iter::from_fn(move || {
        let n = match &mut left {
            Some(0) => return None,
            Some(left) => {
                let n = (*left).min(PAD.len());
                *left -= n;
                n
            }
            None => PAD.len(),
        };
        Some(Bytes::from_static(&PAD[..n]))
    }));
    let body =
        futures::stream::iter([head]).chain(pad).chain(futures::stream::iter([tail])).map(Ok::<_, std::io::Error>);
    let mut r = Response::new(Body::from_stream(body));
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// The audit faults: the gateway's own records, rewritten.
fn tamper_audit(shared: &Shared, fault: &Fault, bytes: Bytes) -> Bytes {
    use serde_json::{Value, json};
    let Ok(Value::Array(mut records)) = serde_json::from_slice::<Value>(&bytes) else { return bytes };
    let opposite = |record: &Value| {
        let mut r = record.clone();
        let denied = r["decision"] == "allow";
        r["decision"] = json!(if denied { "deny" } else { "allow" });
        if denied {
            (r["executed"], r["result"]) = (json!(false), Value::Null);
        }
        r
    };
    match fault {
        Fault::AuditSwapDecision => records = records.iter().map(opposite).collect(),
        Fault::AuditDuplicateOpposite => records = records.iter().flat_map(|r| [r.clone(), opposite(r)]).collect(),
        Fault::AuditForeign => records = shared.last_audit_record.lock().unwrap().iter().cloned().collect(),
        _ => {
            if let Some(last) = records.last() {
                *shared.last_audit_record.lock().unwrap() = Some(last.clone());
            }
            return bytes;
        }
    }
    Bytes::from(serde_json::to_vec(&records).unwrap())
}

fn plain(status: u16, body: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r
}

fn json_response(body: &str) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    r
}

//! Evidence: the audit records a gateway wrote for one call, found by correlation id.
//!
//! Records may arrive late (asynchronous log shipping), so every lookup polls with a doubling
//! backoff until a deadline; only then is the evidence missing.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};

use crate::config::{
    AuditConfig, AuditDecisionRule, AuditFields, CORRELATION_ID, CORRELATION_IDS, EvidenceTiming, RunConfig,
};
use crate::decision::Decision;
use crate::secret::{Credential, Scrubber};
use crate::transport::{MAX_AUDIT_RESPONSE_SETTING, read_capped};

use crate::transport::{CallError, TargetError};

/// Prefix of every correlation id gateprobe makes: it tells probe records from other traffic.
pub(crate) const CORRELATION_PREFIX: &str = "gp-";

/// The audit records of one call: only records that name its correlation id.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub records: Vec<Value>,
    /// What each record states, in the order of `records`.
    pub statements: Vec<Statement>,
    /// From the start of the lookup until the records were visible.
    pub lag: Duration,
}

impl Evidence {
    /// Top-level fields with a value, over all records of the call.
    pub fn fields(&self) -> BTreeSet<String> {
        self.records
            .iter()
            .filter_map(Value::as_object)
            .flat_map(|o| o.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k.clone()))
            .collect()
    }

    /// Whether any record says the call was executed.
    pub fn executed(&self) -> bool {
        self.records.iter().any(|r| r.get("executed").and_then(Value::as_bool) == Some(true))
    }

    /// Whether `needle` appears anywhere in the records, keys and values alike.
    pub fn contains(&self, needle: &str) -> bool {
        self.records.iter().any(|r| r.to_string().contains(needle))
    }

    pub fn policy_version(&self) -> Option<String> {
        self.statements.iter().find_map(|s| s.policy_version.clone())
    }
}

/// What one audit record states about its call, read at `audit.fields`; `None` where it
/// states nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statement {
    /// `Err`: a value that reads as no known decision (kept to show it).
    pub decision: Option<Result<Decision, String>>,
    pub reason: Option<String>,
    pub tool: Option<String>,
    pub subject: Option<String>,
    pub tenant: Option<String>,
    pub policy_version: Option<String>,
}

/// How records are read: which record is whose, and what it states.
#[derive(Debug, Clone)]
pub(crate) struct Reading {
    correlation_pointer: String,
    fields: AuditFields,
    /// `audit.decisions`, their texts lower-cased once here rather than for every record.
    decisions: Vec<AuditDecisionRule>,
}

impl Reading {
    pub(crate) fn new(correlation_pointer: &str, fields: &AuditFields, decisions: &[AuditDecisionRule]) -> Reading {
        Reading {
            correlation_pointer: correlation_pointer.to_owned(),
            fields: fields.clone(),
            decisions: decisions
                .iter()
                .map(|r| AuditDecisionRule {
                    equals: r.equals.as_deref().map(str::to_lowercase),
                    contains: r.contains.as_deref().map(str::to_lowercase),
                    decision: r.decision,
                })
                .collect(),
        }
    }

    /// The correlation id a record names, if any.
    fn correlation_id<'r>(&self, record: &'r Value) -> Option<&'r str> {
        record.pointer(&self.correlation_pointer).and_then(Value::as_str)
    }

    pub(crate) fn statement(&self, record: &Value) -> Statement {
        let at = |pointer: &Option<String>| pointer.as_deref().and_then(|p| record.pointer(p));
        let text = |pointer: &Option<String>| at(pointer).and_then(text_of);
        Statement {
            decision: at(&self.fields.decision).and_then(|v| self.decision_of(v)),
            reason: text(&self.fields.reason),
            tool: text(&self.fields.tool),
            subject: text(&self.fields.subject),
            tenant: text(&self.fields.tenant),
            policy_version: text(&self.fields.policy_version),
        }
    }

    /// The decision a value states: the first matching `audit.decisions` rule, else a standard
    /// name; a value that is neither is kept as an `Err`, never guessed.
    fn decision_of(&self, value: &Value) -> Option<Result<Decision, String>> {
        let s = match value {
            Value::Null => return None,
            Value::Bool(true) => return Some(Ok(Decision::Allow)),
            Value::Bool(false) => return Some(Ok(Decision::Deny)),
            Value::String(s) => s,
            other => return Some(Err(other.to_string())),
        };
        let lower = s.to_lowercase();
        let rule = self.decisions.iter().find(|r| {
            r.equals.as_ref().is_some_and(|e| *e == lower)
                || r.contains.as_ref().is_some_and(|c| lower.contains(c.as_str()))
        });
        match rule {
            Some(rule) => rule.decision.map(Ok),
            None => Some(standard_decision(&lower).ok_or_else(|| s.clone())),
        }
    }

    pub(crate) fn evidence(&self, records: Vec<Value>, lag: Duration) -> Evidence {
        let statements = records.iter().map(|r| self.statement(r)).collect();
        Evidence { records, statements, lag }
    }
}

/// Decisions as gateways commonly spell them (lower case, `-` and spaces as `_`).
fn standard_decision(lower: &str) -> Option<Decision> {
    Some(match lower.trim().replace(['-', ' '], "_").as_str() {
        "allow" | "allowed" | "permit" | "permitted" | "granted" | "accept" | "accepted" => Decision::Allow,
        "deny" | "denied" | "forbid" | "forbidden" | "blocked" | "refused" | "reject" | "rejected" => Decision::Deny,
        "confirm" | "confirmation_required" | "needs_confirmation" | "require_confirmation" => Decision::Confirm,
        "rate_limited" | "ratelimited" | "throttled" | "too_many_requests" => Decision::RateLimited,
        _ => return None,
    })
}

/// A stated value as text: strings as they are, numbers and booleans written out.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// What a lookup found.
#[derive(Debug, Clone)]
pub enum Lookup {
    Found(Evidence),
    /// Nothing by the deadline.
    Missing {
        waited: Duration,
        /// Records the source returned for the lookup that name another correlation id, or
        /// none (never evidence: they belong to no call, or to another one).
        strays: usize,
    },
    /// No audit source is configured.
    NotChecked,
}

/// Where the evidence is read from, and how.
pub struct AuditSource {
    source: Source,
    reading: Reading,
    timing: EvidenceTiming,
    /// Every credential of the run: records are scrubbed of them as they arrive (a gateway that
    /// logs request headers would otherwise hand the token back).
    scrubber: Arc<Scrubber>,
}

enum Source {
    Http {
        query: Arc<HttpQuery>,
        /// `Some` when the URL takes `{correlation_ids}`: lookups share queries.
        batches: Option<Batches>,
    },
    JsonLines(Mutex<Tail>),
    None,
}

impl AuditSource {
    /// `embedded_base`: the embedded gateway's base URL, the default home of `/audit`.
    /// `token`: the bearer token the audit query carries (`audit.credential`).
    /// `run`: `concurrency` bounds the HTTP queries in flight at once, `max_audit_response_bytes`
    /// the size of an answer.
    pub fn new(
        client: reqwest::Client,
        config: &AuditConfig,
        embedded_base: Option<String>,
        token: Credential,
        run: &RunConfig,
        scrubber: Arc<Scrubber>,
    ) -> Result<AuditSource, TargetError> {
        let source = match config {
            AuditConfig::Http { url, method, body, records_pointer, correlation_pointer, .. } => {
                let url = match (url, embedded_base) {
                    (Some(u), _) => u.clone(),
                    (None, Some(base)) => format!("{base}/audit?correlation_ids={CORRELATION_IDS}"),
                    (None, None) => {
                        return Err(TargetError::Invalid(
                            "`audit.url` is required for this target (or set `audit: {kind: none}`)".into(),
                        ));
                    }
                };
                let body = match method.to_ascii_uppercase().as_str() {
                    "GET" if body.is_none() => None,
                    "GET" => return Err(TargetError::Invalid("`audit.body` needs `audit.method: POST`".into())),
                    "POST" => Some(body.clone().unwrap_or_else(|| Value::Object(Default::default()))),
                    other => {
                        return Err(TargetError::Invalid(format!("`audit.method` must be GET or POST, not `{other}`")));
                    }
                };
                let batches = url
                    .contains(CORRELATION_IDS)
                    .then(|| Batches { correlation_pointer: correlation_pointer.clone(), queue: OnceLock::new() });
                let in_body = body.as_ref().is_some_and(|b| b.to_string().contains(CORRELATION_ID));
                match (&batches, &body) {
                    (Some(_), Some(_)) => {
                        return Err(TargetError::Invalid(format!(
                            "`{CORRELATION_IDS}` works with `audit.method: GET` only"
                        )));
                    }
                    (None, _) if !url.contains(CORRELATION_ID) && !in_body => {
                        return Err(TargetError::Invalid(format!(
                            "`audit.url` (or the POST `audit.body`) must contain `{CORRELATION_ID}` or `{CORRELATION_IDS}`: {url}"
                        )));
                    }
                    _ => {}
                }
                let records_pointer = records_pointer.clone();
                let placeholder = if batches.is_some() { CORRELATION_IDS } else { CORRELATION_ID };
                let in_flight = Semaphore::new(run.concurrency.max(1));
                let max_body = run.max_audit_response_bytes;
                let query =
                    Arc::new(HttpQuery { client, url, placeholder, body, token, records_pointer, max_body, in_flight });
                Source::Http { query, batches }
            }
            AuditConfig::JsonLines { path, .. } => Source::JsonLines(Mutex::new(Tail::new(path.clone()))),
            AuditConfig::None => Source::None,
        };
        let (reading, timing) = match config {
            AuditConfig::Http { correlation_pointer, fields, decisions, timing, .. }
            | AuditConfig::JsonLines { correlation_pointer, fields, decisions, timing, .. } => {
                (Reading::new(correlation_pointer, fields, decisions), timing.clone())
            }
            AuditConfig::None => (Reading::new("", &AuditFields::default(), &[]), EvidenceTiming::default()),
        };
        Ok(AuditSource { source, reading, timing, scrubber })
    }

    /// Polls for the records of `correlation_id` until found or the deadline passes. Only
    /// records that name the id at `correlation_pointer` are its evidence, whatever the source
    /// answered. Query failures are retried within the deadline; if no query ever succeeded,
    /// that is an error, not missing evidence.
    pub async fn lookup(&self, correlation_id: &str) -> Result<Lookup, CallError> {
        if matches!(self.source, Source::None) {
            return Ok(Lookup::NotChecked);
        }
        let start = Instant::now();
        let deadline = Duration::from_millis(self.timing.deadline_ms);
        let mut wait = Duration::from_millis(self.timing.initial_poll_ms.max(1));
        let mut last_error = None;
        let mut answered = false;
        let mut strays = 0;
        loop {
            match self.query(correlation_id).await {
                Ok(records) => {
                    let total = records.len();
                    let mut own: Vec<Value> = records
                        .into_iter()
                        .filter(|r| self.reading.correlation_id(r) == Some(correlation_id))
                        .collect();
                    strays = strays.max(total - own.len());
                    if !own.is_empty() {
                        own.iter_mut().for_each(|r| self.scrubber.scrub_json(r));
                        return Ok(Lookup::Found(self.reading.evidence(own, start.elapsed())));
                    }
                    answered = true;
                }
                // An answer over the cap will not shrink by asking again.
                Err(e @ CallError::TooLarge { .. }) => return Err(e),
                Err(e) => last_error = Some(e),
            }
            let elapsed = start.elapsed();
            if elapsed >= deadline {
                return match (answered, last_error) {
                    (false, Some(e)) => Err(e),
                    _ => Ok(Lookup::Missing { waited: elapsed, strays }),
                };
            }
            tokio::time::sleep(wait.min(deadline - elapsed)).await;
            wait = (wait * 2).min(Duration::from_millis(500));
        }
    }

    async fn query(&self, correlation_id: &str) -> Result<Vec<Value>, CallError> {
        match &self.source {
            Source::Http { query, batches: None } => query.send(&[correlation_id]).await,
            Source::Http { query, batches: Some(batches) } => batches.query(query, correlation_id).await,
            Source::JsonLines(tail) => {
                let mut tail = tail.lock().await;
                let pointer = &self.reading.correlation_pointer;
                tail.read_new(pointer).map_err(|e| CallError::Protocol(format!("audit log: {e}")))?;
                Ok(tail.take(correlation_id))
            }
            Source::None => Ok(Vec::new()),
        }
    }
}

/// Most ids in one batched query: keeps the URL well under common 8 KB limits.
const MAX_BATCH: usize = 64;

/// One audit query over HTTP, for one id or (batched) for several.
pub(crate) struct HttpQuery {
    client: reqwest::Client,
    url: String,
    /// What `send` replaces in `url`: [`CORRELATION_IDS`] for a batched source, else
    /// [`CORRELATION_ID`] (which a POST query may have only in its body).
    placeholder: &'static str,
    /// `Some` for a POST query: the body template.
    body: Option<Value>,
    token: Credential,
    records_pointer: String,
    /// Most bytes of an answer (`run.max_audit_response_bytes`).
    max_body: usize,
    /// Bounds the queries of lookups that poll at once (a batched source sends one at a time).
    in_flight: Semaphore,
}

impl HttpQuery {
    async fn send(&self, ids: &[&str]) -> Result<Vec<Value>, CallError> {
        let _in_flight = self.in_flight.acquire().await.expect("never closed");
        let encoded = ids.iter().map(|id| encode(id)).collect::<Vec<_>>().join(",");
        let url = self.url.replace(self.placeholder, &encoded);
        let mut request = match &self.body {
            Some(b) => self.client.post(url).json(&fill(b, ids[0])),
            None => self.client.get(url),
        };
        let token = self.token.bearer().await.map_err(|e| CallError::Credential(format!("audit reader: {e}")))?;
        if let Some(t) = token {
            request = request.bearer_auth(t.expose());
        }
        let response = request.send().await.map_err(|e| CallError::from_reqwest_at(&e, "audit.tls"))?;
        if !response.status().is_success() {
            return Err(CallError::Status(response.status().as_u16()));
        }
        let bytes = read_capped(response, self.max_body, MAX_AUDIT_RESPONSE_SETTING).await?;
        let mut body: Value = serde_json::from_slice(&bytes)
            .map_err(|e| CallError::Unparseable(format!("audit answer is not JSON: {e}")))?;
        match body.pointer_mut(&self.records_pointer).map(Value::take) {
            Some(Value::Array(records)) => Ok(records),
            _ => Err(CallError::Unparseable(format!("audit answer has no array at `{}`", self.records_pointer))),
        }
    }
}

/// Lookups that share queries (`{correlation_ids}`). Each lookup queues its id; one task sends
/// a query for every id queued while the previous query was out, so the batch grows with the
/// load and a lone lookup waits for nobody. Hand-written: the few lines of this loop are less
/// than a general batching crate's setup.
pub(crate) struct Batches {
    correlation_pointer: String,
    /// Started on the first lookup, so the task runs on the caller's runtime; it ends when the
    /// source is dropped.
    queue: OnceLock<mpsc::UnboundedSender<Waiter>>,
}

/// A queued lookup: its id and where its records go.
type Waiter = (String, oneshot::Sender<Result<Vec<Value>, CallError>>);

impl Batches {
    async fn query(&self, query: &Arc<HttpQuery>, correlation_id: &str) -> Result<Vec<Value>, CallError> {
        let queue = self.queue.get_or_init(|| {
            let (queue, waiting) = mpsc::unbounded_channel();
            tokio::spawn(send_batches(query.clone(), self.correlation_pointer.clone(), waiting));
            queue
        });
        let (reply, records) = oneshot::channel();
        let stopped = || CallError::Protocol("the audit batch task has stopped".into());
        queue.send((correlation_id.to_owned(), reply)).map_err(|_| stopped())?;
        records.await.map_err(|_| stopped())?
    }
}

async fn send_batches(
    query: Arc<HttpQuery>,
    correlation_pointer: String,
    mut waiting: mpsc::UnboundedReceiver<Waiter>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ids: Vec<&str> = batch.iter().map(|(id, _)| id.as_str()).collect();
        tracing::trace!(ids = ids.len(), "batched audit query");
        match query.send(&ids).await {
            Ok(records) => {
                let mut by_id: HashMap<String, Vec<Value>> = HashMap::new();
                for record in records {
                    if let Some(id) = record.pointer(&correlation_pointer).and_then(Value::as_str) {
                        by_id.entry(id.to_owned()).or_default().push(record);
                    }
                }
                for (id, reply) in batch.drain(..) {
                    let _ = reply.send(Ok(by_id.remove(&id).unwrap_or_default()));
                }
            }
            Err(e) => {
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Follows a JSON-lines audit log (e.g. a gateway's structured stdout) from where it last read,
/// keeping only records of probe calls until they are looked up. Memory stays bounded whatever
/// the file holds: it is read in blocks, a line longer than `MAX_LINE` is skipped, and at most
/// `MAX_WAITING_IDS` calls' records wait (the oldest dropped first: those of calls nobody looks
/// up, e.g. another gateprobe's).
pub(crate) struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    /// The rest of a line longer than `MAX_LINE` is being skipped.
    skipping: bool,
    index: HashMap<String, Vec<Value>>,
    /// Ids in the order they entered `index`.
    order: VecDeque<String>,
}

/// The longest audit log line read, in bytes.
const MAX_LINE: usize = 1 << 20;
/// How much of the log is read at a time.
const BLOCK: usize = 1 << 20;
/// The most blocks one poll reads: a poll of a huge log is bounded in time too (the read is
/// blocking I/O on the runtime's thread); the rest is read by the next polls.
const BLOCKS_PER_POLL: usize = 16;
/// The most calls whose records wait in the index.
const MAX_WAITING_IDS: usize = 100_000;

impl Tail {
    fn new(path: PathBuf) -> Tail {
        Tail { path, offset: 0, partial: Vec::new(), skipping: false, index: HashMap::new(), order: VecDeque::new() }
    }

    fn read_new(&mut self, correlation_pointer: &str) -> std::io::Result<()> {
        let mut file = std::fs::File::open(&self.path)?;
        let len = file.metadata()?.len();
        if len < self.offset {
            // Truncated or rotated: start over.
            self.offset = 0;
            self.partial.clear();
            self.skipping = false;
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut block = vec![0; BLOCK];
        for _ in 0..BLOCKS_PER_POLL {
            let n = file.read(&mut block)?;
            if n == 0 {
                return Ok(());
            }
            self.offset += n as u64;
            let mut rest = &block[..n];
            while let Some(end) = rest.iter().position(|&b| b == b'\n') {
                if !std::mem::take(&mut self.skipping) {
                    self.partial.extend_from_slice(&rest[..end]);
                    let line = std::mem::take(&mut self.partial);
                    self.index_line(&line, correlation_pointer);
                }
                rest = &rest[end + 1..];
            }
            if !self.skipping {
                self.partial.extend_from_slice(rest);
                if self.partial.len() > MAX_LINE {
                    self.partial = Vec::new();
                    self.skipping = true;
                }
            }
        }
        Ok(())
    }

    /// Keeps `line` if it is a JSON record of a probe call; logs mix them with other lines.
    fn index_line(&mut self, line: &[u8], correlation_pointer: &str) {
        // Most lines of a gateway's log are not about a probe: no JSON parse for them.
        if !line.windows(CORRELATION_PREFIX.len()).any(|w| w == CORRELATION_PREFIX.as_bytes()) {
            return;
        }
        let Ok(record) = serde_json::from_slice::<Value>(line) else { return };
        let Some(id) = record.pointer(correlation_pointer).and_then(Value::as_str) else { return };
        if !id.starts_with(CORRELATION_PREFIX) {
            return;
        }
        if !self.index.contains_key(id) {
            self.order.push_back(id.to_owned());
        }
        self.index.entry(id.to_owned()).or_default().push(record);
        while self.order.len() > MAX_WAITING_IDS {
            if let Some(oldest) = self.order.pop_front() {
                self.index.remove(&oldest);
            }
        }
    }

    fn take(&mut self, correlation_id: &str) -> Vec<Value> {
        // Its place in `order` goes when it comes round: dropping an absent id is a no-op.
        self.index.remove(correlation_id).unwrap_or_default()
    }
}

/// A POST body template with every `{correlation_id}` in its strings replaced.
fn fill(template: &Value, correlation_id: &str) -> Value {
    match template {
        Value::String(s) => Value::String(s.replace(CORRELATION_ID, correlation_id)),
        Value::Array(a) => Value::Array(a.iter().map(|v| fill(v, correlation_id)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), fill(v, correlation_id))).collect()),
        other => other.clone(),
    }
}

/// Percent-encodes a correlation id for a query string (ids are ours, but a config may add
/// characters of its own to the template).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use serde_json::json;

    use super::*;

    fn open_source(config: &AuditConfig) -> Result<AuditSource, TargetError> {
        AuditSource::new(
            reqwest::Client::new(),
            config,
            None,
            Credential::None,
            &RunConfig::default(),
            Arc::new(Scrubber::new(&[])),
        )
    }

    #[test]
    fn evidence_fields_ignore_nulls() {
        let reading = Reading::new("/correlation_id", &AuditFields::default(), &[]);
        let e = reading.evidence(vec![json!({"decision": "deny", "result": null, "executed": false})], Duration::ZERO);
        assert_eq!(e.fields().into_iter().collect::<Vec<_>>(), ["decision", "executed"]);
        assert!(!e.executed());
    }

    #[tokio::test]
    async fn json_lines_tail_finds_late_records_and_skips_noise() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "not json\n{\"correlation_id\":\"other\"}\n").unwrap();
        let timing = EvidenceTiming { initial_poll_ms: 5, deadline_ms: 1500 };
        let config = AuditConfig::JsonLines {
            path: path.clone(),
            correlation_pointer: "/correlation_id".into(),
            fields: AuditFields::default(),
            decisions: vec![],
            timing,
        };
        let source = open_source(&config).unwrap();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
            // Written in two pieces: a half line must wait for its end.
            f.write_all(b"{\"correlation_id\":\"gp-1\",").unwrap();
            f.flush().unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            f.write_all(b"\"decision\":\"allow\"}\n").unwrap();
        });
        let found = source.lookup("gp-1").await.unwrap();
        writer.await.unwrap();
        let Lookup::Found(e) = found else { panic!("expected evidence, got {found:?}") };
        assert_eq!(e.records, vec![json!({"correlation_id": "gp-1", "decision": "allow"})]);
        assert!(e.lag >= Duration::from_millis(100));
    }

    /// A log-search API in the shape of ContextForge's `POST /api/logs/search`: needs a bearer
    /// token, takes the correlation id in a JSON body, answers `{results: [...]}`.
    #[tokio::test]
    async fn http_post_query_fills_the_body_and_sends_the_token() {
        use axum::{Json, Router, http::HeaderMap, routing::post};
        async fn search(headers: HeaderMap, Json(q): Json<Value>) -> (http::StatusCode, Json<Value>) {
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer reader-token") {
                return (http::StatusCode::UNAUTHORIZED, Json(json!({"detail": "auth"})));
            }
            let hit = q["correlation_id"] == "gp-9" && q["component"] == json!(["tool_service"]);
            let results = if hit { vec![json!({"correlation_id": "gp-9", "message": "invoked"})] } else { vec![] };
            (http::StatusCode::OK, Json(json!({"total": results.len(), "results": results})))
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, Router::new().route("/api/logs/search", post(search))).await });
        let config = |credential: bool| AuditConfig::Http {
            url: Some(format!("http://{addr}/api/logs/search")),
            method: "post".into(),
            body: Some(json!({"correlation_id": "{correlation_id}", "component": ["tool_service"]})),
            credential: credential.then(|| crate::config::CredentialSource::Env("UNUSED".into())),
            records_pointer: "/results".into(),
            correlation_pointer: "/correlation_id".into(),
            fields: AuditFields::default(),
            decisions: vec![],
            timing: EvidenceTiming { initial_poll_ms: 5, deadline_ms: 60 },
            tls: None,
        };
        let token = Credential::Fixed(crate::secret::Secret::new("reader-token"));
        let scrubber = Arc::new(Scrubber::new(&[]));
        let source =
            AuditSource::new(reqwest::Client::new(), &config(true), None, token, &RunConfig::default(), scrubber)
                .unwrap();
        let Lookup::Found(e) = source.lookup("gp-9").await.unwrap() else { panic!("expected evidence") };
        assert_eq!(e.records[0]["message"], "invoked");
        assert!(matches!(source.lookup("gp-10").await.unwrap(), Lookup::Missing { .. }));
        // Without the token every query is refused: an error, never missing evidence.
        let source = open_source(&config(false)).unwrap();
        assert_eq!(source.lookup("gp-9").await.unwrap_err().kind(), "http_status");
        // A GET with a body is a config mistake.
        let mut bad = config(false);
        if let AuditConfig::Http { method, .. } = &mut bad {
            *method = "GET".into();
        }
        assert!(open_source(&bad).is_err());
    }

    /// `{correlation_ids}`: concurrent lookups share queries and each gets its own records. The
    /// fixture fakes an audit API that answers for many ids at once; it counts the queries,
    /// holds each one briefly (as a real store takes time), and has records for even ids only.
    #[tokio::test]
    async fn batched_lookups_share_queries() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use axum::{Json, Router, extract::Query, routing::get};
        static QUERIES: AtomicUsize = AtomicUsize::new(0);
        static MOST_IDS: AtomicUsize = AtomicUsize::new(0);
        async fn audit(Query(q): Query<HashMap<String, String>>) -> Json<Value> {
            QUERIES.fetch_add(1, Ordering::SeqCst);
            let ids: Vec<&str> = q["ids"].split(',').collect();
            MOST_IDS.fetch_max(ids.len(), Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            let even = |id: &&&str| id.trim_start_matches("gp-").parse::<u32>().is_ok_and(|n| n % 2 == 0);
            let records: Vec<Value> = ids.iter().filter(even).map(|id| json!({"id": id, "n": id})).collect();
            Json(json!({"records": records}))
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, Router::new().route("/audit", get(audit))).await });
        let config = AuditConfig::Http {
            url: Some(format!("http://{addr}/audit?ids={{correlation_ids}}")),
            method: "GET".into(),
            body: None,
            credential: None,
            records_pointer: "/records".into(),
            correlation_pointer: "/id".into(),
            fields: AuditFields::default(),
            decisions: vec![],
            timing: EvidenceTiming { initial_poll_ms: 5, deadline_ms: 100 },
            tls: None,
        };
        let source = open_source(&config).unwrap();
        let ids: Vec<String> = (0..200).map(|n| format!("gp-{n}")).collect();
        let lookups = futures::future::join_all(ids.iter().map(|id| source.lookup(id))).await;
        for (id, lookup) in ids.iter().zip(lookups) {
            let n: u32 = id[3..].parse().unwrap();
            match lookup.unwrap() {
                Lookup::Found(e) if n % 2 == 0 => assert_eq!(e.records, vec![json!({"id": id, "n": id})]),
                Lookup::Missing { .. } if n % 2 == 1 => {}
                other => panic!("{id}: {other:?}"),
            }
        }
        // 200 first queries and the odd ids' polls, in far fewer queries of at most 64 ids.
        let (queries, most) = (QUERIES.load(Ordering::SeqCst), MOST_IDS.load(Ordering::SeqCst));
        assert!(queries < 30, "{queries} queries");
        assert!(most > 1 && most <= MAX_BATCH, "{most} ids in the largest query");
        // Batched queries are GET only.
        let mut post = config;
        if let AuditConfig::Http { method, body, .. } = &mut post {
            (*method, *body) = ("POST".into(), Some(json!({})));
        }
        assert!(open_source(&post).is_err());
    }

    #[tokio::test]
    async fn missing_after_deadline_and_error_when_never_answered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "").unwrap();
        let timing = EvidenceTiming { initial_poll_ms: 5, deadline_ms: 60 };
        let config = AuditConfig::JsonLines {
            path: path.clone(),
            correlation_pointer: "/correlation_id".into(),
            fields: AuditFields::default(),
            decisions: vec![],
            timing: timing.clone(),
        };
        let source = open_source(&config).unwrap();
        assert!(matches!(source.lookup("gp-2").await.unwrap(), Lookup::Missing { .. }));
        let config = AuditConfig::JsonLines {
            path: dir.path().join("absent.jsonl"),
            correlation_pointer: "/correlation_id".into(),
            fields: AuditFields::default(),
            decisions: vec![],
            timing,
        };
        let source = open_source(&config).unwrap();
        assert_eq!(source.lookup("gp-3").await.unwrap_err().kind(), "protocol");
    }

    /// What records state, read at the configured pointers and decision rules.
    #[test]
    fn statements_read_fields_and_spellings() {
        let rules = vec![
            AuditDecisionRule { equals: None, contains: Some("RBAC denied".into()), decision: Some(Decision::Deny) },
            AuditDecisionRule { equals: None, contains: Some(String::new()), decision: None },
        ];
        let fields = AuditFields { decision: Some("/message".into()), ..AuditFields::default() };
        let reading = Reading::new("/request_id", &fields, &rules);
        let denied = reading.statement(&json!({"message": "Streamable HTTP RBAC denied: user=x", "tenant": 7}));
        assert_eq!((denied.decision, denied.tenant.as_deref()), (Some(Ok(Decision::Deny)), Some("7")));
        // The catch-all rule: other lines of a free-text log state no decision.
        assert_eq!(reading.statement(&json!({"message": "tool invoked"})).decision, None);
        // Without rules, an unknown spelling is kept to be shown, never guessed.
        let plain = Reading::new("/correlation_id", &AuditFields::default(), &[]);
        assert_eq!(plain.statement(&json!({"decision": "Rate-Limited"})).decision, Some(Ok(Decision::RateLimited)));
        assert_eq!(plain.statement(&json!({"decision": "maybe"})).decision, Some(Err("maybe".into())));
        assert_eq!(plain.statement(&json!({"decision": null})).decision, None);
    }

    /// The single-id path: an audit API that answers every lookup with another call's record
    /// gives no evidence (the batched path and the JSON-lines tail match by id already).
    #[tokio::test]
    async fn a_record_of_another_call_is_not_evidence() {
        use axum::{Json, Router, routing::get};
        async fn audit() -> Json<Value> {
            Json(json!([{"correlation_id": "gp-earlier", "decision": "allow"}, {"decision": "allow"}]))
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, Router::new().route("/audit", get(audit))).await });
        let config = AuditConfig::Http {
            url: Some(format!("http://{addr}/audit?correlation_id={{correlation_id}}")),
            method: "GET".into(),
            body: None,
            credential: None,
            records_pointer: String::new(),
            correlation_pointer: "/correlation_id".into(),
            fields: AuditFields::default(),
            decisions: vec![],
            timing: EvidenceTiming { initial_poll_ms: 5, deadline_ms: 50 },
            tls: None,
        };
        let found = open_source(&config).unwrap().lookup("gp-mine").await.unwrap();
        assert!(matches!(found, Lookup::Missing { strays: 2, .. }), "{found:?}");
    }

    /// A log line past [`MAX_LINE`] is skipped without being held, and the lines after it read.
    #[test]
    fn an_overlong_log_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let long = format!("{{\"correlation_id\":\"gp-long\",\"pad\":\"{}\"}}\n", "x".repeat(3 * MAX_LINE));
        std::fs::write(&path, format!("{long}{{\"correlation_id\":\"gp-1\"}}\n")).unwrap();
        let mut tail = Tail::new(path);
        tail.read_new("/correlation_id").unwrap();
        assert!(tail.partial.capacity() <= 2 * MAX_LINE + BLOCK, "held {} bytes", tail.partial.capacity());
        assert!(tail.take("gp-long").is_empty());
        assert_eq!(tail.take("gp-1"), vec![json!({"correlation_id": "gp-1"})]);
    }
}

//! Audit: one JSON record per decision, kept in memory by correlation id (bounded) and
//! optionally appended to a JSON-lines file. Secrets are redacted before a record is stored.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::macros::format_description;

use super::identity::Principal;

/// How many records the in-memory index keeps (oldest dropped first).
pub(crate) const DEFAULT_CAPACITY: usize = 100_000;

pub(crate) const REDACTED: &str = "[REDACTED]";

/// Everything known about one decision; turned into the wire record by [`AuditLog::record`].
pub(crate) struct AuditEntry<'a> {
    pub correlation_id: &'a str,
    pub session_id: Option<&'a str>,
    pub synthetic: bool,
    pub principal: Option<&'a Principal>,
    pub tool: Option<&'a str>,
    pub arguments: Option<&'a Value>,
    pub decision: &'a str,
    pub reason: &'a str,
    pub policy_ids: &'a [String],
    pub policy_version: &'a str,
    pub executed: bool,
    pub result: Option<Value>,
}

struct Index {
    order: VecDeque<String>,
    by_correlation: HashMap<String, Vec<Arc<Value>>>,
}

pub(crate) struct AuditLog {
    index: Mutex<Index>,
    capacity: usize,
    file: Option<Mutex<File>>,
    omit_fields: Vec<String>,
    redact: bool,
}

impl AuditLog {
    pub(crate) fn new(
        file: Option<&Path>,
        omit_fields: Vec<String>,
        redact: bool,
        capacity: usize,
    ) -> std::io::Result<AuditLog> {
        let file = match file {
            Some(path) => Some(Mutex::new(OpenOptions::new().create(true).append(true).open(path)?)),
            None => None,
        };
        Ok(AuditLog {
            index: Mutex::new(Index { order: VecDeque::new(), by_correlation: HashMap::new() }),
            capacity: capacity.max(1),
            file,
            omit_fields,
            redact,
        })
    }

    pub(crate) fn record(&self, e: AuditEntry<'_>) {
        let now = OffsetDateTime::now_utc()
            .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"))
            .unwrap_or_default();
        let redact = |v: &Value| if self.redact { redact(v) } else { v.clone() };
        let mut record = Map::new();
        record.insert("timestamp".into(), now.into());
        record.insert("correlation_id".into(), e.correlation_id.into());
        record.insert("session_id".into(), e.session_id.map_or(Value::Null, Value::from));
        record.insert("synthetic".into(), e.synthetic.into());
        record.insert(
            "identity".into(),
            e.principal.map_or(Value::Null, |p| serde_json::to_value(p).unwrap_or_default()),
        );
        record.insert("tenant".into(), e.principal.map_or(Value::Null, |p| p.tenant.clone().into()));
        record.insert("policy_version".into(), e.policy_version.into());
        record.insert(
            "action".into(),
            match e.tool {
                Some(tool) => serde_json::json!({
                    "tool": tool,
                    "arguments": e.arguments.map_or(Value::Null, redact),
                }),
                None => Value::Null,
            },
        );
        record.insert("decision".into(), e.decision.into());
        record.insert("rationale".into(), serde_json::json!({"reason": e.reason, "policy_ids": e.policy_ids}));
        record.insert("executed".into(), e.executed.into());
        record.insert("result".into(), e.result.as_ref().map_or(Value::Null, redact));
        // Test hook: a gateway that forgets evidence, so the harness can prove `evidence_missing`.
        for field in &self.omit_fields {
            record.remove(field);
        }
        let record = Arc::new(Value::Object(record));

        if let Some(file) = &self.file {
            let mut line = record.to_string();
            line.push('\n');
            let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(error) = f.write_all(line.as_bytes()) {
                tracing::error!(%error, "cannot append audit record to file");
            }
        }
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index.order.push_back(e.correlation_id.to_owned());
        index.by_correlation.entry(e.correlation_id.to_owned()).or_default().push(record);
        while index.order.len() > self.capacity {
            let Some(oldest) = index.order.pop_front() else {
                break;
            };
            // Records of one correlation id are appended in order, so the oldest is first.
            if let Some(list) = index.by_correlation.get_mut(&oldest) {
                list.remove(0);
                if list.is_empty() {
                    index.by_correlation.remove(&oldest);
                }
            }
        }
    }

    /// The records of each id, in the order the ids are given, as one JSON array (written from
    /// the records kept, not from copies of them).
    pub(crate) fn by_correlations(&self, ids: &[&str]) -> String {
        let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let records: Vec<&Value> =
            ids.iter().filter_map(|id| index.by_correlation.get(*id)).flatten().map(|r| &**r).collect();
        serde_json::to_string(&records).expect("a JSON value serialises")
    }
}

static SECRET_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(api[_-]?key|token|passw(or)?d|secret|credential|authorization|private[_-]?key|access[_-]?key|cookie|session[_-]?key|bearer)")
        .expect("valid regex")
});

static SECRET_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)(^bearer\s+\S+|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.|-----BEGIN [A-Z ]*PRIVATE KEY|",
        r"\bAKIA[0-9A-Z]{16}\b|\b(sk|pk|rk)[-_](live|test)?[-_]?[A-Za-z0-9]{16,}|\bgh[pousr]_[A-Za-z0-9]{20,}|",
        r"\bxox[abpr]-[A-Za-z0-9-]{10,})"
    ))
    .expect("valid regex")
});

/// Replace values under secret-looking keys, and values that look like credentials.
pub(crate) fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if SECRET_KEY.is_match(k) && !v.is_null() { REDACTED.into() } else { redact(v) };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(s) if SECRET_VALUE.is_match(s) => REDACTED.into(),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_keys_and_credential_values() {
        let out = redact(&json!({
            "title": "printer",
            "api_key": "canary-123",
            "nested": {"Password": "x", "note": "Bearer abc.def"},
            "list": ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig", "plain"],
        }));
        assert_eq!(
            out,
            json!({
                "title": "printer",
                "api_key": REDACTED,
                "nested": {"Password": REDACTED, "note": REDACTED},
                "list": [REDACTED, "plain"],
            })
        );
    }

    #[test]
    fn index_is_bounded_and_omits_fields() {
        let log = AuditLog::new(None, vec!["rationale".into()], true, 2).unwrap();
        for id in ["a", "b", "c"] {
            log.record(AuditEntry {
                correlation_id: id,
                session_id: None,
                synthetic: false,
                principal: None,
                tool: Some("files.read"),
                arguments: Some(&json!({"path": "/x"})),
                decision: "deny",
                reason: "unauthenticated",
                policy_ids: &[],
                policy_version: "sha256:0",
                executed: false,
                result: None,
            });
        }
        let query = |ids: &[&str]| -> Vec<Value> { serde_json::from_str(&log.by_correlations(ids)).unwrap() };
        assert!(query(&["a"]).is_empty());
        let c = query(&["c"]);
        assert_eq!(c.len(), 1);
        assert!(c[0].get("rationale").is_none());
        assert_eq!(c[0]["identity"], Value::Null);
        // Several ids: each one's records, in the order asked, absent ids skipped.
        let ids: Vec<Value> = query(&["c", "a", "b"]).iter().map(|r| r["correlation_id"].clone()).collect();
        assert_eq!(ids, [json!("c"), json!("b")]);
    }

    #[test]
    fn file_and_index_hold_the_same_redacted_record() {
        let path = std::env::temp_dir().join(format!("gateprobe-audit-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let log = AuditLog::new(Some(&path), vec![], true, 10).unwrap();
        let alice =
            Principal { subject: "alice@example.com".into(), tenant: "acme".into(), roles: vec!["reader".into()] };
        log.record(AuditEntry {
            correlation_id: "x",
            session_id: Some("s1"),
            synthetic: true,
            principal: Some(&alice),
            tool: Some("files.read"),
            arguments: Some(&json!({"path": "/x", "api_key": "canary-1"})),
            decision: "allow",
            reason: "permitted",
            policy_ids: &["reader-read".to_string()],
            policy_version: "sha256:0",
            executed: true,
            result: Some(json!({"text": "Bearer abc.def"})),
        });
        let file = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.lines().count(), 1);
        assert_eq!(format!("[{}]", file.trim_end()), log.by_correlations(&["x"]));

        let record: Value = serde_json::from_str(file.trim_end()).unwrap();
        let keys: Vec<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "timestamp",
                "correlation_id",
                "session_id",
                "synthetic",
                "identity",
                "tenant",
                "policy_version",
                "action",
                "decision",
                "rationale",
                "executed",
                "result",
            ]
        );
        assert_eq!(record["identity"], json!({"subject": "alice@example.com", "tenant": "acme", "roles": ["reader"]}));
        assert_eq!(record["tenant"], "acme");
        assert_eq!(record["action"], json!({"tool": "files.read", "arguments": {"path": "/x", "api_key": REDACTED}}));
        assert_eq!(record["rationale"], json!({"reason": "permitted", "policy_ids": ["reader-read"]}));
        assert_eq!(record["result"], json!({"text": REDACTED}));
    }
}

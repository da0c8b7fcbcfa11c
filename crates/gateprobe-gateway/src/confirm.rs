//! One-time confirmation ids for irreversible calls, bound to subject, tool and arguments,
//! so a confirmation can be neither replayed nor reused for a different call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

const TTL: Duration = Duration::from_secs(300);
const MAX_PENDING: usize = 10_000;

#[derive(Default)]
pub(crate) struct Confirmations {
    pending: Mutex<HashMap<String, (String, Instant)>>,
}

/// Key order must not matter: `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same call.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let body: Vec<String> =
                keys.into_iter().map(|k| format!("{}:{}", Value::from(k.as_str()), canonical(&map[k]))).collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

pub(crate) fn binding(subject_key: &str, tool: &str, args: &Value) -> String {
    let mut h = Sha256::new();
    for part in [subject_key, tool, &canonical(args)] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

impl Confirmations {
    pub(crate) fn issue(&self, binding: String) -> String {
        let id = format!("cf_{}", uuid::Uuid::new_v4().simple());
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        pending.retain(|_, (_, issued)| now.duration_since(*issued) < TTL);
        if pending.len() >= MAX_PENDING {
            // Under a flood of unconfirmed calls, drop the oldest rather than grow without bound.
            if let Some(oldest) = pending.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| k.clone()) {
                pending.remove(&oldest);
            }
        }
        pending.insert(id.clone(), (binding, now));
        id
    }

    /// True (and the id is spent) if `id` was issued for exactly this binding and is still fresh.
    pub(crate) fn redeem(&self, id: &str, binding: &str) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match pending.get(id) {
            Some((b, issued)) if b == binding && issued.elapsed() < TTL => {
                pending.remove(id);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_time_and_bound() {
        let c = Confirmations::default();
        let b = binding("acme/bob", "files.delete", &json!({"path": "/a", "x": {"b": 1, "a": 2}}));
        assert_eq!(b, binding("acme/bob", "files.delete", &json!({"x": {"a": 2, "b": 1}, "path": "/a"})));
        let id = c.issue(b.clone());
        assert!(!c.redeem(&id, &binding("acme/bob", "files.delete", &json!({"path": "/b"}))));
        assert!(!c.redeem(&id, &binding("acme/eve", "files.delete", &json!({"path": "/a", "x": {"b": 1, "a": 2}}))));
        assert!(c.redeem(&id, &b));
        assert!(!c.redeem(&id, &b), "a confirmation id is one-time");
    }
}

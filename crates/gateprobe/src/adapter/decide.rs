//! Reading a decision out of a gateway's answer: the pieces every wire adapter (`mcp`, `http`)
//! shares, so that no adapter borrows from another's file.

use serde::Deserialize;
use serde_json::Value;

use crate::config::PolicyVersionSource;
use crate::decision::Decision;
use crate::secret::Scrubber;

/// Gateway text quoted in an error stays short: it ends up in reports and logs.
pub(super) fn bounded(text: &str) -> String {
    let mut s: String = text.chars().take(120).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// A response header's value, when it is there and is text.
pub(super) fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The policy version a response header states, when `source` names that header; scrubbed, as
/// a gateway may echo anything there.
pub(super) fn version_header(
    response: &reqwest::Response,
    source: &PolicyVersionSource,
    scrubber: &Scrubber,
) -> Option<String> {
    match source {
        PolicyVersionSource::Header(h) => header(response, h).map(|v| scrubber.scrub_string(v)),
        _ => None,
    }
}

/// The answer's policy version: the header's when there was one, else the text at `source`'s
/// pointer in the (already scrubbed) answer.
pub(super) fn policy_version(
    header: Option<String>,
    source: &PolicyVersionSource,
    answer: Option<&Value>,
) -> Option<String> {
    header.or_else(|| match (source, answer) {
        (PolicyVersionSource::Pointer(p), Some(a)) => a.pointer(p).and_then(Value::as_str).map(str::to_string),
        _ => None,
    })
}

/// A decision the gateway names in its own words (`"deny"`, `"rate_limited"`, …); `None` for
/// any other value. Read, never guessed.
pub(super) fn parse_decision(v: &Value) -> Option<Decision> {
    Decision::deserialize(v).ok()
}

//! What each fuzz target does with one input. Shared by the fuzz targets (`#[path]` module) and
//! by `tests/fuzz_regressions.rs`, so a committed crash input replays through exactly the code
//! that found it.
//!
//! Besides "no panic, no hang, no runaway memory" (libFuzzer's own checks), a few invariants
//! the project states elsewhere are asserted, so that a wrong answer is a crash too.

use std::path::Path;
use std::sync::LazyLock;

use gateprobe::config::{DecisionRule, HttpDecisionMapping, HttpDecisionRule, PolicyVersionSource};
use gateprobe::decision::Decision;
use gateprobe::suite::Diagnostic;
use gateprobe::testing::decoders::{self, CallError, Reply};
use gateprobe::{Scrubber, Secret};

/// Error texts that quote the gateway stay short: they end up in reports, logs and alerts
/// (`mcp.rs` bounds quotes to 120 characters; this leaves room for the fixed wording).
const MAX_ERROR_CHARS: usize = 400;
/// A credential of the run (in the dictionary too): it must never survive decoding.
const CREDENTIAL: &str = "fuzz-credential-7f3a9c";

/// The bytes as a suite file, as the config file, through the loader and the sensitivity
/// scan, as `gateprobe lint` and every run do; then every diagnostic is rendered.
pub fn suite_loader(data: &[u8]) {
    // `read_bounded` refuses non-UTF-8 files before anything parses them.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("scenarios/fuzz.yaml");
    // Compiled once, as one load compiles them once for all its files.
    static RULES: LazyLock<gateprobe::suite::lint::Rules> = LazyLock::new(gateprobe::suite::lint::Rules::new);
    let mut diagnostics = RULES.scan(path, text);
    match gateprobe::suite::parse_suite(path, text) {
        Ok(suite) => {
            // `load` then checks identities against the config (the bundled one without a file).
            diagnostics.extend(gateprobe::config::check_identities(
                std::slice::from_ref(&suite),
                &gateprobe::config::Config::bundled(),
            ));
        }
        Err(ds) => diagnostics.extend(ds),
    }
    match gateprobe::config::parse_config(path, text) {
        Ok(mut config) => {
            config.resolve_paths(Path::new("/etc/gateprobe"));
            let _ = gateprobe::config::apply_env_overrides(&mut config, |_| None);
        }
        Err(e) => diagnostics.extend(e.diagnostics().iter().cloned()),
    }
    check_positions(text, &diagnostics);
    let _ = gateprobe::suite::diagnostic::render_all(&diagnostics, true);
    let _ = gateprobe::suite::diagnostic::render_all(&diagnostics, false);
}

/// Every diagnostic points into the file: a line that exists (YAML line breaks: LF, CRLF, CR;
/// one past the end for "unexpected end of file"), or line 0 for the file as a whole.
fn check_positions(text: &str, diagnostics: &[Diagnostic]) {
    let breaks = text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count();
    for d in diagnostics {
        assert!(d.line <= breaks + 1, "diagnostic past the end of the file ({} line breaks): {d:?}", breaks);
        assert!(d.line == 0 || d.column >= 1, "column 0 on a positioned diagnostic: {d:?}");
    }
}

/// The first two bytes choose the HTTP status, content type, header and mapping; the rest is
/// the body. It goes through the `mcp` decoder (JSON or SSE) and the `http` decoder alike.
pub fn response_decoders(data: &[u8]) {
    let (a, b, body) = match data {
        [a, b, rest @ ..] => (*a, *b, rest),
        _ => (0, 0, data),
    };
    const STATUSES: [u16; 16] = [200, 200, 200, 202, 204, 299, 400, 401, 403, 404, 429, 500, 502, 503, 100, 302];
    let status = STATUSES[usize::from(a & 0x0f)];
    let content_type = match (a >> 4) & 0x03 {
        0 => Some("application/json"),
        1 => Some("text/event-stream"),
        2 => Some("text/event-stream; charset=utf-8"),
        _ => None,
    };
    let header_version = (a & 0x40 != 0).then(|| "v-header".to_owned());
    let source = match b & 0x03 {
        0 => PolicyVersionSource::Header("x-policy-version".into()),
        1 => PolicyVersionSource::Pointer("/result/_meta/policy_version".into()),
        2 => PolicyVersionSource::Pointer(String::new()),
        _ => PolicyVersionSource::Pointer("/policy_version".into()),
    };
    let rules = mcp_rules((b >> 2) & 0x03);
    let scrubber = Scrubber::new([&Secret::new(CREDENTIAL.to_owned())]);
    let mcp = decoders::mcp_reply(&rules, &source, &scrubber, status, content_type, header_version.clone(), body);
    check_reply(&mcp);
    if rules.is_empty()
        && content_type == Some("application/json")
        && serde_json::from_slice::<serde_json::Value>(body).is_err()
    {
        assert!(mcp.is_err(), "a body that is not JSON became a decision with no rules: {mcp:?}");
    }

    let mapping = http_mapping((b >> 4) & 0x03);
    let http = decoders::http_answer(&mapping, &source, &scrubber, status, header_version, body);
    check_reply(&http);
    if !mapping.status.contains_key(&status) && !(200..300).contains(&status) {
        assert_eq!(http, Err(CallError::Status(status)), "an unmapped non-2xx status became something else");
    }
}

fn check_reply(reply: &Result<Reply, CallError>) {
    assert!(!format!("{reply:?}").contains(CREDENTIAL), "a credential survived decoding: {reply:?}");
    if let Err(e) = reply {
        let text = e.to_string();
        let head: String = text.chars().take(200).collect();
        assert!(text.chars().count() <= MAX_ERROR_CHARS, "error text of {} chars: {head}…", text.chars().count());
    }
}

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
        message_contains: text.map(str::to_owned),
        is_error,
        decision,
        reason: Some("mapped".into()),
    }
}

/// None (the reference gateway), the README's example, ContextForge's, and one with an empty
/// substring matcher (matches every text).
fn mcp_rules(which: u8) -> Vec<DecisionRule> {
    match which {
        0 => Vec::new(),
        1 => vec![
            rule(Some(-32003), None, None, false, Decision::Deny),
            rule(None, Some(401), None, false, Decision::Deny),
            rule(None, None, Some("Unknown tool"), true, Decision::Deny),
            rule(None, Some(429), None, false, Decision::RateLimited),
        ],
        2 => vec![
            rule(None, Some(200), Some("Access denied"), false, Decision::Deny),
            rule(Some(-32003), None, None, false, Decision::Deny),
            rule(None, None, Some("Unknown tool"), true, Decision::Deny),
            rule(None, Some(401), None, false, Decision::Deny),
        ],
        _ => {
            vec![rule(None, None, Some(""), false, Decision::Confirm), rule(None, None, Some(""), true, Decision::Deny)]
        }
    }
}

/// OPA-style (boolean at `/result`), a named decision, the whole document (`""`), no pointer but
/// JSON-RPC rules (on 200 only, so an unmapped non-2xx status stays an error).
fn http_mapping(which: u8) -> HttpDecisionMapping {
    let status = [(403, Decision::Deny), (429, Decision::RateLimited)].into_iter().collect();
    let rules = Vec::new();
    match which {
        0 => HttpDecisionMapping {
            pointer: Some("/result".into()),
            reason_pointer: None,
            status: Default::default(),
            rules,
        },
        1 => HttpDecisionMapping {
            pointer: Some("/result/decision".into()),
            reason_pointer: Some("/result/reason".into()),
            status,
            rules,
        },
        2 => HttpDecisionMapping { pointer: Some(String::new()), reason_pointer: Some(String::new()), status, rules },
        _ => {
            let rule = |pointer: &str, equals: Option<serde_json::Value>, decision| HttpDecisionRule {
                http_status: Some(200),
                pointer: Some(pointer.into()),
                equals,
                decision,
                reason: None,
            };
            let rules = vec![
                rule("/error/code", Some((-32003).into()), Decision::Deny),
                rule("/result", None, Decision::Allow),
            ];
            HttpDecisionMapping { pointer: None, reason_pointer: Some("/reason".into()), status, rules }
        }
    }
}

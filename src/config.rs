//! `gateprobe.yaml`: the target, identities, audit source and run settings.
//!
//! Every value can be overridden by a `GATEPROBE_*` variable or a flag. With no file, the
//! defaults run the bundled suites against the embedded reference gateway.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::decision::Decision;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The gateway under test.
    #[serde(default)]
    pub target: TargetConfig,
    /// Synthetic identities, by the name suites refer to.
    #[serde(default)]
    pub identities: BTreeMap<String, IdentityConfig>,
    /// Where the evidence (audit records) is read from.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Suite files or directories of suites.
    #[serde(default = "default_suites")]
    pub suites: Vec<PathBuf>,
    #[serde(default)]
    pub run: RunConfig,
}

fn default_suites() -> Vec<PathBuf> {
    vec![PathBuf::from("scenarios")]
}

/// How the gateway is reached.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetConfig {
    /// The reference gateway of this crate, started in-process on 127.0.0.1.
    Embedded(EmbeddedTarget),
    /// Any MCP gateway over Streamable HTTP.
    Mcp(McpTarget),
    /// Any JSON HTTP gateway or policy decision point.
    Http(HttpTarget),
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig::Embedded(EmbeddedTarget::default())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedTarget {
    /// Policy directory of the reference gateway.
    #[serde(default = "default_policies")]
    pub policies: PathBuf,
    /// Audit fields the gateway leaves out of its records (a fault to prove `evidence_missing`).
    #[serde(default)]
    pub omit_audit_fields: Vec<String>,
    /// Turn off argument redaction in the audit log (a fault to prove `leak`).
    #[serde(default)]
    pub disable_redaction: bool,
}

impl Default for EmbeddedTarget {
    fn default() -> Self {
        EmbeddedTarget { policies: default_policies(), omit_audit_fields: Vec::new(), disable_redaction: false }
    }
}

fn default_policies() -> PathBuf {
    PathBuf::from("policies")
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpTarget {
    /// Streamable HTTP endpoint, e.g. `http://127.0.0.1:8080/mcp`.
    pub url: String,
    /// Header that carries the correlation id.
    #[serde(default = "default_correlation_header")]
    pub correlation_header: String,
    /// Where the policy version is read from.
    #[serde(default)]
    pub policy_version: PolicyVersionSource,
    /// Rules that turn errors into decisions, tried in order after the gateway's own
    /// `error.data.decision` field.
    #[serde(default)]
    pub decisions: Vec<DecisionRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpTarget {
    /// URL of the decision endpoint, e.g. `http://127.0.0.1:8181/v1/data/tools/allow`.
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    /// JSON body template; strings `{{tool}}`, `{{arguments}}`, `{{subject}}`, `{{tenant}}`,
    /// `{{roles}}`, `{{correlation_id}}`, `{{context}}`, `{{prompt}}` are substituted.
    pub body: serde_json::Value,
    #[serde(default = "default_correlation_header")]
    pub correlation_header: String,
    #[serde(default)]
    pub policy_version: PolicyVersionSource,
    /// How the response is turned into a decision.
    pub decision: HttpDecisionMapping,
}

/// How an `http` target's answer maps to a decision.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpDecisionMapping {
    /// JSON pointer to a boolean (true = allow) or a string naming the decision.
    pub pointer: Option<String>,
    /// JSON pointer to the reason string.
    pub reason_pointer: Option<String>,
    /// Status codes that are decisions by themselves (e.g. 403 → deny, 429 → rate_limited).
    #[serde(default)]
    pub status: BTreeMap<u16, Decision>,
}

/// One rule of an `mcp` target's decision mapping. Every given matcher must match.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRule {
    /// JSON-RPC error code.
    pub error_code: Option<i64>,
    /// HTTP status of the response.
    pub http_status: Option<u16>,
    /// Substring of the JSON-RPC error message or of an `isError` result's text.
    pub message_contains: Option<String>,
    /// Match a successful result whose `isError` is true.
    #[serde(default)]
    pub is_error: bool,
    pub decision: Decision,
    /// Reason to report when the gateway gives none.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PolicyVersionSource {
    /// A response header, e.g. `x-policy-version`.
    Header(String),
    /// A JSON pointer into the response body.
    Pointer(String),
    /// A JSON pointer into the audit record.
    AuditPointer(String),
}

impl Default for PolicyVersionSource {
    fn default() -> Self {
        PolicyVersionSource::Header("x-policy-version".into())
    }
}

fn default_correlation_header() -> String {
    "x-request-id".into()
}

fn default_method() -> String {
    "POST".into()
}

/// A synthetic principal. Its credential is never written in a suite or config.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    pub subject: String,
    pub tenant: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Where the bearer token comes from; the embedded target mints one when absent.
    pub credential: Option<CredentialSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialSource {
    /// Name of an environment variable holding the token.
    Env(String),
    /// Path of a file holding the token.
    File(PathBuf),
    /// A command (program and arguments) that prints the token.
    Command(Vec<String>),
    /// No credential at all (to prove `unauthenticated`).
    None,
    /// A token minted by the embedded gateway that is expired or carries a bad signature.
    Invalid(InvalidCredential),
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvalidCredential {
    Expired,
    Tampered,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuditConfig {
    /// Query an HTTP endpoint; `{correlation_id}` in the URL is replaced. For the embedded target
    /// the URL defaults to the reference gateway's `/audit`.
    Http {
        url: Option<String>,
        /// `GET` (default) or `POST`.
        #[serde(default = "default_audit_method")]
        method: String,
        /// JSON body sent with `POST`; every string `{correlation_id}` in it is replaced
        /// (e.g. a log search API: `{correlation_id: "{correlation_id}", component: [tool_service]}`).
        #[serde(default)]
        body: Option<serde_json::Value>,
        /// Bearer token for the audit query (an audit API usually needs another principal than
        /// the probe identities).
        #[serde(default)]
        credential: Option<CredentialSource>,
        /// JSON pointer to the array of records in the answer (empty: the answer is the array).
        #[serde(default)]
        records_pointer: String,
        #[serde(default)]
        timing: EvidenceTiming,
    },
    /// Read a JSON-lines file and match records by a correlation id field.
    JsonLines {
        path: PathBuf,
        /// JSON pointer to the correlation id within a record.
        #[serde(default = "default_correlation_pointer")]
        correlation_pointer: String,
        #[serde(default)]
        timing: EvidenceTiming,
    },
    /// The gateway keeps no audit log that gateprobe can read; evidence is not checked.
    None,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig::Http {
            url: None,
            method: default_audit_method(),
            body: None,
            credential: None,
            records_pointer: String::new(),
            timing: EvidenceTiming::default(),
        }
    }
}

fn default_audit_method() -> String {
    "GET".into()
}

fn default_correlation_pointer() -> String {
    "/correlation_id".into()
}

/// Evidence may arrive late: it is polled with backoff up to a deadline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceTiming {
    /// First wait between polls, in milliseconds; doubles each time.
    #[serde(default = "default_poll_ms")]
    pub initial_poll_ms: u64,
    /// Give up and report `evidence_missing` after this many milliseconds.
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
}

impl Default for EvidenceTiming {
    fn default() -> Self {
        EvidenceTiming { initial_poll_ms: default_poll_ms(), deadline_ms: default_deadline_ms() }
    }
}

fn default_poll_ms() -> u64 {
    20
}
fn default_deadline_ms() -> u64 {
    2000
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Scenarios executed at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Per-call timeout in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Request budget towards the target, requests per second (0 = unlimited).
    #[serde(default)]
    pub requests_per_second: u32,
    /// Retries of a call that failed in transport (never of one that got a decision).
    #[serde(default)]
    pub retries: u32,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig { concurrency: default_concurrency(), timeout_ms: default_timeout_ms(), requests_per_second: 0, retries: 0 }
    }
}

fn default_concurrency() -> usize {
    8
}
fn default_timeout_ms() -> u64 {
    5000
}

impl Default for Config {
    fn default() -> Self {
        Config {
            target: TargetConfig::default(),
            identities: BTreeMap::new(),
            audit: AuditConfig::default(),
            suites: default_suites(),
            run: RunConfig::default(),
        }
    }
}

//! `gateprobe.yaml`: the target, identities, audit source and run settings.
//!
//! Every value can be overridden by a `GATEPROBE_*` variable or a flag. With no file, the
//! defaults run the bundled suites against the embedded reference gateway.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::decision::Decision;
use crate::suite::diagnostic::{Diagnostic, render_all};
use crate::suite::lint::Rules;
use crate::suite::{Location, Suite, yaml};

/// The whole config file: the target, its identities and evidence, the suites and how runs go.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The gateway under test (or `targets`, not both).
    #[serde(default)]
    pub target: TargetConfig,
    /// Several endpoints in one run, by name, instead of `target`: e.g. a gateway's per-server
    /// endpoint, its gateway-wide one and its JSON-RPC one. A suite (`target: <name>`) or a
    /// scenario (its own `target:`, which wins) says which one its calls go to; with one entry
    /// that one is the default. Identities, the audit source and the run settings are shared;
    /// sessions are per target; every result names its target.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, TargetConfig>,
    /// Synthetic identities, by the name suites refer to.
    #[serde(default)]
    pub identities: BTreeMap<String, IdentityConfig>,
    /// Where the evidence (audit records) is read from.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Suite files or directories of suites.
    #[serde(default = "default_suites")]
    pub suites: Vec<PathBuf>,
    /// How a run sends its calls: concurrency, timeouts, retries, rate and size limits.
    #[serde(default)]
    pub run: RunConfig,
    /// Where `gateprobe serve` pushes regression alerts.
    #[serde(default)]
    pub alerting: AlertingConfig,
    /// What `gateprobe coverage` compares the scenarios with.
    #[serde(default)]
    pub coverage: CoverageConfig,
    /// Assistants that golden-prompt scenarios (`expect.proposes`) ask, in order: the first is
    /// the baseline, every other one a candidate compared with it (canary comparison).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assistants: Vec<AssistantConfig>,
    /// What `gateprobe serve` exports at `/metrics`.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// This instance's identity in a fleet, e.g. `{ location: eu-west }`: added to every alert
    /// `serve` pushes (so one location's resolve never ends another's alert) and exported as
    /// `gateprobe_instance_info`. Prometheus label names; not the labels gateprobe sets itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Labels gateprobe sets on what it exports and pushes; instance `labels` may not take them.
pub const RESERVED_LABELS: [&str; 13] = [
    "alertname",
    "severity",
    "source",
    "suite",
    "scenario",
    "policy_from",
    "policy_to",
    "outcome",
    "field",
    "assistant",
    "job",
    "instance",
    "version",
];

/// Whether `name` is a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not `__`-prefixed) that
/// an instance may set.
pub fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__");
    if !valid {
        return Err(format!(
            "`{name}` is not a Prometheus label name (letters, digits and `_`, not starting with a digit or `__`)"
        ));
    }
    if RESERVED_LABELS.contains(&name) {
        return Err(format!("`{name}` is a label gateprobe sets itself"));
    }
    Ok(())
}

/// An assistant behind an OpenAI-compatible chat endpoint, and the prompt bundle it runs with.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssistantConfig {
    /// Its name in reports, metrics and `--assistant`.
    pub name: String,
    /// Base URL of the OpenAI-compatible API; `/chat/completions` is appended, e.g.
    /// `http://127.0.0.1:8080/v1`.
    pub url: String,
    /// The `model` to ask for.
    pub model: String,
    /// How proposals come out of the model.
    #[serde(default)]
    pub mode: AssistantMode,
    /// The system prompt, a file under version control; its content hash is the prompt version.
    pub prompt_bundle: PathBuf,
    /// Sampling temperature (default 0).
    #[serde(default)]
    pub temperature: f64,
    /// Sampling seed, for servers that honour one.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Most tokens per answer.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Most assistant turns per scenario: proposals, each answered by the gateway's decision.
    #[serde(default = "default_max_turns")]
    pub max_turns: u32,
    /// Most requests to the assistant in one run (a budget: a scenario past it is `error`).
    #[serde(default = "default_max_requests")]
    pub max_requests: u32,
    /// Per-request timeout in seconds.
    #[serde(default = "default_assistant_timeout")]
    pub timeout_seconds: u64,
    /// Largest answer read from the assistant, in bytes.
    #[serde(default = "default_assistant_max_response_bytes")]
    pub max_response_bytes: usize,
    /// Bearer token for the endpoint (env, file or command; scrubbed like identities' tokens).
    #[serde(default)]
    pub credential: Option<CredentialSource>,
    /// TLS towards the endpoint: a private CA, a client certificate (for an `https` URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

/// TLS of one outbound connection (target, audit API, Alertmanager, assistant), for an `https`
/// URL: a private CA to trust and a client certificate to present (mTLS). PEM files; relative
/// paths are relative to the config file. The system trust store (which `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` name) and the bundled Mozilla roots are trusted as well. There is no switch
/// that skips verification: a monitor that trusts any certificate proves nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA certificates (PEM, one or more) to trust besides the system store and the bundled
    /// roots, e.g. the company CA that signed the gateway's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The client certificate to present (PEM; the leaf first, then any intermediates), for a
    /// server that requires mutual TLS. Needs `client_key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    /// The private key of `client_cert_file` (PEM: PKCS#8, PKCS#1 or SEC1). Needs
    /// `client_cert_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Makes its relative paths relative to `base` (the config file's directory).
    fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.ca_file, &mut self.client_cert_file, &mut self.client_key_file].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// How an assistant's proposals are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssistantMode {
    /// Function calling: the tools go in `tools`, proposals come back as `tool_calls`.
    #[default]
    Native,
    /// For models without a tool section in their chat template: the tools are listed in the
    /// system message and the answer is constrained by `response_format: json_schema` to one
    /// `{name, arguments}` per tool.
    JsonSchema,
}

fn default_max_tokens() -> u32 {
    512
}
fn default_max_turns() -> u32 {
    3
}
fn default_max_requests() -> u32 {
    1000
}
fn default_assistant_timeout() -> u64 {
    60
}
fn default_assistant_max_response_bytes() -> usize {
    1 << 20
}

/// What `gateprobe serve` exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Which scenarios get series of their own (`gateprobe_scenario_outcome`,
    /// `gateprobe_scenario_duration_seconds`: seven a scenario); the totals are always exported.
    #[serde(default)]
    pub per_scenario: PerScenario,
}

/// Which scenarios get series of their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PerScenario {
    /// Every scenario, created before its first run (blackbox_exporter's habit; seven series a
    /// scenario: 70,000 at 10,000 scenarios).
    All,
    /// Only scenarios that did not pass in the last run: a failure is still one series to alert
    /// on, and a large golden set that passes costs nothing.
    #[default]
    Failing,
    /// None: the totals only.
    None,
}

/// Where coverage finds the gateway's tools and policies, and the policy ids in its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoverageConfig {
    /// JSON pointer to the list of policy ids in an audit record.
    #[serde(default = "default_policy_ids_pointer")]
    pub policy_ids_pointer: String,
    /// The gateway's tools, when it cannot list them (`http` targets); replaces `tools/list`.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// URL that lists the gateway's policies as the reference gateway's `GET /policies` does
    /// (default for the embedded target: its own `/policies`).
    #[serde(default)]
    pub policies_url: Option<String>,
}

impl Default for CoverageConfig {
    fn default() -> Self {
        CoverageConfig { policy_ids_pointer: default_policy_ids_pointer(), tools: None, policies_url: None }
    }
}

fn default_policy_ids_pointer() -> String {
    "/rationale/policy_ids".into()
}

/// Alerting of `gateprobe serve`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Alertmanager base URL, e.g. `http://127.0.0.1:9093`; regressions are pushed to its
    /// `/api/v2/alerts`. None (and no `alertmanager_urls`): no push (the shipped Prometheus rules
    /// still alert).
    #[serde(default)]
    pub alertmanager_url: Option<String>,
    /// Every node of an Alertmanager cluster, e.g. `[http://am-0:9093, http://am-1:9093]`: each
    /// alert is pushed to all of them, as Alertmanager asks of its clients (its nodes share
    /// silences and which notifications went out, not alerts); the cluster notifies once. Used
    /// together with `alertmanager_url` when both are given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alertmanager_urls: Vec<String>,
    /// TLS towards Alertmanager (an `https` URL): a private CA, a client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

impl AlertingConfig {
    /// The Alertmanagers to push to: `alertmanager_url`, then `alertmanager_urls`, each once.
    pub fn urls(&self) -> Vec<String> {
        let mut urls: Vec<String> = Vec::new();
        for url in self.alertmanager_url.iter().chain(&self.alertmanager_urls) {
            if !urls.contains(url) {
                urls.push(url.clone());
            }
        }
        urls
    }
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

impl TargetConfig {
    /// Its `tls` block, if it has one (the embedded gateway is plain HTTP on loopback).
    pub fn tls(&self) -> Option<&TlsConfig> {
        match self {
            TargetConfig::Mcp(t) => t.tls.as_ref(),
            TargetConfig::Http(t) => t.tls.as_ref(),
            TargetConfig::Embedded(_) => None,
        }
    }

    fn tls_mut(&mut self) -> Option<&mut TlsConfig> {
        match self {
            TargetConfig::Mcp(t) => t.tls.as_mut(),
            TargetConfig::Http(t) => t.tls.as_mut(),
            TargetConfig::Embedded(_) => None,
        }
    }

    /// The URLs its calls go to (an MCP target's replicas too; none for the embedded target,
    /// which is started on a port of its own).
    fn urls(&self) -> Vec<&str> {
        match self {
            TargetConfig::Mcp(t) => std::iter::once(&t.url).chain(&t.replicas).map(String::as_str).collect(),
            TargetConfig::Http(t) => vec![t.url.as_str()],
            TargetConfig::Embedded(_) => Vec::new(),
        }
    }
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig::Embedded(EmbeddedTarget::default())
    }
}

/// The reference gateway, started in-process (`kind: embedded`), optionally with faults.
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

/// An MCP gateway over Streamable HTTP (`kind: mcp`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpTarget {
    /// Streamable HTTP endpoint, e.g. `http://127.0.0.1:8080/mcp`.
    pub url: String,
    /// Replicas of the same gateway, addressed directly: scenarios are spread over `url` and
    /// these, round-robin, and each result names its endpoint, so that a replica serving a stale
    /// policy version is named (`policy skew`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<String>,
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
    /// How long an MCP session lives: `scenario` (default) or `identity`.
    #[serde(default)]
    pub sessions: SessionScope,
    /// TLS towards the gateway (an `https` URL; the replicas too): a private CA, a client
    /// certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

/// How long an MCP session lives, which decides whose calls a session's history holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionScope {
    /// A fresh session per scenario, ended after it: no scenario's calls reach the session
    /// history of another, which session-aware policies (sequence risk) decide on. A single
    /// call costs 5 requests (initialize, initialized, the call, the audit lookup, DELETE).
    #[default]
    Scenario,
    /// One session per identity (and replica) for the whole run, ended after it, as an agent
    /// would hold one: a single call costs 2 requests. Scenarios with `steps` still get
    /// a session of their own; a single call's decision may then depend on the calls that
    /// earlier scenarios of the same identity made.
    Identity,
}

/// A JSON HTTP gateway or policy decision point (`kind: http`): one request per call.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpTarget {
    /// URL of the decision endpoint, e.g. `http://127.0.0.1:8181/v1/data/tools/allow`.
    pub url: String,
    /// HTTP method of the decision request (default `POST`).
    #[serde(default = "default_method")]
    pub method: String,
    /// JSON body template; strings `{{tool}}`, `{{arguments}}`, `{{subject}}`, `{{tenant}}`,
    /// `{{roles}}`, `{{correlation_id}}`, `{{context}}`, `{{prompt}}` are substituted.
    pub body: serde_json::Value,
    /// Header that carries the correlation id (default `x-request-id`).
    #[serde(default = "default_correlation_header")]
    pub correlation_header: String,
    /// Where the policy version is read from (default: the `x-policy-version` header).
    #[serde(default)]
    pub policy_version: PolicyVersionSource,
    /// How the response is turned into a decision.
    pub decision: HttpDecisionMapping,
    /// TLS towards the gateway (an `https` URL): a private CA, a client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
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
    /// Rules tried in order before `status` and `pointer`, for answers that state no decision
    /// by name, e.g. a JSON-RPC endpoint: `{ pointer: /error/code, equals: -32003, decision:
    /// deny }`, `{ pointer: /result, decision: allow }`. Every given matcher must match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<HttpDecisionRule>,
}

/// One rule of an `http` target's decision mapping. Every given matcher must match; at least
/// one of `http_status` and `pointer` is given.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpDecisionRule {
    /// HTTP status of the answer.
    pub http_status: Option<u16>,
    /// JSON pointer into the answer that must find a value (`equals`: that value).
    pub pointer: Option<String>,
    /// The value at `pointer`, any JSON (`-32003`, `"denied"`, `false`); absent: any value.
    pub equals: Option<serde_json::Value>,
    /// The decision a matching answer stands for.
    pub decision: Decision,
    /// Reason to report; else the one at `reason_pointer`.
    pub reason: Option<String>,
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
    /// The decision a matching answer stands for.
    pub decision: Decision,
    /// Reason to report when the gateway gives none.
    pub reason: Option<String>,
}

/// Where the policy version is read from in the gateway's answer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PolicyVersionSource {
    /// A response header, e.g. `x-policy-version`.
    Header(String),
    /// A JSON pointer into the response body. (The audit record's version is read through
    /// `audit.fields.policy_version`, and wins over the answer's.)
    Pointer(String),
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
    /// The principal's subject (user id); audit records are checked against it.
    pub subject: String,
    /// The principal's tenant; audit records are checked against it.
    pub tenant: String,
    /// The principal's roles (default none): in the embedded gateway's tokens and `{{roles}}`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Where the bearer token comes from; the embedded target mints one when absent.
    #[serde(default)]
    pub credential: Option<CredentialSource>,
}

/// Where a bearer token comes from; a config never holds the token itself.
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
    /// An OAuth 2 access token from an authorization server (client-credentials grant),
    /// reused until shortly before it expires, then obtained again.
    #[serde(rename = "oauth")]
    OAuth(Box<OAuthCredential>),
}

/// An OAuth 2 client-credentials grant (RFC 6749 §4.4): where to ask, as which client, for what.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthCredential {
    /// The authorization server's token endpoint, e.g. `https://auth.example.com/oauth/token`.
    pub token_url: String,
    /// The client's id at the authorization server.
    pub client_id: String,
    /// Where the client secret is: `{env: VAR}` or `{file: PATH}`, never the config itself.
    pub client_secret: ClientSecretSource,
    /// How the client authenticates: `client_secret_basic` (HTTP Basic, the default) or
    /// `client_secret_post` (in the form body), as the server registered the client.
    #[serde(default)]
    pub auth_method: OAuthAuthMethod,
    /// Space-separated scopes to ask for.
    #[serde(default)]
    pub scope: Option<String>,
    /// The `audience` parameter some servers (Auth0, Okta, Keycloak) use to name the API.
    #[serde(default)]
    pub audience: Option<String>,
    /// The gateway's resource indicator (RFC 8707), e.g. its MCP URL: the token's audience.
    #[serde(default)]
    pub resource: Option<String>,
    /// TLS for the token endpoint (a private CA, a client certificate), as beside other URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

/// Where an OAuth client secret is read.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientSecretSource {
    /// Name of an environment variable holding the secret.
    Env(String),
    /// Path of a file holding the secret.
    File(PathBuf),
}

/// How an OAuth client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthAuthMethod {
    /// HTTP Basic with the form-encoded client id and secret.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the request body.
    ClientSecretPost,
}

/// Which bad token the embedded gateway mints.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvalidCredential {
    /// A token past its expiry.
    Expired,
    /// A token whose signature does not verify.
    Tampered,
}

/// Where each call's evidence (its audit records) is read, and how they are laid out.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[expect(clippy::large_enum_variant, reason = "one value per loaded config; boxing would only cost clarity")]
pub enum AuditConfig {
    /// Query an HTTP endpoint; `{correlation_id}` in the URL is replaced. For the embedded target
    /// the URL defaults to the reference gateway's `/audit`.
    Http {
        /// `{correlation_id}` is replaced by one call's id. Or, where the audit API can answer for
        /// several calls at once, `{correlation_ids}` is replaced by the ids of all lookups waiting
        /// at that moment, comma-separated (at most 64; GET only): one query instead of one per
        /// call, and each record goes to the call named at `correlation_pointer`.
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
        /// JSON pointer to the correlation id within a record: a record is a call's evidence
        /// only when it names the call's id there.
        #[serde(default = "default_correlation_pointer")]
        correlation_pointer: String,
        /// Where records state what is checked (decision, reason, tool, subject, tenant, policy version).
        #[serde(default)]
        fields: AuditFields,
        /// How the records spell decisions, tried in order before the standard names.
        #[serde(default)]
        decisions: Vec<AuditDecisionRule>,
        /// How often to poll for a call's records, and when to give up.
        #[serde(default)]
        timing: EvidenceTiming,
        /// TLS towards the audit API (an `https` URL): a private CA, a client certificate.
        /// Default: the target's `tls` (an audit API is often the gateway's own, as the
        /// reference gateway's `/audit` is); `tls: {}` adds nothing to the trusted roots.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls: Option<TlsConfig>,
    },
    /// Read a JSON-lines file and match records by a correlation id field.
    JsonLines {
        /// The JSON-lines file (relative to the config file).
        path: PathBuf,
        /// JSON pointer to the correlation id within a record.
        #[serde(default = "default_correlation_pointer")]
        correlation_pointer: String,
        /// Where records state what is checked (decision, reason, tool, subject, tenant, policy version).
        #[serde(default)]
        fields: AuditFields,
        /// How the records spell decisions, tried in order before the standard names.
        #[serde(default)]
        decisions: Vec<AuditDecisionRule>,
        /// How often to poll for a call's records, and when to give up.
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
            correlation_pointer: default_correlation_pointer(),
            fields: AuditFields::default(),
            decisions: Vec::new(),
            timing: EvidenceTiming::default(),
            tls: None,
        }
    }
}

impl AuditConfig {
    /// Where records state what is checked against the answer, and how they spell decisions.
    pub fn reading(&self) -> Option<(&str, &AuditFields, &[AuditDecisionRule])> {
        match self {
            AuditConfig::Http { correlation_pointer, fields, decisions, .. }
            | AuditConfig::JsonLines { correlation_pointer, fields, decisions, .. } => {
                Some((correlation_pointer, fields, decisions))
            }
            AuditConfig::None => None,
        }
    }
}

/// Where an audit record states what gateprobe checks against the answer and the scenario, as
/// JSON pointers; `null` for what the gateway's records do not state. The defaults are the
/// reference gateway's layout. A record that states a value that disagrees is never a pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditFields {
    /// The decision (spelled as in `audit.decisions`, or allow/deny/confirm/rate_limited and
    /// their common synonyms, or a boolean: true is allow).
    #[serde(default = "default_decision_field")]
    pub decision: Option<String>,
    /// The decision's reason; compared with the reason the answer gave.
    #[serde(default = "default_reason_field")]
    pub reason: Option<String>,
    /// The tool called.
    #[serde(default = "default_tool_field")]
    pub tool: Option<String>,
    /// The identity's subject.
    #[serde(default = "default_subject_field")]
    pub subject: Option<String>,
    /// The identity's tenant.
    #[serde(default = "default_tenant_field")]
    pub tenant: Option<String>,
    /// The policy version that decided.
    #[serde(default = "default_policy_version_field")]
    pub policy_version: Option<String>,
}

impl Default for AuditFields {
    fn default() -> Self {
        AuditFields {
            decision: default_decision_field(),
            reason: default_reason_field(),
            tool: default_tool_field(),
            subject: default_subject_field(),
            tenant: default_tenant_field(),
            policy_version: default_policy_version_field(),
        }
    }
}

fn default_decision_field() -> Option<String> {
    Some("/decision".into())
}
fn default_reason_field() -> Option<String> {
    Some("/rationale/reason".into())
}
fn default_tool_field() -> Option<String> {
    Some("/action/tool".into())
}
fn default_subject_field() -> Option<String> {
    Some("/identity/subject".into())
}
fn default_tenant_field() -> Option<String> {
    Some("/tenant".into())
}
fn default_policy_version_field() -> Option<String> {
    Some("/policy_version".into())
}

/// How a gateway's audit records spell a decision (e.g. ContextForge logs `RBAC denied`),
/// tried in order before the standard names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditDecisionRule {
    /// The whole value, compared without regard to case.
    pub equals: Option<String>,
    /// A substring of the value (`""` matches any value).
    pub contains: Option<String>,
    /// What the value states; `null`: the record states no decision (a free-text field whose
    /// other values are not decisions).
    pub decision: Option<Decision>,
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

/// How a run paces and bounds its requests to the target and the audit source.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Scenarios sending calls at once. A scenario whose calls are answered makes way for the
    /// next while it waits for its evidence; audit queries have the same bound.
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
    /// Largest answer read from the target (and from `coverage.policies_url`), in bytes. A
    /// longer one is cut off as it streams in and the call is `error` (`too_large`).
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// Largest answer read from an `http` audit source, in bytes (default 16 MiB; a lookup in
    /// flight holds at most this much, `concurrency` of them at once): a batched query returns the
    /// records of many calls. A longer one fails the lookup (`too_large`).
    #[serde(default = "default_max_audit_response_bytes")]
    pub max_audit_response_bytes: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            concurrency: default_concurrency(),
            timeout_ms: default_timeout_ms(),
            requests_per_second: 0,
            retries: 0,
            max_response_bytes: default_max_response_bytes(),
            max_audit_response_bytes: default_max_audit_response_bytes(),
        }
    }
}

fn default_concurrency() -> usize {
    8
}
fn default_timeout_ms() -> u64 {
    5000
}
fn default_max_response_bytes() -> usize {
    4 << 20
}
fn default_max_audit_response_bytes() -> usize {
    16 << 20
}

impl Default for Config {
    fn default() -> Self {
        Config {
            target: TargetConfig::default(),
            targets: BTreeMap::new(),
            identities: BTreeMap::new(),
            audit: AuditConfig::default(),
            suites: default_suites(),
            run: RunConfig::default(),
            alerting: AlertingConfig::default(),
            coverage: CoverageConfig::default(),
            assistants: Vec::new(),
            labels: BTreeMap::new(),
            metrics: MetricsConfig::default(),
        }
    }
}

/// In an audit URL (or POST body): one call's correlation id.
pub const CORRELATION_ID: &str = "{correlation_id}";
/// In an audit URL: the comma-separated ids of a batched lookup.
pub const CORRELATION_IDS: &str = "{correlation_ids}";

/// The crate's bundled config: bundled suites, embedded gateway, synthetic identities.
const BUNDLED: &str = include_str!("../../../gateprobe.yaml");

/// The config file looked for in the working directory when none is given.
pub const DEFAULT_CONFIG_FILE: &str = "gateprobe.yaml";

impl Config {
    /// The bundled config (`gateprobe.yaml` at the crate root, embedded at build time).
    pub fn bundled() -> Config {
        parse_config(Path::new("<bundled gateprobe.yaml>"), BUNDLED).expect("the bundled config is valid")
    }

    /// The gateways a run reaches: the one `target` (no name), or every entry of `targets` by
    /// name, in name order. Every reader of the target settings goes through here (or
    /// [`Config::all_targets_mut`]), so that a setting of `target` is one of every named target too.
    pub fn all_targets(&self) -> Vec<(Option<&str>, &TargetConfig)> {
        if self.targets.is_empty() {
            vec![(None, &self.target)]
        } else {
            self.targets.iter().map(|(name, t)| (Some(name.as_str()), t)).collect()
        }
    }

    /// [`Config::all_targets`], to change them.
    pub fn all_targets_mut(&mut self) -> Vec<(Option<&str>, &mut TargetConfig)> {
        if self.targets.is_empty() {
            vec![(None, &mut self.target)]
        } else {
            self.targets.iter_mut().map(|(name, t)| (Some(name.as_str()), t)).collect()
        }
    }

    /// The embedded target, the one `target` or among `targets` (there is at most one).
    pub fn embedded(&self) -> Option<&EmbeddedTarget> {
        self.all_targets().into_iter().find_map(|(_, t)| match t {
            TargetConfig::Embedded(e) => Some(e),
            _ => None,
        })
    }

    /// [`Config::embedded`], to change it.
    pub fn embedded_mut(&mut self) -> Option<&mut EmbeddedTarget> {
        self.all_targets_mut().into_iter().find_map(|(_, t)| match t {
            TargetConfig::Embedded(e) => Some(e),
            _ => None,
        })
    }

    /// Makes relative paths in the file (suites, policies, audit file, credential files)
    /// relative to `base`, the directory of the config file.
    pub fn resolve_paths(&mut self, base: &Path) {
        if base.as_os_str().is_empty() {
            return;
        }
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.suites.iter_mut().for_each(fix);
        if let Some(e) = self.embedded_mut() {
            fix(&mut e.policies);
        }
        if let AuditConfig::JsonLines { path, .. } = &mut self.audit {
            fix(path);
        }
        for assistant in &mut self.assistants {
            fix(&mut assistant.prompt_bundle);
        }
        for credential in self.credentials_mut() {
            match credential {
                CredentialSource::File(p) => fix(p),
                CredentialSource::OAuth(o) => {
                    if let ClientSecretSource::File(p) = &mut o.client_secret {
                        fix(p)
                    }
                    if let Some(tls) = &mut o.tls {
                        tls.resolve_paths(base);
                    }
                }
                _ => {}
            }
        }
        for (_, target) in self.all_targets_mut() {
            if let Some(tls) = target.tls_mut() {
                tls.resolve_paths(base);
            }
        }
        let mut blocks: Vec<&mut TlsConfig> = Vec::new();
        if let AuditConfig::Http { tls: Some(tls), .. } = &mut self.audit {
            blocks.push(tls);
        }
        blocks.extend(self.alerting.tls.as_mut());
        blocks.extend(self.assistants.iter_mut().filter_map(|a| a.tls.as_mut()));
        for tls in blocks {
            tls.resolve_paths(base);
        }
    }

    /// Every credential the config names (the identities', the audit reader's, the
    /// assistants'), to change them.
    fn credentials_mut(&mut self) -> impl Iterator<Item = &mut CredentialSource> {
        let audit = match &mut self.audit {
            AuditConfig::Http { credential, .. } => credential.as_mut(),
            _ => None,
        };
        let identities = self.identities.values_mut().filter_map(|i| i.credential.as_mut());
        identities.chain(audit).chain(self.assistants.iter_mut().filter_map(|a| a.credential.as_mut()))
    }

    /// Every `tls` block, with where it is (a JSON pointer) and the URLs it applies to.
    fn tls_blocks(&self) -> Vec<(String, Vec<&str>, &TlsConfig)> {
        let mut blocks = Vec::new();
        for (name, target) in self.all_targets() {
            if let Some(tls) = target.tls() {
                let at = yaml::join(&target_pointer(name), "tls");
                blocks.push((at, target.urls(), tls));
            }
        }
        if let AuditConfig::Http { url, tls: Some(tls), .. } = &self.audit {
            blocks.push(("/audit/tls".to_owned(), url.iter().map(String::as_str).collect(), tls));
        }
        if let Some(tls) = &self.alerting.tls {
            let urls = self
                .alerting
                .alertmanager_url
                .iter()
                .chain(&self.alerting.alertmanager_urls)
                .map(String::as_str)
                .collect();
            blocks.push(("/alerting/tls".to_owned(), urls, tls));
        }
        for (i, a) in self.assistants.iter().enumerate() {
            if let Some(tls) = &a.tls {
                blocks.push((format!("/assistants/{i}/tls"), vec![a.url.as_str()], tls));
            }
        }
        // OAuth token endpoints.
        let audit = match &self.audit {
            AuditConfig::Http { credential, .. } => Some(("/audit".to_owned(), credential)),
            _ => None,
        };
        let identities = self.identities.iter().map(|(n, i)| (yaml::join("/identities", n), &i.credential));
        let assistants = self.assistants.iter().enumerate().map(|(i, a)| (format!("/assistants/{i}"), &a.credential));
        for (at, credential) in identities.chain(audit).chain(assistants) {
            if let Some(CredentialSource::OAuth(o)) = credential {
                if let Some(tls) = &o.tls {
                    blocks.push((format!("{at}/credential/oauth/tls"), vec![o.token_url.as_str()], tls));
                }
            }
        }
        blocks
    }
}

/// The config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file named does not exist.
    #[error("config file {} not found", .0.display())]
    NotFound(PathBuf),
    /// Unreadable or invalid file; the diagnostics point into it.
    #[error("{}", render_all(.0, false))]
    Invalid(Vec<Diagnostic>),
    /// A `GATEPROBE_*` override could not be applied.
    #[error("{var}: {message}")]
    Env {
        /// The variable, e.g. `GATEPROBE_SUITES`.
        var: String,
        /// What is wrong with its value.
        message: String,
    },
}

impl ConfigError {
    /// The diagnostics (for `Invalid`), to render along with suite diagnostics.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Invalid(d) => d,
            _ => &[],
        }
    }
}

/// Parses config text (the content of `path`), errors as diagnostics with file:line:col.
/// Values the types allow but a run cannot use are refused here, pointing at them.
pub fn parse_config(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let (config, pos) = yaml::parse::<Config>(path, text, "config").map_err(|d| ConfigError::Invalid(vec![d]))?;
    let mut problems = Vec::new();
    let mut error = |at: &str, message: String, help: &str| {
        problems.push(Diagnostic::new(path, text, pos.value_at(at), message).with_help(help));
    };
    if config.run.concurrency == 0 {
        error("/run/concurrency", "`concurrency` is 0".into(), "run at least one scenario at a time");
    }
    if config.run.timeout_ms == 0 {
        error("/run/timeout_ms", "`timeout_ms` is 0".into(), "give calls some time, e.g. 5000");
    }
    for (at, cap) in [
        ("max_response_bytes", config.run.max_response_bytes),
        ("max_audit_response_bytes", config.run.max_audit_response_bytes),
    ] {
        if cap == 0 {
            error(
                &format!("/run/{at}"),
                format!("`{at}` is 0"),
                "no answer fits in 0 bytes; leave it out for the default",
            );
        }
    }
    // Problems of a key as a whole point at the key, not at its value (which may be lines long).
    let mut at_keys = Vec::new();
    let mut key_error = |at: &str, message: &str, help: &str| {
        at_keys.push(Diagnostic::new(path, text, pos.at(at), message).with_help(help));
    };
    if pos.get("/targets").is_some() {
        if pos.get("/target").is_some() {
            key_error(
                "/targets",
                "both `target` and `targets` are given",
                "keep `target:` for one gateway, or name it under `targets:` beside the others",
            );
        }
        if config.targets.is_empty() {
            key_error(
                "/targets",
                "`targets` is empty",
                "name at least one, e.g. `targets: { main: { kind: mcp, url: ... } }`",
            );
        }
    }
    let mut embedded = None;
    for (name, target) in config.all_targets() {
        let at = target_pointer(name);
        if let Some(Err(why)) = name.map(check_target_name) {
            key_error(&at, &why, "e.g. `server`, `global`, `rpc`");
        }
        let url = match target {
            TargetConfig::Mcp(t) => Some(&t.url),
            TargetConfig::Http(t) => Some(&t.url),
            TargetConfig::Embedded(_) => None,
        };
        if let Some(url) = url {
            if let Err(why) = check_http_url(url) {
                error(&yaml::join(&at, "url"), format!("`{url}` {why}"), "e.g. `http://127.0.0.1:8080/mcp`");
            }
        }
        if let TargetConfig::Mcp(t) = target {
            for (i, url) in t.replicas.iter().enumerate() {
                if let Err(why) = check_http_url(url) {
                    error(&format!("{at}/replicas/{i}"), format!("`{url}` {why}"), "e.g. `http://10.0.0.2:8080/mcp`");
                }
            }
        }
        // The embedded gateway mints the identities' tokens and serves the default audit
        // source: a second one would sign with another key and keep another log.
        if let (TargetConfig::Embedded(_), Some(name)) = (target, name) {
            if let Some(first) = embedded.replace(name) {
                error(
                    &yaml::join(&at, "kind"),
                    format!("`{name}` is a second embedded target (`{first}` is one)"),
                    "one run starts at most one embedded gateway: it mints the identities' tokens and keeps the audit log",
                );
            }
        }
    }
    if let AuditConfig::Http { url: Some(url), .. } = &config.audit {
        // The ids are substituted per lookup; check the URL with a stand-in.
        if let Err(why) = check_http_url(&url.replace(CORRELATION_IDS, "x").replace(CORRELATION_ID, "x")) {
            error("/audit/url", format!("`{url}` {why}"), "e.g. `http://127.0.0.1:8080/audit`");
        }
    }
    if let Some((correlation_pointer, fields, _)) = config.audit.reading() {
        let AuditFields { decision, reason, tool, subject, tenant, policy_version } = fields;
        let pointers = [
            ("/audit/correlation_pointer", Some(correlation_pointer)),
            ("/audit/fields/decision", decision.as_deref()),
            ("/audit/fields/reason", reason.as_deref()),
            ("/audit/fields/tool", tool.as_deref()),
            ("/audit/fields/subject", subject.as_deref()),
            ("/audit/fields/tenant", tenant.as_deref()),
            ("/audit/fields/policy_version", policy_version.as_deref()),
        ];
        for (at, pointer) in pointers {
            if let Some(p) = pointer.filter(|p| !p.is_empty() && !p.starts_with('/')) {
                error(
                    at,
                    format!("`{p}` is not a JSON pointer"),
                    "a JSON pointer starts with `/`, e.g. `/rationale/reason`",
                );
            }
        }
    }
    for (name, target) in config.all_targets() {
        let TargetConfig::Http(h) = target else { continue };
        let at = target_pointer(name);
        for (i, rule) in h.decision.rules.iter().enumerate() {
            let at = format!("{at}/decision/rules/{i}");
            if rule.http_status.is_none() && rule.pointer.is_none() {
                error(
                    &at,
                    "this rule matches every answer".into(),
                    "give it a `pointer` (and `equals`) or an `http_status`",
                );
            }
            if rule.equals.is_some() && rule.pointer.is_none() {
                error(
                    &format!("{at}/equals"),
                    "`equals` without a `pointer`".into(),
                    "say where the value is, e.g. `pointer: /error/code`",
                );
            }
            if let Some(p) = rule.pointer.as_deref().filter(|p| !p.is_empty() && !p.starts_with('/')) {
                error(
                    &format!("{at}/pointer"),
                    format!("`{p}` is not a JSON pointer"),
                    "a JSON pointer starts with `/`, e.g. `/error/code`",
                );
            }
        }
    }
    if let Some(url) = &config.alerting.alertmanager_url {
        if let Err(why) = check_http_url(url) {
            error("/alerting/alertmanager_url", format!("`{url}` {why}"), "e.g. `http://127.0.0.1:9093`");
        }
    }
    for (i, url) in config.alerting.alertmanager_urls.iter().enumerate() {
        if let Err(why) = check_http_url(url) {
            error(
                &format!("/alerting/alertmanager_urls/{i}"),
                format!("`{url}` {why}"),
                "e.g. `http://127.0.0.1:9093`",
            );
        }
    }
    for (at, urls, tls) in config.tls_blocks() {
        let key = at.trim_start_matches('/').replace('/', ".");
        match (&tls.client_cert_file, &tls.client_key_file) {
            (Some(_), None) => error(
                &format!("{at}/client_cert_file"),
                format!("`{key}.client_cert_file` is given without `client_key_file`"),
                "a client certificate is presented with its private key: give both",
            ),
            (None, Some(_)) => error(
                &format!("{at}/client_key_file"),
                format!("`{key}.client_key_file` is given without `client_cert_file`"),
                "a client certificate is presented with its private key: give both",
            ),
            _ => {}
        }
        // TLS settings on a plain-HTTP URL would be ignored without a word: the calls would go
        // in clear while the config says otherwise.
        if !urls.is_empty() && !urls.iter().any(|u| is_https(u)) {
            error(
                &at,
                format!("`{key}` is given but `{}` is not an https URL", urls[0]),
                "TLS settings apply to https URLs: use `https://`, or leave `tls` out",
            );
        }
    }
    for name in config.labels.keys() {
        if let Err(why) = check_label_name(name) {
            error(&yaml::join("/labels", name), why, "e.g. `labels: { location: eu-west }`");
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, a) in config.assistants.iter().enumerate() {
        let at = format!("/assistants/{i}");
        if a.name.trim().is_empty() || !names.insert(a.name.as_str()) {
            error(
                &format!("{at}/name"),
                format!("assistant name `{}` is empty or used twice", a.name),
                "give each assistant its own name",
            );
        }
        if let Err(why) = check_http_url(&a.url) {
            error(&format!("{at}/url"), format!("`{}` {why}", a.url), "e.g. `http://127.0.0.1:8080/v1`");
        }
        for (key, zero) in [
            ("max_turns", a.max_turns == 0),
            ("max_requests", a.max_requests == 0),
            ("max_tokens", a.max_tokens == 0),
            ("timeout_seconds", a.timeout_seconds == 0),
            ("max_response_bytes", a.max_response_bytes == 0),
        ] {
            if zero {
                error(&format!("{at}/{key}"), format!("`{key}` is 0"), "leave it out for the default");
            }
        }
    }
    for (name, identity) in &config.identities {
        let at = yaml::join("/identities", name);
        for (key, value) in [("subject", &identity.subject), ("tenant", &identity.tenant)] {
            if value.trim().is_empty() {
                error(&yaml::join(&at, key), format!("identity `{name}` has an empty `{key}`"), "fill it in");
            }
        }
        let empty = match &identity.credential {
            Some(CredentialSource::Env(v)) => v.trim().is_empty(),
            Some(CredentialSource::Command(argv)) => argv.first().is_none_or(|p| p.trim().is_empty()),
            Some(CredentialSource::File(p)) => p.as_os_str().is_empty(),
            _ => false,
        };
        if empty {
            error(
                &yaml::join(&at, "credential"),
                format!("identity `{name}` has an empty credential source"),
                "name an environment variable, a file, or a command and its arguments",
            );
        }
        if let Some(CredentialSource::OAuth(o)) = &identity.credential {
            let at = format!("{}/oauth", yaml::join(&at, "credential"));
            if let Err(why) = check_http_url(&o.token_url) {
                error(
                    &format!("{at}/token_url"),
                    format!("`{}` {why}", o.token_url),
                    "e.g. `https://auth.example.com/oauth/token`",
                );
            }
            if o.client_id.trim().is_empty() {
                error(&format!("{at}/client_id"), format!("identity `{name}` has an empty `client_id`"), "fill it in");
            }
            let empty_secret = match &o.client_secret {
                ClientSecretSource::Env(v) => v.trim().is_empty(),
                ClientSecretSource::File(p) => p.as_os_str().is_empty(),
            };
            if empty_secret {
                error(
                    &format!("{at}/client_secret"),
                    format!("identity `{name}` has an empty client secret source"),
                    "name an environment variable or a file",
                );
            }
        }
    }
    problems.extend(at_keys);
    if problems.is_empty() { Ok(config) } else { Err(ConfigError::Invalid(problems)) }
}

/// Whether `name` can name a target: letters, digits, `-`, `_` and `.` (it is shown in brackets
/// on the console and written in suites as a plain YAML scalar).
pub fn check_target_name(name: &str) -> Result<(), String> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        Ok(())
    } else {
        Err(format!("`{name}` is not a target name (letters, digits, `-`, `_` and `.`)"))
    }
}

/// Whether `url` is an https URL (any case), which `tls` settings apply to.
fn is_https(url: &str) -> bool {
    url.trim_start().get(..6).is_some_and(|scheme| scheme.eq_ignore_ascii_case("https:"))
}

/// Where a target is in the config: `/target`, or `/targets/<name>` for a named one.
fn target_pointer(name: Option<&str>) -> String {
    name.map_or_else(|| "/target".to_owned(), |n| yaml::join("/targets", n))
}

/// An absolute http(s) URL with a host, as reqwest will need it: a prefix check alone lets
/// `http://exa mple` or `http://[::1` through to fail later, far from the config line.
pub fn check_http_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => Err("is not an http(s) URL".into()),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Err("has no host".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("is not a valid URL ({e})")),
    }
}

/// Loads the config: `path` if given (it must exist), else `./gateprobe.yaml` when present,
/// else [`Config::bundled`]; then applies the `GATEPROBE_*` environment overrides. A file also
/// goes through the sensitivity scan; its findings are errors like parse errors.
pub fn load_config(path: Option<&Path>, rules: &Rules) -> Result<Config, ConfigError> {
    load_config_with_env(path, |name| std::env::var(name).ok(), rules)
}

/// [`load_config`] with the environment given as a lookup (so tests need not touch the process's).
pub fn load_config_with_env(
    path: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
    rules: &Rules,
) -> Result<Config, ConfigError> {
    let file = match path {
        Some(p) if !p.exists() => return Err(ConfigError::NotFound(p.to_path_buf())),
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
    };
    let mut config = match file {
        None => Config::bundled(),
        Some(file) => {
            let text = crate::suite::parse::read_bounded(&file).map_err(|d| ConfigError::Invalid(vec![d]))?;
            // Parse errors and sensitivity findings, all at once.
            let findings = rules.scan(&file, &text);
            let mut config = match parse_config(&file, &text) {
                Err(ConfigError::Invalid(mut ds)) => {
                    ds.extend(findings);
                    return Err(ConfigError::Invalid(ds));
                }
                Err(e) => return Err(e),
                Ok(_) if !findings.is_empty() => return Err(ConfigError::Invalid(findings)),
                Ok(config) => config,
            };
            config.resolve_paths(file.parent().unwrap_or(Path::new("")));
            config
        }
    };
    apply_env_overrides(&mut config, env)?;
    Ok(config)
}

/// Applies `GATEPROBE_*` overrides: `TARGET_URL` (an `embedded` target becomes `mcp` at that
/// URL), `CONCURRENCY`, `TIMEOUT_MS`, `REQUESTS_PER_SECOND`, `RETRIES`, `SUITES` (colon-separated),
/// `AUDIT_URL` (audit becomes an HTTP query), `POLICIES` (embedded target's policy directory).
pub fn apply_env_overrides(config: &mut Config, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    fn number<T>(var: &str, value: &str, min: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        match value.trim().parse::<T>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(ConfigError::Env {
                var: var.to_owned(),
                message: format!("expected a whole number of at least {min}, got `{value}`"),
            }),
        }
    }
    fn url(var: &str, value: &str) -> Result<String, ConfigError> {
        let v = value.trim();
        match check_http_url(v) {
            Ok(()) => Ok(v.to_owned()),
            Err(why) => Err(ConfigError::Env {
                var: var.to_owned(),
                message: format!("expected an http(s) URL, got `{value}`, which {why}"),
            }),
        }
    }

    if let Some(v) = env("GATEPROBE_TARGET_URL") {
        let u = url("GATEPROBE_TARGET_URL", &v)?;
        if !config.targets.is_empty() {
            return Err(ConfigError::Env {
                var: "GATEPROBE_TARGET_URL".into(),
                message: "the config names several targets (`targets:`); set each one's URL in the file".into(),
            });
        }
        match &mut config.target {
            TargetConfig::Mcp(t) => t.url = u,
            TargetConfig::Http(t) => t.url = u,
            TargetConfig::Embedded(_) => {
                config.target = TargetConfig::Mcp(McpTarget {
                    url: u,
                    replicas: Vec::new(),
                    correlation_header: default_correlation_header(),
                    policy_version: PolicyVersionSource::default(),
                    decisions: Vec::new(),
                    sessions: SessionScope::default(),
                    tls: None,
                })
            }
        }
    }
    if let Some(v) = env("GATEPROBE_CONCURRENCY") {
        config.run.concurrency = number("GATEPROBE_CONCURRENCY", &v, 1usize)?;
    }
    if let Some(v) = env("GATEPROBE_TIMEOUT_MS") {
        config.run.timeout_ms = number("GATEPROBE_TIMEOUT_MS", &v, 1u64)?;
    }
    if let Some(v) = env("GATEPROBE_REQUESTS_PER_SECOND") {
        config.run.requests_per_second = number("GATEPROBE_REQUESTS_PER_SECOND", &v, 0u32)?;
    }
    if let Some(v) = env("GATEPROBE_RETRIES") {
        config.run.retries = number("GATEPROBE_RETRIES", &v, 0u32)?;
    }
    if let Some(v) = env("GATEPROBE_SUITES") {
        let suites: Vec<PathBuf> = v.split(':').filter(|s| !s.trim().is_empty()).map(PathBuf::from).collect();
        if suites.is_empty() {
            return Err(ConfigError::Env {
                var: "GATEPROBE_SUITES".into(),
                message: "expected suite files or directories separated by `:`".into(),
            });
        }
        config.suites = suites;
    }
    if let Some(v) = env("GATEPROBE_AUDIT_URL") {
        let u = url("GATEPROBE_AUDIT_URL", &v)?;
        if !matches!(config.audit, AuditConfig::Http { .. }) {
            config.audit = AuditConfig::default();
        }
        if let AuditConfig::Http { url, .. } = &mut config.audit {
            *url = Some(u);
        }
    }
    // As in the file: `tls` beside a URL the override made plain HTTP would be ignored in silence.
    for (var, setting, tls, url) in [
        ("GATEPROBE_TARGET_URL", "target.tls", config.target.tls().is_some(), config.target.urls().first().copied()),
        (
            "GATEPROBE_AUDIT_URL",
            "audit.tls",
            matches!(&config.audit, AuditConfig::Http { tls: Some(_), .. }),
            match &config.audit {
                AuditConfig::Http { url, .. } => url.as_deref(),
                _ => None,
            },
        ),
    ] {
        if env(var).is_some() && tls && url.is_some_and(|u| !is_https(u)) {
            return Err(ConfigError::Env {
                var: var.to_owned(),
                message: format!("the config gives `{setting}`, which needs an https URL"),
            });
        }
    }
    if let Some(v) = env("GATEPROBE_POLICIES") {
        match config.embedded_mut() {
            Some(e) => e.policies = PathBuf::from(v),
            None => {
                return Err(ConfigError::Env {
                    var: "GATEPROBE_POLICIES".into(),
                    message: "only the embedded target has a policy directory".into(),
                });
            }
        }
    }
    Ok(())
}

/// Every scenario's identity must be defined in the config; diagnostics point at the
/// scenario's `identity:` (or at the scenario, when it comes from the suite's defaults).
pub fn check_identities(suites: &[Suite], config: &Config) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let known: Vec<&str> = config.identities.keys().map(String::as_str).collect();
    for suite in suites {
        let missing: Vec<usize> = suite
            .scenarios
            .iter()
            .enumerate()
            .filter(|(_, s)| !config.identities.contains_key(&s.identity))
            .map(|(i, _)| i)
            .collect();
        if missing.is_empty() {
            continue;
        }
        // Re-read the file for the source lines; positions of `identity:` keys if it parses.
        let text = source_lines(&suite.path);
        let positions = yaml::positions(&text);
        for i in missing {
            let s = &suite.scenarios[i];
            let at: Location = positions
                .as_ref()
                .and_then(|p| p.get(&format!("/scenarios/{i}/identity")))
                .map(|n| n.value)
                .unwrap_or(s.location);
            let help = if known.is_empty() {
                "the config defines no identities; add them under `identities:`".to_owned()
            } else {
                format!("known identities: {}; define it under `identities:` of the config", known.join(", "))
            };
            out.push(
                Diagnostic::new(
                    &suite.path,
                    &text,
                    at,
                    format!("scenario `{}` uses unknown identity `{}`", s.name, s.identity),
                )
                .with_help(help),
            );
        }
    }
    out
}

/// Every scenario runs on a target the config has: a `target:` choice names one of `targets:`
/// (and there are named targets at all), and with more than one named target every scenario
/// chooses. Diagnostics point at the `target:` value, once per place it is written (a suite's
/// choice is one diagnostic, not one per scenario).
///
/// No default among several targets: a scenario written for one endpoint that silently ran on
/// another would pass or fail for the wrong reason, and that is the very mistake named targets
/// are for (ContextForge's scope bypass shows on its gateway-wide `/mcp` only: the same suite on
/// `/servers/{id}/mcp` passes). With one named target, it is the default.
pub fn check_targets(suites: &[Suite], config: &Config) -> Vec<Diagnostic> {
    let names: Vec<&str> = config.targets.keys().map(String::as_str).collect();
    let mut out = Vec::new();
    for suite in suites {
        let mut problems: Vec<(Location, String, String)> = Vec::new();
        let unchosen: Vec<&crate::suite::Scenario> = suite.scenarios.iter().filter(|s| s.target.is_none()).collect();
        for s in &suite.scenarios {
            let Some(choice) = &s.target else { continue };
            if problems.iter().any(|(at, ..)| *at == choice.at) {
                continue;
            }
            let whose =
                if choice.suite_wide { format!("suite `{}`", suite.name) } else { format!("scenario `{}`", s.name) };
            if names.is_empty() {
                problems.push((
                    choice.at,
                    format!("{whose} chooses target `{}`, but the config has a single `target:`", choice.name),
                    "name the config's gateways under `targets:` (`targets: { name: { kind: ... } }`), or leave `target:` out of the suite".into(),
                ));
            } else if !names.contains(&choice.name.as_str()) {
                problems.push((
                    choice.at,
                    format!("{whose} uses unknown target `{}`", choice.name),
                    format!("the config's targets: {}", names.join(", ")),
                ));
            }
        }
        if names.len() > 1 && !unchosen.is_empty() {
            let help = format!("the config's targets: {}", names.join(", "));
            if unchosen.len() == suite.scenarios.len() {
                problems.push((
                    Location::default(),
                    format!("suite `{}` does not say which target its scenarios run on", suite.name),
                    format!("add `target: <name>` beside `suite:` (or to each scenario); {help}"),
                ));
            } else {
                for s in unchosen {
                    problems.push((
                        s.location,
                        format!("scenario `{}` does not say which target it runs on", s.name),
                        format!("add `target: <name>` to it, or to the suite; {help}"),
                    ));
                }
            }
        }
        if problems.is_empty() {
            continue;
        }
        let text = source_lines(&suite.path);
        let suite_at = yaml::positions(&text).map(|p| p.value_at("/suite")).unwrap_or(Location { line: 1, column: 1 });
        for (at, message, help) in problems {
            let at = if at == Location::default() { suite_at } else { at };
            out.push(Diagnostic::new(&suite.path, &text, at, message).with_help(help));
        }
    }
    out
}

/// A suite file's text again, for a diagnostic's source lines: read within the same size limit as
/// when it was loaded; none when it cannot be (the diagnostic then shows no lines).
fn source_lines(path: &Path) -> String {
    crate::suite::parse::read_bounded(path).unwrap_or_default()
}

/// Golden-prompt scenarios (`expect.proposes`) when the config defines no assistant to ask: said
/// at load, not as an obscure failure of every such scenario.
pub fn check_assistants(suites: &[Suite], config: &Config) -> Vec<Diagnostic> {
    if !config.assistants.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for suite in suites {
        let Some(s) = suite.scenarios.iter().find(|s| s.asks.is_some()) else { continue };
        let text = source_lines(&suite.path);
        out.push(
            Diagnostic::new(
                &suite.path,
                &text,
                s.location,
                format!(
                    "scenario `{}` asks an assistant (`expect.proposes`), but the config defines no `assistants`",
                    s.name
                ),
            )
            .with_help(
                "add one under `assistants:` (see the README's \"Golden prompts\"), or leave this suite out of the run",
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn instance_labels_are_prometheus_names_gateprobe_does_not_set() {
        let ok = parse_config(Path::new("c.yaml"), "labels: { location: eu-west, team_2: platform }\n").unwrap();
        assert_eq!(ok.labels["location"], "eu-west");
        for (bad, why) in [
            ("2nd", "not a Prometheus label name"),
            ("__x", "not a Prometheus label name"),
            ("suite", "gateprobe sets itself"),
        ] {
            let e = parse_config(Path::new("c.yaml"), &format!("labels:\n  {bad}: x\n")).unwrap_err();
            let text = render_all(e.diagnostics(), false);
            assert!(text.contains(why) && text.contains("c.yaml:2:"), "{bad}: {text}");
        }
    }

    /// Pins: every node of an Alertmanager cluster is listed once, `alertmanager_url` first, and
    /// each listed URL is checked where it is written.
    #[test]
    fn alertmanager_cluster_nodes_are_all_pushed_to() {
        let text = "alerting:\n  alertmanager_url: http://am-0:9093\n  alertmanager_urls: [http://am-0:9093, http://am-1:9093]\n";
        let ok = parse_config(Path::new("c.yaml"), text).unwrap();
        assert_eq!(ok.alerting.urls(), ["http://am-0:9093", "http://am-1:9093"]);
        assert!(Config::bundled().alerting.urls().is_empty());
        let e = parse_config(Path::new("c.yaml"), "alerting:\n  alertmanager_urls: [http://am-0:9093, am-1:9093]\n")
            .unwrap_err();
        let text = render_all(e.diagnostics(), false);
        assert!(text.contains("`am-1:9093`") && text.contains("c.yaml:2:"), "{text}");
    }

    #[test]
    fn bundled_config_has_the_synthetic_identities() {
        let c = Config::bundled();
        assert!(matches!(c.target, TargetConfig::Embedded(_)));
        assert_eq!(c.suites, vec![PathBuf::from("scenarios")]);
        let names: Vec<&str> = c.identities.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "alice-expired",
                "alice-globex",
                "alice-reader",
                "alice-tampered",
                "anonymous",
                "bob-admin",
                "carol-support",
                "dave-burst",
                "mallory-revoked"
            ]
        );
        assert_eq!(c.identities["alice-globex"].tenant, "globex");
        assert_eq!(c.identities["bob-admin"].roles, ["admin"]);
        assert!(matches!(c.identities["anonymous"].credential, Some(CredentialSource::None)));
        assert!(matches!(
            c.identities["alice-tampered"].credential,
            Some(CredentialSource::Invalid(InvalidCredential::Tampered))
        ));
    }

    #[test]
    fn explicit_path_must_exist() {
        let e =
            load_config_with_env(Some(Path::new("/nonexistent/gateprobe.yaml")), env(&[]), &Rules::new()).unwrap_err();
        assert!(matches!(e, ConfigError::NotFound(_)));
    }

    #[test]
    fn file_paths_are_relative_to_the_config_and_env_overrides_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gp.yaml");
        std::fs::write(&file, "suites: [checks]\nrun: { concurrency: 2 }\n").unwrap();
        let c = load_config_with_env(Some(&file), env(&[]), &Rules::new()).unwrap();
        assert_eq!(c.suites, vec![dir.path().join("checks")]);
        assert_eq!(c.run.concurrency, 2);
        let c = load_config_with_env(
            Some(&file),
            env(&[
                ("GATEPROBE_CONCURRENCY", "4"),
                ("GATEPROBE_TIMEOUT_MS", "250"),
                ("GATEPROBE_REQUESTS_PER_SECOND", "10"),
                ("GATEPROBE_SUITES", "a.yaml:dir"),
                ("GATEPROBE_TARGET_URL", "http://127.0.0.1:9/mcp"),
                ("GATEPROBE_AUDIT_URL", "http://127.0.0.1:9/audit/{correlation_id}"),
            ]),
            &Rules::new(),
        )
        .unwrap();
        assert_eq!((c.run.concurrency, c.run.timeout_ms, c.run.requests_per_second), (4, 250, 10));
        assert_eq!(c.suites, vec![PathBuf::from("a.yaml"), PathBuf::from("dir")]);
        let TargetConfig::Mcp(t) = &c.target else { panic!("{:?}", c.target) };
        assert_eq!(t.url, "http://127.0.0.1:9/mcp");
        let AuditConfig::Http { url, .. } = &c.audit else { panic!() };
        assert_eq!(url.as_deref(), Some("http://127.0.0.1:9/audit/{correlation_id}"));
    }

    #[test]
    fn bad_overrides_name_the_variable() {
        for (var, value) in [
            ("GATEPROBE_CONCURRENCY", "0"),
            ("GATEPROBE_CONCURRENCY", "many"),
            ("GATEPROBE_TIMEOUT_MS", "-5"),
            ("GATEPROBE_REQUESTS_PER_SECOND", "1.5"),
            ("GATEPROBE_SUITES", "::"),
            ("GATEPROBE_TARGET_URL", "localhost:8080"),
            ("GATEPROBE_AUDIT_URL", "file:///tmp/a"),
        ] {
            let mut c = Config::bundled();
            let e = apply_env_overrides(&mut c, env(&[(var, value)])).unwrap_err();
            assert!(e.to_string().starts_with(&format!("{var}: ")), "{e}");
        }
    }

    #[test]
    fn variants_are_chosen_by_name_or_one_key_maps() {
        let text = "target: { kind: mcp, url: http://127.0.0.1:1/mcp, policy_version: { pointer: /v } }\nidentities:\n  a: { subject: a@example.com, tenant: t, credential: { command: [get-token, --a] } }\n  b: { subject: b@example.com, tenant: t, credential: none }\n  c: { subject: c@example.com, tenant: t }\n";
        let c = parse_config(Path::new("gp.yaml"), text).unwrap();
        let TargetConfig::Mcp(t) = &c.target else { panic!() };
        assert!(matches!(&t.policy_version, PolicyVersionSource::Pointer(p) if p == "/v"));
        assert!(matches!(&c.identities["a"].credential, Some(CredentialSource::Command(v)) if v.len() == 2));
        assert!(matches!(c.identities["b"].credential, Some(CredentialSource::None)));
        assert!(c.identities["c"].credential.is_none());
        let two = "identities:\n  a: { subject: s, tenant: t, credential: { env: A, file: /f } }\n";
        let e = parse_config(Path::new("gp.yaml"), two).unwrap_err();
        let d = &e.diagnostics()[0];
        assert!(d.message.contains("unexpected second key `file`"), "{}", d.message);
        assert_eq!(d.line, 2);
        let bad = "identities:\n  a: { subject: s, tenant: t, credential: { invalid: expird } }\n";
        let d = &parse_config(Path::new("gp.yaml"), bad).unwrap_err().diagnostics()[0].clone();
        assert!(d.message.contains("unknown variant `expird`"), "{}", d.message);
        assert_eq!(d.line, 2);
    }

    #[test]
    fn oauth_credentials_parse_resolve_their_secret_file_and_are_checked() {
        let text = "identities:\n  a:\n    subject: s\n    tenant: t\n    credential:\n      oauth: { token_url: \"https://auth.example.com/token\", client_id: probe, client_secret: { file: a.secret }, auth_method: client_secret_post, resource: \"https://gw.example.com/mcp\" }\n";
        let mut c = parse_config(Path::new("gp.yaml"), text).unwrap();
        c.resolve_paths(Path::new("/etc/gateprobe"));
        let Some(CredentialSource::OAuth(o)) = &c.identities["a"].credential else { panic!() };
        assert_eq!((o.client_id.as_str(), o.auth_method), ("probe", OAuthAuthMethod::ClientSecretPost));
        assert!(matches!(&o.client_secret, ClientSecretSource::File(p) if p == Path::new("/etc/gateprobe/a.secret")));
        assert_eq!(o.resource.as_deref(), Some("https://gw.example.com/mcp"));
        let bad = "identities:\n  a:\n    subject: s\n    tenant: t\n    credential:\n      oauth: { token_url: auth.example.com/token, client_id: \" \", client_secret: { env: \"\" } }\n";
        let e = parse_config(Path::new("gp.yaml"), bad).unwrap_err().to_string();
        for what in ["token_url", "empty `client_id`", "empty client secret source"] {
            assert!(e.contains(what), "{what}: {e}");
        }
        let inline = "identities:\n  a: { subject: s, tenant: t, credential: { oauth: { token_url: \"https://a.example.com/t\", client_id: p, client_secret: hunter2 } } }\n";
        assert!(parse_config(Path::new("gp.yaml"), inline).is_err(), "a secret written inline is refused");
    }

    #[test]
    fn config_files_are_linted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gp.yaml");
        std::fs::write(&file, "identities:\n  a: { subject: jane.doe@gmail.com, tenant: t }\n").unwrap();
        let e = load_config_with_env(Some(&file), env(&[]), &Rules::new()).unwrap_err();
        assert_eq!(e.diagnostics()[0].code.as_deref(), Some("email-outside-example-domains"));
    }

    #[test]
    fn unusable_values_are_refused_where_they_are() {
        let text = "target: { kind: mcp, url: localhost:8080 }\nrun:\n  concurrency: 0\nidentities:\n  a: { subject: s, tenant: t, credential: { command: [] } }\n";
        let e = parse_config(Path::new("gp.yaml"), text).unwrap_err();
        let got: Vec<(usize, usize)> = e.diagnostics().iter().map(|d| (d.line, d.column)).collect();
        assert_eq!(got, [(3, 16), (1, 27), (5, 43)], "{e}");
    }

    const TWO_TARGETS: &str = "targets:\n  server: { kind: mcp, url: \"http://127.0.0.1:1/servers/a/mcp\" }\n  global:\n    kind: mcp\n    url: http://127.0.0.1:1/mcp\n";

    #[test]
    fn named_targets_are_read_in_name_order() {
        let c = parse_config(Path::new("gp.yaml"), TWO_TARGETS).unwrap();
        let names: Vec<Option<&str>> = c.all_targets().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [Some("global"), Some("server")]);
        // `target:` alone is read as it always was: one unnamed target.
        let one = parse_config(Path::new("gp.yaml"), "target: { kind: mcp, url: http://127.0.0.1:1/mcp }\n").unwrap();
        assert!(matches!(one.all_targets()[..], [(None, TargetConfig::Mcp(_))]));
    }

    #[test]
    fn named_target_mistakes_are_positioned() {
        let at = |text: &str| {
            let e = parse_config(Path::new("gp.yaml"), text).unwrap_err();
            e.diagnostics().iter().map(|d| (d.line, d.column, d.message.clone())).collect::<Vec<_>>()
        };
        let both = at(&format!("target: {{ kind: embedded }}\n{TWO_TARGETS}"));
        assert_eq!(both.len(), 1, "{both:?}");
        assert_eq!((both[0].0, both[0].1), (2, 1));
        assert!(both[0].2.contains("both `target` and `targets`"), "{both:?}");
        let empty = at("targets: {}\n");
        assert!(empty[0].2.contains("`targets` is empty"), "{empty:?}");
        let bad = at(
            "targets:\n  ok: { kind: mcp, url: http://127.0.0.1:1/mcp }\n  \"two words\": { kind: mcp, url: nowhere }\n",
        );
        let got: Vec<(usize, usize)> = bad.iter().map(|d| (d.0, d.1)).collect();
        // The URL at its value, the name at its key (name problems come last).
        assert_eq!(got, [(3, 34), (3, 3)], "{bad:?}");
        assert!(bad[1].2.contains("not a target name"), "{bad:?}");
        let embedded = at("targets:\n  a: { kind: embedded }\n  b: { kind: embedded, policies: other }\n");
        assert_eq!((embedded[0].0, embedded[0].1), (3, 14), "{embedded:?}");
        assert!(embedded[0].2.contains("second embedded target"), "{embedded:?}");
        let rule = at(
            "target:\n  kind: http\n  url: http://127.0.0.1:1/rpc\n  body: {}\n  decision:\n    rules:\n      - { decision: allow }\n      - { equals: 1, decision: deny }\n",
        );
        let got: Vec<(usize, usize)> = rule.iter().map(|d| (d.0, d.1)).collect();
        assert_eq!(got, [(7, 9), (8, 9), (8, 19)], "{rule:?}");
    }

    #[test]
    fn one_url_override_cannot_say_which_named_target() {
        let mut c = parse_config(Path::new("gp.yaml"), TWO_TARGETS).unwrap();
        let e = apply_env_overrides(&mut c, env(&[("GATEPROBE_TARGET_URL", "http://127.0.0.1:2/mcp")])).unwrap_err();
        assert!(e.to_string().contains("several targets"), "{e}");
        let mut c = parse_config(
            Path::new("gp.yaml"),
            "targets:\n  a: { kind: embedded }\n  b: { kind: mcp, url: http://127.0.0.1:1/mcp }\n",
        )
        .unwrap();
        apply_env_overrides(&mut c, env(&[("GATEPROBE_POLICIES", "elsewhere")])).unwrap();
        assert!(matches!(&c.targets["a"], TargetConfig::Embedded(e) if e.policies == Path::new("elsewhere")));
    }

    /// Pins the choice rules: the scenario's `target:` wins over the suite's; with several named
    /// targets every scenario chooses (a suite that never does is one diagnostic, at its name);
    /// an unknown name lists the known ones; a choice needs named targets at all; one named
    /// target is the default.
    #[test]
    fn target_choices_are_checked_against_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let suite = |name: &str, text: &str| {
            let path = dir.path().join(format!("{name}.yaml"));
            std::fs::write(&path, text).unwrap();
            crate::suite::parse_suite(&path, text).unwrap()
        };
        let chosen = suite(
            "chosen",
            "suite: chosen\ntarget: global\ndefaults: { identity: a }\nscenarios:\n  - name: on global\n    call: { tool: t }\n    expect: { decision: allow }\n  - name: on server\n    target: server\n    call: { tool: t }\n    expect: { decision: allow }\n",
        );
        let names: Vec<&str> = chosen.scenarios.iter().map(|s| s.target.as_ref().unwrap().name.as_str()).collect();
        assert_eq!(names, ["global", "server"]);
        let two = parse_config(Path::new("gp.yaml"), TWO_TARGETS).unwrap();
        assert!(check_targets(std::slice::from_ref(&chosen), &two).is_empty());

        let unchosen = suite(
            "unchosen",
            "# no choice\nsuite: unchosen\ndefaults: { identity: a }\nscenarios:\n  - name: x\n    call: { tool: t }\n    expect: { decision: allow }\n",
        );
        let partly = suite(
            "partly",
            "suite: partly\ndefaults: { identity: a }\nscenarios:\n  - name: x\n    target: rpc\n    call: { tool: t }\n    expect: { decision: allow }\n  - name: y\n    call: { tool: t }\n    expect: { decision: allow }\n",
        );
        let ds = check_targets(&[unchosen.clone(), partly], &two);
        let got: Vec<(String, usize, usize)> =
            ds.iter().map(|d| (d.file.file_name().unwrap().to_string_lossy().into_owned(), d.line, d.column)).collect();
        assert_eq!(
            got,
            [("unchosen.yaml".into(), 2, 8), ("partly.yaml".into(), 5, 13), ("partly.yaml".into(), 8, 5)],
            "{ds:?}"
        );
        let text = render_all(&ds, false);
        assert!(text.contains("suite `unchosen` does not say which target"), "{text}");
        assert!(text.contains("scenario `x` uses unknown target `rpc`"), "{text}");
        assert!(text.contains("the config's targets: global, server"), "{text}");
        assert!(text.contains("scenario `y` does not say which target it runs on"), "{text}");

        // A suite-wide unknown name is one diagnostic, for the suite.
        let wrong = suite(
            "wrong",
            "suite: wrong\ntarget: globl\ndefaults: { identity: a }\nscenarios:\n  - name: x\n    call: { tool: t }\n    expect: { decision: allow }\n  - name: y\n    call: { tool: t }\n    expect: { decision: allow }\n",
        );
        let ds = check_targets(std::slice::from_ref(&wrong), &two);
        assert_eq!(ds.len(), 1, "{ds:?}");
        assert_eq!((ds[0].line, ds[0].column), (2, 9));
        assert!(ds[0].message.contains("suite `wrong` uses unknown target `globl`"), "{:?}", ds[0]);

        // A single `target:` takes no choice; one named target is the default.
        let single = Config::bundled();
        let ds = check_targets(std::slice::from_ref(&chosen), &single);
        assert_eq!(ds.len(), 2, "{ds:?}");
        assert!(ds[0].message.contains("but the config has a single `target:`"), "{:?}", ds[0]);
        assert!(check_targets(std::slice::from_ref(&unchosen), &single).is_empty());
        let one = parse_config(Path::new("gp.yaml"), "targets:\n  only: { kind: mcp, url: http://127.0.0.1:1/mcp }\n")
            .unwrap();
        assert!(check_targets(&[unchosen], &one).is_empty());
    }

    #[test]
    fn tls_blocks_resolve_their_paths_and_refuse_half_pairs_and_plain_http() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gp.yaml");
        let text = "target: { kind: mcp, url: \"https://gw.example.com/mcp\", tls: { ca_file: ca.pem, client_cert_file: /etc/c.pem, client_key_file: k.pem } }\naudit: { kind: http, url: \"https://gw.example.com/audit\", tls: {} }\n";
        std::fs::write(&file, text).unwrap();
        let c = load_config_with_env(Some(&file), env(&[]), &Rules::new()).unwrap();
        let TargetConfig::Mcp(t) = &c.target else { panic!() };
        let tls = t.tls.as_ref().unwrap();
        assert_eq!(tls.ca_file.as_deref(), Some(dir.path().join("ca.pem").as_path()));
        assert_eq!(tls.client_cert_file.as_deref(), Some(Path::new("/etc/c.pem")));
        assert_eq!(tls.client_key_file.as_deref(), Some(dir.path().join("k.pem").as_path()));
        assert!(matches!(&c.audit, AuditConfig::Http { tls: Some(t), .. } if *t == TlsConfig::default()));

        let bad = "target: { kind: mcp, url: \"https://gw.example.com/mcp\", tls: { client_cert_file: c.pem } }\nalerting:\n  alertmanager_url: \"http://127.0.0.1:9093\"\n  tls: { ca_file: ca.pem }\n";
        let e = parse_config(Path::new("gp.yaml"), bad).unwrap_err();
        let text = render_all(e.diagnostics(), false);
        assert!(text.contains("`target.tls.client_cert_file` is given without `client_key_file`"), "{text}");
        assert!(text.contains("`alerting.tls` is given but `http://127.0.0.1:9093` is not an https URL"), "{text}");
        let got: Vec<usize> = e.diagnostics().iter().map(|d| d.line).collect();
        assert_eq!(got, [1, 4], "{text}");
    }

    #[test]
    fn a_plain_http_override_of_a_url_with_tls_is_refused() {
        let text = "target: { kind: mcp, url: \"https://gw.example.com/mcp\", tls: { ca_file: /ca.pem } }\n";
        let mut c = parse_config(Path::new("gp.yaml"), text).unwrap();
        let e = apply_env_overrides(&mut c, env(&[("GATEPROBE_TARGET_URL", "http://gw.example.com/mcp")])).unwrap_err();
        assert_eq!(e.to_string(), "GATEPROBE_TARGET_URL: the config gives `target.tls`, which needs an https URL");
        apply_env_overrides(&mut c, env(&[("GATEPROBE_TARGET_URL", "https://gw2.example.com/mcp")])).unwrap();
    }

    #[test]
    fn parse_errors_are_positioned() {
        let e = parse_config(Path::new("gp.yaml"), "run:\n  concurrency: lots\n").unwrap_err();
        let d = &e.diagnostics()[0];
        assert_eq!((d.line, d.column), (2, 16));
        assert!(d.message.contains("invalid type"), "{}", d.message);
    }
}

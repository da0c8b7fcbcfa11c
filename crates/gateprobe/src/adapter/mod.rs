//! EXECUTE, the outward half: adapters that send one proposed call to a gateway and read back a
//! decision, and audit sources that find the evidence by correlation id.
//!
//! Adding a gateway kind touches one file and the [`Adapter`] enum.

pub mod audit;
pub mod body;
pub mod embedded;
pub mod http;
pub mod mcp;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::{AuditConfig, Config, CredentialSource, IdentityConfig, InvalidCredential, TargetConfig};
use crate::decision::Decision;
use crate::secret::{Scrubber, Secret};
use gateprobe_gateway::RunningGateway;

pub use audit::{AuditSource, Evidence};

/// Header that marks every probe request, so gateways can keep probes out of business dashboards.
pub const SYNTHETIC_HEADER: &str = "x-gateprobe-synthetic";

/// An identity from the config with its credential obtained.
#[derive(Debug)]
pub struct ResolvedIdentity {
    pub name: String,
    pub subject: String,
    pub tenant: String,
    pub roles: Vec<String>,
    pub token: Option<Secret>,
}

/// One proposed tool call, as the adapter sends it.
#[derive(Debug)]
pub struct Call<'a> {
    pub tool: &'a str,
    pub arguments: &'a Map<String, Value>,
    pub correlation_id: &'a str,
    pub prompt: Option<&'a str>,
    pub context: Option<&'a Map<String, Value>>,
    pub confirmation_id: Option<&'a str>,
}

/// What the gateway decided about one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub decision: Decision,
    pub reason: Option<String>,
    /// Present on `confirm`: the id to send back to confirm.
    pub confirmation_id: Option<String>,
    pub policy_version: Option<String>,
}

/// No decision could be read. Kinds are few and fixed, so they can be metric labels.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("timed out")]
    Timeout,
    #[error("could not connect")]
    Connect,
    #[error("HTTP status {0} with no decision in it")]
    Status(u16),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("unparseable response: {0}")]
    Unparseable(String),
    #[error("no decision in the response: {0}")]
    NoDecision(String),
    /// The answer's body passed its cap ([`body::read_capped`]); `setting` raises the cap.
    #[error("answer larger than {limit} bytes (raise `{setting}`)")]
    TooLarge { limit: usize, setting: &'static str },
}

impl CallError {
    pub const KINDS: [&'static str; 7] =
        ["timeout", "connect", "http_status", "protocol", "unparseable", "no_decision", "too_large"];

    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Timeout => "timeout",
            CallError::Connect => "connect",
            CallError::Status(_) => "http_status",
            CallError::Protocol(_) => "protocol",
            CallError::Unparseable(_) => "unparseable",
            CallError::NoDecision(_) => "no_decision",
            CallError::TooLarge { .. } => "too_large",
        }
    }

    /// Classify a transport error by what reqwest knows of it, never by its message text.
    pub fn from_reqwest(e: &reqwest::Error) -> CallError {
        if e.is_timeout() {
            CallError::Timeout
        } else if e.is_connect() {
            CallError::Connect
        } else if e.is_decode() {
            CallError::Unparseable("body could not be decoded".into())
        } else if e.is_body() || e.is_request() {
            CallError::Protocol("connection failed while sending or reading".into())
        } else {
            CallError::Protocol("HTTP exchange failed".into())
        }
    }

    /// Transport trouble that a retry may clear (never a decision, never a malformed answer).
    pub fn is_transient(&self) -> bool {
        matches!(self, CallError::Timeout | CallError::Connect | CallError::Protocol(_))
            || matches!(self, CallError::Status(s) if *s >= 500)
    }
}

/// A conversation with the gateway in which calls share history (an MCP session).
#[derive(Debug, Default, Clone)]
pub struct Session {
    pub id: Option<String>,
    /// The replica this session lives on; `None`: the target's only endpoint.
    pub endpoint: Option<String>,
}

/// The ways gateprobe reaches a gateway.
pub enum Adapter {
    Mcp(mcp::McpAdapter),
    Http(http::HttpAdapter),
}

impl Adapter {
    /// Every answer is scrubbed of these credentials as it arrives.
    pub fn set_scrubber(&mut self, scrubber: Arc<Scrubber>) {
        match self {
            Adapter::Mcp(a) => a.set_scrubber(scrubber),
            Adapter::Http(a) => a.set_scrubber(scrubber),
        }
    }

    /// The endpoint the next scenario goes to, when the target has replicas.
    pub fn next_endpoint(&self) -> Option<String> {
        match self {
            Adapter::Mcp(a) => a.next_endpoint(),
            Adapter::Http(_) => None,
        }
    }

    /// Whether single-call scenarios of one identity share a session for the whole run
    /// (`sessions: identity`).
    pub fn shares_sessions(&self) -> bool {
        matches!(self, Adapter::Mcp(a) if a.sessions() == crate::config::SessionScope::Identity)
    }

    /// Starts a session (for one scenario, or for an identity's whole run).
    pub async fn open_session(
        &self,
        identity: &ResolvedIdentity,
        endpoint: Option<String>,
    ) -> Result<Session, CallError> {
        match self {
            Adapter::Mcp(a) => a.open_session(identity, endpoint).await,
            Adapter::Http(_) => Ok(Session::default()),
        }
    }

    /// Ends a session opened by [`Adapter::open_session`].
    pub async fn close_session(&self, session: &Session, identity: &ResolvedIdentity) {
        if let Adapter::Mcp(a) = self {
            a.close_session(session, identity).await;
        }
    }

    pub async fn call(
        &self,
        session: &Session,
        identity: &ResolvedIdentity,
        call: &Call<'_>,
    ) -> Result<Reply, CallError> {
        match self {
            Adapter::Mcp(a) => a.call(session, identity, call).await,
            Adapter::Http(a) => a.call(identity, call).await,
        }
    }
}

/// What the target says it has, for coverage. `None`: it could not say (the reason is in
/// `problems`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub tools: Option<Vec<String>>,
    /// Policy ids with their `@reason` (when they have one).
    pub policies: Option<Vec<(String, Option<String>)>>,
    /// Every decision reason the gateway can give.
    pub reasons: Option<Vec<String>>,
    pub problems: Vec<String>,
}

/// Why the target could not be set up. Credential problems are config errors (exit 2); a
/// gateway that fails to start is target trouble (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("identity `{identity}`: {message}")]
    Credential { identity: String, message: String },
    #[error("the embedded reference gateway did not start: {0}")]
    Embedded(String),
    #[error("invalid target setting: {0}")]
    Invalid(String),
}

/// A connected target: the adapter, where its evidence is, and who may call it.
pub struct Target {
    pub adapter: Adapter,
    pub audit: AuditSource,
    pub identities: BTreeMap<String, Arc<ResolvedIdentity>>,
    /// Adapter kind and URL, for reports.
    pub description: String,
    /// Every credential of the run (identities and audit reader), to scrub from what the
    /// gateway sends back: the adapters scrub answers, the audit source records.
    pub scrubber: Arc<Scrubber>,
    /// Kept alive for the run when the target is the embedded gateway.
    embedded: Option<RunningGateway>,
    client: reqwest::Client,
    coverage: crate::config::CoverageConfig,
    /// `run.max_response_bytes`, for the policy listing (the adapters have their own copy).
    max_response_bytes: usize,
}

impl Target {
    /// Sets up the target a config names: starts the embedded gateway when asked, builds the
    /// shared HTTP client, and obtains every identity's credential.
    pub async fn connect(config: &Config) -> Result<Target, TargetError> {
        let client = http_client(Duration::from_millis(config.run.timeout_ms))?;
        let (mut adapter, description, embedded) = match &config.target {
            TargetConfig::Embedded(e) => {
                let gateway = embedded::start(e).await?;
                let adapter = Adapter::Mcp(mcp::McpAdapter::for_reference_gateway(
                    client.clone(),
                    gateway.mcp_url(),
                    config.run.max_response_bytes,
                ));
                (adapter, format!("embedded {}", gateway.mcp_url()), Some(gateway))
            }
            TargetConfig::Mcp(m) => {
                let adapter = mcp::McpAdapter::new(client.clone(), m.clone(), config.run.max_response_bytes);
                (Adapter::Mcp(adapter), format!("mcp {}", m.url), None)
            }
            TargetConfig::Http(h) => {
                let adapter = http::HttpAdapter::new(client.clone(), h.clone(), config.run.max_response_bytes)?;
                (Adapter::Http(adapter), format!("http {}", h.url), None)
            }
        };
        let mut secrets: Vec<Secret> = Vec::new();
        let audit_token = match &config.audit {
            AuditConfig::Http { credential: Some(source), .. } => {
                let token = crate::secret::resolve_credential(source).await.map_err(|e| TargetError::Credential {
                    identity: "audit reader (`audit.credential`)".into(),
                    message: e.to_string(),
                })?;
                secrets.extend(token.clone());
                token
            }
            _ => None,
        };
        let mut identities = BTreeMap::new();
        for (name, idc) in &config.identities {
            let token = obtain_token(name, idc, embedded.as_ref()).await?;
            secrets.extend(token.clone());
            let identity = ResolvedIdentity {
                name: name.clone(),
                subject: idc.subject.clone(),
                tenant: idc.tenant.clone(),
                roles: idc.roles.clone(),
                token,
            };
            identities.insert(name.clone(), Arc::new(identity));
        }
        let mut coverage = config.coverage.clone();
        if coverage.policies_url.is_none() {
            coverage.policies_url = embedded.as_ref().map(|g| format!("{}/policies", g.base_url()));
        }
        let scrubber = Arc::new(Scrubber::new(&secrets));
        adapter.set_scrubber(scrubber.clone());
        let embedded_base = embedded.as_ref().map(|g| g.base_url());
        let audit =
            AuditSource::new(client.clone(), &config.audit, embedded_base, audit_token, &config.run, scrubber.clone())?;
        let max_response_bytes = config.run.max_response_bytes;
        Ok(Target { adapter, audit, identities, description, scrubber, embedded, client, coverage, max_response_bytes })
    }

    /// The tools and policies the gateway lists: `coverage.tools` or MCP `tools/list` (in a
    /// session of the first identity with a credential), and `coverage.policies_url`.
    pub async fn listing(&self) -> Listing {
        let mut listing = Listing::default();
        match (&self.coverage.tools, &self.adapter) {
            (Some(tools), _) => listing.tools = Some(tools.clone()),
            (None, Adapter::Mcp(mcp)) => {
                let anonymous = ResolvedIdentity {
                    name: String::new(),
                    subject: String::new(),
                    tenant: String::new(),
                    roles: Vec::new(),
                    token: None,
                };
                let identity =
                    self.identities.values().find(|i| i.token.is_some()).map(|i| i.as_ref()).unwrap_or(&anonymous);
                let listed = match mcp.open_session(identity, None).await {
                    Ok(session) => {
                        let tools = mcp.list_tools(&session, identity).await;
                        mcp.close_session(&session, identity).await;
                        tools
                    }
                    Err(e) => Err(e),
                };
                match listed {
                    Ok(tools) => listing.tools = Some(tools),
                    Err(e) => listing.problems.push(format!("`tools/list` failed: {e}")),
                }
            }
            (None, Adapter::Http(_)) => listing
                .problems
                .push("an `http` target cannot list its tools; set `coverage.tools` in the config".into()),
        }
        if let Some(url) = &self.coverage.policies_url {
            match self.fetch_policies(url).await {
                Ok((policies, reasons)) => {
                    listing.policies = Some(policies);
                    listing.reasons = Some(reasons);
                }
                Err(e) => listing.problems.push(format!("policies from {url}: {e}")),
            }
        }
        listing
    }

    async fn fetch_policies(&self, url: &str) -> Result<(Vec<(String, Option<String>)>, Vec<String>), CallError> {
        let response = self.client.get(url).send().await.map_err(|e| CallError::from_reqwest(&e))?;
        if !response.status().is_success() {
            return Err(CallError::Status(response.status().as_u16()));
        }
        let body = body::read_capped(response, self.max_response_bytes, body::MAX_RESPONSE_SETTING).await?;
        let mut body: Value =
            serde_json::from_slice(&body).map_err(|_| CallError::Unparseable("body could not be decoded".into()))?;
        self.scrubber.scrub_json(&mut body);
        let policies = body
            .get("policies")
            .and_then(Value::as_array)
            .ok_or_else(|| CallError::Protocol("no `policies` list".into()))?
            .iter()
            .filter_map(|p| {
                let id = p.get("id")?.as_str()?.to_string();
                Some((id, p.get("reason").and_then(Value::as_str).map(str::to_string)))
            })
            .collect();
        let reasons = body
            .get("reasons")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        Ok((policies, reasons))
    }

    /// The embedded gateway, when the target is one (tests reach into its workspace over HTTP).
    pub fn embedded(&self) -> Option<&RunningGateway> {
        self.embedded.as_ref()
    }

    pub async fn shutdown(self) {
        if let Some(g) = self.embedded {
            g.shutdown().await;
        }
    }
}

/// Synthetic identities' tokens are short-lived; an hour outlives any run.
const MINTED_TOKEN_TTL: Duration = Duration::from_secs(3600);

async fn obtain_token(
    name: &str,
    idc: &IdentityConfig,
    embedded: Option<&RunningGateway>,
) -> Result<Option<Secret>, TargetError> {
    let cred_err = |message: String| TargetError::Credential { identity: name.to_string(), message };
    match (&idc.credential, embedded) {
        (Some(CredentialSource::None), _) => Ok(None),
        (Some(CredentialSource::Invalid(kind)), Some(g)) => Ok(Some(Secret::new(match kind {
            InvalidCredential::Expired => g.mint_expired_token(&idc.subject, &idc.tenant, &idc.roles),
            InvalidCredential::Tampered => g.mint_tampered_token(&idc.subject, &idc.tenant, &idc.roles),
        }))),
        (Some(CredentialSource::Invalid(_)), None) => {
            Err(cred_err("`invalid` credentials can only be minted by the embedded target".into()))
        }
        (Some(source), _) => crate::secret::resolve_credential(source).await.map_err(|e| cred_err(e.to_string())),
        (None, Some(g)) => Ok(Some(Secret::new(g.mint_token(&idc.subject, &idc.tenant, &idc.roles, MINTED_TOKEN_TTL)))),
        (None, None) => {
            Err(cred_err("no credential: give `credential: {env: VAR}`, `{file: PATH}` or `{command: [...]}`".into()))
        }
    }
}

/// One client for the whole run: connection reuse, the per-call timeout, the synthetic marker.
fn http_client(timeout: Duration) -> Result<reqwest::Client, TargetError> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(SYNTHETIC_HEADER, reqwest::header::HeaderValue::from_static("1"));
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .default_headers(headers)
        .user_agent(concat!("gateprobe/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(64)
        // A probe replays a call where it was pointed: a redirect is the gateway's answer (and
        // no decision), not an invitation to send the call somewhere else.
        .redirect(reqwest::redirect::Policy::none())
        // `run.retries` is the one retry policy, and it gives each attempt its own correlation id.
        // reqwest's own (re-sending after an HTTP/2 refusal) would copy every request's headers
        // to be able to, on a client that only speaks HTTP/1.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .build()
        .map_err(|e| TargetError::Invalid(format!("HTTP client: {e}")))
}

//! EXECUTE, the outward half: adapters that send one proposed call to a gateway and read back a
//! decision, and audit sources that find the evidence by correlation id.
//!
//! Every gateway kind is one [`Adapter`], as blackbox_exporter has one prober per protocol:
//! `mcp.rs` (any MCP gateway), `http.rs` (a JSON gateway or PDP), `embedded.rs` (starts the
//! reference gateway and reaches it with the `mcp` adapter). Adding a kind is one file that
//! implements the trait (the defaults cover sessions, replicas and tool listing, which most
//! gateways lack), its config struct with a `TargetConfig` variant in `config.rs`, and one arm
//! in `register` below, the only place that knows every kind. What both wire adapters need to read
//! a decision lives in `decide.rs`; what the gateway lists for coverage, in `listing.rs`.

mod decide;
mod embedded;
pub(crate) mod http;
mod listing;
pub(crate) mod mcp;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::{AuditConfig, Config, CredentialSource, IdentityConfig, TargetConfig, TlsConfig};
use crate::decision::Decision;
use crate::secret::{Scrubber, Secret};
use gateprobe_gateway::RunningGateway;

pub(crate) use crate::evidence::{AuditSource, Evidence};
pub(crate) use crate::transport::{CallError, TargetError};
pub use listing::Listing;

/// Header that marks every probe request, so gateways can keep probes out of business dashboards.
pub const SYNTHETIC_HEADER: &str = "x-gateprobe-synthetic";

/// Where the target's TLS settings are, for the advice of a failed handshake.
pub(crate) const TLS_SETTING: &str = "target.tls";

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
    /// The decision the gateway stated, or that a configured rule mapped its answer to.
    pub decision: Decision,
    /// The machine-readable reason the gateway gave, if any.
    pub reason: Option<String>,
    /// Present on `confirm`: the id to send back to confirm.
    pub confirmation_id: Option<String>,
    /// The policy version the answer carried (read where `target.policy_version` says).
    pub policy_version: Option<String>,
}

/// A tool as the gateway lists it (MCP `tools/list`): what an assistant is offered.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// The tool's name, as calls give it.
    pub name: String,
    /// What the gateway says the tool does.
    pub description: Option<String>,
    /// JSON Schema of its arguments (`{"type": "object"}` when the gateway gives none).
    pub input_schema: Value,
}

/// A conversation with the gateway in which calls share history (an MCP session).
#[derive(Debug, Default, Clone)]
pub struct Session {
    pub id: Option<String>,
    /// The replica this session lives on; `None`: the target's only endpoint.
    pub endpoint: Option<String>,
}

/// One way of reaching a gateway: sends a proposed call and reads back the decision the gateway
/// states (or that a configured rule maps), never a guessed one.
///
/// `async_trait` because the adapter is chosen at run time from the config (`Box<dyn Adapter>`)
/// and an `async fn` in a trait cannot be called through `dyn` on stable Rust: it boxes each
/// method's future, one small allocation per call beside a request that makes many.
#[async_trait::async_trait]
pub trait Adapter: Send + Sync {
    /// The config's `target.kind` this adapter answers to (`mcp`, `http`), for messages.
    fn kind(&self) -> &'static str;

    /// Every answer is scrubbed of these credentials as it arrives (a gateway may quote the
    /// token it was sent). Set once the run's credentials are resolved, after the adapter is
    /// built; no default, as no adapter may skip it.
    fn set_scrubber(&mut self, scrubber: Arc<Scrubber>);

    /// Sends one call in `session` as `identity` and reads the gateway's decision.
    async fn call(&self, session: &Session, identity: &ResolvedIdentity, call: &Call<'_>) -> Result<Reply, CallError>;

    /// The endpoint the next scenario goes to, when the target has replicas. Default: none
    /// (every call goes to the one URL).
    fn next_endpoint(&self) -> Option<String> {
        None
    }

    /// Whether single-call scenarios of one identity share a session for the whole run
    /// (`sessions: identity`). Default: no.
    fn shares_sessions(&self) -> bool {
        false
    }

    /// Starts a session (for one scenario, or for an identity's whole run) at `endpoint`.
    /// Default: a gateway without sessions, so nothing is sent.
    async fn open_session(&self, identity: &ResolvedIdentity, endpoint: Option<String>) -> Result<Session, CallError> {
        let _ = identity;
        Ok(Session { id: None, endpoint })
    }

    /// Ends a session opened by [`Adapter::open_session`]. Default: nothing to end.
    async fn close_session(&self, session: &Session, identity: &ResolvedIdentity) {
        let _ = (session, identity);
    }

    /// The tools the gateway lists to `identity`, for coverage and for the assistant of a
    /// golden prompt. Default: `None`, this kind of gateway cannot list them (`coverage.tools`
    /// names them instead).
    async fn list_tools(&self, identity: &ResolvedIdentity) -> Option<Result<Vec<ToolSpec>, CallError>> {
        let _ = identity;
        None
    }
}

/// A connected target: the adapter, where its evidence is, and who may call it.
pub struct Target {
    /// Sends the calls: the adapter for the config's `target.kind`.
    pub adapter: Box<dyn Adapter>,
    /// Where each call's audit records are read (the config's `audit`).
    pub audit: AuditSource,
    /// The config's identities by name, credentials resolved.
    pub identities: BTreeMap<String, Arc<ResolvedIdentity>>,
    /// Adapter kind and URL, for reports.
    pub description: String,
    /// Every credential of the run (identities and audit reader), to scrub from what the
    /// gateway sends back: the adapters scrub answers, the audit source records.
    pub scrubber: Arc<Scrubber>,
    /// Kept alive for the run when the target is the embedded gateway.
    embedded: Option<RunningGateway>,
    /// The client the adapter calls the gateway with (its `tls` applied).
    client: reqwest::Client,
    /// Where [`Target::listing`] looks.
    listing: listing::Sources,
    /// Who asks for the tool listing: the first identity with a credential that is not
    /// deliberately invalid (an expired token may be refused the list), else any with one.
    lister: Option<Arc<ResolvedIdentity>>,
}

/// What [`register`] builds for a config's target.
struct Connected {
    adapter: Box<dyn Adapter>,
    /// Adapter kind and URL, for reports.
    description: String,
    /// The reference gateway, when the target is the embedded one.
    embedded: Option<RunningGateway>,
}

impl Connected {
    /// An adapter for a gateway reached where it already runs.
    fn to(adapter: impl Adapter + 'static, description: String) -> Connected {
        Connected { adapter: Box::new(adapter), description, embedded: None }
    }
}

/// The one place every gateway kind is registered: the config's `target` to its adapter. A new
/// kind is one arm here.
async fn register(config: &Config, client: &reqwest::Client) -> Result<Connected, TargetError> {
    let (client, max) = (client.clone(), config.run.max_response_bytes);
    Ok(match &config.target {
        TargetConfig::Embedded(e) => embedded::connect(e, client, max).await?,
        TargetConfig::Mcp(m) => Connected::to(mcp::McpAdapter::new(client, m.clone(), max), format!("mcp {}", m.url)),
        TargetConfig::Http(h) => {
            Connected::to(http::HttpAdapter::new(client, h.clone(), max)?, format!("http {}", h.url))
        }
    })
}

impl Target {
    /// Sets up the target a config names: starts the embedded gateway when asked, builds the
    /// shared HTTP client, and obtains every identity's credential.
    pub async fn connect(config: &Config) -> Result<Target, TargetError> {
        let timeout = Duration::from_millis(config.run.timeout_ms);
        let target_tls = config.target_tls();
        let client = http_client(timeout, target_tls, TLS_SETTING)?;
        // The audit API shares the target's client (and connections) unless its `tls` differs.
        let audit_client = match &config.audit {
            AuditConfig::Http { tls: Some(tls), .. } if Some(tls) != target_tls => {
                http_client(timeout, Some(tls), "audit.tls")?
            }
            _ => client.clone(),
        };
        let Connected { mut adapter, description, embedded } = register(config, &client).await?;
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
        let valid = |name: &&String| !matches!(config.identities[*name].credential, Some(CredentialSource::Invalid(_)));
        let with_token = identities.iter().filter(|(_, i)| i.token.is_some());
        let lister = with_token.clone().find(|(n, _)| valid(n)).or(with_token.clone().next()).map(|(_, i)| i.clone());
        let max_response_bytes = config.run.max_response_bytes;
        let listing = listing::Sources::new(&config.coverage, embedded.as_ref(), client.clone(), max_response_bytes);
        let scrubber = Arc::new(Scrubber::new(&secrets));
        adapter.set_scrubber(scrubber.clone());
        let embedded_base = embedded.as_ref().map(|g| g.base_url());
        let audit =
            AuditSource::new(audit_client, &config.audit, embedded_base, audit_token, &config.run, scrubber.clone())?;
        Ok(Target { adapter, audit, identities, description, scrubber, embedded, client, listing, lister })
    }

    /// The tools and policies the gateway lists, for coverage (`coverage.tools` or the adapter's
    /// own listing, and `coverage.policies_url`).
    pub async fn listing(&self) -> Listing {
        listing::fetch(self).await
    }

    /// The tools the gateway lists to an identity (the named one, else the one coverage asks
    /// as), with their argument schemas, for `gateprobe tools`; `Err` says why not.
    pub async fn tools_for(&self, identity: Option<&str>) -> Result<(String, Vec<ToolSpec>), String> {
        let who = match identity {
            Some(name) => self.identities.get(name).ok_or_else(|| format!("the config has no identity `{name}`"))?,
            None => self.lister.as_ref().ok_or("no identity of the config has a credential to list the tools with")?,
        };
        match self.adapter.list_tools(who).await {
            Some(Ok(tools)) => Ok((who.name.clone(), tools)),
            Some(Err(e)) => Err(format!("`tools/list` as {} failed: {e}", who.name)),
            None => Err(format!(
                "an `{}` target cannot list its tools (its scenarios name them; `coverage.tools` lists them for coverage)",
                self.adapter.kind()
            )),
        }
    }

    /// The HTTP client the gateway is called with (the target's `tls` applied), for other
    /// requests to it (the service's policy-version watch).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The embedded gateway, when the target is one (tests reach into its workspace over HTTP).
    pub fn embedded(&self) -> Option<&RunningGateway> {
        self.embedded.as_ref()
    }

    /// Stops the embedded gateway, if there is one.
    pub async fn shutdown(self) {
        if let Some(g) = self.embedded {
            g.shutdown().await;
        }
    }
}

/// An identity's credential: none, the one its `credential` names, or one the embedded gateway
/// mints (a valid one when none is named, or a deliberately `invalid` one).
async fn obtain_token(
    name: &str,
    idc: &IdentityConfig,
    embedded: Option<&RunningGateway>,
) -> Result<Option<Secret>, TargetError> {
    let cred_err = |message: String| TargetError::Credential { identity: name.to_string(), message };
    match (&idc.credential, embedded) {
        (Some(CredentialSource::None), _) => Ok(None),
        (Some(CredentialSource::Invalid(kind)), Some(g)) => Ok(Some(embedded::mint(g, idc, Some(kind)))),
        (Some(CredentialSource::Invalid(_)), None) => {
            Err(cred_err("`invalid` credentials can only be minted by the embedded target".into()))
        }
        (Some(source), _) => crate::secret::resolve_credential(source).await.map_err(|e| cred_err(e.to_string())),
        (None, Some(g)) => Ok(Some(embedded::mint(g, idc, None))),
        (None, None) => {
            Err(cred_err("no credential: give `credential: {env: VAR}`, `{file: PATH}` or `{command: [...]}`".into()))
        }
    }
}

/// One client for the whole run: connection reuse, the per-call timeout, the synthetic marker,
/// and the TLS settings at `tls_setting` (`tls`).
fn http_client(timeout: Duration, tls: Option<&TlsConfig>, tls_setting: &str) -> Result<reqwest::Client, TargetError> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(SYNTHETIC_HEADER, reqwest::header::HeaderValue::from_static("1"));
    let builder = reqwest::Client::builder()
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
        .retry(reqwest::retry::never().max_retries_per_request(0));
    crate::transport::tls::build_client(builder, tls, tls_setting)
}

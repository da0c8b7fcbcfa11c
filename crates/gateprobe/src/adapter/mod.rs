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
use crate::secret::{Credential, Scrubber, Secret};
use crate::suite::TargetChoice;
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
    /// Its bearer token, or where it comes from (an OAuth source refreshes it).
    pub token: Credential,
}

impl ResolvedIdentity {
    /// The bearer token to send as this identity now. A token that cannot be obtained (an OAuth
    /// refresh refused mid-run) fails the call: `error`, never a decision.
    pub(crate) async fn bearer(&self) -> Result<Option<Secret>, CallError> {
        self.token.bearer().await.map_err(|e| CallError::Credential(format!("identity `{}`: {e}", self.name)))
    }
}

/// One proposed tool call, as the adapter sends it.
#[derive(Debug)]
pub(crate) struct Call<'a> {
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
pub(crate) struct Session {
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
pub(crate) trait Adapter: Send + Sync {
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

/// One gateway endpoint a run sends calls to: the config's `target`, or one of its `targets`.
pub(crate) struct Gateway {
    /// Its name under `targets:`; `None` for the config's one `target`.
    pub(crate) name: Option<String>,
    /// Sends the calls: the adapter for its `kind`.
    pub(crate) adapter: Box<dyn Adapter>,
    /// Where its calls go (its `url`; the embedded gateway's MCP URL): a result's endpoint when
    /// the run has named targets and the target no replicas.
    pub(crate) url: String,
    /// The client its calls go through (its `tls` applied).
    pub(crate) client: reqwest::Client,
}

/// A connected target: its gateway endpoints (one, or the named ones), where the evidence is,
/// and who may call them.
pub struct Target {
    /// Every endpoint calls go to: the config's one `target`, or its `targets` in name order.
    /// Never empty.
    gateways: Vec<Gateway>,
    /// Where each call's audit records are read (the config's `audit`).
    pub audit: AuditSource,
    /// The config's identities by name, credentials resolved.
    pub identities: BTreeMap<String, Arc<ResolvedIdentity>>,
    /// Adapter kind and URL, for reports (`name: kind URL`, comma-separated, with named targets).
    pub description: String,
    /// Every credential of the run (identities and audit reader), to scrub from what the
    /// gateway sends back: the adapters scrub answers, the audit source records.
    pub scrubber: Arc<Scrubber>,
    /// Kept alive for the run when the target is the embedded gateway.
    embedded: Option<RunningGateway>,
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
    /// Where its calls go.
    url: String,
    /// The reference gateway, when the target is the embedded one.
    embedded: Option<RunningGateway>,
}

impl Connected {
    /// An adapter for a gateway reached where it already runs.
    fn to(adapter: impl Adapter + 'static, url: &str) -> Connected {
        let description = format!("{} {url}", adapter.kind());
        Connected { adapter: Box::new(adapter), description, url: url.to_owned(), embedded: None }
    }
}

/// The one place every gateway kind is registered: a config's `target` (or one of its
/// `targets`) to its adapter. A new kind is one arm here.
/// `tls_setting` says where its TLS settings are (`target.tls`, `targets.<name>.tls`).
async fn register(
    target: &TargetConfig,
    config: &Config,
    client: &reqwest::Client,
    tls_setting: String,
) -> Result<Connected, TargetError> {
    let (client, max) = (client.clone(), config.run.max_response_bytes);
    Ok(match target {
        TargetConfig::Embedded(e) => embedded::connect(e, client, max).await?,
        TargetConfig::Mcp(m) => Connected::to(mcp::McpAdapter::new(client, m.clone(), max, tls_setting), &m.url),
        TargetConfig::Http(h) => Connected::to(http::HttpAdapter::new(client, h.clone(), max, tls_setting)?, &h.url),
    })
}

impl Target {
    /// Sets up the target a config names: starts the embedded gateway when asked, builds the
    /// shared HTTP client, and obtains every identity's credential.
    pub async fn connect(config: &Config) -> Result<Target, TargetError> {
        let timeout = Duration::from_millis(config.run.timeout_ms);
        // One client per distinct `tls` (usually one for all): connections are reused across
        // targets that share their trust settings.
        let mut clients: Vec<(Option<&TlsConfig>, reqwest::Client)> = Vec::new();
        let (mut gateways, mut descriptions, mut embedded) = (Vec::new(), Vec::new(), None);
        for (name, settings) in config.all_targets() {
            let tls = settings.tls();
            let setting = name.map_or(TLS_SETTING.to_owned(), |n| format!("targets.{n}.tls"));
            let client = match clients.iter().find(|(t, _)| *t == tls) {
                Some((_, c)) => c.clone(),
                None => {
                    let c = http_client(timeout, tls, &setting)?;
                    clients.push((tls, c.clone()));
                    c
                }
            };
            let connected = register(settings, config, &client, setting).await.map_err(|e| match (e, name) {
                (TargetError::Invalid(why), Some(name)) => TargetError::Invalid(format!("target `{name}`: {why}")),
                (e, _) => e,
            })?;
            descriptions.push(match name {
                Some(name) => format!("{name}: {}", connected.description),
                None => connected.description,
            });
            // The config allows one embedded target at most (`config::parse_config`).
            embedded = embedded.or(connected.embedded);
            gateways.push(Gateway {
                name: name.map(str::to_owned),
                adapter: connected.adapter,
                url: connected.url,
                client,
            });
        }
        let description = descriptions.join(", ");
        // The first target's client: the audit API (unless its own `tls` differs) and
        // `coverage.policies_url` usually live where the gateway does.
        let (first_tls, client) = clients.first().cloned().expect("a config has at least one target");
        let audit_client = match &config.audit {
            AuditConfig::Http { tls: Some(tls), .. } if Some(tls) != first_tls => {
                http_client(timeout, Some(tls), "audit.tls")?
            }
            _ => client.clone(),
        };
        // Empty until the credentials are obtained: each teaches it its values (and an OAuth
        // source every token it obtains later, for the whole life of the target).
        let scrubber = Arc::new(Scrubber::default());
        let audit_token = match &config.audit {
            AuditConfig::Http { credential: Some(source), .. } => {
                crate::secret::obtain(source, &scrubber).await.map_err(|e| TargetError::Credential {
                    identity: "audit reader (`audit.credential`)".into(),
                    message: e.to_string(),
                })?
            }
            _ => Credential::None,
        };
        let mut identities = BTreeMap::new();
        for (name, idc) in &config.identities {
            let token = obtain_token(name, idc, embedded.as_ref(), &scrubber).await?;
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
        for g in &mut gateways {
            g.adapter.set_scrubber(scrubber.clone());
        }
        let embedded_base = embedded.as_ref().map(|g| g.base_url());
        let audit =
            AuditSource::new(audit_client, &config.audit, embedded_base, audit_token, &config.run, scrubber.clone())?;
        Ok(Target { gateways, audit, identities, description, scrubber, embedded, listing, lister })
    }

    /// The endpoint a scenario's calls go to: the one its `target:` names, else the only one.
    /// `None` when the choice names no target, or several are named and none is chosen
    /// ([`crate::config::check_targets`] refuses both before a run).
    pub(crate) fn gateway(&self, choice: Option<&TargetChoice>) -> Option<&Gateway> {
        match choice {
            Some(c) => self.gateways.iter().find(|g| g.name.as_deref() == Some(c.name.as_str())),
            None if self.gateways.len() == 1 => self.gateways.first(),
            None => None,
        }
    }

    /// Every endpoint, in the config's order.
    pub(crate) fn gateways(&self) -> &[Gateway] {
        &self.gateways
    }

    /// The names of the config's `targets` (empty with a single `target`).
    pub fn target_names(&self) -> Vec<&str> {
        self.gateways.iter().filter_map(|g| g.name.as_deref()).collect()
    }

    /// The tools and policies the gateway lists, for coverage (`coverage.tools` or the adapter's
    /// own listing, and `coverage.policies_url`).
    pub async fn listing(&self) -> Listing {
        listing::fetch(self).await
    }

    /// The tools the gateway lists to an identity (the named one, else the one coverage asks
    /// as), with their argument schemas, for `gateprobe tools`; `Err` says why not. With named
    /// targets: the one named by `target`, else the first (in name order) that can list tools;
    /// the identity then reads `<identity> on <target>`.
    pub async fn tools_for(
        &self,
        identity: Option<&str>,
        target: Option<&str>,
    ) -> Result<(String, Vec<ToolSpec>), String> {
        let who = match identity {
            Some(name) => self.identities.get(name).ok_or_else(|| format!("the config has no identity `{name}`"))?,
            None => self.lister.as_ref().ok_or("no identity of the config has a credential to list the tools with")?,
        };
        let candidates: Vec<&Gateway> = match target {
            Some(name) => {
                let g = self.gateways.iter().find(|g| g.name.as_deref() == Some(name)).ok_or_else(|| {
                    match self.target_names() {
                        names if names.is_empty() => format!("the config has no `targets:`, so no target `{name}`"),
                        names => format!("the config has no target `{name}` (it has: {})", names.join(", ")),
                    }
                })?;
                vec![g]
            }
            None => self.gateways.iter().collect(),
        };
        for g in &candidates {
            let who_on = match &g.name {
                Some(name) => format!("{} on {name}", who.name),
                None => who.name.clone(),
            };
            match g.adapter.list_tools(who).await {
                Some(Ok(tools)) => return Ok((who_on, tools)),
                Some(Err(e)) => return Err(format!("`tools/list` as {who_on} failed: {e}")),
                None => continue,
            }
        }
        let kind = candidates.first().map_or("http", |g| g.adapter.kind());
        Err(format!(
            "an `{kind}` target cannot list its tools (its scenarios name them; `coverage.tools` lists them for coverage)"
        ))
    }

    /// The HTTP client a target is called with (its `tls` applied), for other requests to it
    /// (the service's policy-version watch): the named one, or with `None` the config's single
    /// `target`.
    pub fn client(&self, target: Option<&str>) -> Option<&reqwest::Client> {
        self.gateways.iter().find(|g| g.name.as_deref() == target).map(|g| &g.client)
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
/// mints (a valid one when none is named, or a deliberately `invalid` one). `scrubber` learns it.
async fn obtain_token(
    name: &str,
    idc: &IdentityConfig,
    embedded: Option<&RunningGateway>,
    scrubber: &Scrubber,
) -> Result<Credential, TargetError> {
    let cred_err = |message: String| TargetError::Credential { identity: name.to_string(), message };
    let minted = |token: Secret| {
        scrubber.keep(&token);
        Ok(Credential::Fixed(token))
    };
    match (&idc.credential, embedded) {
        (Some(CredentialSource::None), _) => Ok(Credential::None),
        (Some(CredentialSource::Invalid(kind)), Some(g)) => minted(embedded::mint(g, idc, Some(kind))),
        (Some(CredentialSource::Invalid(_)), None) => {
            Err(cred_err("`invalid` credentials can only be minted by the embedded target".into()))
        }
        (Some(source), _) => crate::secret::obtain(source, scrubber).await.map_err(|e| cred_err(e.to_string())),
        (None, Some(g)) => minted(embedded::mint(g, idc, None)),
        (None, None) => Err(cred_err(
            "no credential: give `credential: {env: VAR}`, `{file: PATH}`, `{command: [...]}` or `{oauth: {...}}`"
                .into(),
        )),
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

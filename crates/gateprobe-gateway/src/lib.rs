//! The reference tool gateway: MCP over Streamable HTTP with identity (JWT), permissions
//! (Cedar), parameter validation (JSON Schema), confirmation, rate limits and audit.
//! The wire contract is docs/protocol.md; the harness reaches this only over HTTP.

#![warn(unreachable_pub, missing_docs)]

mod audit;
mod confirm;
mod identity;
mod limits;
mod mcp;
mod pdp;
mod policy;
mod server;
mod tls;
mod tools;
mod transport;

// The whole public API: start a gateway, mint its tokens, read a policy directory's version,
// check that a policy directory loads.
pub use identity::{ExternalIssuerOptions, TokenIssuer};
pub use policy::{PolicyError, check_policies, current_version};
pub use server::MAX_AUDIT_IDS;
pub use tls::{TlsError, TlsOptions};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use self::audit::AuditLog;
use self::policy::PolicyBundle;
use self::server::GatewayState;

/// How to start a gateway.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// The policy directory (schema, `*.cedar`, `revoked.txt`, `limits.yaml`).
    pub policies: PathBuf,
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// HS256 secret; a random one is generated when absent (and never logged).
    pub signing_key: Option<Vec<u8>>,
    /// Also append audit records to this JSON-lines file.
    pub audit_log: Option<PathBuf>,
    /// Test hook: leave these top-level fields out of every audit record.
    pub omit_audit_fields: Vec<String>,
    /// Test hook: store arguments and results unredacted.
    pub disable_redaction: bool,
    /// Reload when files in the policy directory change.
    pub watch: bool,
    /// Audit records kept in memory for `GET /audit` (oldest dropped first).
    pub audit_capacity: usize,
    /// Host names (ports ignored) that `Host` and `Origin` may name besides the loopback ones
    /// (`localhost`, `127.0.0.1`, `[::1]`); any other is refused with 403 (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// An external OAuth issuer whose JWT access tokens are accepted besides the gateway's own.
    pub external_issuer: Option<ExternalIssuerOptions>,
    /// Serve HTTPS (and with a client CA, require client certificates) instead of plain HTTP.
    pub tls: Option<TlsOptions>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            policies: PathBuf::from("policies"),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            signing_key: None,
            audit_log: None,
            omit_audit_fields: vec![],
            disable_redaction: false,
            watch: true,
            audit_capacity: audit::DEFAULT_CAPACITY,
            allowed_hosts: vec![],
            external_issuer: None,
            tls: None,
        }
    }
}

/// Why a gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The policy directory could not be read or holds an invalid policy.
    #[error("invalid policies: {0}")]
    Policy(#[from] PolicyError),
    /// The listen address is taken or not allowed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The JSON-lines audit file could not be opened for appending.
    #[error("cannot open audit log {path}: {source}")]
    AuditLog {
        /// The file asked for.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The external issuer's keys (its JWKS) could not be read.
    #[error("external issuer: {0}")]
    ExternalIssuer(String),
    /// The policy directory cannot be watched for hot reload.
    #[error("cannot watch policy directory: {0}")]
    Watch(#[from] notify::Error),
    /// A TLS certificate, key or client CA file cannot be used.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
}

/// Serves `app` on `listener` (plain TCP or TLS) until `stopped`, on its own task.
fn spawn_server<L>(
    listener: L,
    app: axum::Router,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
            tracing::error!(%error, "gateway server stopped");
        }
    })
}

/// A gateway serving on the current tokio runtime until [`RunningGateway::shutdown`].
pub struct RunningGateway {
    addr: SocketAddr,
    state: Arc<GatewayState>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl RunningGateway {
    /// Load and validate the policies, bind, and spawn the server.
    pub async fn start(opts: GatewayOptions) -> Result<RunningGateway, GatewayError> {
        let bundle = PolicyBundle::load(&opts.policies)?;
        let key = opts.signing_key.clone().unwrap_or_else(|| rand::random::<[u8; 32]>().to_vec());
        let audit = AuditLog::new(
            opts.audit_log.as_deref(),
            opts.omit_audit_fields.clone(),
            !opts.disable_redaction,
            opts.audit_capacity,
        )
        .map_err(|source| GatewayError::AuditLog { path: opts.audit_log.clone().unwrap_or_default(), source })?;
        let hosts = transport::AllowedHosts::new(&opts.allowed_hosts);
        let external = match opts.external_issuer.clone() {
            Some(options) => {
                Some(identity::ExternalIssuer::start(options).await.map_err(GatewayError::ExternalIssuer)?)
            }
            None => None,
        };
        // Read before binding: bad TLS files fail the start, naming the file.
        let tls = opts.tls.as_ref().map(tls::server_config).transpose()?;
        let https = tls.is_some();
        let state = Arc::new(GatewayState::new(
            opts.policies.clone(),
            bundle,
            TokenIssuer::new(&key),
            external,
            audit,
            hosts,
            https,
        ));
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| GatewayError::Bind { addr: opts.listen, source })?;
        let addr = listener.local_addr().map_err(|source| GatewayError::Bind { addr: opts.listen, source })?;
        let watcher = if opts.watch { Some(server::watch(state.clone(), &opts.policies)?) } else { None };
        let (stop, stopped) = oneshot::channel::<()>();
        let app = server::router(state.clone());
        let stopped = async {
            let _ = stopped.await;
        };
        let task = match tls {
            None => spawn_server(listener, app, stopped),
            Some(config) => spawn_server(tls::TlsListener::new(listener, addr, config), app, stopped),
        };
        tracing::info!(%addr, scheme = state.scheme(), policy_version = %state.version(), "gateway listening");
        if !addr.ip().is_loopback() && opts.allowed_hosts.is_empty() {
            tracing::warn!(%addr, "listening beyond loopback with no allowed hosts: requests under any name but localhost, 127.0.0.1 or [::1] get 403 (pass --allowed-host)");
        }
        Ok(RunningGateway { addr, state, stop, task, _watcher: watcher })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>` (`https://` when it serves TLS): `/audit`, `/policies`, `/healthz` and
    /// `/v1/data/...` live under it.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.state.scheme(), self.addr)
    }

    /// The MCP endpoint (`POST /mcp`).
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base_url())
    }

    /// The policy version in force.
    pub fn policy_version(&self) -> String {
        self.state.version()
    }

    /// A bearer token for this gateway, valid for `ttl`.
    pub fn mint_token(&self, subject: &str, tenant: &str, roles: &[String], ttl: Duration) -> String {
        self.state.tokens.mint(subject, tenant, roles, ttl)
    }

    /// A token this gateway signed that has already expired (to prove `unauthenticated`).
    pub fn mint_expired_token(&self, subject: &str, tenant: &str, roles: &[String]) -> String {
        self.state.tokens.mint_expired(subject, tenant, roles)
    }

    /// A token whose signature does not verify (to prove `unauthenticated`).
    pub fn mint_tampered_token(&self, subject: &str, tenant: &str, roles: &[String]) -> String {
        self.state.tokens.mint_tampered(subject, tenant, roles)
    }

    /// MCP sessions open on this gateway (a client that ends its sessions leaves none).
    pub fn open_sessions(&self) -> usize {
        self.state.sessions.count()
    }

    /// Stop accepting connections and wait for in-flight requests.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

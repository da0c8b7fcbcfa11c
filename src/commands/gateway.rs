//! `gateprobe gateway [...]` and `gateprobe gateway token [...]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use gateprobe_gateway::TokenIssuer;
use gateprobe_gateway::{ExternalIssuerOptions, GatewayOptions, RunningGateway, TlsOptions};

pub const SIGNING_KEY_ENV: &str = "GATEPROBE_GATEWAY_SIGNING_KEY";

/// Run the reference tool gateway (MCP over Streamable HTTP on POST /mcp).
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayArgs {
    #[command(subcommand)]
    pub command: Option<GatewayCommand>,
    /// Policy directory: schema.cedarschema, *.cedar, revoked.txt, limits.yaml.
    #[arg(long, default_value = "policies")]
    pub policies: PathBuf,
    /// Address to listen on (loopback unless told otherwise).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Also append audit records (JSON lines) to this file.
    #[arg(long)]
    pub audit_log: Option<PathBuf>,
    /// File holding the HS256 signing key (else $GATEPROBE_GATEWAY_SIGNING_KEY, else random).
    #[arg(long)]
    pub signing_key_file: Option<PathBuf>,
    /// Do not reload when policy files change (POST /admin/reload still works).
    #[arg(long)]
    pub no_watch: bool,
    /// A host name (port ignored) the gateway is reached under besides localhost, 127.0.0.1 and
    /// [::1]; requests whose Host or Origin names another get 403 (DNS rebinding). Repeatable.
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
    /// Also accept JWT access tokens of an external OAuth issuer, verified against its JSON Web
    /// Key Set at this URL (fetched at start); needs --issuer and --audience.
    #[arg(long, value_name = "URL", requires_all = ["issuer", "audience"])]
    pub jwks_url: Option<String>,
    /// The `iss` of the external issuer's tokens; listed as the authorization server in the
    /// protected resource metadata.
    #[arg(long, value_name = "URL", requires = "jwks_url")]
    pub issuer: Option<String>,
    /// The audience an external token must name: this gateway's resource (RFC 8707), e.g. its
    /// public MCP URL; tokens for another audience are refused as unauthenticated.
    #[arg(long, value_name = "URI", requires = "jwks_url")]
    pub audience: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM, the leaf first); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by these CA certificates (PEM): mutual TLS. Needs
    /// --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum GatewayCommand {
    /// Print a signed bearer token for a synthetic identity.
    Token(TokenArgs),
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The identity's subject, e.g. alice@example.com.
    #[arg(long)]
    pub subject: String,
    /// Its tenant: the same subject in two tenants is two identities.
    #[arg(long)]
    pub tenant: String,
    /// Comma-separated roles, e.g. reader,support.
    #[arg(long, value_delimiter = ',')]
    pub roles: Vec<String>,
    /// Lifetime, e.g. 15m, 1h.
    #[arg(long, default_value = "15m")]
    pub ttl: humantime::Duration,
    /// File holding the HS256 signing key (else $GATEPROBE_GATEWAY_SIGNING_KEY).
    #[arg(long)]
    pub signing_key_file: Option<PathBuf>,
}

/// The key from the file, else the environment. Trailing newlines in files are not key material.
fn signing_key(file: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(path) = file {
        let text = std::fs::read(path).with_context(|| format!("cannot read signing key file {}", path.display()))?;
        let key = text.trim_ascii_end().to_vec();
        anyhow::ensure!(!key.is_empty(), "signing key file {} is empty", path.display());
        return Ok(Some(key));
    }
    Ok(std::env::var(SIGNING_KEY_ENV).ok().filter(|k| !k.is_empty()).map(String::into_bytes))
}

pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    if let Some(GatewayCommand::Token(t)) = args.command {
        let key = signing_key(t.signing_key_file.as_deref())?.with_context(|| {
            format!("no signing key: pass --signing-key-file or set {SIGNING_KEY_ENV} (the same one the gateway uses)")
        })?;
        outln!("{}", TokenIssuer::new(&key).mint(&t.subject, &t.tenant, &t.roles, t.ttl.into()));
        return Ok(());
    }
    let key = signing_key(args.signing_key_file.as_deref())?;
    if key.is_none() {
        tracing::warn!("no signing key given: using a random one; tokens minted elsewhere will not verify");
    }
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsOptions { cert, key, client_ca: args.client_ca }),
        // clap requires the pair; --client-ca requires --tls-cert
        _ => None,
    };
    let gateway = RunningGateway::start(GatewayOptions {
        policies: args.policies,
        listen: args.listen,
        signing_key: key,
        audit_log: args.audit_log,
        watch: !args.no_watch,
        allowed_hosts: args.allowed_hosts,
        external_issuer: match (args.jwks_url, args.issuer, args.audience) {
            (Some(jwks_url), Some(issuer), Some(audience)) => {
                Some(ExternalIssuerOptions { jwks_url, issuer, audience })
            }
            _ => None,
        },
        tls,
        ..GatewayOptions::default()
    })
    .await?;
    outln!("gateway listening on {} (policy version {})", gateway.mcp_url(), gateway.policy_version());
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    gateway.shutdown().await;
    Ok(())
}

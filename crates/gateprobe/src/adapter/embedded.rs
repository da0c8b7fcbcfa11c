//! The `embedded` target: the crate's reference gateway, started in-process on an ephemeral
//! loopback port and then reached over real HTTP by the `mcp` adapter, like any other MCP
//! gateway. Being its own gateway, it also mints the identities' tokens and lists its policies.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::config::{EmbeddedTarget, IdentityConfig, InvalidCredential, McpTarget, PolicyVersionSource, SessionScope};
use crate::secret::Secret;
use gateprobe_gateway::{GatewayError, GatewayOptions, RunningGateway};

use super::mcp::McpAdapter;
use super::{Connected, TargetError};

/// Audit records the embedded gateway keeps. gateprobe looks a record up right after the call
/// that wrote it returns, so only the records of calls in flight (concurrency × a few) must
/// still be there; the standalone gateway's 100,000 (about 0.5 GB when full) would make a
/// long-running `serve` grow for half an hour at one run a second (scripts/soak). 2,000 is
/// about 11 MB when full, reached within the soak's first minute.
const AUDIT_CAPACITY: usize = 2_000;

/// Synthetic identities' tokens are short-lived; an hour outlives any run.
const MINTED_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// Starts the reference gateway and an `mcp` adapter for it. The gateway states its decision
/// in `error.data`, so the adapter needs no mapping rules.
pub(super) async fn connect(
    config: &EmbeddedTarget,
    client: reqwest::Client,
    max_response_bytes: usize,
) -> Result<Connected, TargetError> {
    let gateway = start(config).await?;
    let mcp = McpTarget {
        url: gateway.mcp_url(),
        replicas: Vec::new(),
        correlation_header: "x-request-id".into(),
        policy_version: PolicyVersionSource::default(),
        decisions: Vec::new(),
        sessions: SessionScope::default(),
        tls: None,
    };
    let (url, description) = (mcp.url.clone(), format!("embedded {}", mcp.url));
    let adapter = Box::new(McpAdapter::new(client, mcp, max_response_bytes, super::TLS_SETTING.into()));
    Ok(Connected { adapter, description, url, embedded: Some(gateway) })
}

async fn start(config: &EmbeddedTarget) -> Result<RunningGateway, TargetError> {
    let options = GatewayOptions {
        policies: config.policies.clone(),
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        signing_key: None,
        audit_log: None,
        omit_audit_fields: config.omit_audit_fields.clone(),
        disable_redaction: config.disable_redaction,
        // Policy edits on disk take effect at once, as on a real gateway (and `serve` sees them).
        watch: true,
        audit_capacity: AUDIT_CAPACITY,
        // Reached only at 127.0.0.1, a loopback name the gateway always allows.
        allowed_hosts: vec![],
        // The identities' tokens are the gateway's own, minted below.
        external_issuer: None,
        // In-process on loopback, reached by the harness alone: plain HTTP.
        tls: None,
    };
    RunningGateway::start(options).await.map_err(|e| match e {
        GatewayError::Policy(p) => TargetError::EmbeddedPolicies(p.to_string()),
        other => TargetError::Embedded(other.to_string()),
    })
}

/// A token the gateway signs for `identity`: valid for [`MINTED_TOKEN_TTL`], or deliberately
/// `invalid` (`credential: {invalid: expired | tampered}`).
pub(super) fn mint(gateway: &RunningGateway, identity: &IdentityConfig, invalid: Option<&InvalidCredential>) -> Secret {
    let (subject, tenant, roles) = (&identity.subject, &identity.tenant, &identity.roles);
    Secret::new(match invalid {
        None => gateway.mint_token(subject, tenant, roles, MINTED_TOKEN_TTL),
        Some(InvalidCredential::Expired) => gateway.mint_expired_token(subject, tenant, roles),
        Some(InvalidCredential::Tampered) => gateway.mint_tampered_token(subject, tenant, roles),
    })
}

/// Where the gateway lists its policies, for coverage when `coverage.policies_url` is not set.
pub(super) fn policies_url(gateway: &RunningGateway) -> String {
    format!("{}/policies", gateway.base_url())
}

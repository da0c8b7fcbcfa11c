//! The `embedded` target: the crate's reference gateway, started in-process on an ephemeral
//! loopback port and then reached over real HTTP like any other MCP gateway.

use std::net::{Ipv4Addr, SocketAddr};

use crate::config::EmbeddedTarget;
use crate::gateway::{GatewayOptions, RunningGateway};

use super::TargetError;

pub async fn start(config: &EmbeddedTarget) -> Result<RunningGateway, TargetError> {
    let options = GatewayOptions {
        policies: config.policies.clone(),
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        signing_key: None,
        audit_log: None,
        omit_audit_fields: config.omit_audit_fields.clone(),
        disable_redaction: config.disable_redaction,
        // Policy edits on disk take effect at once, as on a real gateway (and `serve` sees them).
        watch: true,
    };
    RunningGateway::start(options).await.map_err(|e| TargetError::Embedded(e.to_string()))
}

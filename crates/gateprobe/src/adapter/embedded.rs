//! The `embedded` target: the crate's reference gateway, started in-process on an ephemeral
//! loopback port and then reached over real HTTP like any other MCP gateway.

use std::net::{Ipv4Addr, SocketAddr};

use crate::config::EmbeddedTarget;
use gateprobe_gateway::{GatewayOptions, RunningGateway};

use super::TargetError;

/// Audit records the embedded gateway keeps. gateprobe looks a record up right after the call
/// that wrote it returns, so only the records of calls in flight (concurrency × a few) must
/// still be there; the standalone gateway's 100,000 (about 0.5 GB when full) would make a
/// long-running `serve` grow for half an hour at one run a second (scripts/soak). 2,000 is
/// about 11 MB when full, reached within the soak's first minute.
const AUDIT_CAPACITY: usize = 2_000;

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
        audit_capacity: AUDIT_CAPACITY,
    };
    RunningGateway::start(options).await.map_err(|e| TargetError::Embedded(e.to_string()))
}

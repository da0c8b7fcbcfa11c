//! Temporary stand-in with the agreed API, replaced by the gateway branch at merge.
use std::{net::SocketAddr, path::PathBuf, time::Duration};
#[derive(Debug, Clone)]
pub struct GatewayOptions { pub policies: PathBuf, pub listen: SocketAddr, pub signing_key: Option<Vec<u8>>, pub audit_log: Option<PathBuf>, pub omit_audit_fields: Vec<String>, pub disable_redaction: bool, pub watch: bool }
#[derive(Debug, thiserror::Error)]
#[error("gateway stub")]
pub struct GatewayError;
pub struct RunningGateway;
impl RunningGateway {
    pub async fn start(_o: GatewayOptions) -> Result<RunningGateway, GatewayError> { Err(GatewayError) }
    pub fn addr(&self) -> SocketAddr { unreachable!() }
    pub fn mcp_url(&self) -> String { unreachable!() }
    pub fn base_url(&self) -> String { unreachable!() }
    pub fn mint_token(&self, _s: &str, _t: &str, _r: &[String], _ttl: Duration) -> String { unreachable!() }
    pub fn mint_expired_token(&self, _s: &str, _t: &str, _r: &[String]) -> String { unreachable!() }
    pub fn mint_tampered_token(&self, _s: &str, _t: &str, _r: &[String]) -> String { unreachable!() }
    pub async fn shutdown(self) {}
}

//! Temporary stand-in, replaced by the suite branch's version at merge.
#[derive(Clone)]
pub struct Secret(String);
impl Secret {
    pub fn new(s: String) -> Self { Secret(s) }
    pub fn expose(&self) -> &str { &self.0 }
}
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("[REDACTED]") }
}
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct CredentialError;
pub async fn resolve_credential(_s: &crate::config::CredentialSource) -> Result<Option<Secret>, CredentialError> { Err(CredentialError) }

//! Identity: short-lived HS256 bearer tokens. The principal is (tenant, subject), so the same
//! e-mail in two tenants is two identities.

use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode, get_current_timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub sub: String,
    pub tenant: String,
    pub roles: Vec<String>,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub subject: String,
    pub tenant: String,
    pub roles: Vec<String>,
}

impl Principal {
    /// `tenant/subject`: the identity key used by Cedar, revocation and rate limits.
    pub fn key(&self) -> String {
        format!("{}/{}", self.tenant, self.subject)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Mints and verifies tokens with one shared secret.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenIssuer {
    /// An issuer signing and verifying with the HS256 `secret`.
    pub fn new(secret: &[u8]) -> TokenIssuer {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Tokens are minted on the same host; a small leeway is enough and keeps "expired" crisp.
        validation.leeway = 5;
        TokenIssuer {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    fn mint_at(&self, subject: &str, tenant: &str, roles: &[String], iat: u64, exp: u64) -> String {
        let claims = Claims {
            sub: subject.to_owned(),
            tenant: tenant.to_owned(),
            roles: roles.to_vec(),
            iat,
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of plain claims cannot fail")
    }

    /// A token for `subject` of `tenant` with `roles`, valid for `ttl` (at least a second).
    pub fn mint(&self, subject: &str, tenant: &str, roles: &[String], ttl: Duration) -> String {
        let now = get_current_timestamp();
        self.mint_at(subject, tenant, roles, now, now + ttl.as_secs().max(1))
    }

    /// A correctly signed token that expired an hour ago.
    pub fn mint_expired(&self, subject: &str, tenant: &str, roles: &[String]) -> String {
        let now = get_current_timestamp();
        self.mint_at(subject, tenant, roles, now - 7200, now - 3600)
    }

    /// A token whose payload was altered after signing (roles raised to admin), signature kept.
    pub fn mint_tampered(&self, subject: &str, tenant: &str, roles: &[String]) -> String {
        let token = self.mint(subject, tenant, roles, Duration::from_secs(900));
        let mut parts = token.split('.');
        let (header, payload, signature) =
            (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(payload).unwrap_or_default()).unwrap_or_default();
        claims["roles"] = serde_json::json!(["admin"]);
        let forged = b64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        format!("{header}.{forged}.{signature}")
    }

    /// The principal a token names, if this issuer signed it and it has not expired.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let data =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let c = data.claims;
        if c.sub.is_empty() || c.tenant.is_empty() {
            return Err(AuthError::Invalid("empty subject or tenant".into()));
        }
        Ok(Principal { subject: c.sub, tenant: c.tenant, roles: c.roles })
    }

    /// Verify the `Authorization` header value (or its absence).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let value = authorization.ok_or(AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        self.verify(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_expired_and_tampered_tokens() {
        let issuer = TokenIssuer::new(b"test-secret-key-of-some-length!!");
        let roles = vec!["reader".to_string()];
        let good = issuer.mint("alice@example.com", "acme", &roles, Duration::from_secs(60));
        let p = issuer.authenticate(Some(&format!("Bearer {good}"))).expect("valid token");
        assert_eq!(p.key(), "acme/alice@example.com");
        assert_eq!(p.roles, roles);

        let expired = issuer.mint_expired("alice@example.com", "acme", &roles);
        assert!(matches!(issuer.verify(&expired), Err(AuthError::Invalid(m)) if m.contains("xpired")));
        let tampered = issuer.mint_tampered("alice@example.com", "acme", &roles);
        assert!(matches!(issuer.verify(&tampered), Err(AuthError::Invalid(_))));
        assert_eq!(issuer.authenticate(None), Err(AuthError::Missing));

        let other = TokenIssuer::new(b"another-secret-key-of-some-length");
        assert!(other.verify(&good).is_err());
    }
}

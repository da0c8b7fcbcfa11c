//! Identity: short-lived HS256 bearer tokens the gateway mints itself, and, when configured,
//! JWT access tokens of an external OAuth issuer verified against its JWKS ([`ExternalIssuer`]).
//! The principal is (tenant, subject), so the same e-mail in two tenants is two identities.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode, get_current_timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
        self.verify(bearer_token(authorization)?)
    }
}

/// The principal of an `Authorization` header value: a token of the gateway's own (HS256), or,
/// when an external issuer is configured, any other token is that issuer's to verify.
pub(crate) fn authenticate(
    own: &TokenIssuer,
    external: Option<&Arc<ExternalIssuer>>,
    authorization: Option<&str>,
) -> Result<Principal, AuthError> {
    let token = bearer_token(authorization)?;
    match external {
        Some(external) if !matches!(decode_header(token), Ok(h) if h.alg == Algorithm::HS256) => external.verify(token),
        _ => own.verify(token),
    }
}

/// The token of an `Authorization: Bearer …` header value.
pub(crate) fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization.ok_or(AuthError::Missing)?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing)
}

/// Where an external issuer's tokens are checked against (`gateprobe gateway --jwks-url …`).
#[derive(Debug, Clone)]
pub struct ExternalIssuerOptions {
    /// The issuer's JSON Web Key Set (its `jwks_uri`).
    pub jwks_url: String,
    /// The `iss` its tokens carry (also listed in the protected resource metadata).
    pub issuer: String,
    /// The `aud` a token must name: this gateway's resource identifier (RFC 8707), e.g. its
    /// public MCP URL. A token for any other audience is refused as unauthenticated.
    pub audience: String,
}

/// Asymmetric algorithms an external token may be signed with: never HS* (the JWKS is public,
/// so a key from it must not verify a MAC) and never `none`.
const EXTERNAL_ALGORITHMS: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 256 << 10;
/// How long fetching the JWKS may take.
const JWKS_TIMEOUT: Duration = Duration::from_secs(10);
/// A token signed by a key the set does not hold starts a new fetch at most this often (the
/// issuer may have rotated its keys; a stream of forged kids must not turn into a stream of fetches).
const REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// An external OAuth issuer's access tokens (JWTs): signature by a key of its JWKS, `iss`, `aud`
/// (this gateway's resource), `exp`; `sub` is the subject, the `tenant` claim the tenant and the
/// `roles` claim (a list, or a space-separated string) the roles.
pub(crate) struct ExternalIssuer {
    options: ExternalIssuerOptions,
    client: reqwest::Client,
    keys: RwLock<Arc<JwkSet>>,
    fetched: Mutex<Instant>,
}

impl ExternalIssuer {
    /// Fetches the issuer's key set; an issuer whose keys cannot be read is a setup error.
    pub(crate) async fn start(options: ExternalIssuerOptions) -> Result<Arc<ExternalIssuer>, String> {
        // Bounded in time by `fetch_jwks`, which every fetch goes through.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let keys = fetch_jwks(&client, &options.jwks_url).await?;
        tracing::info!(issuer = %options.issuer, keys = keys.keys.len(), "external issuer's keys loaded");
        Ok(ExternalIssuer::new(options, client, keys))
    }

    fn new(options: ExternalIssuerOptions, client: reqwest::Client, keys: JwkSet) -> Arc<ExternalIssuer> {
        Arc::new(ExternalIssuer {
            options,
            client,
            keys: RwLock::new(Arc::new(keys)),
            fetched: Mutex::new(Instant::now()),
        })
    }

    /// An issuer with these keys, fetched from nowhere (tests).
    #[cfg(test)]
    fn with_keys(options: ExternalIssuerOptions, keys: JwkSet) -> Arc<ExternalIssuer> {
        ExternalIssuer::new(options, reqwest::Client::new(), keys)
    }

    /// The issuer named in the protected resource metadata.
    pub(crate) fn issuer(&self) -> &str {
        &self.options.issuer
    }

    /// The resource identifier its tokens must name as audience.
    pub(crate) fn audience(&self) -> &str {
        &self.options.audience
    }

    /// The principal an external token names, if it verifies.
    pub(crate) fn verify(self: &Arc<Self>, token: &str) -> Result<Principal, AuthError> {
        let invalid = |m: String| AuthError::Invalid(m);
        let header = decode_header(token).map_err(|e| invalid(e.to_string()))?;
        if !EXTERNAL_ALGORITHMS.contains(&header.alg) {
            return Err(invalid(format!("algorithm {:?} is not accepted from {}", header.alg, self.options.issuer)));
        }
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
        let jwk = match header.kid.as_deref() {
            Some(kid) => keys.find(kid),
            None if keys.keys.len() == 1 => keys.keys.first(),
            None => None,
        };
        let Some(jwk) = jwk else {
            self.refetch_soon();
            return Err(invalid(format!("signed by a key {} does not list", self.options.jwks_url)));
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(format!("unusable key: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.options.issuer]);
        validation.set_audience(&[&self.options.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = 5;
        let claims = decode::<Value>(token, &key, &validation).map_err(|e| invalid(e.to_string()))?.claims;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let subject = text("sub").ok_or_else(|| invalid("empty subject".into()))?;
        let tenant = text("tenant").ok_or_else(|| invalid("no `tenant` claim".into()))?;
        let roles = match claims.get("roles") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Ok(Principal { subject, tenant, roles })
    }

    /// Fetches the key set again in the background, unless that was done a moment ago.
    fn refetch_soon(self: &Arc<Self>) {
        {
            let mut fetched = self.fetched.lock().unwrap_or_else(|p| p.into_inner());
            if fetched.elapsed() < REFETCH_INTERVAL {
                return;
            }
            *fetched = Instant::now();
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let this = self.clone();
        runtime.spawn(async move {
            match fetch_jwks(&this.client, &this.options.jwks_url).await {
                Ok(keys) => *this.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys),
                Err(error) => tracing::warn!(%error, "external issuer's keys could not be fetched again"),
            }
        });
    }
}

/// An error with its causes: reqwest's own message ("error sending request") hides the one
/// that says why (a certificate from an unknown CA, a refused connection).
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The JWKS at `url`, read up to [`MAX_JWKS_BYTES`] within [`JWKS_TIMEOUT`].
async fn fetch_jwks(client: &reqwest::Client, url: &str) -> Result<JwkSet, String> {
    let read = async {
        let mut response = client.get(url).send().await.map_err(|e| format!("cannot fetch {url}: {}", causes(&e)))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered HTTP {}", response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("cannot read {url}: {e}"))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("{url} answered more than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice::<JwkSet>(&body).map_err(|e| format!("{url} is not a JWK set: {e}"))
    };
    tokio::time::timeout(JWKS_TIMEOUT, read)
        .await
        .map_err(|_| format!("no JWK set from {url} within {JWKS_TIMEOUT:?}"))?
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

    /// A P-256 key made for this test only (PKCS#8 DER) and its public half as a JWK.
    const TEST_EC_KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmWtlFEwUHQKENDjWCggzON/lGTvI8pN/yiX2dQVl6xGhRANCAATCOesymD5VA4DoPwd2RdeAdUEoWYCmOyUwa6pyC0F/Yjh+LgIWG34tZf4f++7I9Zd9OmC85BHNQDxwIwfF1XV9";
    const TEST_EC_X: &str = "wjnrMpg-VQOA6D8HdkXXgHVBKFmApjslMGuqcgtBf2I";
    const TEST_EC_Y: &str = "OH4uAhYbfi1l_h_77sj1l306YLzkEc1APHAjB8XVdX0";

    #[test]
    fn external_tokens_are_checked_for_key_issuer_audience_expiry_and_tenant() {
        let keys: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "EC", "crv": "P-256", "x": TEST_EC_X, "y": TEST_EC_Y, "kid": "k1", "alg": "ES256", "use": "sig"}
        ]}))
        .unwrap();
        let options = ExternalIssuerOptions {
            jwks_url: "http://127.0.0.1:1/jwks".into(),
            issuer: "https://issuer.example".into(),
            audience: "http://127.0.0.1:8787/mcp".into(),
        };
        let external = ExternalIssuer::with_keys(options, keys);
        let der = base64::engine::general_purpose::STANDARD.decode(TEST_EC_KEY).unwrap();
        let key = EncodingKey::from_ec_der(&der);
        let now = get_current_timestamp();
        let sign = |kid: &str, change: &dyn Fn(&mut Value)| {
            let mut claims = serde_json::json!({
                "sub": "probe-alice", "tenant": "acme", "roles": ["reader"],
                "iss": "https://issuer.example", "aud": "http://127.0.0.1:8787/mcp", "exp": now + 60,
            });
            change(&mut claims);
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some(kid.into());
            encode(&header, &claims, &key).unwrap()
        };
        let p = external.verify(&sign("k1", &|_| {})).expect("a good token");
        assert_eq!((p.key(), p.roles), ("acme/probe-alice".to_string(), vec!["reader".to_string()]));
        let p = external.verify(&sign("k1", &|c| c["roles"] = "reader support".into())).unwrap();
        assert_eq!(p.roles, ["reader", "support"]);
        let refused = |token: String, why: &str| match external.verify(&token) {
            Err(AuthError::Invalid(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("{why}: {other:?}"),
        };
        refused(sign("k1", &|c| c["aud"] = "https://other.example/mcp".into()), "Audience");
        refused(sign("k1", &|c| c["iss"] = "https://evil.example".into()), "Issuer");
        refused(sign("k1", &|c| c["exp"] = (now - 3600).into()), "xpired");
        refused(sign("k1", &|c| drop(c.as_object_mut().unwrap().remove("tenant"))), "tenant");
        refused(sign("k2", &|_| {}), "does not list");

        // With an external issuer configured, the gateway's own HS256 tokens still verify, by
        // its own key only: an HS256 token is never checked against the public JWKS.
        let own = TokenIssuer::new(b"test-secret-key-of-some-length!!");
        let good = own.mint("alice@example.com", "acme", &[], Duration::from_secs(60));
        let header = |t: &str| format!("Bearer {t}");
        assert!(authenticate(&own, Some(&external), Some(&header(&good))).is_ok());
        let forged =
            TokenIssuer::new(b"a-key-an-attacker-guessed-at-all").mint("x", "acme", &[], Duration::from_secs(60));
        assert!(authenticate(&own, Some(&external), Some(&header(&forged))).is_err());
        assert!(authenticate(&own, Some(&external), Some(&header(&sign("k1", &|_| {})))).is_ok());
        assert!(authenticate(&own, None, Some(&header(&sign("k1", &|_| {})))).is_err(), "no issuer configured");
    }
}

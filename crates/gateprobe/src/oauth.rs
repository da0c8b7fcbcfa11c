//! OAuth 2 access tokens for identities (`credential: {oauth: …}`): the client-credentials grant
//! (RFC 6749 §4.4) at the authorization server's token endpoint, the token reused until shortly
//! before it expires and then obtained again. `gateprobe serve` keeps one connected target for
//! weeks, so an identity holds a [`TokenSource`] rather than a token, and asks it for the bearer
//! at each request; each new token is taught to the run's [`Scrubber`] before it is sent.

use std::time::{Duration, Instant};

use reqwest::header::ACCEPT;
use serde_json::Value;

use crate::config::{OAuthAuthMethod, OAuthCredential};
use crate::secret::{CredentialError, MAX_CREDENTIAL_BYTES, Scrubber, Secret};
use crate::transport::{CallError, read_capped};

/// How long one token request may take, connection to last byte.
pub(crate) const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a token is reused when the server does not say (`expires_in` is optional).
const UNSTATED_LIFETIME: Duration = Duration::from_secs(60);

/// After a failed request, callers within this long get the same error without a new request:
/// a run of many calls does not send each to a token endpoint that is down.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// A refresh is due this share of the lifetime before expiry, at most [`MAX_MARGIN`] before.
const MARGIN_DIVISOR: u32 = 5;
const MAX_MARGIN: Duration = Duration::from_secs(60);

/// The longest a token is reused, whatever `expires_in` says.
const MAX_LIFETIME: Duration = Duration::from_secs(86_400);

/// Where an identity's OAuth tokens come from, and the one it holds now.
pub struct TokenSource {
    config: OAuthCredential,
    client_secret: Secret,
    client: reqwest::Client,
    /// Bound on one token request, connection to last byte ([`TOKEN_TIMEOUT`]).
    timeout: Duration,
    /// The run's scrubber, taught every token this source obtains.
    scrubber: Scrubber,
    /// One refresh at a time: calls that find the token due wait for the one request.
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    token: Option<Cached>,
    /// When the last request failed, and why.
    failure: Option<(Instant, String)>,
}

impl State {
    /// The cached token, unless it has expired by `now`.
    fn unexpired(&self, now: Instant) -> Option<Secret> {
        self.token.as_ref().filter(|c| now < c.expires_at).map(|c| c.token.clone())
    }
}

struct Cached {
    token: Secret,
    refresh_at: Instant,
    expires_at: Instant,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSource({} as {})", self.config.token_url, self.config.client_id)
    }
}

/// The HTTP client of `config`'s token requests: the one place it is built, so that settings
/// for the token endpoint's connection (TLS) go here. Bounded in time; never follows a
/// redirect, which would carry the client's credentials elsewhere.
fn token_client(config: &OAuthCredential) -> Result<reqwest::Client, CredentialError> {
    // The whole exchange is bounded by `TokenSource::timeout` around it.
    let builder = reqwest::Client::builder()
        .connect_timeout(TOKEN_TIMEOUT.min(Duration::from_secs(5)))
        .user_agent(concat!("gateprobe/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none());
    crate::transport::tls::build_client(builder, config.tls.as_ref(), TLS_SETTING)
        .map_err(|e| CredentialError::TokenEndpoint { url: config.token_url.clone(), cause: e.to_string() })
}

/// Where a token endpoint's TLS settings are, for the advice of a failed handshake.
const TLS_SETTING: &str = "credential.oauth.tls";

impl TokenSource {
    /// A source for `config`, authenticating with `client_secret`; `scrubber` learns the secret
    /// and every token.
    pub(crate) fn new(
        config: OAuthCredential,
        client_secret: Secret,
        scrubber: Scrubber,
    ) -> Result<TokenSource, CredentialError> {
        scrubber.keep(&client_secret);
        let client = token_client(&config)?;
        Ok(TokenSource { config, client_secret, client, timeout: TOKEN_TIMEOUT, scrubber, state: Default::default() })
    }

    /// The token to send now: the cached one until its refresh is due, else a new one. When a
    /// refresh fails while the cached token has not yet expired, that one is still given (the
    /// next call tries again); once it has expired, the failure is the answer.
    pub(crate) async fn token(&self) -> Result<Secret, CredentialError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(cached) = state.token.as_ref().filter(|c| now < c.refresh_at) {
            return Ok(cached.token.clone());
        }
        if let Some((at, cause)) = &state.failure {
            if now.duration_since(*at) < RETRY_AFTER {
                return state.unexpired(now).ok_or_else(|| self.error(cause.clone()));
            }
        }
        let answered = self.request().await;
        // Judged when the request has ended: an endpoint that hangs takes TOKEN_TIMEOUT, and the
        // callers waiting on the lock must then get this failure, not each send a request too.
        let now = Instant::now();
        match answered {
            Ok(fresh) => {
                // Taught before anyone sends it, so any answer that quotes it is scrubbed.
                self.scrubber.learn(&fresh.token);
                let token = fresh.token.clone();
                *state = State { token: Some(fresh), failure: None };
                Ok(token)
            }
            Err(cause) => {
                let cause = self.scrubber.scrub_string(cause);
                state.failure = Some((now, cause.clone()));
                match state.unexpired(now) {
                    Some(token) => {
                        tracing::warn!(token_url = %self.config.token_url, %cause, "token refresh failed; the current token is used until it expires");
                        Ok(token)
                    }
                    None => Err(self.error(cause)),
                }
            }
        }
    }

    fn error(&self, cause: String) -> CredentialError {
        CredentialError::TokenEndpoint { url: self.config.token_url.clone(), cause }
    }

    /// One client-credentials request; `Err` says why no token came, without the secret.
    async fn request(&self) -> Result<Cached, String> {
        let c = &self.config;
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(c.scope.as_deref().map(|v| ("scope", v)));
        form.extend(c.audience.as_deref().map(|v| ("audience", v)));
        form.extend(c.resource.as_deref().map(|v| ("resource", v)));
        let mut request = self.client.post(&c.token_url).header(ACCEPT, "application/json");
        match c.auth_method {
            // RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined.
            OAuthAuthMethod::ClientSecretBasic => {
                request = request.basic_auth(form_encode(&c.client_id), Some(form_encode(self.client_secret.expose())));
            }
            OAuthAuthMethod::ClientSecretPost => {
                form.extend([("client_id", c.client_id.as_str()), ("client_secret", self.client_secret.expose())]);
            }
        }
        let request = request.form(&form);
        let started = Instant::now();
        let exchange = async {
            let response = request.send().await.map_err(|e| CallError::from_reqwest_at(&e, TLS_SETTING).to_string())?;
            let status = response.status();
            match read_capped(response, MAX_CREDENTIAL_BYTES, "").await {
                Ok(body) => Ok((status, body)),
                Err(CallError::TooLarge { limit, .. }) => {
                    Err(format!("answer larger than {limit} bytes, far more than any token"))
                }
                Err(e) => Err(e.to_string()),
            }
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {:?}", self.timeout))??;
        let answer: Option<Value> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            return Err(match answer.as_ref().and_then(|a| a.get("error")?.as_str()) {
                Some(error) => {
                    let description = answer.as_ref().and_then(|a| a.get("error_description")?.as_str());
                    let description = description.map(|d| format!(" ({})", printable(d))).unwrap_or_default();
                    format!("refused the token request (HTTP {}): {}{description}", status.as_u16(), printable(error))
                }
                None => format!("HTTP status {} with no OAuth error in it", status.as_u16()),
            });
        }
        let answer = answer.ok_or("the answer is not JSON")?;
        let token = answer
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .ok_or("the answer has no `access_token`")?;
        if !crate::secret::is_header_safe(token.trim()) {
            return Err(
                "the `access_token` holds a line break or another control character, which an HTTP header cannot carry"
                    .into(),
            );
        }
        match answer.get("token_type").and_then(Value::as_str) {
            Some(t) if t.eq_ignore_ascii_case("bearer") => {}
            Some(t) => return Err(format!("the token type is `{}`, not `Bearer`", printable(t))),
            None => return Err("the answer has no `token_type`".into()),
        }
        // A number, or (some servers) a string holding one.
        let lifetime = match answer.get("expires_in") {
            None | Some(Value::Null) => UNSTATED_LIFETIME,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str()?.trim().parse().ok())
                .map(Duration::from_secs)
                .ok_or("`expires_in` is not a number of seconds")?,
        };
        // A server's absurd `expires_in` must not overflow the clock; nothing lives past a day
        // here without a refresh.
        let lifetime = lifetime.min(MAX_LIFETIME);
        let margin = (lifetime / MARGIN_DIVISOR).min(MAX_MARGIN);
        Ok(Cached {
            token: Secret::new(token.trim()),
            refresh_at: started + lifetime - margin,
            expires_at: started + lifetime,
        })
    }
}

/// `application/x-www-form-urlencoded` (the WHATWG byte serializer): letters, digits and `*-._`
/// as they are, space as `+`, every other byte as `%XX`.
fn form_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A server's text, fit to quote: no control characters, at most 200 characters.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClientSecretSource;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn form_encoding_follows_the_serializer() {
        assert_eq!(form_encode("a b:c%d/é*-._~"), "a+b%3Ac%25d%2F%C3%A9*-._%7E");
    }

    /// A token endpoint that answers each request with the next of `answers` (raw HTTP), and
    /// hangs on `None`. Only for the ways a server fails; tests/oauth.rs runs a real one.
    async fn endpoint(answers: Vec<Option<String>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        tokio::spawn(async move {
            for answer in answers {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = vec![0; 65536];
                let _ = stream.read(&mut buf).await;
                match answer {
                    Some(a) => {
                        let _ = stream.write_all(a.as_bytes()).await;
                    }
                    None => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                }
            }
        });
        url
    }

    fn http(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn source(url: String, scrubber: &Scrubber) -> TokenSource {
        let config = OAuthCredential {
            token_url: url,
            client_id: "probe".into(),
            client_secret: ClientSecretSource::Env("UNUSED".into()),
            auth_method: OAuthAuthMethod::ClientSecretBasic,
            scope: None,
            audience: None,
            resource: None,
            tls: None,
        };
        let mut source = TokenSource::new(config, Secret::new("client-secret-value"), scrubber.clone()).unwrap();
        source.timeout = Duration::from_millis(300);
        source
    }

    #[tokio::test]
    async fn failures_name_the_cause_and_never_the_secret() {
        let huge = format!("{{\"access_token\": \"{}\"}}", "x".repeat(MAX_CREDENTIAL_BYTES));
        let cases = [
            (
                Some(http(
                    "401 Unauthorized",
                    r#"{"error":"invalid_client","error_description":"bad client-secret-value"}"#,
                )),
                "refused the token request (HTTP 401): invalid_client (bad [REDACTED])",
            ),
            (Some(http("500 Internal Server Error", "<html>oops</html>")), "HTTP status 500 with no OAuth error in it"),
            (Some(http("200 OK", "not json")), "the answer is not JSON"),
            (Some(http("200 OK", r#"{"token_type":"Bearer"}"#)), "no `access_token`"),
            (Some(http("200 OK", r#"{"access_token":"abcdefghijkl","token_type":"DPoP"}"#)), "not `Bearer`"),
            (Some(http("200 OK", &huge)), "far more than any token"),
            (
                Some(http("200 OK", r#"{"access_token":"abc\r\nX-Injected: 1","token_type":"Bearer"}"#)),
                "a line break or another control character",
            ),
            (None, "no answer within 300ms"),
        ];
        for (answer, expected) in cases {
            let scrubber = Scrubber::default();
            let e = source(endpoint(vec![answer]).await, &scrubber).token().await.unwrap_err().to_string();
            assert!(e.contains(expected) && e.contains("/token"), "{e}");
            assert!(!e.contains("client-secret-value"), "{e}");
        }
    }

    #[tokio::test]
    async fn a_token_is_reused_until_due_then_refreshed_and_each_is_scrubbed() {
        let ok = |token: &str, expires_in: u64| {
            Some(http(
                "200 OK",
                &format!(r#"{{"access_token":"{token}","token_type":"bearer","expires_in":{expires_in}}}"#),
            ))
        };
        // The first lives 1 s (due at 0.8 s); the second 1 hour.
        let url = endpoint(vec![ok("first-token-abcdef", 1), ok("second-token-ghijkl", 3600)]).await;
        let scrubber = Scrubber::default();
        let clone = scrubber.clone();
        let source = source(url, &scrubber);
        let first = source.token().await.unwrap();
        assert_eq!(first.expose(), "first-token-abcdef");
        assert_eq!(source.token().await.unwrap(), first, "reused within its lifetime");
        assert_eq!(clone.scrub("x first-token-abcdef client-secret-value"), "x [REDACTED] [REDACTED]");
        tokio::time::sleep(Duration::from_millis(900)).await;
        let second = source.token().await.unwrap();
        assert_eq!(second.expose(), "second-token-ghijkl");
        assert_eq!(clone.scrub("first-token-abcdef second-token-ghijkl"), "[REDACTED] [REDACTED]");
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_a_token_that_has_not_expired() {
        let ok = Some(http("200 OK", r#"{"access_token":"still-good-token","token_type":"Bearer","expires_in":"2"}"#));
        let down = Some(http("503 Service Unavailable", ""));
        let source = source(endpoint(vec![ok, down]).await, &Scrubber::default());
        let first = source.token().await.unwrap();
        // Due at 1.6 s, expired at 2 s: in between, a failed refresh still gives it.
        tokio::time::sleep(Duration::from_millis(1700)).await;
        assert_eq!(source.token().await.unwrap(), first);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let e = source.token().await.unwrap_err().to_string();
        assert!(e.contains("HTTP status 503"), "{e}");
    }
}

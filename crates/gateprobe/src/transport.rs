//! What every outbound HTTP exchange shares (to the gateway, its audit API, its listings): how a
//! failed exchange is classified ([`CallError`]: no decision could be read), why a target could
//! not be set up ([`TargetError`]), and bounded reads. A hostile or broken gateway (or audit
//! API) may answer with an endless chunked body or a huge one; every body is read through
//! [`read_capped`], which fails as soon as the body passes its cap, without buffering past it.
//! TLS (trusted roots, client certificates, what a failed handshake means) is `tls.rs` beside it.

pub(crate) mod tls;

use bytes::{Bytes, BytesMut};

/// No decision could be read. Kinds are few and fixed, so they can be metric labels.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The exchange timed out.
    #[error("timed out")]
    Timeout,
    /// The connection could not be made.
    #[error("could not connect")]
    Connect,
    /// The TLS handshake failed; the text names the cause (unknown CA, name mismatch, expired
    /// certificate, client certificate required) and the setting that cures it. Not transient.
    #[error("TLS: {0}")]
    Tls(String),
    /// An HTTP status that carries no decision.
    #[error("HTTP status {0} with no decision in it")]
    Status(u16),
    /// The exchange broke off, or the answer does not follow the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The answer's body could not be parsed.
    #[error("unparseable response: {0}")]
    Unparseable(String),
    /// The answer was read but states no decision and no rule maps it to one.
    #[error("no decision in the response: {0}")]
    NoDecision(String),
    /// The answer's body passed its cap ([`read_capped`]); `setting` raises the cap.
    #[error("answer larger than {limit} bytes (raise `{setting}`)")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
        /// The config setting that sets the cap, e.g. `run.max_response_bytes`.
        setting: &'static str,
    },
    /// The caller's token could not be obtained (an OAuth refresh failed), so nothing was sent.
    #[error("no credential: {0}")]
    Credential(String),
}

impl CallError {
    /// Every [`CallError::kind`], for metric label values created up front.
    pub const KINDS: [&'static str; 9] = [
        "timeout",
        "connect",
        "tls",
        "http_status",
        "protocol",
        "unparseable",
        "no_decision",
        "too_large",
        "credential",
    ];

    /// The error's kind, a fixed name fit for a metric label (`timeout`, `http_status`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Timeout => "timeout",
            CallError::Connect => "connect",
            CallError::Tls(_) => "tls",
            CallError::Status(_) => "http_status",
            CallError::Protocol(_) => "protocol",
            CallError::Unparseable(_) => "unparseable",
            CallError::NoDecision(_) => "no_decision",
            CallError::TooLarge { .. } => "too_large",
            CallError::Credential(_) => "credential",
        }
    }

    /// Classify a transport error by what reqwest knows of it, never by its message text; a TLS
    /// failure by the rustls error in its causes, its advice naming the `tls` beside the URL.
    pub fn from_reqwest(e: &reqwest::Error) -> CallError {
        Self::from_reqwest_at(e, "tls")
    }

    /// [`CallError::from_reqwest`] for an exchange whose TLS settings are at `tls_setting`
    /// (e.g. `target.tls`), which a TLS failure's advice names.
    pub fn from_reqwest_at(e: &reqwest::Error, tls_setting: &str) -> CallError {
        if let Some(failure) = tls::Failure::of(e) {
            CallError::Tls(failure.describe(tls_setting))
        } else if e.is_timeout() {
            CallError::Timeout
        } else if e.is_connect() {
            CallError::Connect
        } else if e.is_decode() {
            CallError::Unparseable("body could not be decoded".into())
        } else if e.is_body() || e.is_request() {
            CallError::Protocol("connection failed while sending or reading".into())
        } else {
            CallError::Protocol("HTTP exchange failed".into())
        }
    }

    /// Transport trouble that a retry may clear (never a decision, never a malformed answer).
    pub fn is_transient(&self) -> bool {
        matches!(self, CallError::Timeout | CallError::Connect | CallError::Protocol(_))
            || matches!(self, CallError::Status(s) if *s >= 500)
    }
}

/// Why the target could not be set up. Credential problems are config errors (exit 2); a
/// gateway that fails to start is target trouble (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A credential could not be resolved or minted (config trouble, exit 2).
    #[error("identity `{identity}`: {message}")]
    Credential {
        /// Whose credential: an identity's name, or the assistant or audit reader it is for.
        identity: String,
        /// Why it could not be resolved.
        message: String,
    },
    /// The embedded reference gateway did not start (target trouble, exit 3).
    #[error("the embedded reference gateway did not start: {0}")]
    Embedded(String),
    /// The embedded reference gateway's policies do not load: bad input, like a bad suite (exit 2).
    #[error(
        "the embedded reference gateway's policies are invalid: {0}\n  = help: fix the policy file, or point `target.policies` (GATEPROBE_POLICIES) at a valid directory"
    )]
    EmbeddedPolicies(String),
    /// A target setting cannot be used (e.g. an unknown HTTP method).
    #[error("invalid target setting: {0}")]
    Invalid(String),
    /// A `tls` block cannot be used: a file unreadable or holding no certificate or key, a key
    /// that does not belong to its certificate (config trouble, exit 2).
    #[error("`{setting}`: {message}")]
    Tls {
        /// The block, e.g. `target.tls`.
        setting: String,
        /// What is wrong, naming the file.
        message: String,
    },
}

/// The setting that raises the cap on answers from the target (`RunConfig::max_response_bytes`).
pub(crate) const MAX_RESPONSE_SETTING: &str = "run.max_response_bytes";
/// The setting that raises the cap on answers from an audit API
/// (`RunConfig::max_audit_response_bytes`).
pub(crate) const MAX_AUDIT_RESPONSE_SETTING: &str = "run.max_audit_response_bytes";

/// The body of `response`, or [`CallError::TooLarge`] as soon as it is longer than `limit`
/// bytes: at once when `Content-Length` says so, else when the chunks read so far pass it
/// (what is buffered never exceeds `limit`). `setting` names the config setting that raises
/// the cap, for the error message (e.g. `run.max_response_bytes`).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
    setting: &'static str,
) -> Result<Bytes, CallError> {
    let too_large = || CallError::TooLarge { limit, setting };
    let announced = response.content_length();
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // One chunk (the usual answer) is handed on as it is; more are joined.
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    let mut total = 0usize;
    while let Some(chunk) = response.chunk().await.map_err(|e| CallError::from_reqwest(&e))? {
        if chunk.len() > limit - total {
            return Err(too_large());
        }
        total += chunk.len();
        match first.take() {
            None if joined.is_empty() => first = Some(chunk),
            Some(previous) => {
                joined.reserve(announced.map_or(total, |n| n as usize));
                joined.extend_from_slice(&previous);
                joined.extend_from_slice(&chunk);
            }
            None => joined.extend_from_slice(&chunk),
        }
    }
    Ok(first.unwrap_or_else(|| joined.freeze()))
}

/// At most the first `limit` bytes of the body of `response`; the rest is never read. For
/// answers that are only quoted in a message (Alertmanager's reason for refusing an alert).
pub async fn read_prefix(mut response: reqwest::Response, limit: usize) -> Bytes {
    let mut prefix = BytesMut::new();
    while prefix.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => prefix.extend_from_slice(&chunk[..chunk.len().min(limit - prefix.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    prefix.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer of `chunks` chunks of `size` bytes each (chunked: no Content-Length).
    async fn serve(chunks: usize, size: usize) -> reqwest::Response {
        let app = axum::Router::new().fallback(move || async move {
            let stream =
                futures::stream::iter((0..chunks).map(move |_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; size]))));
            axum::response::Response::new(axum::body::Body::from_stream(stream))
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        reqwest::get(format!("http://{addr}/")).await.unwrap()
    }

    /// An answer whose Content-Length announces `length` bytes, of which none ever come.
    async fn announce(length: u64) -> reqwest::Response {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            // The request (a GET without a body) first: an answer before it is no answer.
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                request.push(socket.read_u8().await.unwrap());
            }
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {length}\r\n\r\n");
            socket.write_all(head.as_bytes()).await.unwrap();
            std::future::pending::<()>().await;
        });
        reqwest::get(format!("http://{addr}/")).await.unwrap()
    }

    #[tokio::test]
    async fn bodies_within_the_cap_are_read_whole() {
        let body = read_capped(serve(3, 1000).await, 3000, "run.max_response_bytes").await.unwrap();
        assert_eq!(body.len(), 3000);
        let body = read_capped(serve(1, 10).await, 3000, "run.max_response_bytes").await.unwrap();
        assert_eq!(body, Bytes::from(vec![b'x'; 10]));
        assert!(read_capped(serve(0, 0).await, 3000, "x").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_body_past_the_cap_is_too_large() {
        let e = read_capped(serve(4, 1000).await, 3999, "run.max_response_bytes").await.unwrap_err();
        assert_eq!(e, CallError::TooLarge { limit: 3999, setting: "run.max_response_bytes" });
        assert_eq!(e.kind(), "too_large");
        assert!(!e.is_transient());
        assert_eq!(e.to_string(), "answer larger than 3999 bytes (raise `run.max_response_bytes`)");
        // Announced too long: refused before a byte of the body is read.
        let e = read_capped(announce(1 << 40).await, 3999, "run.max_response_bytes").await.unwrap_err();
        assert_eq!(e.kind(), "too_large");
    }

    #[tokio::test]
    async fn an_endless_body_ends_at_the_cap() {
        let e = read_capped(serve(usize::MAX, 64 << 10).await, 1 << 20, "x").await.unwrap_err();
        assert_eq!(e.kind(), "too_large");
    }

    #[tokio::test]
    async fn a_prefix_reads_no_further() {
        assert_eq!(read_prefix(serve(usize::MAX, 1000).await, 2500).await.len(), 2500);
        assert_eq!(read_prefix(serve(1, 10).await, 2500).await.len(), 10);
    }
}

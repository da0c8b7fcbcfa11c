//! What the MCP Streamable HTTP transport and authorization specs ask of every request before
//! any JSON-RPC is read: Host/Origin validation against DNS rebinding (403), the bearer challenge
//! of an unauthenticated call (401 + `WWW-Authenticate`, RFC 6750 / RFC 9728) and the protected
//! resource metadata document that challenge points to.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::identity::bearer_token;
use super::server::GatewayState;

/// Where the protected resource metadata of the `/mcp` resource lives (RFC 9728 §3.1: the
/// well-known suffix inserted before the resource's path).
pub(crate) const RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
/// The same document for the server as a whole (the MCP spec's clients fall back to it).
pub(crate) const ROOT_RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// Names a loopback gateway answers to whatever the port: a browser can only reach it under one
/// of these without a rebinding domain.
const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The host names (ports ignored) requests may name in `Host` and `Origin`: loopback always,
/// plus what the operator allowed (`--allowed-host`) for a gateway reached under another name.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowedHosts {
    extra: Vec<String>,
}

impl AllowedHosts {
    pub(crate) fn new(extra: &[String]) -> AllowedHosts {
        AllowedHosts { extra: extra.iter().filter_map(|h| host_name(h)).collect() }
    }

    fn allows(&self, name: &str) -> bool {
        LOOPBACK.contains(&name) || self.extra.iter().any(|h| h == name)
    }
}

/// The host name of a `Host` value or an authority (`name[:port]`, `[v6][:port]`), lower-case,
/// without a trailing dot; `None` when there is none.
fn host_name(authority: &str) -> Option<String> {
    let authority = authority.trim();
    let name =
        if authority.starts_with('[') { &authority[..=authority.find(']')?] } else { authority.split(':').next()? };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

/// The host name of an `Origin` (`scheme://authority`); `None` for `null` or anything else
/// that names no host.
fn origin_host(origin: &str) -> Option<String> {
    let (_, rest) = origin.split_once("://")?;
    host_name(rest.split('/').next()?)
}

/// Middleware on every route: a request whose `Host` (or `Origin`, when a browser sent one)
/// names a host this gateway was not told it is reached under is refused with 403 before any
/// handler runs. Without it a web page could rebind its own domain to 127.0.0.1 and drive the
/// gateway from the victim's browser (MCP Streamable HTTP, "Security Warning").
pub(crate) async fn guard_hosts(State(st): State<Arc<GatewayState>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let refusal = match host.map(|h| (h, host_name(h))) {
        None => Some("a Host header is required".to_owned()),
        // Only a well-formed authority: the host goes into URLs this gateway advertises.
        Some((raw, _)) if raw.parse::<axum::http::uri::Authority>().is_err() => {
            Some(format!("Host `{}` is not a host name and port", quoted(raw)))
        }
        Some((raw, name)) if !name.as_deref().is_some_and(|n| st.allowed_hosts.allows(n)) => Some(format!(
            "Host `{}` is not allowed (DNS rebinding protection); a gateway reached under that name is started with `--allowed-host {}`",
            quoted(raw),
            quoted(name.as_deref().unwrap_or(raw))
        )),
        _ => None,
    };
    let refusal = refusal.or_else(|| {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().unwrap_or("");
        match origin_host(text) {
            Some(name) if st.allowed_hosts.allows(&name) => None,
            _ => Some(format!("Origin `{}` is not allowed (DNS rebinding protection)", quoted(text))),
        }
    });
    match refusal {
        None => next.run(request).await,
        Some(message) => {
            tracing::warn!(%message, "request refused");
            // The MCP spec allows a JSON-RPC error without id as the body of the 403.
            let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": message}});
            (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
    }
}

/// A caller's header value, shortened and without control characters, fit to quote.
pub(crate) fn quoted(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// `http://<host>` as the request named it, `https://` when the gateway serves TLS. Only called
/// behind [`guard_hosts`], so the host is a well-formed authority the gateway is allowed to be
/// reached under, never an attacker's name.
fn base_url(st: &GatewayState, headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1");
    format!("{}://{host}", st.scheme())
}

/// `WWW-Authenticate` for a `tools/call` refused as unauthenticated (RFC 6750 §3, RFC 9728 §5.1):
/// where the resource metadata is, and `invalid_token` when a bearer token was sent (it did not
/// verify; RFC 6750 asks for no error code when none was sent).
pub(crate) fn bearer_challenge(st: &GatewayState, headers: &HeaderMap) -> String {
    let mut challenge = format!("Bearer resource_metadata=\"{}{RESOURCE_METADATA_PATH}\"", base_url(st, headers));
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if bearer_token(authorization).is_ok() {
        challenge.push_str(", error=\"invalid_token\"");
    }
    challenge
}

/// `GET /.well-known/oauth-protected-resource[/mcp]` (RFC 9728 §3.2). The `resource` is the
/// identifier the document's URL was formed from (§3.3 asks clients to check that), or for
/// `/mcp` the audience an external issuer's tokens must name (`--audience`). Its issuer is the
/// one authorization server listed; without one none is: the gateway's own tokens are minted
/// out of band (`gateprobe gateway token`), so a client learns that it needs a bearer token in
/// the `Authorization` header, not how to obtain one by OAuth.
pub(crate) async fn resource_metadata(
    State(st): State<Arc<GatewayState>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let base = base_url(&st, &headers);
    let resource = match (uri.path() == RESOURCE_METADATA_PATH, &st.external) {
        (true, Some(external)) => external.audience().to_owned(),
        (true, None) => format!("{base}/mcp"),
        (false, _) => base,
    };
    let servers: Vec<&str> = st.external.iter().map(|e| e.issuer()).collect();
    axum::Json(json!({
        "resource": resource,
        "authorization_servers": servers,
        "bearer_methods_supported": ["header"],
        "resource_name": "gateprobe reference gateway",
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_read_without_port_case_or_trailing_dot() {
        assert_eq!(host_name("127.0.0.1:8787").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_name("LocalHost.").as_deref(), Some("localhost"));
        assert_eq!(host_name("[::1]:9").as_deref(), Some("[::1]"));
        assert_eq!(host_name("[::1").as_deref(), None);
        assert_eq!(host_name(":80").as_deref(), None);
        assert_eq!(origin_host("http://localhost:3000").as_deref(), Some("localhost"));
        assert_eq!(origin_host("https://[::1]").as_deref(), Some("[::1]"));
        assert_eq!(origin_host("null"), None);
    }

    #[test]
    fn loopback_is_always_allowed_and_others_only_when_listed() {
        let hosts = AllowedHosts::new(&["Gateway.Example.com:8787".into()]);
        for name in ["localhost", "127.0.0.1", "[::1]", "gateway.example.com"] {
            assert!(hosts.allows(name), "{name}");
        }
        // A rebinding domain, and look-alikes of loopback names.
        for name in ["evil.example.com", "localhost.evil.example.com", "127.0.0.1.nip.io", "::1"] {
            assert!(!hosts.allows(name), "{name}");
        }
        assert!(!AllowedHosts::default().allows("gateway.example.com"));
    }
}

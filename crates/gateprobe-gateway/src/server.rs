//! HTTP surface and shared state: routes, the `x-policy-version` header, policy reload
//! (on request and on file change).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use serde::Deserialize;
use serde_json::json;

use super::audit::AuditLog;
use super::confirm::Confirmations;
use super::identity::{AuthError, ExternalIssuer, Principal, TokenIssuer};
use super::limits::RateLimits;
use super::mcp::{self, Sessions};
use super::policy::{PolicyBundle, PolicyError, current_version};
use super::tools::{Catalog, Workspace};
use super::transport::{self, AllowedHosts};

/// Largest request body accepted on any route.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

pub(crate) struct GatewayState {
    pub policies_dir: PathBuf,
    bundle: RwLock<Arc<PolicyBundle>>,
    limits: RwLock<Arc<RateLimits>>,
    /// Serializes reloads so a watch event and `POST /admin/reload` cannot interleave.
    reload_lock: Mutex<()>,
    pub tokens: TokenIssuer,
    /// The external OAuth issuer whose tokens are accepted besides the gateway's own, if any.
    pub external: Option<Arc<ExternalIssuer>>,
    pub catalog: Catalog,
    pub workspace: Mutex<Workspace>,
    pub confirmations: Confirmations,
    pub sessions: Sessions,
    pub audit: AuditLog,
    /// Host names `Host` and `Origin` may name besides loopback.
    pub allowed_hosts: AllowedHosts,
    /// Served over TLS: the URLs it advertises (RFC 9728 metadata) say `https`.
    pub https: bool,
}

impl GatewayState {
    pub(crate) fn new(
        policies_dir: PathBuf,
        bundle: PolicyBundle,
        tokens: TokenIssuer,
        external: Option<Arc<ExternalIssuer>>,
        audit: AuditLog,
        allowed_hosts: AllowedHosts,
        https: bool,
    ) -> GatewayState {
        let limits = RateLimits::new(bundle.limits);
        GatewayState {
            policies_dir,
            bundle: RwLock::new(Arc::new(bundle)),
            limits: RwLock::new(Arc::new(limits)),
            reload_lock: Mutex::new(()),
            tokens,
            external,
            catalog: Catalog::new(),
            workspace: Mutex::new(Workspace::demo()),
            confirmations: Confirmations::default(),
            sessions: Sessions::default(),
            audit,
            allowed_hosts,
            https,
        }
    }

    /// `https` when it serves TLS, else `http`.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    pub(crate) fn bundle(&self) -> Arc<PolicyBundle> {
        self.bundle.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn limits(&self) -> Arc<RateLimits> {
        self.limits.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The caller an `Authorization` header value names (the gateway's own token, or the
    /// external issuer's).
    pub(crate) fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        super::identity::authenticate(&self.tokens, self.external.as_ref(), authorization)
    }

    pub(crate) fn version(&self) -> String {
        self.bundle().version.clone()
    }

    /// Load the directory and swap it in; on error the old bundle stays and the error is logged.
    pub(crate) fn reload(&self) -> Result<String, PolicyError> {
        let _guard = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.bundle();
        let bundle = match PolicyBundle::load(&self.policies_dir) {
            Ok(b) => b,
            Err(error) => {
                tracing::error!(
                    file = %error.file().display(), %error, kept_version = %old.version,
                    "policy reload rejected; the previous policies stay in force"
                );
                return Err(error);
            }
        };
        let version = bundle.version.clone();
        // Rebuilding the limiters resets every bucket, so only do it when the quotas changed.
        if bundle.limits != old.limits {
            *self.limits.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(RateLimits::new(bundle.limits));
        }
        *self.bundle.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(bundle);
        if version != old.version {
            tracing::info!(from = %old.version, to = %version, "policies reloaded");
        }
        Ok(version)
    }
}

pub(crate) fn router(state: Arc<GatewayState>) -> Router {
    Router::new()
        .route("/mcp", post(mcp::handle).delete(mcp::end_session).get(sse_not_offered))
        .route("/v1/data/gateprobe/decision", post(super::pdp::handle))
        .route("/audit", get(audit_query))
        .route("/healthz", get(|| async { "ok" }))
        .route("/version", get(version))
        .route("/policies", get(policies))
        .route("/admin/reload", post(reload))
        .route(transport::ROOT_RESOURCE_METADATA_PATH, get(transport::resource_metadata))
        .route(transport::RESOURCE_METADATA_PATH, get(transport::resource_metadata))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response_with_state(state.clone(), policy_version_header))
        // Outermost: a request under a foreign Host/Origin learns nothing, not even the version.
        .layer(middleware::from_fn_with_state(state.clone(), transport::guard_hosts))
        .with_state(state)
}

/// Every response names the policy version in force when it was sent.
async fn policy_version_header(State(st): State<Arc<GatewayState>>, mut response: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&st.version()) {
        response.headers_mut().insert("x-policy-version", v);
    }
    response
}

/// This gateway never pushes server-initiated messages, so it offers no GET stream.
async fn sse_not_offered() -> StatusCode {
    StatusCode::METHOD_NOT_ALLOWED
}

/// Most ids one audit query may name: a batch stays a bounded amount of work.
pub const MAX_AUDIT_IDS: usize = 1000;

/// `?correlation_id=ID` for one call's records, or `?correlation_ids=ID1,ID2,…` for several
/// calls' records in one answer (how a busy monitor looks evidence up).
#[derive(Deserialize)]
struct AuditQuery {
    correlation_id: Option<String>,
    correlation_ids: Option<String>,
}

async fn audit_query(State(st): State<Arc<GatewayState>>, Query(q): Query<AuditQuery>) -> Response {
    let ids: Vec<&str> = match (&q.correlation_id, &q.correlation_ids) {
        (Some(id), None) => vec![id],
        (None, Some(ids)) => ids.split(',').filter(|id| !id.is_empty()).collect(),
        _ => {
            let message = "give one of `correlation_id` or `correlation_ids` (comma-separated)";
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    if ids.len() > MAX_AUDIT_IDS {
        let message = format!("at most {MAX_AUDIT_IDS} ids per query, not {}", ids.len());
        return (StatusCode::BAD_REQUEST, message).into_response();
    }
    ([(header::CONTENT_TYPE, "application/json")], st.audit.by_correlations(&ids)).into_response()
}

/// Rules the gateway applies itself, outside Cedar; they appear in `rationale.policy_ids`.
pub(crate) const GATEWAY_POLICY_IDS: [(&str, &str); 3] = [
    ("gateway:irreversible", "confirmation_required"),
    ("gateway:untrusted-irreversible", "confirmation_required"),
    ("gateway:confirmed", "confirmed"),
];

/// Every reason a decision of this gateway can carry, besides the policies' `@reason`s.
pub(crate) const GATEWAY_REASONS: [&str; 7] = [
    "permitted",
    "confirmed",
    "confirmation_required",
    "missing_capability",
    "invalid_parameters",
    "unauthenticated",
    "revoked",
];

/// What coverage compares against: every policy id with its effect and reason, and every
/// decision reason the gateway can give (`rate_limited` included).
async fn policies(State(st): State<Arc<GatewayState>>) -> Response {
    let bundle = st.bundle();
    let mut policies: Vec<serde_json::Value> =
        bundle.listing().into_iter().map(|p| json!({"id": p.id, "effect": p.effect, "reason": p.reason})).collect();
    policies
        .extend(GATEWAY_POLICY_IDS.iter().map(|(id, reason)| json!({"id": id, "effect": "gateway", "reason": reason})));
    let mut reasons: Vec<String> = GATEWAY_REASONS.iter().map(|r| r.to_string()).collect();
    reasons.push("rate_limited".into());
    reasons.extend(bundle.listing().into_iter().filter_map(|p| p.reason));
    reasons.sort();
    reasons.dedup();
    axum::Json(json!({"policy_version": bundle.version, "policies": policies, "reasons": reasons})).into_response()
}

async fn version(State(st): State<Arc<GatewayState>>) -> Response {
    axum::Json(json!({"policy_version": st.version()})).into_response()
}

async fn reload(State(st): State<Arc<GatewayState>>) -> Response {
    let st2 = st.clone();
    match tokio::task::spawn_blocking(move || st2.reload()).await {
        Ok(Ok(version)) => axum::Json(json!({"policy_version": version})).into_response(),
        Ok(Err(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"error": e.to_string(), "file": e.file(), "policy_version": st.version()})),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// How long the policy directory must be quiet before a watched change is reloaded.
const WATCH_QUIET: Duration = Duration::from_millis(50);
/// The longest a reload waits for the directory to be quiet: a directory written without pause
/// is still reloaded.
const WATCH_SETTLE_MAX: Duration = Duration::from_secs(1);

/// Watch the policy directory and reload when its content hash changes. Events are debounced:
/// a reload waits until the directory has been quiet for [`WATCH_QUIET`] (at most
/// [`WATCH_SETTLE_MAX`]), so an editor's write-rename dance yields one reload and a file being
/// written is read whole, not as the empty file its creation leaves. The watcher lives as long
/// as the value.
pub(crate) fn watch(state: Arc<GatewayState>, dir: &Path) -> notify::Result<RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reads change nothing, and each reload reads every file: counted, they would keep the
        // watcher re-reading the directory, and catch a file between its creation and its write.
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            let settling = Instant::now();
            loop {
                tokio::time::sleep(WATCH_QUIET).await;
                let mut more = false;
                while rx.try_recv().is_ok() {
                    more = true;
                }
                if !more || settling.elapsed() > WATCH_SETTLE_MAX {
                    break;
                }
            }
            let st = state.clone();
            let _ = tokio::task::spawn_blocking(move || {
                // Skip events that leave the content unchanged (touch, metadata, our own reads).
                match current_version(&st.policies_dir) {
                    Ok(v) if v == st.version() => {}
                    _ => {
                        let _ = st.reload();
                    }
                }
            })
            .await;
        }
    });
    Ok(watcher)
}

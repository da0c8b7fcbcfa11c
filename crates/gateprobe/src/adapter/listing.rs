//! What the gateway says it has, for coverage: its tools (`coverage.tools`, else the adapter's
//! [`super::Adapter::list_tools`]) and its policies with their reasons (`coverage.policies_url`; the
//! embedded gateway's own listing by default).

use serde_json::Value;

use crate::config::CoverageConfig;
use crate::secret::Scrubber;
use gateprobe_gateway::RunningGateway;

use super::{CallError, ResolvedIdentity, Target, embedded};
use crate::transport::{MAX_RESPONSE_SETTING, read_capped};

/// What the target says it has, for coverage. `None`: it could not say (the reason is in
/// `problems`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// The gateway's tool names.
    pub tools: Option<Vec<String>>,
    /// Policy ids with their `@reason` (when they have one).
    pub policies: Option<Vec<(String, Option<String>)>>,
    /// Every decision reason the gateway can give.
    pub reasons: Option<Vec<String>>,
    /// Why a part of the listing is missing, one sentence each.
    pub problems: Vec<String>,
}

/// Where a target's listing comes from, settled when it connects.
pub(super) struct Sources {
    /// `coverage.tools`: the gateway's tools named in the config, in place of asking it.
    tools: Option<Vec<String>>,
    /// `coverage.policies_url`, else the embedded gateway's.
    policies_url: Option<String>,
    client: reqwest::Client,
    /// `run.max_response_bytes`, for the policy listing (the adapters have their own copy).
    max_response_bytes: usize,
}

impl Sources {
    pub(super) fn new(
        coverage: &CoverageConfig,
        embedded: Option<&RunningGateway>,
        client: reqwest::Client,
        max_response_bytes: usize,
    ) -> Sources {
        let policies_url = coverage.policies_url.clone().or_else(|| embedded.map(embedded::policies_url));
        Sources { tools: coverage.tools.clone(), policies_url, client, max_response_bytes }
    }
}

/// The tools and policies `target` lists: `coverage.tools` or the adapter's listing (asked as
/// the target's lister, see [`Target`]), and `coverage.policies_url`.
pub(super) async fn fetch(target: &Target) -> Listing {
    let sources = &target.listing;
    let mut listing = Listing::default();
    match &sources.tools {
        Some(tools) => listing.tools = Some(tools.clone()),
        None => {
            let anonymous = ResolvedIdentity {
                name: String::new(),
                subject: String::new(),
                tenant: String::new(),
                roles: Vec::new(),
                token: Default::default(),
            };
            let identity = target.lister.as_deref().unwrap_or(&anonymous);
            // With named targets: the union of what every target that can list lists (they are
            // endpoints of one gateway, or gateways the same suites are about).
            let mut unable = None;
            for g in target.gateways() {
                let on = g.name.as_deref().map(|n| format!(" on target `{n}`")).unwrap_or_default();
                match g.adapter.list_tools(identity).await {
                    Some(Ok(tools)) => {
                        let known = listing.tools.get_or_insert_with(Vec::new);
                        for t in tools {
                            if !known.contains(&t.name) {
                                known.push(t.name);
                            }
                        }
                    }
                    Some(Err(e)) => listing.problems.push(format!("`tools/list`{on} failed: {e}")),
                    None => unable = unable.or(Some(g.adapter.kind())),
                }
            }
            if let (None, Some(kind), true) = (&listing.tools, unable, listing.problems.is_empty()) {
                listing
                    .problems
                    .push(format!("an `{kind}` target cannot list its tools; set `coverage.tools` in the config"));
            }
        }
    }
    if let Some(url) = &sources.policies_url {
        match fetch_policies(sources, &target.scrubber, url).await {
            Ok((policies, reasons)) => {
                listing.policies = Some(policies);
                listing.reasons = Some(reasons);
            }
            Err(e) => listing.problems.push(format!("policies from {url}: {e}")),
        }
    }
    listing
}

/// The policy ids (with their reasons) and every decision reason the policy listing at `url`
/// names, scrubbed of the run's credentials.
async fn fetch_policies(
    sources: &Sources,
    scrubber: &Scrubber,
    url: &str,
) -> Result<(Vec<(String, Option<String>)>, Vec<String>), CallError> {
    let response =
        sources.client.get(url).send().await.map_err(|e| CallError::from_reqwest_at(&e, super::TLS_SETTING))?;
    if !response.status().is_success() {
        return Err(CallError::Status(response.status().as_u16()));
    }
    let body = read_capped(response, sources.max_response_bytes, MAX_RESPONSE_SETTING).await?;
    let mut body: Value =
        serde_json::from_slice(&body).map_err(|_| CallError::Unparseable("body could not be decoded".into()))?;
    scrubber.scrub_json(&mut body);
    let policies = body
        .get("policies")
        .and_then(Value::as_array)
        .ok_or_else(|| CallError::Protocol("no `policies` list".into()))?
        .iter()
        .filter_map(|p| {
            let id = p.get("id")?.as_str()?.to_string();
            Some((id, p.get("reason").and_then(Value::as_str).map(str::to_string)))
        })
        .collect();
    let reasons = body
        .get("reasons")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    Ok((policies, reasons))
}

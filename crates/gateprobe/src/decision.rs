//! The shared vocabulary of what a gateway decided: used by suites (expected), adapters
//! (observed), checks and reports alike.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the gateway did with a proposed tool call.
///
/// There is deliberately no `Error` variant: when no decision could be read, the adapter
/// returns a [`crate::adapter::CallError`] instead, so trouble can never be mistaken for a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The call may execute.
    Allow,
    /// The call is refused.
    Deny,
    /// The call needs explicit confirmation before it executes.
    Confirm,
    /// The call is refused for now: a rate limit was reached.
    RateLimited,
}

impl Decision {
    /// Every decision, e.g. to create metric series before they are first seen.
    pub const ALL: [Decision; 4] = [Decision::Allow, Decision::Deny, Decision::Confirm, Decision::RateLimited];

    /// The name as written in suites, reports and metric labels (`allow`, `rate_limited`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Confirm => "confirm",
            Decision::RateLimited => "rate_limited",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

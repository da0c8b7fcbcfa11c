//! COMPARE: a run against the approved snapshots and against the previous run's state;
//! regressions attributed to the policy update that caused them.

use serde::{Deserialize, Serialize};

use crate::decision::Decision;
use crate::outcome::Outcome;

/// The stable, approved view of one scenario's result: what snapshots hold and drift compares.
/// No timestamps, correlation ids, latencies or canary values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub outcome: String,
    pub decision: Option<Decision>,
    pub reason: Option<String>,
    pub evidence_fields: Vec<String>,
    pub policy_version: Option<String>,
}

/// A scenario that passed under one policy version and does not pass under the next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regression {
    pub suite: String,
    pub scenario: String,
    /// Policy version of the last passing run (`None` when the gateway reports none).
    pub policy_from: Option<String>,
    pub policy_to: Option<String>,
    pub was: Option<Decision>,
    pub now: Option<Decision>,
    pub outcome: Outcome,
    /// e.g. "allow→deny" or "lost evidence field rationale".
    pub change: String,
}

/// A difference between the approved snapshot and this run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    pub suite: String,
    pub scenario: String,
    pub approved: Option<Observation>,
    pub now: Option<Observation>,
}

/// Everything the comparison stage concluded about a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Comparison {
    /// Scenarios whose result differs from the approved snapshot.
    pub drift: Vec<Drift>,
    /// Scenarios with no snapshot yet.
    pub new_scenarios: Vec<(String, String)>,
    /// Snapshot entries no scenario references any more.
    pub stale_snapshots: Vec<(String, String)>,
    /// Regressions since the previous run, grouped by the update that caused them.
    pub regressions: Vec<Regression>,
}

//! OUTCOME: what became of each scenario (its [`Outcome`] and [`ScenarioResult`]) and the exit
//! codes; the whole run is [`crate::RunSummary`].

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::decision::Decision;
use crate::suite::Location;

/// How `gateprobe run` ends, as its exit status. When several apply, [`Exit::most_important`]
/// picks: what the gateway did wins over gateprobe's own trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Every scenario passed.
    Pass = 0,
    /// A scenario got a wrong decision, lost or contradicted its evidence, leaked, regressed, or
    /// the CI gate failed.
    Fail = 1,
    /// Suites, config or a snapshot file are invalid.
    InvalidInput = 2,
    /// The target gave no readable decision (down, timing out, answering nonsense).
    NoDecision = 3,
    /// Every result is valid, but the run state or a report could not be written.
    NotSaved = 4,
}

impl Exit {
    /// Precedence, highest first: 1 > 3 > 2 > 4 > 0.
    const PRECEDENCE: [Exit; 5] = [Exit::Fail, Exit::NoDecision, Exit::InvalidInput, Exit::NotSaved, Exit::Pass];

    /// Of two exit statuses that both apply to a run, the one that wins.
    pub fn most_important(self, other: Exit) -> Exit {
        let rank = |e: Exit| Exit::PRECEDENCE.iter().position(|&x| x == e).unwrap_or(0);
        if rank(other) < rank(self) { other } else { self }
    }
}

impl From<Exit> for u8 {
    fn from(e: Exit) -> u8 {
        e as u8
    }
}

/// So tests (and callers) may compare with the documented numbers.
impl PartialEq<u8> for Exit {
    fn eq(&self, other: &u8) -> bool {
        *self as u8 == *other
    }
}

/// How one scenario ended. Assertion failures and runtime errors stay apart at every layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Right decision (and proposal), evidence present and consistent, nothing leaked.
    Pass,
    /// The gateway decided something other than expected (or a denied call executed).
    Fail,
    /// The decision was right but the audit record, or a required field of it, is missing.
    EvidenceMissing,
    /// A planted canary value appears unredacted in the evidence.
    Leak,
    /// The assistant proposed something other than expected: the model or its prompt bundle
    /// changed behaviour, not the gateway. (Snapshot drift is another thing.)
    ModelDrift,
    /// Transport or protocol trouble: no decision could be read. Never a pass, never a decision.
    Error,
}

impl Outcome {
    /// Every outcome, e.g. to create metric series before they are first seen.
    pub const ALL: [Outcome; 6] =
        [Outcome::Pass, Outcome::Fail, Outcome::EvidenceMissing, Outcome::Leak, Outcome::ModelDrift, Outcome::Error];

    /// The name as in reports, snapshots and the metrics' `outcome` label (`evidence_missing`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::EvidenceMissing => "evidence_missing",
            Outcome::Leak => "leak",
            Outcome::ModelDrift => "model_drift",
            Outcome::Error => "error",
        }
    }

    /// Whether this is [`Outcome::Pass`].
    pub fn is_pass(self) -> bool {
        self == Outcome::Pass
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one scenario, with what a reader needs to understand it. Holds no token and no
/// canary value: it is safe to render anywhere.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Name of the suite the scenario belongs to.
    pub suite: String,
    /// The scenario's result name (with ` [<assistant>]` for a candidate assistant's run).
    pub scenario: String,
    /// Suite file and the scenario's position in it (for annotations).
    pub file: PathBuf,
    /// Where the scenario starts in `file`.
    pub location: Location,
    /// Name of the identity the calls were sent as.
    pub identity: String,
    /// The first call's tool (the call the scenario is named for).
    pub tool: String,
    /// How the scenario ended.
    pub outcome: Outcome,
    /// One line saying why, for anything but a pass.
    pub message: Option<String>,
    /// The decision the first call had to get.
    pub expected: Decision,
    /// The first call's decision; `None` when it could not be read.
    pub observed: Option<Decision>,
    /// The reason the first call had to get, when the scenario names one.
    pub expected_reason: Option<String>,
    /// The reason the gateway gave for the first call.
    pub reason: Option<String>,
    /// Evidence fields present in the first call's audit record.
    pub evidence_fields: BTreeSet<String>,
    /// Required evidence fields that were absent.
    pub missing_fields: Vec<String>,
    /// The evidence field whose stated value contradicted the answer, the call or another
    /// record of the call (the outcome is then `fail`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contradicted_fields: Vec<String>,
    /// The policy version the gateway reported for the first call.
    pub policy_version: Option<String>,
    /// The named target the scenario ran on (a key of the config's `targets:`); absent when
    /// the config has a single `target:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The replica that answered, when the target has several (`target.replicas`); with named
    /// targets, the URL the calls went to in any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Bounded error kind (`timeout`, `connect`, …) when the outcome is `error`.
    pub error_kind: Option<&'static str>,
    /// Calls sent, repeats and confirmations included.
    pub calls: usize,
    /// Correlation ids of every call, to look the records up in the gateway's audit log.
    pub correlation_ids: Vec<String>,
    /// Wall time of the whole scenario, evidence lookups included.
    #[serde(serialize_with = "ser_ms")]
    pub duration: Duration,
    /// Latency of every call that got an answer.
    #[serde(skip)]
    pub latencies: Vec<Duration>,
    /// Time from each decision until its audit record was visible.
    #[serde(skip)]
    pub evidence_lags: Vec<Duration>,
    /// Policy ids named by the audit records of every call (`coverage.policy_ids_pointer`),
    /// filled by the run; for coverage.
    #[serde(skip)]
    pub policy_ids: BTreeSet<String>,
    /// Reasons the gateway gave, over every call; for coverage.
    #[serde(skip)]
    pub reasons: BTreeSet<String>,
    /// The first call's first audit record, every planted canary value replaced by
    /// `[canary]`; for the HTML report's cell detail.
    #[serde(skip)]
    pub evidence: Option<serde_json::Value>,
    /// What the assistant proposed, for a golden-prompt scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<ProposalSummary>,
}

/// What the assistant of a golden-prompt scenario proposed, beside what was expected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposalSummary {
    /// Name of the assistant asked (`assistants[].name`).
    pub assistant: String,
    /// Content hash of the prompt bundle it ran with.
    pub prompt_version: String,
    /// The expected first proposal, e.g. `files.delete` or `one of a, b`.
    pub expected: String,
    /// The tools it proposed, in order (empty: it proposed nothing).
    pub proposed: Vec<String>,
    /// How long each request to the assistant took.
    #[serde(skip)]
    pub latencies: Vec<Duration>,
}

/// Milliseconds with microsecond precision, as the JSON report writes durations.
pub(crate) fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the precedence of `run`'s exit statuses: what the gateway did wins over gateprobe's
    /// own trouble, whichever order they are combined in.
    #[test]
    fn exit_statuses_combine_by_precedence() {
        let order = Exit::PRECEDENCE;
        for (i, &higher) in order.iter().enumerate() {
            for &lower in &order[i..] {
                assert_eq!(higher.most_important(lower), higher, "{higher:?} vs {lower:?}");
                assert_eq!(lower.most_important(higher), higher, "{lower:?} vs {higher:?}");
            }
        }
        assert_eq!(order.map(u8::from), [1, 3, 2, 4, 0]);
    }
}

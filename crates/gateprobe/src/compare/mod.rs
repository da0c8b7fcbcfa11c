//! COMPARE: a run against the approved snapshots and against the previous run's state;
//! regressions attributed to the policy update that caused them.
//!
//! Two references, two questions:
//! - the **snapshots** (`snapshots/<suite>.yaml`, checked in, changed only by
//!   `gateprobe snapshot accept`) answer "is this what a human approved?" → [`Drift`];
//! - the **run state** (`.gateprobe/state.json`, machine-local, rewritten by every run) answers
//!   "what changed since it last worked, and which policy update did it?" → [`Regression`].
//!
//! The flow of one run: [`state::load`] and [`snapshot::load_dir`] → [`compare`] (pure) →
//! [`state::State::record`] → [`state::save`]. `snapshot review` / `accept` never touch the
//! gateway: they read the last run's observations from the state file (see [`snapshot::plan`]).

pub mod regression;
pub mod snapshot;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::RunSummary;
use crate::config::AssistantConfig;
use crate::decision::Decision;
use crate::outcome::{Exit, Outcome, ScenarioResult};

pub use regression::PolicyUpdate;
pub use snapshot::Snapshots;
pub use state::State;

/// The stable, approved view of one scenario's result: what snapshots hold and drift compares.
/// No timestamps, correlation ids, latencies or canary values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// How the scenario ended (`pass`, `fail`, `evidence_missing`, …).
    pub outcome: String,
    /// The first call's decision; absent when none could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The reason the gateway gave for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Sorted and deduplicated, so the YAML diff only moves when the set does.
    #[serde(default)]
    pub evidence_fields: Vec<String>,
    /// The evidence field that contradicted the answer (a `fail` the gateway's own records
    /// explain otherwise than its answer does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contradicted: Vec<String>,
    /// Provenance, not behaviour: the policy version the observation was made (or approved) under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// Golden prompts: the tools the assistant proposed, in order (behaviour: a change is drift).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposed: Vec<String>,
    /// Golden prompts, provenance: the prompt bundle version the assistant ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_version: Option<String>,
    /// Provenance: the named target (the config's `targets:`) the observation was made on.
    /// Which target a scenario runs on is the suite's say, so moving it shows as drift only
    /// when the behaviour changes with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl Observation {
    /// The stable part of a scenario result.
    pub fn from_result(result: &ScenarioResult) -> Observation {
        let mut observation = Observation {
            outcome: String::new(),
            decision: None,
            reason: None,
            evidence_fields: Vec::with_capacity(result.evidence_fields.len()),
            contradicted: Vec::new(),
            policy_version: None,
            proposed: Vec::new(),
            prompt_version: None,
            target: None,
        };
        observation.assign(result);
        observation
    }

    /// Makes this observation `result`'s, in the memory it already has: a run records every
    /// scenario it has seen before this way.
    fn assign(&mut self, result: &ScenarioResult) {
        self.outcome.clear();
        self.outcome.push_str(result.outcome.as_str());
        self.decision = result.observed;
        self.reason.clone_from(&result.reason);
        // A BTreeSet is already sorted and unique.
        self.evidence_fields.truncate(result.evidence_fields.len());
        for (i, field) in result.evidence_fields.iter().enumerate() {
            match self.evidence_fields.get_mut(i) {
                Some(kept) => kept.clone_from(field),
                None => self.evidence_fields.push(field.clone()),
            }
        }
        self.contradicted.clone_from(&result.contradicted_fields);
        self.policy_version.clone_from(&result.policy_version);
        self.target.clone_from(&result.target);
        match &result.proposal {
            Some(p) => {
                self.proposed.clone_from(&p.proposed);
                self.prompt_version = Some(p.prompt_version.clone());
            }
            None => {
                self.proposed.clear();
                self.prompt_version = None;
            }
        }
    }

    /// Whether two observations show the same *behaviour*; this is the definition of drift.
    ///
    /// Behaviour is what the gateway did and what it could prove: outcome, decision, reason and
    /// the set of evidence fields. The policy version is deliberately left out: it identifies the
    /// bundle, it is not a decision. A policy update that changes no decision (a comment, a new
    /// rule for another tool, a reformatted file) gives a new content hash and must give no
    /// drift; an update that does change a decision shows up through the decision, reason or
    /// outcome, never through the hash. Evidence fields are compared as sets, so the order in
    /// which a gateway writes its audit record does not matter.
    pub fn same_behaviour(&self, other: &Observation) -> bool {
        self.outcome == other.outcome
            && self.decision == other.decision
            && self.reason == other.reason
            && same_set(&self.evidence_fields, &other.evidence_fields)
            && self.contradicted == other.contradicted
            && self.proposed == other.proposed
    }

    /// Whether the observed outcome is a pass.
    pub fn is_pass(&self) -> bool {
        self.outcome == Outcome::Pass.as_str()
    }

    /// Whether the observed outcome is `error` (no decision could be read).
    pub fn is_error(&self) -> bool {
        self.outcome == Outcome::Error.as_str()
    }
}

/// Whether two lists hold the same strings, in any order. Written lists are sorted and unique
/// (see [`Observation::from_result`]), so that case needs no sets; a hand-edited snapshot may not be.
fn same_set(a: &[String], b: &[String]) -> bool {
    let sorted = |v: &[String]| v.windows(2).all(|w| w[0] < w[1]);
    if sorted(a) && sorted(b) {
        return a == b;
    }
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

/// A scenario that passed under one policy version and does not pass under the next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regression {
    /// The scenario's suite.
    pub suite: String,
    /// The scenario's result name.
    pub scenario: String,
    /// Policy version of the last passing run (`None` when the gateway reports none).
    pub policy_from: Option<String>,
    /// Policy version of the first run that did not pass: the update blamed.
    pub policy_to: Option<String>,
    /// Golden prompts: prompt bundle version of the last passing run, and of the first failing one.
    pub prompt_from: Option<String>,
    /// Golden prompts: prompt bundle version of the first run that did not pass.
    pub prompt_to: Option<String>,
    /// The decision of the last passing run.
    pub was: Option<Decision>,
    /// The decision of this run; `None` when none could be read.
    pub now: Option<Decision>,
    /// This run's outcome (never `pass` or `error`).
    pub outcome: Outcome,
    /// e.g. "allow→deny" or "lost evidence field rationale".
    pub change: String,
}

/// A difference between the approved snapshot and this run (the binary's
/// `report::comparison::describe_drift` words it: `decision allow→deny`, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// The scenario's suite.
    pub suite: String,
    /// The scenario's result name.
    pub scenario: String,
    /// The approved snapshot entry.
    pub approved: Option<Observation>,
    /// What this run observed.
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
    /// The regressions grouped by policy update, each with its one-line headline and whether
    /// this run is the first to report it (alerts and the console announce an update once).
    pub updates: Vec<PolicyUpdate>,
    /// Policy versions seen during this run when there was more than one: replicas behind one
    /// target disagree, or the policy changed mid-run. Most seen first.
    pub policy_skew: Vec<String>,
    /// Under skew, the replicas (`target.replicas`) that served a version other than the one
    /// most answers carried, with those versions: where the stale policy is.
    pub stale_endpoints: Vec<(String, Vec<String>)>,
}

/// Suite name → names of the scenarios it defines: what snapshots are checked against for
/// staleness (a filtered run still knows every scenario of every suite).
pub type Defined = BTreeMap<String, BTreeSet<String>>;

/// Every scenario the loaded suites define.
pub fn defined_scenarios(suites: &[crate::suite::Suite], assistants: &[AssistantConfig]) -> Defined {
    let keys = |sc: &crate::suite::Scenario| {
        // A golden prompt's results under a candidate assistant are scenarios of their own.
        let candidates = if sc.asks.is_some() { assistants.get(1..).unwrap_or_default() } else { &[] };
        let mut keys = vec![sc.name.clone()];
        keys.extend(candidates.iter().map(|a| crate::plan::candidate_key(&sc.name, &a.name)));
        keys
    };
    suites.iter().map(|s| (s.name.clone(), s.scenarios.iter().flat_map(keys).collect())).collect()
}

/// COMPARE: pure. `state` is the state *before* this run (call [`State::record`] afterwards).
///
/// Scenarios whose outcome is `error` produce neither drift nor a regression: no decision was
/// read, so there is no behaviour to compare; they are the exit code 3's business.
pub fn compare(summary: &RunSummary, snapshots: &Snapshots, state: &State, defined: &Defined) -> Comparison {
    let mut comparison = Comparison::default();
    for result in summary.results.iter().filter(|r| r.outcome != Outcome::Error) {
        let Some(approved) = snapshots.get(&result.suite, &result.scenario) else {
            comparison.new_scenarios.push((result.suite.clone(), result.scenario.clone()));
            continue;
        };
        let now = Observation::from_result(result);
        if !approved.same_behaviour(&now) {
            comparison.drift.push(Drift {
                suite: result.suite.clone(),
                scenario: result.scenario.clone(),
                approved: Some(approved.clone()),
                now: Some(now),
            });
        }
    }
    comparison.stale_snapshots = snapshots.stale(defined);
    comparison.regressions = regression::detect(summary, state);
    comparison.updates = regression::group(&comparison.regressions, state);
    // Skew is within one target: named targets may be different gateways, whose versions
    // differ by design.
    let targets: BTreeSet<Option<&str>> = summary.results.iter().map(|r| r.target.as_deref()).collect();
    for target in targets {
        let versions = summary.policy_versions_on(target);
        if versions.len() < 2 {
            continue;
        }
        let current = versions[0].as_str();
        let mut served: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for r in summary.results.iter().filter(|r| r.target.as_deref() == target) {
            if let (Some(endpoint), Some(version)) = (r.endpoint.as_deref(), r.policy_version.as_deref()) {
                served.entry(endpoint).or_default().insert(version);
            }
        }
        comparison.stale_endpoints.extend(
            served
                .into_iter()
                .map(|(e, vs)| {
                    let endpoint = match target {
                        Some(t) => format!("{e} (target {t})"),
                        None => e.to_owned(),
                    };
                    (endpoint, vs.into_iter().filter(|v| *v != current).map(str::to_owned).collect())
                })
                .filter(|(_, stale): &(String, Vec<String>)| !stale.is_empty()),
        );
        for v in versions {
            if !comparison.policy_skew.contains(&v) {
                comparison.policy_skew.push(v);
            }
        }
    }
    comparison
}

/// Where the compare stage keeps its files (`--snapshots`, `--state`).
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The snapshot directory (default `snapshots`).
    pub snapshots: PathBuf,
    /// The run state file (default `.gateprobe/state.json`).
    pub state: PathBuf,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            snapshots: PathBuf::from(snapshot::DEFAULT_SNAPSHOT_DIR),
            state: PathBuf::from(state::DEFAULT_STATE_PATH),
        }
    }
}

/// What the compare stage of a run produced.
#[derive(Debug)]
pub struct Compared {
    /// Drift, new and stale snapshots, regressions and policy skew.
    pub comparison: Comparison,
    /// Why the previous state was not used, if it was not (the run went on with an empty one).
    pub state_warning: Option<state::StateWarning>,
    /// The state with this run folded in, as saved (or as it should have been: see
    /// `save_error`). Handed back rather than freed here: `serve` compares its next run with it,
    /// and `gateprobe run` ends without freeing it (at 10,000 scenarios that was a tenth of the
    /// run's tail).
    pub state: State,
    /// The snapshots the run was compared with: what `snapshot accept` would write is planned
    /// from them (`run --ci`), not from a second read of the directory.
    pub snapshots: Snapshots,
    /// Why `state` could not be saved (a read-only directory, a full disk); `None` when it was.
    /// The comparison stands either way: it was made against the state read before the run.
    pub save_error: Option<CompareError>,
}

impl Compared {
    /// What a failed save means, in one line for the console, the log, `/status` and `/healthz`.
    pub fn save_failure(&self) -> Option<String> {
        let e = self.save_error.as_ref()?;
        Some(format!(
            "could not save the run state {e}; this run was still compared with the previous state, \
             but the file keeps an older run until a save succeeds"
        ))
    }
}

/// What a run is compared with: the approved snapshots and the previous run's state. Read
/// before the run ends (`gateprobe run` reads them while the calls go out), so the run's tail
/// is only the comparison and the write.
pub struct References {
    snapshots: Snapshots,
    state: State,
    state_warning: Option<state::StateWarning>,
}

impl References {
    /// The snapshots and the state file as they are on disk.
    pub fn load(options: &CompareOptions) -> Result<References, CompareError> {
        References::load_keeping(options, &mut None)
    }

    /// The snapshots from disk and the state `held` by a caller that outlives a run (`serve`
    /// keeps the state of its last run: it is the newest there is, whether or not it could be
    /// saved); the state file is read only when nothing is held. `held` is taken only when the
    /// snapshots load, so a broken snapshot file loses nothing.
    pub fn load_keeping(options: &CompareOptions, held: &mut Option<State>) -> Result<References, CompareError> {
        let snapshots = snapshot::load_dir(&options.snapshots)?;
        let (state, state_warning) = match held.take() {
            Some(state) => (state, None),
            None => state::load(&options.state),
        };
        Ok(References { snapshots, state, state_warning })
    }
}

/// What happens to a run's results after it, for `run` and `serve` alike: compares the run
/// with `references`, folds it into the state and saves that. The state is saved whatever the
/// gate says: it records what happened, not what was approved.
///
/// A save that fails takes nothing away from the run: the comparison (drift, regressions) was
/// made against the state read before it and is returned whole, with the new state and the
/// error in [`Compared::save_error`]. What to do about it is the caller's: `run` reports the
/// failures and regressions first and then the error; `serve` alerts as usual, keeps the new
/// state in memory for its next run and says it is degraded.
pub fn record(summary: &RunSummary, defined: &Defined, options: &CompareOptions, references: References) -> Compared {
    let References { snapshots, mut state, state_warning } = references;
    let comparison = compare(summary, &snapshots, &state, defined);
    state.record(summary, &comparison.regressions);
    let save_error = state::save(&options.state, &state).err();
    Compared { comparison, state_warning, state, snapshots, save_error }
}

/// What `snapshot review` shows and `snapshot accept` writes, from the last run's state (no
/// gateway involved; see [`snapshot`]).
pub fn plan_from_last_run(
    defined: &Defined,
    options: &CompareOptions,
    selection: &snapshot::Selection,
) -> Result<(snapshot::Plan, Option<state::StateWarning>), CompareError> {
    let (state, warning) = state::load(&options.state);
    let snapshots = snapshot::load_dir(&options.snapshots)?;
    Ok((snapshot::plan(&snapshots, &state, defined, selection)?, warning))
}

impl Comparison {
    /// Whether the CI gate (`gateprobe run --ci`) passes: no unaccepted drift, no snapshot left
    /// without its scenario, and (in CI) no scenario without a snapshot.
    ///
    /// A regression is always drift too unless the snapshot already approves the new behaviour,
    /// so "no drift" covers "no unaccepted regression".
    pub fn gate_passes(&self, ci: bool) -> bool {
        self.drift.is_empty() && self.stale_snapshots.is_empty() && (!ci || self.new_scenarios.is_empty())
    }

    /// The exit code of `gateprobe run --ci`. The snapshots are the gate's reference: a failure
    /// that was reviewed and accepted (an intended policy change whose suite update follows)
    /// does not fail it, anything not accepted does (1). Scenarios that read no decision still
    /// give 3: trouble cannot be accepted.
    pub fn ci_exit_code(&self, summary: &RunSummary) -> Exit {
        if !self.gate_passes(true) {
            Exit::Fail
        } else if summary.results.iter().any(|r| r.outcome == Outcome::Error) {
            Exit::NoDecision
        } else {
            Exit::Pass
        }
    }

    /// Whether there is nothing to report: no drift, new or stale snapshots, regressions or policy skew.
    pub fn is_empty(&self) -> bool {
        self.drift.is_empty()
            && self.new_scenarios.is_empty()
            && self.stale_snapshots.is_empty()
            && self.regressions.is_empty()
            && self.policy_skew.is_empty()
    }
}

/// Why comparing could not be done: the harness's own trouble, never a scenario's.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A snapshot file that does not parse, positioned rustc-style by the crate's YAML reader
    /// (its rendering starts with `error:` itself).
    #[error("{0}")]
    Snapshot(Box<crate::suite::Diagnostic>),
    /// Several of these at once (snapshot files that failed to load), each reported.
    #[error("{}", .0.iter().map(CompareError::render).collect::<Vec<_>>().join("\n"))]
    Several(Vec<CompareError>),
    /// A file's content could not be serialized.
    #[error("could not serialize {what}: {message}")]
    Serialize {
        /// What was being written, e.g. `a snapshot`.
        what: &'static str,
        /// The serializer's error.
        message: String,
    },
}

impl CompareError {
    /// The error as shown on the console: diagnostics carry their own `error:` heading.
    pub fn render(&self) -> String {
        match self {
            CompareError::Snapshot(_) | CompareError::Several(_) => self.to_string(),
            other => format!("error: {other}"),
        }
    }
}

/// Replaces `path` with `bytes` atomically and durably (see [`crate::atomic_file::write`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CompareError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] with the contents written by `write`, for a file too big to be worth
/// assembling in memory first (the run state of a large suite).
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), CompareError> {
    crate::atomic_file::write(path, write).map_err(|source| CompareError::Io { path: path.to_path_buf(), source })
}

/// Removes `path` (a snapshot of a deleted suite) durably; a missing file is already removed.
pub fn remove_durably(path: &Path) -> Result<(), CompareError> {
    crate::atomic_file::remove(path).map_err(|source| CompareError::Io { path: path.to_path_buf(), source })
}

/// `sha256:3f2a91c0…`: enough of a content hash to tell versions apart in one line.
pub fn short_version(version: Option<&str>) -> String {
    let Some(v) = version else { return "unknown".to_string() };
    let (prefix, hash) = match v.split_once(':') {
        Some((p, h)) => (format!("{p}:"), h),
        None => (String::new(), v),
    };
    if hash.chars().count() > 8 {
        format!("{prefix}{}…", hash.chars().take(8).collect::<String>())
    } else {
        v.to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) use crate::testing::compare::{V1, V2, defined, result, summary};

    /// Pins: an observation assigned in place equals one built afresh, whether it had more
    /// evidence fields before, fewer, or other values everywhere.
    #[test]
    fn assign_equals_from_result() {
        let pass = result("d", "s", Outcome::Pass, Some(Decision::Allow), V1);
        let mut fail = result("d", "s", Outcome::Fail, Some(Decision::Deny), V2);
        fail.reason = Some("missing_capability".into());
        fail.evidence_fields = ["decision".to_string()].into_iter().collect();
        for (from, to) in [(&pass, &fail), (&fail, &pass), (&pass, &pass)] {
            let mut kept = Observation::from_result(from);
            kept.assign(to);
            assert_eq!(kept, Observation::from_result(to));
        }
    }

    #[test]
    fn policy_version_alone_is_not_drift() {
        let a = Observation::from_result(&result("d", "s", Outcome::Pass, Some(Decision::Allow), V1));
        let b = Observation::from_result(&result("d", "s", Outcome::Pass, Some(Decision::Allow), V2));
        assert!(a.same_behaviour(&b));
    }

    #[test]
    fn decision_reason_outcome_and_evidence_set_are_drift() {
        let base = result("d", "s", Outcome::Pass, Some(Decision::Allow), V1);
        let a = Observation::from_result(&base);
        let mut r = base.clone();
        r.observed = Some(Decision::Deny);
        assert!(!a.same_behaviour(&Observation::from_result(&r)));
        let mut r = base.clone();
        r.reason = Some("missing_capability".into());
        assert!(!a.same_behaviour(&Observation::from_result(&r)));
        let mut r = base.clone();
        r.outcome = Outcome::EvidenceMissing;
        assert!(!a.same_behaviour(&Observation::from_result(&r)));
        let mut r = base.clone();
        r.evidence_fields.remove("rationale");
        assert!(!a.same_behaviour(&Observation::from_result(&r)));
        // Order of evidence fields is not behaviour.
        let mut reordered = a.clone();
        reordered.evidence_fields.reverse();
        assert!(a.same_behaviour(&reordered));
    }

    #[test]
    fn compare_finds_drift_new_and_stale_and_ignores_errors() {
        let mut snaps = Snapshots::default();
        let ok = result("documents", "reader reads", Outcome::Pass, Some(Decision::Allow), V1);
        snaps.insert("documents", "reader reads", Observation::from_result(&ok));
        snaps.insert("documents", "gone", Observation::from_result(&ok));
        snaps.insert("documents", "flaky transport", Observation::from_result(&ok));
        let mut flipped = ok.clone();
        flipped.outcome = Outcome::Fail;
        flipped.observed = Some(Decision::Deny);
        flipped.policy_version = Some(V2.into());
        let mut errored = result("documents", "flaky transport", Outcome::Error, None, V2);
        errored.policy_version = None;
        let new = result("documents", "brand new", Outcome::Pass, Some(Decision::Allow), V2);
        let run = summary(vec![flipped, errored.clone(), new]);
        let d = defined(&[("documents", "reader reads"), ("documents", "flaky transport"), ("documents", "brand new")]);
        let c = compare(&run, &snaps, &State::default(), &d);
        assert_eq!(c.drift.len(), 1);
        // The words of it are pinned by the binary's `report::comparison` tests.
        let (approved, now) = (c.drift[0].approved.as_ref().unwrap(), c.drift[0].now.as_ref().unwrap());
        assert_eq!((approved.outcome.as_str(), now.outcome.as_str()), ("pass", "fail"));
        assert_eq!((approved.decision, now.decision), (Some(Decision::Allow), Some(Decision::Deny)));
        assert!(
            approved.reason == now.reason
                && approved.evidence_fields == now.evidence_fields
                && approved.contradicted == now.contradicted
        );
        assert_eq!(c.new_scenarios, vec![("documents".to_string(), "brand new".to_string())]);
        assert_eq!(c.stale_snapshots, vec![("documents".to_string(), "gone".to_string())]);
        assert!(!c.gate_passes(false));
        // Only the error: gate fine, exit 3.
        let c = compare(&summary(vec![errored]), &snaps, &State::default(), &d);
        assert!(c.drift.is_empty());
    }

    #[test]
    fn unchanged_behaviour_under_a_new_policy_passes_the_gate() {
        let mut snaps = Snapshots::default();
        let ok = result("documents", "reader reads", Outcome::Pass, Some(Decision::Allow), V1);
        snaps.insert("documents", "reader reads", Observation::from_result(&ok));
        let now = result("documents", "reader reads", Outcome::Pass, Some(Decision::Allow), V2);
        let run = summary(vec![now]);
        let c = compare(&run, &snaps, &State::default(), &defined(&[("documents", "reader reads")]));
        assert!(c.is_empty(), "{c:?}");
        assert_eq!(c.ci_exit_code(&run), 0);
    }

    #[test]
    fn new_scenarios_fail_only_in_ci() {
        let run = summary(vec![result("documents", "n", Outcome::Pass, Some(Decision::Allow), V1)]);
        let c = compare(&run, &Snapshots::default(), &State::default(), &defined(&[("documents", "n")]));
        assert!(c.gate_passes(false));
        assert!(!c.gate_passes(true));
        assert_eq!(c.ci_exit_code(&run), 1);
    }

    #[test]
    fn policy_skew_lists_every_version_seen() {
        let run = summary(vec![
            result("d", "a", Outcome::Pass, Some(Decision::Allow), V1),
            result("d", "b", Outcome::Pass, Some(Decision::Allow), V1),
            result("d", "c", Outcome::Pass, Some(Decision::Allow), V2),
        ]);
        let c = compare(&run, &Snapshots::default(), &State::default(), &Defined::new());
        assert_eq!(c.policy_skew, vec![V1.to_string(), V2.to_string()]);
    }

    #[test]
    fn short_version_keeps_the_prefix() {
        assert_eq!(short_version(Some(V1)), "sha256:3f2a91c0…");
        assert_eq!(short_version(Some("v1")), "v1");
        assert_eq!(short_version(None), "unknown");
    }

    /// Pins: a state that cannot be saved loses nothing the run concluded: the regression found
    /// against the state held before the run comes back, with the new state and the error.
    #[test]
    fn a_failed_save_keeps_the_comparison_and_hands_back_the_new_state() {
        let dir = tempfile::tempdir().unwrap();
        // The state's parent is a regular file: the save fails for anyone, root included.
        std::fs::write(dir.path().join("file"), b"").unwrap();
        let options =
            CompareOptions { snapshots: dir.path().join("snapshots"), state: dir.path().join("file/state.json") };
        let mut before = State::default();
        let passed = result("documents", "reader reads", Outcome::Pass, Some(Decision::Allow), V1);
        before.record(&summary(vec![passed]), &[]);
        let mut held = Some(before);
        let references = References::load_keeping(&options, &mut held).unwrap();
        assert!(held.is_none(), "the held state is used, not the unreadable file");

        let broken = result("documents", "reader reads", Outcome::Fail, Some(Decision::Deny), V2);
        let compared = record(&summary(vec![broken]), &defined(&[("documents", "reader reads")]), &options, references);
        assert_eq!(compared.comparison.regressions.len(), 1, "{:?}", compared.comparison);
        assert_eq!(compared.comparison.regressions[0].change, "allow→deny");
        assert!(compared.save_error.is_some());
        let failure = compared.save_failure().unwrap();
        assert!(failure.starts_with("could not save the run state") && failure.contains("state.json"), "{failure}");
        let entry = compared.state.get("documents", "reader reads").unwrap();
        assert_eq!(entry.last.decision, Some(Decision::Deny));
        assert_eq!(entry.last_pass().and_then(|p| p.policy_version.as_deref()), Some(V1));
        assert_eq!(compared.state.reported.len(), 1, "the regression is remembered as reported");
    }

    /// Pins: snapshots that do not load leave a held state where it was.
    #[test]
    fn broken_snapshots_leave_the_held_state_held() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("snapshots")).unwrap();
        std::fs::write(dir.path().join("snapshots/documents.yaml"), "scenarios: [unclosed\n").unwrap();
        let options = CompareOptions { snapshots: dir.path().join("snapshots"), state: dir.path().join("state.json") };
        let mut held = Some(State::default());
        assert!(References::load_keeping(&options, &mut held).is_err());
        assert_eq!(held, Some(State::default()));
    }
}

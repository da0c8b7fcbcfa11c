//! The run state (`--state`, default `.gateprobe/state.json`): what the previous runs saw, so the
//! next one can tell what changed and which policy update changed it.
//!
//! ```json
//! {
//!   "version": 1,
//!   "scenarios": {
//!     "documents": {
//!       "reader can read a handbook page": {
//!         "last": { "outcome": "fail", "decision": "deny", "evidence_fields": ["..."], "policy_version": "sha256:91c0…" },
//!         "last_pass": { "outcome": "pass", "decision": "allow", "evidence_fields": ["..."], "policy_version": "sha256:3f2a…" },
//!         "failing_since": { "policy_version": "sha256:91c0…" }
//!       }
//!     }
//!   },
//!   "reported": [ { "suite": "documents", "scenario": "…", "policy_from": "sha256:3f2a…", "policy_to": "sha256:91c0…" } ]
//! }
//! ```
//!
//! It is a cache, not a record: losing it loses only regression attribution for one run. So a
//! missing, unreadable or corrupt file (a run killed mid-write on a file system without atomic
//! rename, a hand edit) is a warning and an empty state, never a crash.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{CompareError, Observation, Regression, write_atomic_with};
use crate::RunSummary;
use crate::outcome::{Outcome, ScenarioResult};

/// The format version; a file of another version is treated like a corrupt one.
pub const STATE_VERSION: u32 = 1;

/// The default `--state`, relative to the working directory.
pub const DEFAULT_STATE_PATH: &str = ".gateprobe/state.json";

/// The run state file's content: what previous runs saw of each scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The file's format version, [`STATE_VERSION`].
    pub version: u32,
    /// Suite → scenario → what the runs saw of it.
    #[serde(default)]
    pub scenarios: BTreeMap<String, BTreeMap<String, ScenarioState>>,
    /// Regressions already announced: each (update, scenario) is reported once, until the
    /// scenario passes again.
    #[serde(default)]
    pub reported: BTreeSet<Reported>,
}

impl Default for State {
    fn default() -> Self {
        State { version: STATE_VERSION, scenarios: BTreeMap::new(), reported: BTreeSet::new() }
    }
}

/// What the runs saw of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioState {
    /// The last result, with the policy version it was seen under.
    pub last: Observation,
    /// The last passing result, kept only while `last` is not a pass (a pass is its own last
    /// pass, and half the file when stored twice); read it through [`ScenarioState::last_pass`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_pass: Option<Observation>,
    /// Set on the first non-passing run after `last_pass`: the version that broke it. A later
    /// policy update while it still fails does not move the blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<FailingSince>,
}

/// The versions under which a scenario first stopped passing: what a regression is blamed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailingSince {
    /// The policy version it first failed under.
    pub policy_version: Option<String>,
    /// Golden prompts: the prompt bundle version it first failed under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_version: Option<String>,
}

impl ScenarioState {
    fn first(now: Observation) -> ScenarioState {
        ScenarioState { last: now, last_pass: None, failing_since: None }
    }

    /// The last passing result; its policy version is the last version the scenario passed under.
    pub fn last_pass(&self) -> Option<&Observation> {
        if self.last.is_pass() { Some(&self.last) } else { self.last_pass.as_ref() }
    }

    /// Makes `result` the last result. A pass replaced by anything else is kept as the last pass.
    fn observe(&mut self, result: &ScenarioResult) {
        if self.last.is_pass() && !result.outcome.is_pass() {
            self.last_pass = Some(std::mem::replace(&mut self.last, Observation::from_result(result)));
        } else {
            self.last.assign(result);
            if self.last.is_pass() {
                self.last_pass = None;
            }
        }
    }
}

/// One announced regression.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reported {
    /// The regressed scenario's suite.
    pub suite: String,
    /// The regressed scenario's result name.
    pub scenario: String,
    /// Policy version of its last pass.
    pub policy_from: Option<String>,
    /// Policy version it first failed under.
    pub policy_to: Option<String>,
}

impl Reported {
    /// The entry that marks `r` as announced.
    pub fn of(r: &Regression) -> Reported {
        Reported {
            suite: r.suite.clone(),
            scenario: r.scenario.clone(),
            policy_from: r.policy_from.clone(),
            policy_to: r.policy_to.clone(),
        }
    }
}

/// Why the state file was not used; the run goes on with an empty state.
#[derive(Debug, thiserror::Error)]
pub enum StateWarning {
    /// No state file yet (a first run).
    #[error("no run state at {} yet: starting fresh (regressions are attributed from the next run on)", path.display())]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The state file could not be read.
    #[error("could not read the run state {}: {source}; treating it as empty", path.display())]
    Unreadable {
        /// The state file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not valid JSON of the expected shape.
    #[error("the run state {} is corrupt ({source}); treating it as empty, it is rewritten after this run", path.display())]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// The state file was written by a gateprobe of another format version.
    #[error("the run state {} has format version {found}, this gateprobe writes {STATE_VERSION}; treating it as empty", path.display())]
    Version {
        /// The state file.
        path: PathBuf,
        /// The version the file has.
        found: u32,
    },
}

/// Reads the state; any trouble gives an empty state and a warning to show the user.
pub fn load(path: &Path) -> (State, Option<StateWarning>) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (State::default(), Some(StateWarning::Missing { path: path.to_path_buf() }));
        }
        Err(source) => return (State::default(), Some(StateWarning::Unreadable { path: path.to_path_buf(), source })),
    };
    match serde_json::from_slice::<State>(&bytes) {
        Ok(s) if s.version == STATE_VERSION => (s, None),
        Ok(s) => (State::default(), Some(StateWarning::Version { path: path.to_path_buf(), found: s.version })),
        Err(source) => (State::default(), Some(StateWarning::Corrupt { path: path.to_path_buf(), source })),
    }
}

/// Writes the state atomically (see [`super::write_atomic`]), streamed to the file. Compact: it
/// is machine state, read back on every run (the snapshots are what people read), and about a
/// kilobyte a scenario pretty.
pub fn save(path: &Path, state: &State) -> Result<(), CompareError> {
    write_atomic_with(path, |w| {
        serde_json::to_writer(&mut *w, state)?;
        w.write_all(b"\n")
    })
}

impl State {
    /// What the runs saw of one scenario, if any run saw it.
    pub fn get(&self, suite: &str, scenario: &str) -> Option<&ScenarioState> {
        self.scenarios.get(suite)?.get(scenario)
    }

    /// The last observation of every scenario seen, for `snapshot review` / `accept`.
    pub fn last(&self, suite: &str, scenario: &str) -> Option<&Observation> {
        self.get(suite, scenario).map(|s| &s.last)
    }

    /// Folds a finished run in. `regressions` are this run's (from [`super::compare`], computed
    /// against the state before this call); they are remembered as reported.
    ///
    /// An `error` outcome updates `last` only: no decision was read, so it says nothing about
    /// whether the scenario passes, and must neither clear nor set the regression bookkeeping.
    pub fn record(&mut self, summary: &RunSummary, regressions: &[Regression]) {
        for r in &summary.results {
            // Names are cloned only for a scenario seen for the first time: the common case is
            // a run of the scenarios the state already holds.
            let suite = match self.scenarios.get_mut(&r.suite) {
                Some(suite) => suite,
                None => self.scenarios.entry(r.suite.clone()).or_default(),
            };
            match suite.get_mut(&r.scenario) {
                None => {
                    suite.insert(r.scenario.clone(), ScenarioState::first(Observation::from_result(r)));
                }
                Some(entry) => {
                    let had_passed = entry.last_pass().is_some();
                    entry.observe(r);
                    match r.outcome {
                        Outcome::Pass => entry.failing_since = None,
                        Outcome::Error => {}
                        _ if had_passed && entry.failing_since.is_none() => {
                            entry.failing_since = Some(FailingSince {
                                policy_version: r.policy_version.clone(),
                                prompt_version: r.proposal.as_ref().map(|p| p.prompt_version.clone()),
                            });
                        }
                        _ => {}
                    }
                }
            }
            if r.outcome == Outcome::Pass && !self.reported.is_empty() {
                // Passing again closes its regressions: if it breaks again, that is news.
                self.reported.retain(|rep| !(rep.suite == r.suite && rep.scenario == r.scenario));
            }
        }
        self.reported.extend(regressions.iter().map(Reported::of));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::tests::{V1, V2, result, summary};
    use crate::decision::Decision;

    fn sample() -> State {
        let mut s = State::default();
        s.record(&summary(vec![result("documents", "reader reads", Outcome::Pass, Some(Decision::Allow), V1)]), &[]);
        s
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gateprobe/state.json");
        let state = sample();
        save(&path, &state).unwrap();
        let (loaded, warning) = load(&path);
        assert!(warning.is_none(), "{warning:?}");
        assert_eq!(loaded, state);
    }

    #[test]
    fn missing_state_is_a_warning_and_empty() {
        let dir = tempfile::tempdir().unwrap();
        let (state, warning) = load(&dir.path().join("nope.json"));
        assert_eq!(state, State::default());
        assert!(matches!(warning, Some(StateWarning::Missing { .. })));
    }

    /// Pins: a state file cut short (a writer killed with -9 where rename is not atomic, or a
    /// disk full) is reported and treated as empty, and the next save repairs it.
    #[test]
    fn truncated_state_is_a_warning_and_empty_then_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let full = serde_json::to_vec(&sample()).unwrap();
        for cut in [0, 1, full.len() / 3, full.len() / 2, full.len() - 2] {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (state, warning) = load(&path);
            assert_eq!(state, State::default(), "cut at {cut}");
            let warning = warning.expect("a warning");
            assert!(matches!(warning, StateWarning::Corrupt { .. }), "cut at {cut}: {warning}");
            assert!(warning.to_string().contains("treating it as empty"));
        }
        save(&path, &sample()).unwrap();
        assert!(load(&path).1.is_none());
    }

    #[test]
    fn other_format_version_or_garbage_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, br#"{"version": 99}"#).unwrap();
        assert!(matches!(load(&path), (_, Some(StateWarning::Version { found: 99, .. }))));
        std::fs::write(&path, b"\x00\xff binary junk").unwrap();
        assert!(matches!(load(&path), (_, Some(StateWarning::Corrupt { .. }))));
        std::fs::write(&path, br#"{"version": 1, "surprise": true}"#).unwrap();
        assert!(matches!(load(&path), (_, Some(StateWarning::Corrupt { .. }))));
    }

    #[test]
    fn unreadable_state_is_a_warning() {
        // A directory where the file should be: reading fails with something other than NotFound.
        let dir = tempfile::tempdir().unwrap();
        let (state, warning) = load(dir.path());
        assert_eq!(state, State::default());
        assert!(matches!(warning, Some(StateWarning::Unreadable { .. })));
    }

    /// Pins: a crash before the rename leaves the previous state whole (the new bytes only ever
    /// live in a temporary file beside it).
    #[test]
    fn failed_save_keeps_the_previous_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        save(&path, &sample()).unwrap();
        let before = std::fs::read(&path).unwrap();
        // Saving onto a path whose parent is a file fails before anything is renamed.
        let bad = path.join("child.json");
        assert!(save(&bad, &State::default()).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    /// Pins: a pass is its own last pass and is written once; an error after it keeps it as the
    /// last pass; a file that repeats it (written by an earlier gateprobe) reads the same.
    #[test]
    fn a_pass_is_stored_once_and_kept_through_an_error() {
        let passing = sample();
        let text = serde_json::to_string(&passing).unwrap();
        assert!(!text.contains("last_pass"), "{text}");
        let e = passing.get("documents", "reader reads").unwrap();
        assert_eq!(e.last_pass(), Some(&e.last));

        let mut s = passing.clone();
        s.record(&summary(vec![result("documents", "reader reads", Outcome::Error, None, V2)]), &[]);
        let e = s.get("documents", "reader reads").unwrap();
        assert!(e.last.is_error());
        assert_eq!(e.last_pass().unwrap().policy_version.as_deref(), Some(V1));
        assert!(e.failing_since.is_none());
        assert!(serde_json::to_string(&s).unwrap().contains("last_pass"));

        let last = serde_json::to_string(&passing.get("documents", "reader reads").unwrap().last).unwrap();
        let older = format!(
            r#"{{"version":1,"scenarios":{{"documents":{{"reader reads":{{"last":{last},"last_pass":{last}}}}}}}}}"#
        );
        let older: State = serde_json::from_str(&older).unwrap();
        let e = older.get("documents", "reader reads").unwrap();
        assert_eq!(e.last_pass(), Some(&e.last));
    }

    #[test]
    fn record_tracks_last_pass_and_the_version_that_broke_it() {
        let mut s = sample();
        let broken = result("documents", "reader reads", Outcome::Fail, Some(Decision::Deny), V2);
        s.record(&summary(vec![broken.clone()]), &[]);
        let e = s.get("documents", "reader reads").unwrap();
        assert_eq!(e.last.decision, Some(Decision::Deny));
        assert_eq!(e.last_pass().unwrap().policy_version.as_deref(), Some(V1));
        assert_eq!(e.failing_since, Some(FailingSince { policy_version: Some(V2.into()), prompt_version: None }));
        // Still failing under a third version: blame stays with the version that broke it.
        let mut later = broken.clone();
        later.policy_version = Some("sha256:cccc".into());
        s.record(&summary(vec![later]), &[]);
        assert_eq!(
            s.get("documents", "reader reads").unwrap().failing_since.as_ref().unwrap().policy_version.as_deref(),
            Some(V2)
        );
        // An error says nothing about passing.
        let mut err = broken.clone();
        err.outcome = Outcome::Error;
        err.observed = None;
        s.record(&summary(vec![err]), &[]);
        let e = s.get("documents", "reader reads").unwrap();
        assert!(e.last.is_error());
        assert!(e.failing_since.is_some());
        // Passing again clears it.
        s.record(&summary(vec![result("documents", "reader reads", Outcome::Pass, Some(Decision::Allow), V2)]), &[]);
        let e = s.get("documents", "reader reads").unwrap();
        assert!(e.failing_since.is_none());
        assert_eq!(e.last_pass().unwrap().policy_version.as_deref(), Some(V2));
    }
}

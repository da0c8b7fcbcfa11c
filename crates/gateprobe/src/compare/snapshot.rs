//! Snapshots: `snapshots/<suite>.yaml`, the approved [`Observation`] of every scenario of a suite.
//!
//! ```yaml
//! # Approved results of suite `documents`, one entry per scenario.
//! # Review changes with `gateprobe snapshot review`; write them with `gateprobe snapshot accept`.
//! suite: documents
//! scenarios:
//!   reader can read a handbook page:
//!     outcome: pass
//!     decision: allow
//!     evidence_fields:
//!     - action
//!     - decision
//!     policy_version: sha256:3f2a…
//! ```
//!
//! Stable and diff-friendly by construction: scenarios sorted by name (a map), evidence fields
//! sorted one per line, absent values omitted, nothing that changes between identical runs
//! (times, correlation ids, latencies, canaries) in the file at all.
//!
//! `review` and `accept` work from the **last run's state**, not from a new run: what you review
//! is exactly what the run you are looking at saw, the gateway is not needed (a CI job that ran
//! against a throwaway gateway can still accept), and `accept` cannot race a policy change. The
//! cost is that you must run first; a scenario never run (or whose last run read no decision) is
//! listed as skipped. Both use one [`plan`], so review shows exactly what accept would write (the
//! binary's `report::review` prints a plan as a diff of each file).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::state::State;
use super::{CompareError, Defined, Observation, remove_durably, write_atomic};

/// The default snapshot directory, relative to the working directory.
pub const DEFAULT_SNAPSHOT_DIR: &str = "snapshots";

/// One snapshot file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotFile {
    /// The suite the file approves.
    pub suite: String,
    /// Scenario name → approved observation; a map so entries are sorted by name.
    #[serde(default)]
    pub scenarios: BTreeMap<String, Observation>,
}

/// A snapshot file as found on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// Where the file is.
    pub path: PathBuf,
    /// The file's bytes as read, so a diff shows the file as it is, not as it would be rewritten.
    pub text: String,
    /// The file as parsed.
    pub file: SnapshotFile,
}

/// Every snapshot file of a directory, by suite.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshots {
    /// The snapshot directory they were read from (and new files go to).
    pub dir: PathBuf,
    /// The files by suite name.
    pub suites: BTreeMap<String, Loaded>,
}

/// The snapshot file name of a suite: the suite name with anything that is not safe in a file
/// name replaced, so a suite name can never write outside the directory.
pub fn file_name(suite: &str) -> String {
    let safe: String = suite
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    let safe = safe.trim_start_matches('.');
    format!("{}.yaml", if safe.is_empty() { "_" } else { safe })
}

/// Reads every `*.yaml` of `dir`. A missing directory is no snapshots yet; a bad file is an error
/// (snapshots are reviewed, checked-in files: silently ignoring one would pass the gate), and
/// every bad file is reported, not only the first.
pub fn load_dir(dir: &Path) -> Result<Snapshots, CompareError> {
    let mut snapshots = Snapshots { dir: dir.to_path_buf(), suites: BTreeMap::new() };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(snapshots),
        Err(source) => return Err(CompareError::Io { path: dir.to_path_buf(), source }),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml") && p.is_file())
        .collect();
    paths.sort();
    let mut errors = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(source) => {
                errors.push(CompareError::Io { path, source });
                continue;
            }
        };
        match from_yaml(&text, &path) {
            Ok(file) => {
                if let Some(other) = snapshots.suites.get(&file.suite) {
                    let message = format!("suite `{}` already has a snapshot in {}", file.suite, other.path.display());
                    errors.push(CompareError::Snapshot(Box::new(crate::suite::Diagnostic::whole_file(&path, message))));
                    continue;
                }
                snapshots.suites.insert(file.suite.clone(), Loaded { path, text, file });
            }
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(snapshots),
        1 => Err(errors.remove(0)),
        _ => Err(CompareError::Several(errors)),
    }
}

/// Snapshots go through the crate's one YAML front door ([`crate::suite::yaml`]), so parse errors
/// point at file, line and column like suite errors, and the YAML crate can be swapped in one place.
fn from_yaml(text: &str, path: &Path) -> Result<SnapshotFile, CompareError> {
    crate::suite::yaml::parse::<SnapshotFile>(path, text, "snapshot").map(|(file, _positions)| file).map_err(|mut d| {
        // The generic help points at `gateprobe schema <kind>`, which has no snapshot schema.
        if d.help.as_deref().is_none_or(|h| h.contains("gateprobe schema")) {
            d.help = Some("fix the file by hand, or delete it and run `gateprobe snapshot accept`".to_string());
        }
        CompareError::Snapshot(Box::new(d))
    })
}

/// The file's text: a header saying how it is maintained, then the YAML.
pub fn to_yaml(file: &SnapshotFile) -> Result<String, CompareError> {
    let body = crate::suite::yaml::to_string(file)
        .map_err(|message| CompareError::Serialize { what: "a snapshot", message })?;
    Ok(format!(
        "# Approved results of suite `{}`, one entry per scenario.\n\
         # Review changes with `gateprobe snapshot review`; write them with `gateprobe snapshot accept`.\n{body}",
        file.suite
    ))
}

impl Snapshots {
    /// The approved observation of one scenario, if it has one.
    pub fn get(&self, suite: &str, scenario: &str) -> Option<&Observation> {
        self.suites.get(suite)?.file.scenarios.get(scenario)
    }

    /// Adds or replaces one entry in memory (tests, and building a plan).
    pub fn insert(&mut self, suite: &str, scenario: &str, observation: Observation) {
        let path = self.dir.join(file_name(suite));
        let loaded = self.suites.entry(suite.to_string()).or_insert_with(|| Loaded {
            path,
            text: String::new(),
            file: SnapshotFile { suite: suite.to_string(), scenarios: BTreeMap::new() },
        });
        loaded.file.scenarios.insert(scenario.to_string(), observation);
    }

    /// Entries whose scenario (or whole suite) no suite defines any more, sorted.
    pub fn stale(&self, defined: &Defined) -> Vec<(String, String)> {
        let mut stale = Vec::new();
        for (suite, loaded) in &self.suites {
            let names = defined.get(suite);
            for name in loaded.file.scenarios.keys() {
                if !names.is_some_and(|n| n.contains(name)) {
                    stale.push((suite.clone(), name.clone()));
                }
            }
        }
        stale
    }
}

/// Which part of the snapshots `review` / `accept` touch; empty means everything. `scenario`
/// matches names containing the text, like `run --scenario`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Suites to touch, by exact name (`--suite`); empty: all.
    pub suites: Vec<String>,
    /// Only scenarios whose name contains this text (`--scenario`).
    pub scenario: Option<String>,
}

impl Selection {
    fn suite(&self, suite: &str) -> bool {
        self.suites.is_empty() || self.suites.iter().any(|s| s == suite)
    }

    fn scenario(&self, name: &str) -> bool {
        self.scenario.as_deref().is_none_or(|s| name.contains(s))
    }
}

/// What accepting would do to one snapshot file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileChange {
    /// The suite the file belongs to.
    pub suite: String,
    /// Where the file is (or would be written).
    pub path: PathBuf,
    /// The file as it is (`None`: it does not exist yet).
    pub old_text: Option<String>,
    /// The file as it would become (`None`: it would be deleted, its suite is gone).
    pub new_text: Option<String>,
    /// Scenarios whose entry is added or replaced.
    pub accepted: Vec<String>,
    /// Entries removed because no scenario references them.
    pub removed: Vec<String>,
}

/// The plan shared by `review` and `accept`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// One entry per snapshot file that would change.
    pub changes: Vec<FileChange>,
    /// (suite, scenario, why) of selected scenarios that cannot be accepted from the last run.
    pub skipped: Vec<(String, String, &'static str)>,
}

/// Works out what the snapshots would become if the last run's observations (from `state`) were
/// accepted. An entry whose behaviour did not change is kept as it is, policy version included:
/// re-approving an unchanged decision under a new policy would only add diff noise.
pub fn plan(
    snapshots: &Snapshots,
    state: &State,
    defined: &Defined,
    selection: &Selection,
) -> Result<Plan, CompareError> {
    let mut plan = Plan::default();
    let suites: BTreeSet<&String> = defined.keys().chain(snapshots.suites.keys()).collect();
    for suite in suites.into_iter().filter(|s| selection.suite(s)) {
        let existing = snapshots.suites.get(suite);
        let mut proposed = existing
            .map(|l| l.file.clone())
            .unwrap_or_else(|| SnapshotFile { suite: suite.clone(), scenarios: BTreeMap::new() });
        let mut accepted = Vec::new();
        let mut removed = Vec::new();
        let names = defined.get(suite);
        for name in names.into_iter().flatten().filter(|n| selection.scenario(n)) {
            match state.last(suite, name) {
                None => plan.skipped.push((suite.clone(), name.clone(), "not run yet")),
                Some(last) if last.is_error() => {
                    plan.skipped.push((suite.clone(), name.clone(), "its last run read no decision"))
                }
                Some(last) => {
                    if !proposed.scenarios.get(name).is_some_and(|a| a.same_behaviour(last)) {
                        proposed.scenarios.insert(name.clone(), last.clone());
                        accepted.push(name.clone());
                    }
                }
            }
        }
        proposed.scenarios.retain(|name, _| {
            let keep = names.is_some_and(|n| n.contains(name)) || !selection.scenario(name);
            if !keep {
                removed.push(name.clone());
            }
            keep
        });
        if accepted.is_empty() && removed.is_empty() {
            continue;
        }
        let new_text = if names.is_none() && proposed.scenarios.is_empty() { None } else { Some(to_yaml(&proposed)?) };
        plan.changes.push(FileChange {
            suite: suite.clone(),
            path: existing.map_or_else(|| snapshots.dir.join(file_name(suite)), |l| l.path.clone()),
            old_text: existing.map(|l| l.text.clone()),
            new_text,
            accepted,
            removed,
        });
    }
    Ok(plan)
}

/// Writes the plan, each file atomically. Returns the files written or deleted.
pub fn apply(plan: &Plan) -> Result<Vec<PathBuf>, CompareError> {
    let mut done = Vec::new();
    for change in &plan.changes {
        match &change.new_text {
            Some(text) => write_atomic(&change.path, text.as_bytes())?,
            None => remove_durably(&change.path)?,
        }
        done.push(change.path.clone());
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Decision;
    use crate::outcome::Outcome;
    use crate::testing::compare::{V1, V2, approved, defined, obs, result, reviewed_run, state_with};

    #[test]
    fn yaml_is_sorted_and_round_trips() {
        let mut snaps = Snapshots::default();
        snaps.insert("documents", "b second", obs(Decision::Allow, V1));
        snaps.insert("documents", "a first", obs(Decision::Allow, V1));
        let file = &snaps.suites["documents"].file;
        let text = to_yaml(file).unwrap();
        insta::assert_snapshot!(text, @r"
        # Approved results of suite `documents`, one entry per scenario.
        # Review changes with `gateprobe snapshot review`; write them with `gateprobe snapshot accept`.
        suite: documents
        scenarios:
          a first:
            outcome: pass
            decision: allow
            evidence_fields:
            - action
            - decision
            - identity
            - policy_version
            - rationale
            - tenant
            policy_version: sha256:3f2a91c0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
          b second:
            outcome: pass
            decision: allow
            evidence_fields:
            - action
            - decision
            - identity
            - policy_version
            - rationale
            - tenant
            policy_version: sha256:3f2a91c0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        ");
        assert_eq!(&from_yaml(&text, Path::new("x")).unwrap(), file);
    }

    #[test]
    fn bad_files_are_all_reported_with_a_position() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "suite: a\nscenarios:\n  s:\n    outcome: pass\n    colour: red\n")
            .unwrap();
        std::fs::write(dir.path().join("b.yaml"), "suite: [\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let err = load_dir(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, CompareError::Several(ref v) if v.len() == 2), "{text}");
        assert!(text.contains("a.yaml:5:5") && text.contains("colour"), "{text}");
        assert!(text.contains("b.yaml:"), "{text}");
    }

    #[test]
    fn missing_dir_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_dir(&dir.path().join("snapshots")).unwrap().suites.is_empty());
    }

    #[test]
    fn file_names_stay_in_the_directory() {
        assert_eq!(file_name("documents"), "documents.yaml");
        assert_eq!(file_name("../etc/passwd"), "_etc_passwd.yaml");
        assert_eq!(file_name(""), "_.yaml");
    }

    /// Pins: review shows exactly the drifted entries (an unchanged decision under a new policy
    /// keeps its approved entry), removes stale ones, and accept writes what review showed.
    #[test]
    fn review_then_accept() {
        let dir = tempfile::tempdir().unwrap();
        let snap_dir = dir.path().join("snapshots");
        let snaps = approved(snap_dir.clone());
        apply(&Plan {
            changes: vec![FileChange {
                suite: "documents".into(),
                path: snap_dir.join("documents.yaml"),
                old_text: None,
                new_text: Some(to_yaml(&snaps.suites["documents"].file).unwrap()),
                accepted: vec![],
                removed: vec![],
            }],
            skipped: vec![],
        })
        .unwrap();
        let snaps = load_dir(&snap_dir).unwrap();
        let (state, d) = reviewed_run();
        // The diff review prints of this plan is pinned by the binary's `report::review` tests.
        let p = plan(&snaps, &state, &d, &Selection::default()).unwrap();
        assert_eq!(p.changes[0].accepted, vec!["brand new".to_string(), "reader reads".to_string()]);
        assert_eq!(p.changes[0].removed, vec!["removed scenario".to_string()]);

        apply(&p).unwrap();
        let after = load_dir(&snap_dir).unwrap();
        assert_eq!(after.get("documents", "reader reads").unwrap().decision, Some(Decision::Deny));
        // Unchanged behaviour: the approval (and its policy version) is kept.
        assert_eq!(after.get("documents", "reader deletes").unwrap().policy_version.as_deref(), Some(V1));
        assert!(after.get("documents", "removed scenario").is_none());
        let again = plan(&after, &state, &d, &Selection::default()).unwrap();
        assert!(again.changes.is_empty(), "{again:?}");
    }

    #[test]
    fn accept_one_scenario_only() {
        let mut snaps = Snapshots { dir: PathBuf::from("snapshots"), ..Default::default() };
        snaps.insert("documents", "a", obs(Decision::Allow, V1));
        snaps.insert("documents", "b", obs(Decision::Allow, V1));
        snaps.insert("admin", "c", obs(Decision::Allow, V1));
        let state = state_with(vec![
            result("documents", "a", Outcome::Fail, Some(Decision::Deny), V2),
            result("documents", "b", Outcome::Fail, Some(Decision::Deny), V2),
            result("admin", "c", Outcome::Fail, Some(Decision::Deny), V2),
        ]);
        let d = defined(&[("documents", "a"), ("documents", "b"), ("admin", "c")]);
        let sel = Selection { suites: vec!["documents".into()], scenario: Some("b".into()) };
        let p = plan(&snaps, &state, &d, &sel).unwrap();
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].accepted, vec!["b".to_string()]);
        // A deleted suite's snapshot file is deleted.
        let p =
            plan(&snaps, &state, &defined(&[("documents", "a"), ("documents", "b")]), &Selection::default()).unwrap();
        let admin = p.changes.iter().find(|c| c.suite == "admin").unwrap();
        assert_eq!(admin.new_text, None);
        assert_eq!(admin.removed, vec!["c".to_string()]);
    }
}

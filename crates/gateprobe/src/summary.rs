//! The whole run, as every report, snapshot and metric reads it: the scenario results and what
//! the run saw of the target (its description, its coverage). Its own module so that `outcome`
//! and `coverage`, which it holds both of, need not know each other both ways.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::coverage::Coverage;
use crate::outcome::{Exit, Outcome, ScenarioResult};

/// A whole run: every scenario result plus what the run saw of the target.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// RFC 3339 start time.
    pub started_at: String,
    /// Wall time of the whole run.
    #[serde(serialize_with = "crate::outcome::ser_ms")]
    pub duration: Duration,
    /// The target's description (adapter kind and URL).
    pub target: String,
    /// Every scenario's result, in suite and file order.
    pub results: Vec<ScenarioResult>,
    /// What the run's scenarios left untested; `None` when not computed.
    #[serde(skip)]
    pub coverage: Option<Coverage>,
}

impl RunSummary {
    /// How many results had each outcome; every outcome is present, with 0 if none had it.
    pub fn counts(&self) -> BTreeMap<Outcome, usize> {
        let mut counts: BTreeMap<Outcome, usize> = Outcome::ALL.iter().map(|o| (*o, 0)).collect();
        for r in &self.results {
            *counts.entry(r.outcome).or_default() += 1;
        }
        counts
    }

    /// How many scenarios passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.outcome.is_pass()).count()
    }

    /// Whether every scenario passed (true for a run of none).
    pub fn all_passed(&self) -> bool {
        self.results.iter().all(|r| r.outcome.is_pass())
    }

    /// Policy versions the target reported during the run, most seen first.
    pub fn policy_versions(&self) -> Vec<String> {
        versions_by_count(self.results.iter())
    }

    /// Policy versions one named target (`None`: the config's single `target`) reported during
    /// the run, most seen first.
    pub fn policy_versions_on(&self, target: Option<&str>) -> Vec<String> {
        versions_by_count(self.results.iter().filter(|r| r.target.as_deref() == target))
    }

    /// The exit code of `gateprobe run`: 1 when some scenario got a wrong answer, else 3 when
    /// some scenario could not read a decision at all (target trouble), else 0. A wrong decision
    /// outranks trouble elsewhere: retrying would not make it pass.
    pub fn exit_code(&self) -> Exit {
        let counts = self.counts();
        let wrong = counts[&Outcome::Fail]
            + counts[&Outcome::EvidenceMissing]
            + counts[&Outcome::Leak]
            + counts[&Outcome::ModelDrift];
        if wrong > 0 {
            Exit::Fail
        } else if counts[&Outcome::Error] > 0 {
            Exit::NoDecision
        } else {
            Exit::Pass
        }
    }
}

/// The policy versions of `results`, most seen first (ties by name).
fn versions_by_count<'a>(results: impl Iterator<Item = &'a ScenarioResult>) -> Vec<String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for v in results.filter_map(|r| r.policy_version.as_deref()) {
        *seen.entry(v).or_default() += 1;
    }
    let mut versions: Vec<(&str, usize)> = seen.into_iter().collect();
    versions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    versions.into_iter().map(|(v, _)| v.to_string()).collect()
}

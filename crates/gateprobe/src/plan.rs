//! PLAN: which scenarios run, each paired with its resolved identity.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::adapter::ResolvedIdentity;
use crate::propose::ChatAssistant;
use crate::suite::{Scenario, Suite};

/// Narrows a run to some suites or scenarios.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Suite names to run (all when empty).
    pub suites: Vec<String>,
    /// Substring a scenario name must contain.
    pub scenario: Option<String>,
    /// Only the scenarios of this shard (`--shard i/N`).
    pub shard: Option<Shard>,
}

/// Shard `index` of `count` (1-based, as `--shard 2/3` writes it): a scenario belongs to one
/// shard, chosen by a hash of its suite and name, so N instances split one golden set the same
/// way every run, whatever else the suites hold or the order they load in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 1.
    pub index: u32,
    /// How many shards.
    pub count: u32,
}

impl Shard {
    /// Whether the scenario `name` of `suite` is this shard's. SHA-256 rather than std's
    /// hasher: its output is fixed across Rust versions and machines, as a fleet needs.
    pub fn holds(&self, suite: &str, name: &str) -> bool {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new().chain_update(suite).chain_update([0]).chain_update(name).finalize();
        let n = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 digest has 8 bytes"));
        n % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}` is not a shard: write i/N with 1 ≤ i ≤ N, e.g. 2/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Filter {
    /// How many results a run of `suites` with `assistants` gives (for a progress bar's
    /// length): a golden-prompt scenario runs once per assistant.
    pub fn count(&self, suites: &[Suite], assistants: usize) -> usize {
        let runs = |sc: &Scenario| if sc.asks.is_some() { assistants.max(1) } else { 1 };
        suites.iter().map(|s| s.scenarios.iter().filter(|sc| self.keeps(s, sc)).map(runs).sum::<usize>()).sum()
    }

    fn keeps(&self, suite: &Suite, scenario: &Scenario) -> bool {
        (self.suites.is_empty() || self.suites.contains(&suite.name))
            && self.scenario.as_deref().is_none_or(|s| scenario.name.contains(s))
            && self.shard.is_none_or(|shard| shard.holds(&suite.name, &scenario.name))
    }
}

/// One scenario ready to execute.
#[derive(Debug, Clone)]
pub struct PlannedScenario<'s> {
    /// The suite the scenario is in.
    pub suite: &'s Suite,
    /// The scenario to run.
    pub scenario: &'s Scenario,
    /// The identity it runs as, credentials resolved.
    pub identity: Arc<ResolvedIdentity>,
    /// The assistant a golden-prompt scenario asks (`None` for a fixed call, or when the config
    /// defines none).
    pub assistant: Option<Arc<ChatAssistant>>,
    /// Asked of a candidate assistant (not the first, the baseline): its result is keyed
    /// `<scenario> [<assistant>]`, so both assistants' results live side by side.
    pub candidate: bool,
}

impl PlannedScenario<'_> {
    /// The name its result is kept under (snapshots, state, metrics).
    pub fn result_name(&self) -> String {
        match (&self.assistant, self.candidate) {
            (Some(a), true) => candidate_key(&self.scenario.name, a.name()),
            _ => self.scenario.name.clone(),
        }
    }
}

/// The name a golden-prompt scenario's result is kept under when a candidate assistant ran it.
pub fn candidate_key(scenario: &str, assistant: &str) -> String {
    format!("{scenario} [{assistant}]")
}

/// A scenario names an identity the config does not define.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: scenario `{scenario}` uses identity `{identity}`, which the config does not define")]
pub struct UnknownIdentity {
    /// The suite file, as given.
    pub file: String,
    /// Line of the scenario in that file.
    pub line: usize,
    /// The scenario's name.
    pub scenario: String,
    /// The identity name it uses.
    pub identity: String,
}

/// The scenarios of `suites` that `filter` keeps, in suite and file order; a golden-prompt
/// scenario once per assistant.
pub fn plan<'s>(
    suites: &'s [Suite],
    identities: &BTreeMap<String, Arc<ResolvedIdentity>>,
    assistants: &[Arc<ChatAssistant>],
    filter: &Filter,
) -> Result<Vec<PlannedScenario<'s>>, UnknownIdentity> {
    let mut planned = Vec::new();
    for suite in suites {
        for scenario in suite.scenarios.iter().filter(|s| filter.keeps(suite, s)) {
            let identity = identities.get(&scenario.identity).cloned().ok_or_else(|| UnknownIdentity {
                file: suite.path.display().to_string(),
                line: scenario.location.line,
                scenario: scenario.name.clone(),
                identity: scenario.identity.clone(),
            })?;
            if scenario.asks.is_none() || assistants.is_empty() {
                planned.push(PlannedScenario { suite, scenario, identity, assistant: None, candidate: false });
                continue;
            }
            for (i, assistant) in assistants.iter().enumerate() {
                let assistant = Some(assistant.clone());
                planned.push(PlannedScenario {
                    suite,
                    scenario,
                    identity: identity.clone(),
                    assistant,
                    candidate: i > 0,
                });
            }
        }
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins: every scenario is in exactly one of N shards, the shards are about even, and the
    /// split does not move between runs, machines or Rust versions (one value pinned).
    #[test]
    fn shards_partition_the_scenarios_stably() {
        let names: Vec<String> = (0..600).map(|i| format!("scenario {i}")).collect();
        for count in 1..=5 {
            let shards: Vec<Shard> = (1..=count).map(|index| Shard { index, count }).collect();
            let mut sizes = vec![0; count as usize];
            for n in &names {
                let holders: Vec<usize> = (0..shards.len()).filter(|&i| shards[i].holds("documents", n)).collect();
                assert_eq!(holders.len(), 1, "{n} in shards {holders:?} of {count}");
                sizes[holders[0]] += 1;
            }
            let even = names.len() / count as usize;
            assert!(sizes.iter().all(|&s| s > even * 3 / 4 && s < even * 5 / 4), "{count} shards: {sizes:?}");
        }
        let two = |index| Shard { index, count: 2 };
        assert!(
            two(1).holds("documents", "reader can read a handbook page")
                != two(2).holds("documents", "reader can read a handbook page")
        );
        // The suite is part of the key: the same name in two suites may land apart.
        assert!((0..50).any(|i| {
            let n = format!("n{i}");
            two(1).holds("a", &n) != two(1).holds("b", &n)
        }));
    }

    #[test]
    fn shards_are_written_i_of_n() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("i/N"), "{bad}: {e}");
        }
    }
}

//! PLAN: which scenarios run, each paired with its resolved identity.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::adapter::ResolvedIdentity;
use crate::suite::{Scenario, Suite};

/// Narrows a run to some suites or scenarios.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Suite names to run (all when empty).
    pub suites: Vec<String>,
    /// Substring a scenario name must contain.
    pub scenario: Option<String>,
}

impl Filter {
    /// How many scenarios of `suites` the filter keeps (for a progress bar's length).
    pub fn count(&self, suites: &[Suite]) -> usize {
        suites.iter().map(|s| s.scenarios.iter().filter(|sc| self.keeps(s, sc)).count()).sum()
    }

    fn keeps(&self, suite: &Suite, scenario: &Scenario) -> bool {
        (self.suites.is_empty() || self.suites.contains(&suite.name))
            && self.scenario.as_deref().is_none_or(|s| scenario.name.contains(s))
    }
}

/// One scenario ready to execute.
#[derive(Debug, Clone)]
pub struct PlannedScenario<'s> {
    pub suite: &'s Suite,
    pub scenario: &'s Scenario,
    pub identity: Arc<ResolvedIdentity>,
}

#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: scenario `{scenario}` uses identity `{identity}`, which the config does not define")]
pub struct UnknownIdentity {
    pub file: String,
    pub line: usize,
    pub scenario: String,
    pub identity: String,
}

/// The scenarios of `suites` that `filter` keeps, in suite and file order.
pub fn plan<'s>(
    suites: &'s [Suite],
    identities: &BTreeMap<String, Arc<ResolvedIdentity>>,
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
            planned.push(PlannedScenario { suite, scenario, identity });
        }
    }
    Ok(planned)
}

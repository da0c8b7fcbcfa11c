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

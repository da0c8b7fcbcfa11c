//! COVERAGE: what the suites leave untested, and the run's identity × tool decision grid.
//!
//! Pure: it reads the suites, the run's results and what the target listed (tools, policies,
//! reasons), and does no I/O. Reports render it (the binary's `report::coverage` words the
//! section and the grid's cells); `--require-coverage` gates on [`Coverage::gaps`].

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;

use crate::adapter::Listing;
use crate::decision::Decision;
use crate::outcome::{Outcome, ScenarioResult};
use crate::suite::{Proposes, Suite};

/// Scenarios per tool, by the direction they pin down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCoverage {
    /// The tool's name.
    pub tool: String,
    /// Steps expecting `allow` (directly or once confirmed).
    pub allow: usize,
    /// Steps expecting `deny`.
    pub deny: usize,
    /// Whether the gateway listed it (`false`: only scenarios name it).
    pub listed: bool,
}

impl ToolCoverage {
    /// Whether the tool lacks a must-allow or a must-deny scenario (what `--require-coverage` fails on).
    pub fn is_gap(&self) -> bool {
        self.allow == 0 || self.deny == 0
    }
}

/// What the run's scenarios did not exercise. `None` lists: the target could not say.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Coverage {
    /// Every tool the gateway lists or a scenario names, by name.
    pub tools: Vec<ToolCoverage>,
    /// Whether the gateway's own tool list was available.
    pub tools_listed: bool,
    /// Policy ids the gateway lists that no call's evidence named.
    pub unexercised_policies: Option<Vec<String>>,
    /// Decision reasons the gateway can give that no call got.
    pub unexercised_reasons: Option<Vec<String>>,
    /// Configured identities no scenario of the run used.
    pub unused_identities: Vec<String>,
    /// Why parts of the listing are missing.
    pub problems: Vec<String>,
}

impl Coverage {
    /// `identities`: the names the config defines. Only scenarios that ran (are in `results`)
    /// count, so a filtered run reports the coverage of what it ran.
    pub fn compute(suites: &[Suite], results: &[ScenarioResult], identities: &[String], listing: &Listing) -> Coverage {
        let ran: HashSet<(&str, &str)> = results.iter().map(|r| (r.suite.as_str(), r.scenario.as_str())).collect();
        let mut tools: BTreeMap<String, ToolCoverage> = BTreeMap::new();
        for tool in listing.tools.iter().flatten() {
            tool_entry(&mut tools, tool, true);
        }
        for suite in suites {
            for scenario in suite.scenarios.iter().filter(|s| ran.contains(&(suite.name.as_str(), s.name.as_str()))) {
                // A golden prompt covers the one tool it expects the assistant to propose.
                let asked = scenario.asks.as_ref().and_then(|ask| match &ask.proposes {
                    Proposes::Call(p) => Some((&p.tool, &ask.expect)),
                    Proposes::AnyOf(_) => None,
                });
                let fixed = scenario.steps.iter().map(|s| (&s.call.tool, &s.expect));
                for (tool, e) in fixed.chain(asked) {
                    let t = tool_entry(&mut tools, tool, false);
                    if e.decision == Decision::Allow || e.after_confirmation == Some(Decision::Allow) {
                        t.allow += 1;
                    }
                    if e.decision == Decision::Deny {
                        t.deny += 1;
                    }
                }
            }
        }
        let exercised_policies: BTreeSet<&str> =
            results.iter().flat_map(|r| r.policy_ids.iter().map(String::as_str)).collect();
        let exercised_reasons: BTreeSet<&str> =
            results.iter().flat_map(|r| r.reasons.iter().map(String::as_str)).collect();
        let used: BTreeSet<&str> = results.iter().map(|r| r.identity.as_str()).collect();
        let not_in = |all: &[String], seen: &BTreeSet<&str>| -> Vec<String> {
            let set: BTreeSet<&String> = all.iter().filter(|x| !seen.contains(x.as_str())).collect();
            set.into_iter().cloned().collect()
        };
        Coverage {
            tools: tools.into_values().collect(),
            tools_listed: listing.tools.is_some(),
            unexercised_policies: listing.policies.as_ref().map(|p| {
                let ids: Vec<String> = p.iter().map(|(id, _)| id.clone()).collect();
                not_in(&ids, &exercised_policies)
            }),
            unexercised_reasons: listing.reasons.as_ref().map(|r| not_in(r, &exercised_reasons)),
            unused_identities: not_in(identities, &used),
            problems: listing.problems.clone(),
        }
    }

    /// The tools coverage asks both directions of: those the gateway listed, when it listed
    /// any (a scenario naming a tool the gateway does not have, to prove it is refused, asks for
    /// no must-allow); else every tool the scenarios name.
    pub fn counted(&self) -> impl Iterator<Item = &ToolCoverage> {
        self.tools.iter().filter(|t| t.listed || !self.tools_listed)
    }

    /// Counted tools that lack a must-allow or a must-deny scenario.
    pub fn gaps(&self) -> Vec<&ToolCoverage> {
        self.counted().filter(|t| t.is_gap()).collect()
    }

    /// Counted tools with no scenario expecting `allow`.
    pub fn without_allow(&self) -> Vec<&str> {
        self.counted().filter(|t| t.allow == 0).map(|t| t.tool.as_str()).collect()
    }

    /// Counted tools with no scenario expecting `deny`.
    pub fn without_deny(&self) -> Vec<&str> {
        self.counted().filter(|t| t.deny == 0).map(|t| t.tool.as_str()).collect()
    }

    /// The gate's one-line verdict when there are gaps, naming every tool and what it lacks.
    pub fn gate_message(&self) -> Option<String> {
        let gaps = self.gaps();
        if gaps.is_empty() {
            return None;
        }
        let named: Vec<String> = gaps
            .iter()
            .map(|t| match (t.allow, t.deny) {
                (0, 0) => format!("{} (no must-allow and no must-deny scenario)", t.tool),
                (0, _) => format!("{} (no must-allow scenario)", t.tool),
                _ => format!("{} (no must-deny scenario)", t.tool),
            })
            .collect();
        Some(format!("coverage gate failed: {}", named.join(", ")))
    }
}

/// One cell of the decision grid: every result of an identity calling a tool (first call).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The identity (grid row).
    pub identity: String,
    /// The tool of the first call (grid column).
    pub tool: String,
    /// Indexes into the run's results.
    pub results: Vec<usize>,
    /// The worst outcome of the cell (a failure outranks a pass).
    pub outcome: Outcome,
    /// The representative result's expected and observed decisions (the worst one's).
    pub expected: Decision,
    /// What the representative result got; `None` when no decision could be read.
    pub observed: Option<Decision>,
}

/// The run as an identity × tool grid of expected vs actual decisions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grid {
    /// Rows, in order of first appearance.
    pub identities: Vec<String>,
    /// Columns, in order of first appearance.
    pub tools: Vec<String>,
    /// The non-empty cells, in order of first appearance.
    pub cells: Vec<Cell>,
}

impl Grid {
    /// The grid of a run's results, each under its identity and its first call's tool.
    pub fn from_results(results: &[ScenarioResult]) -> Grid {
        let mut identities: Vec<String> = Vec::new();
        let mut tools: Vec<String> = Vec::new();
        let mut cells: Vec<Cell> = Vec::new();
        for (i, r) in results.iter().enumerate() {
            if !identities.contains(&r.identity) {
                identities.push(r.identity.clone());
            }
            if !tools.contains(&r.tool) {
                tools.push(r.tool.clone());
            }
            match cells.iter_mut().find(|c| c.identity == r.identity && c.tool == r.tool) {
                Some(c) => {
                    c.results.push(i);
                    if c.outcome.is_pass() && !r.outcome.is_pass() {
                        c.outcome = r.outcome;
                        c.expected = r.expected;
                        c.observed = r.observed;
                    }
                }
                None => cells.push(Cell {
                    identity: r.identity.clone(),
                    tool: r.tool.clone(),
                    results: vec![i],
                    outcome: r.outcome,
                    expected: r.expected,
                    observed: r.observed,
                }),
            }
        }
        Grid { identities, tools, cells }
    }

    /// The cell of `identity` calling `tool`; `None` when no scenario did.
    pub fn cell(&self, identity: &str, tool: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.identity == identity && c.tool == tool)
    }
}

/// The tool's counts, added on first sight; a tool the gateway lists is marked so. The name is
/// copied only for a tool not seen before: a large suite names the same few tools again and again.
fn tool_entry<'m>(tools: &'m mut BTreeMap<String, ToolCoverage>, tool: &str, listed: bool) -> &'m mut ToolCoverage {
    if !tools.contains_key(tool) {
        tools.insert(tool.to_string(), ToolCoverage { tool: tool.to_string(), allow: 0, deny: 0, listed });
    }
    let entry = tools.get_mut(tool).expect("inserted above");
    entry.listed |= listed;
    entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const SUITE: &str = "suite: s\nmatrix:\n  calls:\n    read: { tool: files.read }\n    delete: { tool: files.delete }\n  expect:\n    alice: [A, D]\n    bob: [A, C]\n";

    fn results(suite: &Suite) -> Vec<ScenarioResult> {
        let mut summary = crate::testing::summary();
        let template = summary.results.remove(0);
        suite
            .scenarios
            .iter()
            .map(|s| {
                let mut r = template.clone();
                r.suite = suite.name.clone();
                r.scenario = s.name.clone();
                r.identity = s.identity.clone();
                r.tool = s.steps[0].call.tool.clone();
                r.expected = s.steps[0].expect.decision;
                r.observed = Some(r.expected);
                r.policy_ids = ["reader-read".to_string()].into();
                r.reasons = ["permitted".to_string()].into();
                r
            })
            .collect()
    }

    #[test]
    fn coverage_names_gaps_unexercised_policies_reasons_and_identities() {
        let suite = crate::suite::parse_suite(Path::new("s.yaml"), SUITE).unwrap();
        let results = results(&suite);
        let listing = Listing {
            tools: Some(vec!["files.read".into(), "files.delete".into(), "email.send".into()]),
            policies: Some(vec![
                ("reader-read".into(), None),
                ("tenant-isolation".into(), Some("tenant_mismatch".into())),
            ]),
            reasons: Some(vec!["permitted".into(), "tenant_mismatch".into()]),
            problems: vec![],
        };
        let identities = vec!["alice".to_string(), "bob".to_string(), "carol".to_string()];
        let c = Coverage::compute(&[suite], &results, &identities, &listing);
        assert_eq!(c.without_allow(), vec!["email.send", "files.delete"]);
        assert_eq!(c.without_deny(), vec!["email.send", "files.read"]);
        assert_eq!(c.unexercised_policies, Some(vec!["tenant-isolation".to_string()]));
        assert_eq!(c.unexercised_reasons, Some(vec!["tenant_mismatch".to_string()]));
        assert_eq!(c.unused_identities, vec!["carol"]);
        let msg = c.gate_message().unwrap();
        assert!(msg.contains("email.send (no must-allow and no must-deny scenario)"), "{msg}");
        assert!(msg.contains("files.read (no must-deny scenario)"), "{msg}");
    }

    /// Pins: when the gateway lists its tools, a scenario naming one it does not have (to prove
    /// it is refused) leaves no gap; when it lists none, every named tool counts.
    #[test]
    fn tools_the_gateway_does_not_list_are_not_counted() {
        let suite = crate::suite::parse_suite(Path::new("s.yaml"), SUITE).unwrap();
        let results = results(&suite);
        let listed = |tools: Option<Vec<String>>| Listing { tools, ..Listing::default() };
        let c =
            Coverage::compute(std::slice::from_ref(&suite), &results, &[], &listed(Some(vec!["files.read".into()])));
        assert_eq!(c.counted().map(|t| t.tool.as_str()).collect::<Vec<_>>(), ["files.read"]);
        assert_eq!(c.without_allow(), Vec::<&str>::new());
        assert_eq!(c.without_deny(), vec!["files.read"]);
        let c = Coverage::compute(&[suite], &results, &[], &listed(None));
        assert_eq!(c.counted().count(), 2);
        assert_eq!(c.without_allow(), vec!["files.delete"]);
    }

    #[test]
    fn only_scenarios_that_ran_count_and_unknown_listings_stay_unknown() {
        let suite = crate::suite::parse_suite(Path::new("s.yaml"), SUITE).unwrap();
        let mut results = results(&suite);
        results.retain(|r| r.tool == "files.read");
        let c = Coverage::compute(&[suite], &results, &[], &Listing::default());
        assert!(!c.tools_listed);
        assert_eq!(c.tools.len(), 1);
        assert_eq!(c.unexercised_policies, None);
    }

    #[test]
    fn grid_keeps_first_appearance_order_and_the_worst_outcome() {
        let suite = crate::suite::parse_suite(Path::new("s.yaml"), SUITE).unwrap();
        let mut results = results(&suite);
        results[3].outcome = Outcome::Fail;
        results[3].observed = Some(Decision::Allow);
        let g = Grid::from_results(&results);
        assert_eq!(g.identities, vec!["alice", "bob"]);
        assert_eq!(g.tools, vec!["files.read", "files.delete"]);
        assert_eq!(g.cells.len(), 4);
        // As text ("C→A", "D"): the binary's `report::coverage` tests.
        let bad = g.cell("bob", "files.delete").unwrap();
        assert_eq!(
            (bad.outcome, bad.expected, bad.observed),
            (Outcome::Fail, Decision::Confirm, Some(Decision::Allow))
        );
        let good = g.cell("alice", "files.delete").unwrap();
        assert_eq!((good.outcome, good.expected), (Outcome::Pass, Decision::Deny));
    }
}

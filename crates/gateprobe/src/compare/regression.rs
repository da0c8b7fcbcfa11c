//! Regressions: a scenario that passed under policy version A and does not pass under B, blamed
//! on the update A→B and grouped by it ([`PolicyUpdate`], with its one-line headline), so on-call
//! reads one line per policy update, e.g.
//! `policy sha256:3f2a91c0…→sha256:91c0d4e2…: 3 scenarios flipped allow→deny, 1 lost evidence field rationale`
//! (the binary's `report::comparison` prints them).
//!
//! A scenario that never passed is not a regression (it is a failure, reported as such), and an
//! `error` outcome is not one either (the target's trouble, exit code 3).

use std::collections::BTreeSet;

use serde::Serialize;

use super::state::{Reported, State};
use super::{Observation, Regression, short_version};
use crate::RunSummary;
use crate::outcome::{Outcome, ScenarioResult};

/// The regressions one policy update caused (or, when `policy_from == policy_to`, the failures
/// that appeared without any update: the gateway, its data or its dependencies changed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyUpdate {
    /// Policy version of the last passing run.
    pub policy_from: Option<String>,
    /// Policy version of the first run that did not pass.
    pub policy_to: Option<String>,
    /// Golden prompts: the prompt bundle versions before and after (equal, or `None`, when the
    /// prompt bundle did not change).
    pub prompt_from: Option<String>,
    /// Prompt bundle version of the first run that did not pass.
    pub prompt_to: Option<String>,
    /// (suite, scenario) of each regression, sorted.
    pub scenarios: Vec<(String, String)>,
    /// True when this run is the first to report some regression of this update; alerts and the
    /// console announce an update once, the CI gate does not care.
    pub first_report: bool,
    /// One line: `policy A→B: 3 scenarios flipped allow→deny, 1 lost evidence field rationale`.
    pub headline: String,
}

impl PolicyUpdate {
    /// False for failures that appeared while neither the policy version nor the prompt bundle
    /// changed.
    pub fn is_update(&self) -> bool {
        self.policy_from != self.policy_to || self.prompt_changed()
    }

    /// The prompt bundle changed between the last pass and the failure.
    pub fn prompt_changed(&self) -> bool {
        self.prompt_from.is_some() && self.prompt_to.is_some() && self.prompt_from != self.prompt_to
    }
}

/// Finds this run's regressions against the state *before* the run.
pub fn detect(summary: &RunSummary, state: &State) -> Vec<Regression> {
    let mut found: Vec<Regression> = summary
        .results
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Pass | Outcome::Error))
        .filter_map(|r| {
            let prev = state.get(&r.suite, &r.scenario)?;
            let last_pass = prev.last_pass()?;
            // Blame the version under which it first stopped passing, not merely the current one.
            let (policy_to, prompt_to) = match &prev.failing_since {
                Some(f) => (f.policy_version.clone(), f.prompt_version.clone()),
                None => (r.policy_version.clone(), r.proposal.as_ref().map(|p| p.prompt_version.clone())),
            };
            Some(Regression {
                suite: r.suite.clone(),
                scenario: r.scenario.clone(),
                policy_from: last_pass.policy_version.clone(),
                policy_to,
                prompt_from: last_pass.prompt_version.clone(),
                prompt_to,
                was: last_pass.decision,
                now: r.observed,
                outcome: r.outcome,
                change: describe(last_pass, r),
            })
        })
        .collect();
    found.sort_by(|a, b| {
        (&a.policy_from, &a.policy_to, &a.prompt_from, &a.prompt_to, &a.suite, &a.scenario).cmp(&(
            &b.policy_from,
            &b.policy_to,
            &b.prompt_from,
            &b.prompt_to,
            &b.suite,
            &b.scenario,
        ))
    });
    found
}

/// What changed between the last pass and now, in a few words: a decision flip first (it is what
/// a policy author changes), else what the failing check says.
fn describe(last_pass: &Observation, now: &ScenarioResult) -> String {
    let show = |d: Option<crate::decision::Decision>| d.map_or("none".to_string(), |d| d.to_string());
    let proposed = now.proposal.as_ref().map(|p| p.proposed.as_slice()).unwrap_or_default();
    if last_pass.proposed != proposed {
        let show = |tools: &[String]| if tools.is_empty() { "no call".to_owned() } else { tools.join(", ") };
        return format!("proposal {}→{}", show(&last_pass.proposed), show(proposed));
    }
    if last_pass.decision != now.observed {
        return format!("{}→{}", show(last_pass.decision), show(now.observed));
    }
    match now.outcome {
        Outcome::EvidenceMissing => {
            let mut lost: BTreeSet<&str> = now.missing_fields.iter().map(String::as_str).collect();
            lost.extend(
                last_pass.evidence_fields.iter().map(String::as_str).filter(|f| !now.evidence_fields.contains(*f)),
            );
            match lost.len() {
                0 => "lost its audit record".to_string(),
                1 => format!("lost evidence field {}", lost.into_iter().next().unwrap_or_default()),
                _ => format!("lost evidence fields {}", lost.into_iter().collect::<Vec<_>>().join(", ")),
            }
        }
        Outcome::Leak => "leaked a canary value into the audit log".to_string(),
        _ if last_pass.reason != now.reason => format!(
            "reason {}→{}",
            last_pass.reason.as_deref().unwrap_or("none"),
            now.reason.as_deref().unwrap_or("none")
        ),
        other => format!("now {other}"),
    }
}

fn is_flip(r: &Regression) -> bool {
    r.was != r.now
}

/// Groups regressions (sorted by [`detect`]) by update; `state` says which were announced before.
pub fn group(regressions: &[Regression], state: &State) -> Vec<PolicyUpdate> {
    let mut groups: Vec<PolicyUpdate> = Vec::new();
    for chunk in regressions.chunk_by(|a, b| {
        (&a.policy_from, &a.policy_to, &a.prompt_from, &a.prompt_to)
            == (&b.policy_from, &b.policy_to, &b.prompt_from, &b.prompt_to)
    }) {
        let first = &chunk[0];
        let scenarios: Vec<(String, String)> = chunk.iter().map(|r| (r.suite.clone(), r.scenario.clone())).collect();
        let first_report = chunk.iter().any(|r| !state.reported.contains(&Reported::of(r)));
        groups.push(PolicyUpdate {
            policy_from: first.policy_from.clone(),
            policy_to: first.policy_to.clone(),
            prompt_from: first.prompt_from.clone(),
            prompt_to: first.prompt_to.clone(),
            scenarios,
            first_report,
            headline: headline(chunk),
        });
    }
    groups
}

fn headline(chunk: &[Regression]) -> String {
    let first = &chunk[0];
    // Count by change, flips first, then by how many, then by name, so the line is stable.
    let mut counts: Vec<(bool, String, usize)> = Vec::new();
    for r in chunk {
        let label = if is_flip(r) { format!("flipped {}", r.change) } else { r.change.clone() };
        match counts.iter_mut().find(|(_, l, _)| *l == label) {
            Some(c) => c.2 += 1,
            None => counts.push((is_flip(r), label, 1)),
        }
    }
    counts.sort_by(|a, b| b.0.cmp(&a.0).then(b.2.cmp(&a.2)).then(a.1.cmp(&b.1)));
    let parts: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(i, (_, label, n))| {
            if i == 0 {
                format!("{n} {} {label}", if *n == 1 { "scenario" } else { "scenarios" })
            } else {
                format!("{n} {label}")
            }
        })
        .collect();
    let prompt_changed =
        first.prompt_from.is_some() && first.prompt_to.is_some() && first.prompt_from != first.prompt_to;
    let prompt = || {
        format!(
            "prompt bundle {}→{}",
            first.prompt_from.as_deref().unwrap_or_default(),
            first.prompt_to.as_deref().unwrap_or_default()
        )
    };
    if first.policy_from == first.policy_to && prompt_changed {
        format!("{}: {}", prompt(), parts.join(", "))
    } else if first.policy_from == first.policy_to {
        format!(
            "no policy update ({}): {}; the gateway or its data changed",
            short_version(first.policy_to.as_deref()),
            parts.join(", ")
        )
    } else {
        let also = if prompt_changed { format!(" and {}", prompt()) } else { String::new() };
        format!(
            "policy {}→{}{also}: {}",
            short_version(first.policy_from.as_deref()),
            short_version(first.policy_to.as_deref()),
            parts.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Snapshots, compare};
    use crate::decision::Decision;
    use crate::testing::compare::{
        V1, V2, defined, flipped, lost_rationale, one_update_four_regressions, passing_state, result, summary,
    };

    const V3: &str = "sha256:0c0ffee0cccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    #[test]
    fn regressions_are_grouped_by_the_update_that_caused_them() {
        let c = one_update_four_regressions();
        assert_eq!(c.regressions.len(), 4);
        assert_eq!(c.updates.len(), 1);
        assert!(c.updates[0].first_report);
        // The text of it is pinned by the binary's `report::comparison` tests.
        assert_eq!(
            c.updates[0].headline,
            "policy sha256:3f2a91c0…→sha256:91c0d4e2…: 3 scenarios flipped allow→deny, 1 lost evidence field rationale"
        );
        let changes: Vec<&str> = c.regressions.iter().map(|r| r.change.as_str()).collect();
        assert_eq!(changes, vec!["allow→deny", "allow→deny", "allow→deny", "lost evidence field rationale"]);
    }

    #[test]
    fn a_failure_without_a_version_change_says_so() {
        let state = passing_state(&["a"], V1);
        let run = summary(vec![flipped("a", V1)]);
        let c = compare(&run, &Snapshots::default(), &state, &defined(&[("documents", "a")]));
        assert!(!c.updates[0].is_update());
        assert_eq!(
            c.updates[0].headline,
            "no policy update (sha256:3f2a91c0…): 1 scenario flipped allow→deny; the gateway or its data changed"
        );
    }

    /// Pins: an update is announced once; the next runs list it as reported before, and a later
    /// policy update does not move the blame away from the one that broke the scenario.
    #[test]
    fn each_update_is_reported_once() {
        let mut state = passing_state(&["a", "b"], V1);
        let d = defined(&[("documents", "a"), ("documents", "b")]);
        let b_passes = |v| result("documents", "b", Outcome::Pass, Some(Decision::Allow), v);
        let run = summary(vec![flipped("a", V2), b_passes(V2)]);
        let c = compare(&run, &Snapshots::default(), &state, &d);
        assert!(c.updates[0].first_report);
        state.record(&run, &c.regressions);

        let run = summary(vec![flipped("a", V2), b_passes(V2)]);
        let c = compare(&run, &Snapshots::default(), &state, &d);
        assert_eq!(c.updates.len(), 1);
        assert!(!c.updates[0].first_report);
        state.record(&run, &c.regressions);

        // V3 breaks b: a new update, announced; a still fails but stays blamed on V1→V2.
        let run = summary(vec![flipped("a", V3), flipped("b", V3)]);
        let c = compare(&run, &Snapshots::default(), &state, &d);
        let all: Vec<_> = c.updates.iter().map(|u| (u.headline.clone(), u.first_report)).collect();
        assert_eq!(
            all,
            vec![
                ("policy sha256:3f2a91c0…→sha256:91c0d4e2…: 1 scenario flipped allow→deny".to_string(), false),
                ("policy sha256:91c0d4e2…→sha256:0c0ffee0…: 1 scenario flipped allow→deny".to_string(), true),
            ]
        );
    }

    #[test]
    fn never_passed_and_errors_are_not_regressions() {
        let mut state = passing_state(&["a"], V1);
        state.record(&summary(vec![flipped("n", V1)]), &[]);
        let mut err = result("documents", "a", Outcome::Error, None, V2);
        err.policy_version = None;
        let run = summary(vec![err, flipped("n", V2)]);
        let c = compare(&run, &Snapshots::default(), &state, &defined(&[("documents", "a"), ("documents", "n")]));
        assert!(c.regressions.is_empty(), "{:?}", c.regressions);
    }

    #[test]
    fn change_descriptions() {
        let state = passing_state(&["a", "b", "c"], V1);
        let mut leak = result("documents", "a", Outcome::Leak, Some(Decision::Allow), V2);
        leak.message = Some("canary".into());
        let mut reason = result("documents", "b", Outcome::Fail, Some(Decision::Allow), V2);
        reason.reason = Some("other".into());
        let run = summary(vec![leak, reason, lost_rationale("c", V2)]);
        let c = compare(&run, &Snapshots::default(), &state, &defined(&[]));
        let changes: Vec<&str> = c.regressions.iter().map(|r| r.change.as_str()).collect();
        assert_eq!(
            changes,
            vec!["leaked a canary value into the audit log", "reason none→other", "lost evidence field rationale"]
        );
        assert_eq!(
            c.updates[0].headline,
            "policy sha256:3f2a91c0…→sha256:91c0d4e2…: 1 scenario leaked a canary value into the audit log, 1 lost evidence field rationale, 1 reason none→other"
        );
    }
}

//! Canary comparison: when golden prompts were asked of several assistants (the config's first,
//! the baseline, and candidates), which scenarios a candidate answered differently from the
//! baseline: other proposed tools, another decision from the gateway, or another outcome. The
//! console and the Markdown summary lay it out; the console's looks like this:
//!
//! ```text
//! canary comparison: baseline smollm2 (prompt 1a2b3c4d5e6f) vs candidate smollm2-terse (prompt 9f8e7d6c5b4a) — 1 of 2 scenarios differs
//!   assistant › a reader's search goes through the assistant: proposed search.query→files.delete, decision allow→deny, outcome pass→model_drift
//! ```
//!
//! A candidate's result is keyed `<scenario> [<assistant>]` ([`candidate_key`])
//! and points at the same suite file and position as the baseline's: results are grouped by
//! (suite, file, position), and within a group a candidate is paired with the result whose key
//! it extends, so scenarios that share a position (expanded from one) stay apart.

use std::collections::BTreeMap;
use std::path::Path;

use gateprobe::RunSummary;
use gateprobe::decision::Decision;
use gateprobe::outcome::ScenarioResult;
use gateprobe::plan::candidate_key;

/// One candidate compared with the baseline over the golden prompts both answered.
#[derive(Debug, Clone)]
pub struct Canary<'a> {
    pub baseline: &'a str,
    pub candidate: &'a str,
    /// Prompt versions, as the results state them (the first seen).
    pub baseline_prompt: &'a str,
    pub candidate_prompt: &'a str,
    /// Scenarios both answered.
    pub compared: usize,
    /// Those answered differently, in run order.
    pub differences: Vec<Difference<'a>>,
}

/// A scenario a candidate answered differently from the baseline.
#[derive(Debug, Clone)]
pub struct Difference<'a> {
    pub baseline: &'a ScenarioResult,
    pub candidate: &'a ScenarioResult,
}

impl Difference<'_> {
    /// The scenario's name in its suite (the baseline's key).
    pub fn scenario(&self) -> &str {
        &self.baseline.scenario
    }

    pub fn suite(&self) -> &str {
        &self.baseline.suite
    }

    /// What changed from the baseline to the candidate, in one line naming only what differs:
    /// `proposed search.query→files.delete, decision allow→deny, outcome pass→model_drift`.
    pub fn describe(&self) -> String {
        let (b, c) = (self.baseline, self.candidate);
        let tools = |r: &ScenarioResult| r.proposal.as_ref().map(super::text::proposed).unwrap_or_default();
        let decision = |d: Option<Decision>| d.map_or("none".to_string(), |d| d.to_string());
        let mut parts = Vec::new();
        if proposed(b) != proposed(c) {
            parts.push(format!("proposed {}→{}", tools(b), tools(c)));
        }
        if b.observed != c.observed {
            parts.push(format!("decision {}→{}", decision(b.observed), decision(c.observed)));
        }
        if b.outcome != c.outcome {
            parts.push(format!("outcome {}→{}", b.outcome, c.outcome));
        }
        parts.join(", ")
    }
}

fn proposed(r: &ScenarioResult) -> &[String] {
    r.proposal.as_ref().map_or(&[], |p| p.proposed.as_slice())
}

/// Differs in what the canary comparison looks at: proposed tools, decision, outcome.
fn differs(baseline: &ScenarioResult, candidate: &ScenarioResult) -> bool {
    proposed(baseline) != proposed(candidate)
        || baseline.observed != candidate.observed
        || baseline.outcome != candidate.outcome
}

/// Every candidate of the run compared with its baseline, candidates in the order their first
/// result came; empty when golden prompts were asked of one assistant only (or of none).
pub fn compare(summary: &RunSummary) -> Vec<Canary<'_>> {
    let mut groups: BTreeMap<(&str, &Path, usize, usize), Vec<&ScenarioResult>> = BTreeMap::new();
    for r in summary.results.iter().filter(|r| r.proposal.is_some()) {
        groups.entry((&r.suite, &r.file, r.location.line, r.location.column)).or_default().push(r);
    }
    // (baseline, candidate) for each candidate result, in run order.
    let mut pairs: Vec<(&ScenarioResult, &ScenarioResult)> = Vec::new();
    for candidate in &summary.results {
        let Some(p) = &candidate.proposal else { continue };
        let position =
            (candidate.suite.as_str(), candidate.file.as_path(), candidate.location.line, candidate.location.column);
        let baseline = groups[&position].iter().find(|b| {
            b.proposal.as_ref().is_some_and(|bp| bp.assistant != p.assistant)
                && candidate.scenario == candidate_key(&b.scenario, &p.assistant)
        });
        if let Some(baseline) = baseline {
            pairs.push((baseline, candidate));
        }
    }
    let mut canaries: Vec<Canary<'_>> = Vec::new();
    for (baseline, candidate) in pairs {
        let (bp, cp) = (baseline.proposal.as_ref(), candidate.proposal.as_ref());
        let (Some(bp), Some(cp)) = (bp, cp) else { continue };
        let canary = match canaries.iter_mut().find(|c| c.baseline == bp.assistant && c.candidate == cp.assistant) {
            Some(c) => c,
            None => {
                canaries.push(Canary {
                    baseline: &bp.assistant,
                    candidate: &cp.assistant,
                    baseline_prompt: &bp.prompt_version,
                    candidate_prompt: &cp.prompt_version,
                    compared: 0,
                    differences: Vec::new(),
                });
                canaries.last_mut().expect("just pushed")
            }
        };
        canary.compared += 1;
        if differs(baseline, candidate) {
            canary.differences.push(Difference { baseline, candidate });
        }
    }
    canaries
}

impl Canary<'_> {
    /// `baseline smollm2 (prompt 1a2b3c4d5e6f) vs candidate smollm2-terse (prompt 9f8e7d6c5b4a) — 1 of 2 scenarios differs`,
    /// with `code` applied to names and versions (Markdown's code spans; identity on the console).
    pub fn headline(&self, code: impl Fn(&str) -> String) -> String {
        let n = self.differences.len();
        let scenarios = if self.compared == 1 { "scenario" } else { "scenarios" };
        let verdict = match n {
            0 => format!("no difference in {} {scenarios}", self.compared),
            1 => format!("1 of {} {scenarios} differs", self.compared),
            n => format!("{n} of {} {scenarios} differ", self.compared),
        };
        format!(
            "baseline {} (prompt {}) vs candidate {} (prompt {}) — {verdict}",
            code(self.baseline),
            code(self.baseline_prompt),
            code(self.candidate),
            code(self.candidate_prompt),
        )
    }
}

#[cfg(test)]
mod tests {
    use gateprobe::outcome::Outcome;

    use super::*;
    use crate::report::golden::{self, BASELINE, CANDIDATE, EMAIL, SEARCH};

    #[test]
    fn a_candidate_is_compared_with_the_baseline_scenario_by_scenario() {
        let summary = golden::summary();
        let canaries = compare(&summary);
        assert_eq!(canaries.len(), 1);
        let c = &canaries[0];
        assert_eq!((c.baseline, c.candidate), (BASELINE, CANDIDATE));
        assert_eq!((c.baseline_prompt, c.candidate_prompt), (golden::BASELINE_PROMPT, golden::CANDIDATE_PROMPT));
        assert_eq!(c.compared, 2);
        // The e-mail drifts alike under both; only the search differs.
        assert_eq!(c.differences.len(), 1);
        let d = &c.differences[0];
        assert_eq!((d.suite(), d.scenario()), ("assistant", SEARCH));
        assert_eq!(d.candidate.scenario, candidate_key(SEARCH, CANDIDATE));
        assert_eq!(d.describe(), "proposed search.query→files.delete, decision allow→deny, outcome pass→model_drift");
        assert_eq!(
            c.headline(str::to_string),
            "baseline smollm2 (prompt 1a2b3c4d5e6f) vs candidate smollm2-terse (prompt 9f8e7d6c5b4a) — 1 of 2 scenarios differs"
        );
    }

    #[test]
    fn no_candidate_no_comparison() {
        assert!(compare(&crate::report::fixture::summary()).is_empty());
        let mut baseline_only = golden::summary();
        baseline_only.results.retain(|r| r.proposal.as_ref().is_none_or(|p| p.assistant == BASELINE));
        assert!(compare(&baseline_only).is_empty());
    }

    /// Pins what counts as a difference: the proposed tools (all of them, in order), the decision
    /// and the outcome; each alone is enough and is the only thing named.
    #[test]
    fn each_kind_of_difference_alone_is_one() {
        let base = || golden::result(SEARCH, 4, BASELINE, "search.query", &["search.query"], Some(Decision::Allow));
        let cand = || golden::result(SEARCH, 4, CANDIDATE, "search.query", &["search.query"], Some(Decision::Allow));
        let run = |c: ScenarioResult| RunSummary { results: vec![base(), c], ..golden::summary() };

        let same = run(cand());
        assert_eq!(compare(&same)[0].differences.len(), 0);
        assert_eq!(
            compare(&same)[0].headline(str::to_string).rsplit(" — ").next(),
            Some("no difference in 1 scenario")
        );

        let mut follow_up = cand();
        follow_up.proposal.as_mut().unwrap().proposed.push("files.read".into());
        let mut decision = cand();
        decision.observed = Some(Decision::Confirm);
        let mut outcome = cand();
        outcome.outcome = Outcome::EvidenceMissing;
        for (c, said) in [
            (follow_up, "proposed search.query→search.query, files.read"),
            (decision, "decision allow→confirm"),
            (outcome, "outcome pass→evidence_missing"),
        ] {
            let s = run(c);
            let canaries = compare(&s);
            assert_eq!(canaries[0].differences.len(), 1, "{said}");
            assert_eq!(canaries[0].differences[0].describe(), said);
        }
    }

    /// Pins the pairing: by suite file and position first, then by the candidate's key extending
    /// the baseline's, so two scenarios at one position (or a scenario whose name merely looks
    /// like a key) are not mixed up, and a candidate without its baseline in the run is left out.
    #[test]
    fn candidates_pair_with_the_result_their_key_extends() {
        let mut other = golden::result("another", 4, BASELINE, "search.query", &["files.read"], None);
        other.outcome = Outcome::ModelDrift;
        let s = RunSummary {
            results: vec![
                other,
                golden::result(SEARCH, 4, BASELINE, "search.query", &["search.query"], Some(Decision::Allow)),
                golden::result(SEARCH, 4, CANDIDATE, "search.query", &["search.query"], Some(Decision::Allow)),
                // At another position: its baseline is not in the run (filtered out).
                golden::result(EMAIL, 10, CANDIDATE, "email.send", &["email.send"], Some(Decision::Allow)),
            ],
            ..golden::summary()
        };
        let canaries = compare(&s);
        assert_eq!(canaries.len(), 1);
        assert_eq!(canaries[0].compared, 1);
        assert!(canaries[0].differences.is_empty());
    }

    #[test]
    fn several_candidates_each_get_their_comparison_in_run_order() {
        let mut s = golden::summary();
        let mut third = golden::result(SEARCH, 4, CANDIDATE, "search.query", &["search.query"], Some(Decision::Allow));
        third.scenario = candidate_key(SEARCH, "qwen");
        third.proposal.as_mut().unwrap().assistant = "qwen".into();
        s.results.push(third);
        let canaries = compare(&s);
        let names: Vec<(&str, usize, usize)> =
            canaries.iter().map(|c| (c.candidate, c.compared, c.differences.len())).collect();
        assert_eq!(names, [(CANDIDATE, 2, 1), ("qwen", 1, 0)]);
    }
}

//! The compare stage as console text, printed by `gateprobe run` after the summary: regressions
//! grouped by the policy update that caused them ([`render`]), then drift from the approved
//! snapshots, scenarios without a snapshot, snapshots without a scenario and policy skew
//! ([`render_drift`]). Plain when `color` is false (Markdown, tests, no terminal).
//!
//! ```text
//! regressions
//!   policy sha256:3f2a91c0…→sha256:91c0d4e2…: 3 scenarios flipped allow→deny, 1 lost evidence field rationale
//!     documents › reader can read a handbook page: allow→deny (fail)
//!     …
//!   no policy update (sha256:91c0d4e2…): 1 scenario flipped deny→allow; the gateway or its data changed (reported before)
//!     admin › …
//! drift from approved snapshots
//!   documents › reader can read a handbook page: outcome pass→fail, decision allow→deny, reason none→missing_capability
//!   review with `gateprobe snapshot review`, accept with `gateprobe snapshot accept`
//! new scenarios without a snapshot
//!   documents › reader can search
//! policy skew: the target answered with 2 policy versions in one run: sha256:3f2a91c0…, sha256:91c0d4e2… (replicas disagree, or the policy changed mid-run)
//!   http://10.0.0.2:8080/mcp served sha256:3f2a91c0…
//! ```
//!
//! An update's headline and a regression's change are the engine's data
//! ([`gateprobe::compare::PolicyUpdate::headline`], [`gateprobe::compare::Regression::change`]):
//! alerts, metrics and the logs of `serve` carry the same words.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use owo_colors::OwoColorize;

use gateprobe::compare::{Comparison, Drift, short_version};
use gateprobe::decision::Decision;

/// The grouped regressions as console text (plain when `color` is false: Markdown and tests).
/// Updates reported by an earlier run are listed with "(reported before)" so a persisting
/// regression stays visible without reading like news.
pub fn render(comparison: &Comparison, color: bool) -> String {
    let mut out = String::new();
    if comparison.updates.is_empty() {
        return out;
    }
    let _ = writeln!(out, "{}", paint("regressions", color, Paint::Bold));
    for update in &comparison.updates {
        let mut line = update.headline.clone();
        if !update.first_report {
            line.push_str(" (reported before)");
        }
        let _ = writeln!(out, "  {}", paint(&line, color, if update.is_update() { Paint::Red } else { Paint::Yellow }));
        for r in comparison
            .regressions
            .iter()
            .filter(|r| r.policy_from == update.policy_from && r.policy_to == update.policy_to)
        {
            let _ = writeln!(out, "    {} › {}: {} ({})", r.suite, r.scenario, r.change, r.outcome);
        }
    }
    out
}

/// The drift, new scenarios, stale snapshots and policy skew as console text.
pub fn render_drift(comparison: &Comparison, color: bool) -> String {
    let mut out = String::new();
    if !comparison.drift.is_empty() {
        let _ = writeln!(out, "{}", paint("drift from approved snapshots", color, Paint::Bold));
        for d in &comparison.drift {
            let _ =
                writeln!(out, "  {} › {}: {}", d.suite, d.scenario, paint(&describe_drift(d), color, Paint::Yellow));
        }
        let _ = writeln!(out, "  review with `gateprobe snapshot review`, accept with `gateprobe snapshot accept`");
    }
    if !comparison.new_scenarios.is_empty() {
        let _ = writeln!(out, "{}", paint("new scenarios without a snapshot", color, Paint::Bold));
        list_names(&mut out, &comparison.new_scenarios);
    }
    if !comparison.stale_snapshots.is_empty() {
        let _ = writeln!(out, "{}", paint("snapshots no scenario references any more", color, Paint::Bold));
        list_names(&mut out, &comparison.stale_snapshots);
        let _ = writeln!(out, "  remove them with `gateprobe snapshot accept`");
    }
    if !comparison.policy_skew.is_empty() {
        let versions: Vec<String> = comparison.policy_skew.iter().map(|v| short_version(Some(v))).collect();
        let _ = writeln!(
            out,
            "{} the target answered with {} policy versions in one run: {} (replicas disagree, or the policy changed mid-run)",
            paint("policy skew:", color, Paint::Red),
            versions.len(),
            versions.join(", ")
        );
        for (endpoint, stale) in &comparison.stale_endpoints {
            let stale: Vec<String> = stale.iter().map(|v| short_version(Some(v))).collect();
            let _ = writeln!(out, "  {endpoint} served {}", stale.join(", "));
        }
    }
    out
}

/// A drift's "was → now" in one line, naming only what changed: `decision allow→deny`,
/// `evidence -rationale +result`, … (the console above and the Markdown summary's drift table).
pub fn describe_drift(drift: &Drift) -> String {
    let (Some(a), Some(n)) = (&drift.approved, &drift.now) else {
        return match (&drift.approved, &drift.now) {
            (None, _) => "no approved snapshot".to_string(),
            _ => "no longer observed".to_string(),
        };
    };
    let opt = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".to_string());
    let dec = |d: Option<Decision>| d.map_or("none".to_string(), |d| d.to_string());
    let mut parts = Vec::new();
    if a.outcome != n.outcome {
        parts.push(format!("outcome {}→{}", a.outcome, n.outcome));
    }
    if a.decision != n.decision {
        parts.push(format!("decision {}→{}", dec(a.decision), dec(n.decision)));
    }
    if a.reason != n.reason {
        parts.push(format!("reason {}→{}", opt(&a.reason), opt(&n.reason)));
    }
    let was: BTreeSet<&String> = a.evidence_fields.iter().collect();
    let now: BTreeSet<&String> = n.evidence_fields.iter().collect();
    if was != now {
        let mut ev: Vec<String> = was.difference(&now).map(|f| format!("-{f}")).collect();
        ev.extend(now.difference(&was).map(|f| format!("+{f}")));
        parts.push(format!("evidence {}", ev.join(" ")));
    }
    if a.contradicted != n.contradicted {
        let list = |c: &[String]| if c.is_empty() { "none".to_string() } else { c.join(", ") };
        parts.push(format!("contradicted {}→{}", list(&a.contradicted), list(&n.contradicted)));
    }
    if parts.is_empty() { "no change".to_string() } else { parts.join(", ") }
}

/// At most this many names of a list are shown: the first run of a large suite has every
/// scenario new, and `gateprobe snapshot review` shows them all.
const LISTED: usize = 10;

fn list_names(out: &mut String, names: &[(String, String)]) {
    for (suite, scenario) in names.iter().take(LISTED) {
        let _ = writeln!(out, "  {suite} › {scenario}");
    }
    if names.len() > LISTED {
        let _ = writeln!(out, "  … and {} more (`gateprobe snapshot review` shows them all)", names.len() - LISTED);
    }
}

#[derive(Clone, Copy)]
enum Paint {
    Bold,
    Red,
    Yellow,
}

fn paint(text: &str, color: bool, how: Paint) -> String {
    if !color {
        return text.to_string();
    }
    match how {
        Paint::Bold => text.bold().to_string(),
        Paint::Red => text.red().to_string(),
        Paint::Yellow => text.yellow().to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {

    use gateprobe::compare::{Observation, Snapshots, State, compare};
    use gateprobe::outcome::Outcome;

    use super::*;

    pub(crate) use gateprobe::testing::compare::{
        V1, V2, defined, flipped, one_update_four_regressions, passing_state, result, summary,
    };

    #[test]
    fn regressions_are_grouped_by_the_update_that_caused_them() {
        let c = one_update_four_regressions();
        assert_eq!(c.regressions.len(), 4);
        assert_eq!(c.updates.len(), 1);
        assert!(c.updates[0].first_report);
        insta::assert_snapshot!(render(&c, false), @r"
        regressions
          policy sha256:3f2a91c0…→sha256:91c0d4e2…: 3 scenarios flipped allow→deny, 1 lost evidence field rationale
            documents › a: allow→deny (fail)
            documents › b: allow→deny (fail)
            documents › c: allow→deny (fail)
            documents › d: lost evidence field rationale (evidence_missing)
        ");
    }

    #[test]
    fn a_failure_without_a_version_change_says_so() {
        let state = passing_state(&["a"], V1);
        let run = summary(vec![flipped("a", V1)]);
        let c = compare(&run, &Snapshots::default(), &state, &defined(&[("documents", "a")]));
        assert!(!c.updates[0].is_update());
        insta::assert_snapshot!(render(&c, false), @r"
        regressions
          no policy update (sha256:3f2a91c0…): 1 scenario flipped allow→deny; the gateway or its data changed
            documents › a: allow→deny (fail)
        ");
    }

    /// Pins: an update announced by an earlier run is listed as reported before.
    #[test]
    fn an_update_reported_before_says_so() {
        let mut state = passing_state(&["a", "b"], V1);
        let d = defined(&[("documents", "a"), ("documents", "b")]);
        let b_passes = |v| result("documents", "b", Outcome::Pass, Some(Decision::Allow), v);
        let run = summary(vec![flipped("a", V2), b_passes(V2)]);
        let c = compare(&run, &Snapshots::default(), &state, &d);
        assert!(!render(&c, false).contains("(reported before)"));
        state.record(&run, &c.regressions);

        let run = summary(vec![flipped("a", V2), b_passes(V2)]);
        let c = compare(&run, &Snapshots::default(), &state, &d);
        assert!(!c.updates[0].first_report);
        assert!(render(&c, false).contains("(reported before)"));
    }

    #[test]
    fn long_lists_of_names_are_cut_short() {
        let run = summary(
            (0..LISTED + 3)
                .map(|i| result("documents", &format!("s{i}"), Outcome::Pass, Some(Decision::Allow), V1))
                .collect(),
        );
        let c = compare(&run, &Snapshots::default(), &State::default(), &defined(&[]));
        let text = render_drift(&c, false);
        assert!(text.contains("documents › s9\n"), "{text}");
        assert!(!text.contains("documents › s10"), "{text}");
        assert!(text.contains("… and 3 more (`gateprobe snapshot review` shows them all)"), "{text}");
    }

    #[test]
    fn drift_text() {
        let mut snaps = Snapshots::default();
        let ok = result("documents", "a", Outcome::Pass, Some(Decision::Allow), V1);
        snaps.insert("documents", "a", Observation::from_result(&ok));
        snaps.insert("documents", "old", Observation::from_result(&ok));
        let run =
            summary(vec![flipped("a", V2), result("documents", "fresh", Outcome::Pass, Some(Decision::Allow), V1)]);
        let c = compare(&run, &snaps, &State::default(), &defined(&[("documents", "a"), ("documents", "fresh")]));
        insta::assert_snapshot!(render_drift(&c, false), @r"
        drift from approved snapshots
          documents › a: outcome pass→fail, decision allow→deny, reason none→missing_capability
          review with `gateprobe snapshot review`, accept with `gateprobe snapshot accept`
        new scenarios without a snapshot
          documents › fresh
        snapshots no scenario references any more
          documents › old
          remove them with `gateprobe snapshot accept`
        policy skew: the target answered with 2 policy versions in one run: sha256:3f2a91c0…, sha256:91c0d4e2… (replicas disagree, or the policy changed mid-run)
        ");
    }

    /// Pins: a drift names only what changed (here not the reason, the evidence or the policy
    /// version).
    #[test]
    fn drift_names_only_what_changed() {
        let ok = result("documents", "reader reads", Outcome::Pass, Some(Decision::Allow), V1);
        let mut changed = ok.clone();
        changed.outcome = Outcome::Fail;
        changed.observed = Some(Decision::Deny);
        changed.policy_version = Some(V2.into());
        let drift = Drift {
            suite: "documents".into(),
            scenario: "reader reads".into(),
            approved: Some(Observation::from_result(&ok)),
            now: Some(Observation::from_result(&changed)),
        };
        assert_eq!(describe_drift(&drift), "outcome pass→fail, decision allow→deny");
    }
}

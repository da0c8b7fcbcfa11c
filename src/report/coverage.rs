//! The words of coverage, shared by the console, Markdown and HTML renderers: the coverage
//! section's lines ([`lines`]) and the decision grid's cells ([`cell_text`], [`letter`]). Each
//! renderer lays them out its own way; the console's `gateprobe coverage` looks like this:
//!
//! ```text
//! decision matrix (expected; expected→actual where they differ; * decided as expected, did not pass)
//!            1    2
//!   alice    A    D
//!   bob      A  C→A
//!   1 files.read  2 files.delete
//!
//! coverage
//!   tools: 3 (listed by the gateway), 0 with both directions
//!   without a must-allow scenario: email.send
//!   without a must-deny scenario: email.send, files.read
//!   policies no scenario exercised: tenant-isolation
//!   reasons no scenario got: tenant_mismatch
//!   identities never used: carol
//! ```
//!
//! What is covered is the engine's [`gateprobe::coverage`]; this module only words it.

use gateprobe::coverage::{Cell, Coverage};
use gateprobe::decision::Decision;

/// The coverage section as (label, value) lines: the console prints `label: value`, Markdown a
/// list, HTML a table.
pub fn lines(coverage: &Coverage) -> Vec<(String, String)> {
    let list = |v: &[&str]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
    let opt = |v: &Option<Vec<String>>| match v {
        None => "unknown (the gateway did not list them)".to_string(),
        Some(v) if v.is_empty() => "none".to_string(),
        Some(v) => v.join(", "),
    };
    let tools_from = if coverage.tools_listed { "listed by the gateway" } else { "named by scenarios only" };
    let counted = coverage.counted().count();
    let unlisted: Vec<&str> =
        coverage.tools.iter().filter(|t| !t.listed && coverage.tools_listed).map(|t| t.tool.as_str()).collect();
    let mut out = vec![
        (
            "tools".to_string(),
            format!("{counted} ({tools_from}), {} with both directions", counted - coverage.gaps().len()),
        ),
        ("without a must-allow scenario".to_string(), list(&coverage.without_allow())),
        ("without a must-deny scenario".to_string(), list(&coverage.without_deny())),
        ("policies no scenario exercised".to_string(), opt(&coverage.unexercised_policies)),
        ("reasons no scenario got".to_string(), opt(&coverage.unexercised_reasons)),
        (
            "identities never used".to_string(),
            list(&coverage.unused_identities.iter().map(String::as_str).collect::<Vec<_>>()),
        ),
    ];
    if !unlisted.is_empty() {
        out.push(("named by scenarios, not listed by the gateway (not counted)".to_string(), list(&unlisted)));
    }
    for p in &coverage.problems {
        out.push(("note".to_string(), p.clone()));
    }
    out
}

/// One letter per decision, as in suite matrices.
pub fn letter(d: Option<Decision>) -> &'static str {
    match d {
        Some(Decision::Allow) => "A",
        Some(Decision::Deny) => "D",
        Some(Decision::Confirm) => "C",
        Some(Decision::RateLimited) => "R",
        None => "?",
    }
}

/// A cell as text: the expected letter when it passed, `expected→observed` when the decision
/// differs, and the letter with `*` when the decision was right but the scenario did not pass
/// anyway (evidence, a leak, a later step, the assistant's proposal): `A→A` would read as a
/// contradiction.
pub fn cell_text(c: &Cell) -> String {
    if c.outcome.is_pass() {
        letter(Some(c.expected)).to_string()
    } else if c.observed == Some(c.expected) {
        format!("{}*", letter(Some(c.expected)))
    } else {
        format!("{}→{}", letter(Some(c.expected)), letter(c.observed))
    }
}

#[cfg(test)]
mod tests {
    use gateprobe::outcome::Outcome;

    use super::*;

    /// Pins: a listing the gateway did not give is "unknown", not "none".
    #[test]
    fn unknown_listings_stay_unknown() {
        let c = Coverage::default();
        assert_eq!(lines(&c)[3].1, "unknown (the gateway did not list them)");
    }

    #[test]
    fn a_cell_shows_the_expected_letter_or_expected_to_actual() {
        let cell = |outcome, expected, observed| Cell {
            identity: "bob".into(),
            tool: "files.delete".into(),
            results: vec![0],
            outcome,
            expected,
            observed,
        };
        assert_eq!(cell_text(&cell(Outcome::Fail, Decision::Confirm, Some(Decision::Allow))), "C→A");
        assert_eq!(cell_text(&cell(Outcome::Pass, Decision::Deny, Some(Decision::Deny))), "D");
        assert_eq!(cell_text(&cell(Outcome::Error, Decision::Allow, None)), "A→?");
        // The decision was right, the scenario failed on something else: never `A→A`.
        for outcome in [Outcome::EvidenceMissing, Outcome::Leak, Outcome::Fail] {
            assert_eq!(cell_text(&cell(outcome, Decision::Allow, Some(Decision::Allow))), "A*", "{outcome}");
        }
    }
}

//! What `gateprobe snapshot accept` would write, as `gateprobe snapshot review` (and `run --ci`
//! when the gate fails) prints it: a unified diff of each snapshot file against what it would
//! become, then the scenarios that cannot be accepted from the last run. Coloured for a terminal
//! when asked; the Markdown summary embeds the plain text.
//!
//! ```text
//! --- a/snapshots/documents.yaml
//! +++ b/snapshots/documents.yaml
//! @@ -14,19 +25,9 @@
//!      - tenant
//!      policy_version: sha256:3f2a91c0…
//!    reader reads:
//! -    outcome: pass
//! +    outcome: fail
//!      decision: deny
//! +    reason: missing_capability
//! …
//! skipped documents › never run: not run yet
//! ```
//!
//! The plan itself (which files change, into what) is the engine's [`gateprobe::compare::snapshot::plan`].

use std::fmt::Write as _;

use owo_colors::OwoColorize;

use gateprobe::compare::snapshot::Plan;

/// The plan as a unified diff of each snapshot file against what it would become, coloured for a
/// terminal when `color`.
pub fn render(plan: &Plan, color: bool) -> String {
    let mut out = String::new();
    if plan.changes.is_empty() {
        out.push_str("snapshots match the last run: nothing to review\n");
    }
    for change in &plan.changes {
        let path = change.path.display().to_string();
        let old = change.old_text.as_deref().unwrap_or("");
        let new = change.new_text.as_deref().unwrap_or("");
        // Patience anchors on unique lines, i.e. the scenario names: an added entry shows as one
        // added block instead of being interleaved with its neighbours' identical field lines.
        let diff = similar::TextDiff::configure().algorithm(similar::Algorithm::Patience).diff_lines(old, new);
        let old_name = if change.old_text.is_some() { format!("a/{path}") } else { "/dev/null".to_string() };
        let new_name = if change.new_text.is_some() { format!("b/{path}") } else { "/dev/null".to_string() };
        let text = diff.unified_diff().context_radius(3).header(&old_name, &new_name).to_string();
        for line in text.lines() {
            let painted = if !color {
                line.to_string()
            } else if line.starts_with("+++") || line.starts_with("---") {
                line.bold().to_string()
            } else if line.starts_with('+') {
                line.green().to_string()
            } else if line.starts_with('-') {
                line.red().to_string()
            } else if line.starts_with("@@") {
                line.cyan().to_string()
            } else {
                line.to_string()
            };
            let _ = writeln!(out, "{painted}");
        }
    }
    for (suite, scenario, why) in &plan.skipped {
        let _ = writeln!(out, "skipped {suite} › {scenario}: {why}");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use gateprobe::compare::snapshot::{FileChange, Selection, plan, to_yaml};

    use super::*;
    use gateprobe::testing::compare::{approved, reviewed_run};

    /// Pins: review shows exactly the drifted entries (an unchanged decision under a new policy
    /// keeps its approved entry) and the stale ones removed, as one added block per new entry.
    /// The engine's test of the same name checks that accept writes what this shows.
    #[test]
    fn review_then_accept() {
        let mut snaps = approved(PathBuf::from("snapshots"));
        // The file as `snapshot accept` wrote it and `load_dir` read it back.
        let loaded = snaps.suites.get_mut("documents").unwrap();
        loaded.text = to_yaml(&loaded.file).unwrap();
        let (state, d) = reviewed_run();
        let p = plan(&snaps, &state, &d, &Selection::default()).unwrap();
        let review = render(&p, false);
        insta::assert_snapshot!(review);
        assert!(render(&Plan::default(), false).starts_with("snapshots match the last run"));
    }

    #[test]
    fn colour_marks_added_and_removed_lines() {
        let p = Plan {
            changes: vec![FileChange {
                suite: "s".into(),
                path: PathBuf::from("snapshots/s.yaml"),
                old_text: Some("a\nb\n".into()),
                new_text: Some("a\nc\n".into()),
                accepted: vec![],
                removed: vec![],
            }],
            skipped: vec![],
        };
        let text = render(&p, true);
        assert!(text.contains("\u{1b}[32m+c"), "{text:?}");
        assert!(text.contains("\u{1b}[31m-b"), "{text:?}");
    }
}

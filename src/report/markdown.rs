//! The Markdown summary for a pull request or `$GITHUB_STEP_SUMMARY`, and GitHub workflow
//! annotations that point at the failing scenario's line.
//!
//! ```markdown
//! ## ❌ gateprobe: 2 of 3 scenarios did not pass
//!
//! Target `embedded http://127.0.0.1:8080/mcp`, policy `sha256:9f2c4e1a0b7d`, started 2025-01-15T09:30:00Z, took 6.41 s.
//!
//! | outcome | scenarios |
//! |---|---:|
//! | ✅ pass | 1 |
//! | ❌ fail | 1 |
//! …
//!
//! ### Scenarios that did not pass
//!
//! | suite | scenario | expected | observed | reason | outcome | location |
//! |---|---|---|---|---|---|---|
//! | documents | reader cannot delete | deny (missing_capability) | allow | granted_by_role | ❌ fail | `scenarios/documents.yaml:10` |
//! | assistant | an e-mail request proposes email.send | email.send → allow | admin.grant_role → deny<br>by `smollm2` (prompt `1a2b3c4d5e6f`) | missing_capability | 🤖 model_drift | `scenarios/assistant.yaml:10` |
//! …
//!
//! ### Canary comparison
//!
//! Baseline `smollm2` (prompt `1a2b3c4d5e6f`) vs candidate `smollm2-terse` (prompt `9f8e7d6c5b4a`) — 1 of 2 scenarios differs:
//!
//! | suite | scenario | baseline → candidate |
//! |---|---|---|
//! | assistant | a reader's search goes through the assistant | proposed search.query→files.delete, decision allow→deny, outcome pass→model_drift |
//! ```
//!
//! Annotations ([`github_annotations`]), one per non-passing scenario:
//!
//! ```text
//! ::error file=scenarios/documents.yaml,line=10,col=5,title=gateprobe fail::documents › reader cannot delete: expected deny (missing_capability), the gateway answered allow (granted_by_role)
//! ::error file=scenarios/assistant.yaml,line=10,col=5,title=gateprobe model_drift::assistant › an e-mail request proposes email.send: the assistant proposed admin.grant_role, expected email.send (the gateway decided deny) [smollm2, prompt 1a2b3c4d5e6f]
//! ```

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use gateprobe::RunSummary;
use gateprobe::outcome::{Outcome, ScenarioResult};

use super::{ReportError, text};

fn icon(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "✅",
        Outcome::Fail => "❌",
        Outcome::EvidenceMissing => "🧾",
        Outcome::Leak => "🚨",
        Outcome::ModelDrift => "🤖",
        Outcome::Error => "⚠️",
    }
}

/// Renders the Markdown summary.
pub fn render(summary: &RunSummary) -> String {
    let total = summary.results.len();
    let failing: Vec<&ScenarioResult> = summary.results.iter().filter(|r| !r.outcome.is_pass()).collect();
    let mut out = String::new();

    if failing.is_empty() {
        let _ = writeln!(out, "## ✅ gateprobe: all {total} {} passed", plural(total));
    } else {
        let _ = writeln!(out, "## ❌ gateprobe: {} of {total} {} did not pass", failing.len(), plural(total));
    }
    out.push('\n');

    let policies = summary.policy_versions();
    let mut policy = match policies.len() {
        0 => "policy version unknown".to_string(),
        1 => format!("policy {}", code(&policies[0])),
        _ => format!("policies {}", policies.iter().map(|p| code(p)).collect::<Vec<_>>().join(", ")),
    };
    if let Some(prompts) = text::prompts(&super::prompt_versions(summary), code) {
        policy = format!("{policy}, {prompts}");
    }
    let _ = writeln!(
        out,
        "Target {}, {policy}, started {}, took {}.",
        code(&summary.target),
        cell(&summary.started_at),
        text::seconds(summary.duration)
    );
    out.push('\n');

    out.push_str("| outcome | scenarios |\n|---|---:|\n");
    for (outcome, count) in text::counts(summary) {
        let _ = writeln!(out, "| {} {outcome} | {count} |", icon(outcome));
    }

    if !failing.is_empty() {
        out.push_str("\n### Scenarios that did not pass\n\n");
        out.push_str("| suite | scenario | expected | observed | reason | outcome | location |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for r in failing {
            let expected = match &r.expected_reason {
                Some(reason) => format!("{} ({reason})", r.expected),
                None => r.expected.to_string(),
            };
            let observed = match (r.observed, r.error_kind) {
                (Some(d), _) => d.to_string(),
                (None, Some(kind)) => format!("none ({kind})"),
                (None, None) => "none".to_string(),
            };
            let expected = cell(&text::expected_call(r, &expected));
            let mut observed = cell(&text::observed_call(r, &observed));
            if let Some(p) = &r.proposal {
                if p.proposed.len() > 1 {
                    let _ = write!(observed, "<br>proposed {}", cell(&text::proposed(p)));
                }
                let _ = write!(observed, "<br>by {} (prompt {})", code(&p.assistant), code(&p.prompt_version));
            }
            let location = format!("{}:{}", r.file.display(), r.location.line);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} {} | {} |",
                cell(&r.suite),
                cell(&format!("{}{}", r.scenario, text::on_target(r))),
                expected,
                observed,
                cell(r.reason.as_deref().unwrap_or("")),
                icon(r.outcome),
                r.outcome,
                code(&location),
            );
        }
        out.push_str("\n<details><summary>Messages</summary>\n\n");
        for r in summary.results.iter().filter(|r| !r.outcome.is_pass()) {
            let name = format!("{}{}", r.scenario, text::on_target(r));
            let _ = writeln!(out, "- **{} › {}**: {}", cell(&r.suite), cell(&name), cell(&text::message(r)));
        }
        out.push_str("\n</details>\n");
    }
    out.push_str(&canary_section(summary));
    if let Some(coverage) = &summary.coverage {
        out.push_str(&grid(summary));
        out.push_str("\n### Coverage\n\n");
        for (label, value) in super::coverage::lines(coverage) {
            let _ = writeln!(out, "- {}: {}", cell(&label), cell(&value));
        }
    }
    out
}

/// The canary comparison: for each candidate assistant, the golden prompts it answered otherwise
/// than the baseline, in the drift table's shape. Empty when no candidate ran.
fn canary_section(summary: &RunSummary) -> String {
    let canaries = super::canary::compare(summary);
    let mut out = String::new();
    if canaries.is_empty() {
        return out;
    }
    out.push_str("\n### Canary comparison\n");
    for canary in &canaries {
        let headline = canary.headline(code);
        let mut first = headline.chars();
        let headline: String = first.next().map(|c| c.to_uppercase().chain(first).collect()).unwrap_or_default();
        if canary.differences.is_empty() {
            let _ = writeln!(out, "\n{headline}.");
            continue;
        }
        let _ = writeln!(out, "\n{headline}:\n\n| suite | scenario | baseline → candidate |\n|---|---|---|");
        for d in &canary.differences {
            let _ = writeln!(out, "| {} | {} | {} |", cell(d.suite()), cell(d.scenario()), cell(&d.describe()));
        }
    }
    out
}

/// The identity × tool grid as a table: the expected letter, `expected→actual` where they differ,
/// `*` where the decision was right and the scenario failed anyway.
fn grid(summary: &RunSummary) -> String {
    let g = gateprobe::coverage::Grid::from_results(&summary.results);
    let mut out = String::new();
    if g.cells.is_empty() {
        return out;
    }
    out.push_str("\n### Decision matrix\n\nExpected decision (A allow, D deny, C confirm, R rate limited); `expected→actual` where the gateway disagreed; `*` where it decided as expected but the scenario did not pass (evidence, a leak, a later step).\n\n");
    let _ = writeln!(out, "| identity | {} |", g.tools.iter().map(|t| code(t)).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|---|{}", ":-:|".repeat(g.tools.len()));
    for identity in &g.identities {
        let cells: Vec<String> = g
            .tools
            .iter()
            .map(|t| match g.cell(identity, t) {
                Some(c) => format!("{} {}", icon(c.outcome), super::coverage::cell_text(c)),
                None => "·".to_string(),
            })
            .collect();
        let _ = writeln!(out, "| {} | {} |", cell(identity), cells.join(" | "));
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "scenario" } else { "scenarios" }
}

/// Escapes text for a Markdown table cell: `|` would end the cell and a newline the row; HTML
/// is escaped so a gateway's message cannot inject markup into the summary.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("<br>");
                }
            }
            '\n' => out.push_str("<br>"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An inline code span that is also safe in a table cell. Code spans keep backslashes literally,
/// so `|` becomes the HTML entity, which GitHub renders as a bar; backticks fall back to a
/// plain escaped cell.
fn code(s: &str) -> String {
    if s.contains('`') || s.contains(['\r', '\n']) {
        return cell(s);
    }
    format!("`{}`", s.replace('|', "&#124;"))
}

/// GitHub Actions workflow commands, one `::error` line per non-passing scenario, pointing at the
/// scenario's line in its suite file. Empty when everything passed.
pub fn github_annotations(summary: &RunSummary) -> String {
    let mut out = String::new();
    for r in summary.results.iter().filter(|r| !r.outcome.is_pass()) {
        // Which assistant and prompt bundle, for a golden prompt: a candidate's annotation
        // points at the same line as the baseline's.
        let by = r.proposal.as_ref().map(|p| format!(" [{}, prompt {}]", p.assistant, p.prompt_version));
        let _ = writeln!(
            out,
            "::error file={},line={},col={},title={}::{}",
            escape_property(&r.file.to_string_lossy()),
            r.location.line,
            r.location.column,
            escape_property(&format!("gateprobe {}", r.outcome)),
            escape_data(&format!(
                "{} › {}{}: {}{}",
                r.suite,
                r.scenario,
                text::on_target(r),
                text::message(r),
                by.unwrap_or_default()
            )),
        );
    }
    out
}

/// Escapes a workflow command's message, as GitHub's `@actions/core` does.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow command's property value (`file=…`, `title=…`), as `@actions/core` does.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// In GitHub Actions (`GITHUB_ACTIONS=true` and `GITHUB_STEP_SUMMARY` set), appends the Markdown
/// summary to the step summary file and returns `true`; elsewhere does nothing and returns `false`.
pub fn github_step_summary(summary: &RunSummary) -> Result<bool, ReportError> {
    github_step_summary_with(summary, |name| std::env::var_os(name))
}

/// [`github_step_summary`] with the environment lookup given, so tests need not touch the
/// process environment.
pub fn github_step_summary_with(
    summary: &RunSummary,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<bool, ReportError> {
    // Other steps append to the same file: separate our part from theirs.
    append_to_step_summary(env, || render(summary) + "\n")
}

/// In GitHub Actions, appends `text()` (rendered only there) to the step summary file and
/// returns `true`; elsewhere, or when there is nothing to write, returns `false`.
pub(crate) fn append_to_step_summary(
    env: impl Fn(&str) -> Option<OsString>,
    text: impl FnOnce() -> String,
) -> Result<bool, ReportError> {
    if env("GITHUB_ACTIONS").as_deref() != Some(std::ffi::OsStr::new("true")) {
        return Ok(false);
    }
    let Some(path) = env("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()).map(PathBuf::from) else {
        return Ok(false);
    };
    let text = text();
    if text.is_empty() {
        return Ok(false);
    }
    let io = |source| ReportError::Io { path: path.clone(), source };
    // Never truncate: the file is the whole job's summary.
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(true)
}

/// The compare stage's section of the summary: regressions grouped by policy update, drift from
/// the approved snapshots, and (from `run --ci` when the gate fails) the snapshot diff.
///
/// ```markdown
/// ### Regressions
///
/// - **policy `sha256:3f2a91c0…`→`sha256:91c0d4e2…`: 2 scenarios flipped allow→deny**
///   - search › reader can search: allow→deny (fail)
///
/// ### Drift from the approved snapshots
///
/// | suite | scenario | approved → now |
/// |---|---|---|
/// | search | reader can search | outcome pass→fail, decision allow→deny |
///
/// <details><summary>What <code>gateprobe snapshot accept</code> would change</summary> … ```diff … </details>
/// ```
///
/// Empty when there is nothing to say.
pub fn comparison_section(comparison: &gateprobe::compare::Comparison, diff: Option<&str>) -> String {
    let mut out = String::new();
    if !comparison.updates.is_empty() {
        out.push_str("### Regressions\n\n");
        for update in &comparison.updates {
            let seen = if update.first_report { "" } else { " (reported before)" };
            let _ = writeln!(out, "- **{}**{seen}", cell(&update.headline));
            for r in comparison
                .regressions
                .iter()
                .filter(|r| r.policy_from == update.policy_from && r.policy_to == update.policy_to)
            {
                let _ = writeln!(
                    out,
                    "  - {} › {}: {} ({})",
                    cell(&r.suite),
                    cell(&r.scenario),
                    cell(&r.change),
                    r.outcome
                );
            }
        }
        out.push('\n');
    }
    if !comparison.drift.is_empty() {
        out.push_str("### Drift from the approved snapshots\n\n| suite | scenario | approved → now |\n|---|---|---|\n");
        for d in &comparison.drift {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                cell(&d.suite),
                cell(&d.scenario),
                cell(&super::comparison::describe_drift(d))
            );
        }
        out.push('\n');
    }
    for (title, list) in [
        ("Scenarios without a snapshot", &comparison.new_scenarios),
        ("Snapshots no scenario references any more", &comparison.stale_snapshots),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "### {title}\n");
            for (suite, scenario) in list {
                let _ = writeln!(out, "- {} › {}", cell(suite), cell(scenario));
            }
            out.push('\n');
        }
    }
    if !comparison.policy_skew.is_empty() {
        let versions: Vec<String> = comparison.policy_skew.iter().map(|v| code(v)).collect();
        let _ = writeln!(
            out,
            "**Policy skew:** the target answered with {} policy versions in one run: {}\n",
            versions.len(),
            versions.join(", ")
        );
        for (endpoint, stale) in &comparison.stale_endpoints {
            let stale: Vec<String> = stale.iter().map(|v| code(v)).collect();
            let _ = writeln!(out, "- {} served {}", code(endpoint), stale.join(", "));
        }
        if !comparison.stale_endpoints.is_empty() {
            out.push('\n');
        }
    }
    if let Some(diff) = diff.filter(|d| !d.trim().is_empty()) {
        // A fence longer than any backtick run in the diff, so the diff cannot close it.
        let fence = "`".repeat(3.max(diff.split(|c| c != '`').map(str::len).max().unwrap_or(0) + 1));
        let _ = writeln!(
            out,
            "<details><summary>What <code>gateprobe snapshot accept</code> would change</summary>\n\n{fence}diff\n{}{fence}\n\n</details>\n",
            if diff.ends_with('\n') { diff.to_string() } else { format!("{diff}\n") }
        );
    }
    out
}

/// Appends [`comparison_section`] to the GitHub step summary, like [`github_step_summary`].
pub fn github_step_summary_comparison(
    comparison: &gateprobe::compare::Comparison,
    diff: Option<&str>,
) -> Result<bool, ReportError> {
    github_step_summary_comparison_with(comparison, diff, |name| std::env::var_os(name))
}

/// [`github_step_summary_comparison`] with the environment lookup given.
pub fn github_step_summary_comparison_with(
    comparison: &gateprobe::compare::Comparison,
    diff: Option<&str>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<bool, ReportError> {
    append_to_step_summary(env, || comparison_section(comparison, diff))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::report::{fixture, golden};

    #[test]
    fn markdown_report_snapshot() {
        insta::assert_snapshot!(render(&fixture::summary()));
    }

    #[test]
    fn grid_and_coverage_sections_when_the_run_computed_coverage() {
        let mut summary = fixture::summary();
        assert!(!render(&summary).contains("### Decision matrix"));
        summary.coverage = Some(gateprobe::coverage::Coverage::default());
        let out = render(&summary);
        assert!(out.contains("| identity | `files.read` | `files.delete` | `tickets.create` | `search.query` |\n|---|:-:|:-:|:-:|:-:|\n"), "{out}");
        assert!(out.contains("| alice-reader | ✅ A | ❌ D→A | · | ⚠️ A→? |"), "{out}");
        assert!(out.contains("### Coverage\n\n- tools: 0 (named by scenarios only)"), "{out}");
    }

    #[test]
    fn golden_prompts_snapshot() {
        insta::assert_snapshot!(render(&golden::summary()));
    }

    #[test]
    fn golden_prompt_annotations_name_the_assistant() {
        let annotations = github_annotations(&golden::summary());
        let lines: Vec<&str> = annotations.lines().collect();
        assert_eq!(lines.len(), 3, "{annotations}");
        assert_eq!(
            lines[0],
            "::error file=scenarios/assistant.yaml,line=10,col=5,title=gateprobe model_drift::assistant › an e-mail request proposes email.send: the assistant proposed admin.grant_role, expected email.send (the gateway decided deny) [smollm2, prompt 1a2b3c4d5e6f]"
        );
        assert!(lines[1].ends_with("[smollm2-terse, prompt 9f8e7d6c5b4a]"), "{}", lines[1]);
        // Fixed calls' annotations are as before.
        assert!(!github_annotations(&fixture::summary()).contains(" ["));
    }

    #[test]
    fn a_canary_without_differences_says_so_in_one_line() {
        let mut summary = golden::summary();
        summary.results.retain(|r| r.scenario != gateprobe::plan::candidate_key(golden::SEARCH, golden::CANDIDATE));
        let md = render(&summary);
        assert!(
            md.contains("### Canary comparison\n\nBaseline `smollm2` (prompt `1a2b3c4d5e6f`) vs candidate `smollm2-terse` (prompt `9f8e7d6c5b4a`) — no difference in 1 scenario.\n"),
            "{md}"
        );
        assert!(!render(&fixture::summary()).contains("Canary comparison"));
    }

    #[test]
    fn markdown_all_pass_snapshot() {
        insta::assert_snapshot!(render(&fixture::all_pass()));
    }

    #[test]
    fn cells_escape_bars_newlines_and_markup() {
        assert_eq!(cell("a | b"), "a \\| b");
        assert_eq!(cell("line one\nline two\r\nthree\rfour"), "line one<br>line two<br>three<br>four");
        assert_eq!(cell("<img src=x> & \\"), "&lt;img src=x&gt; &amp; \\\\");
        assert_eq!(code("a|b"), "`a&#124;b`");
        assert_eq!(code("a`b"), "a`b");
    }

    #[test]
    fn failing_table_rows_keep_their_column_count() {
        let mut summary = fixture::summary();
        summary.results[1].reason = Some("a|b\nc".to_string());
        let md = render(&summary);
        let row = md.lines().find(|l| l.starts_with("| documents | reader cannot delete")).unwrap();
        assert_eq!(row.replace("\\|", "").matches('|').count(), 8, "{row}");
    }

    #[test]
    fn annotations_snapshot() {
        insta::assert_snapshot!(github_annotations(&fixture::summary()));
    }

    #[test]
    fn annotations_are_empty_when_all_pass() {
        assert_eq!(github_annotations(&fixture::all_pass()), "");
    }

    #[test]
    fn annotation_escaping_follows_workflow_command_rules() {
        assert_eq!(escape_data("100% done\r\nnext: a, b"), "100%25 done%0D%0Anext: a, b");
        assert_eq!(escape_property("C:\\a,b%\n"), "C%3A\\a%2Cb%25%0A");
        // `%` is escaped first, so an already-escaped sequence is not decoded by GitHub.
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn annotation_cannot_be_split_or_retitled_by_its_content() {
        let mut summary = fixture::summary();
        summary.results[1].file = PathBuf::from("suites/a,title=x:y.yaml");
        summary.results[1].message = Some("first\n::warning::injected".to_string());
        let annotations = github_annotations(&summary);
        let line = annotations.lines().next().unwrap();
        assert_eq!(
            line,
            "::error file=suites/a%2Ctitle=x%3Ay.yaml,line=10,col=5,title=gateprobe fail::documents › reader cannot delete: first%0A::warning::injected"
        );
        assert_eq!(annotations.lines().count(), 3);
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> = vars.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn step_summary_appends_only_in_github_actions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step_summary.md");
        std::fs::write(&path, "earlier step\n").unwrap();
        let p = path.to_str().unwrap();
        let summary = fixture::summary();

        assert!(!github_step_summary_with(&summary, env(&[("GITHUB_STEP_SUMMARY", p)])).unwrap());
        assert!(
            !github_step_summary_with(&summary, env(&[("GITHUB_ACTIONS", "false"), ("GITHUB_STEP_SUMMARY", p)]))
                .unwrap()
        );
        assert!(!github_step_summary_with(&summary, env(&[("GITHUB_ACTIONS", "true")])).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "earlier step\n");

        let gha = env(&[("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", p)]);
        assert!(github_step_summary_with(&summary, &gha).unwrap());
        assert!(github_step_summary_with(&summary, &gha).unwrap());
        let written = std::fs::read_to_string(&path).unwrap();
        let part = format!("{}\n", render(&summary));
        assert_eq!(written, format!("earlier step\n{part}{part}"));
    }

    #[test]
    fn step_summary_write_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("summary.md");
        let gha = env(&[("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", path.to_str().unwrap())]);
        let err = github_step_summary_with(&fixture::summary(), gha).unwrap_err();
        assert!(err.to_string().contains("missing-dir"), "{err}");
    }

    #[test]
    fn comparison_section_snapshot() {
        use gateprobe::compare::{Comparison, Drift, Observation, PolicyUpdate, Regression};
        use gateprobe::decision::Decision;
        let obs = |outcome: &str, d: Decision| Observation {
            outcome: outcome.into(),
            decision: Some(d),
            reason: None,
            evidence_fields: vec!["decision".into()],
            contradicted: vec![],
            policy_version: None,
            proposed: vec![],
            prompt_version: None,
            target: None,
        };
        let c = Comparison {
            drift: vec![Drift {
                suite: "search".into(),
                scenario: "reader can search".into(),
                approved: Some(obs("pass", Decision::Allow)),
                now: Some(obs("fail", Decision::Deny)),
            }],
            regressions: vec![Regression {
                suite: "search".into(),
                scenario: "reader can search".into(),
                policy_from: Some("sha256:3f2a91c0aaaa".into()),
                policy_to: Some("sha256:91c0d4e2bbbb".into()),
                prompt_from: None,
                prompt_to: None,
                was: Some(Decision::Allow),
                now: Some(Decision::Deny),
                outcome: Outcome::Fail,
                change: "allow→deny".into(),
            }],
            updates: vec![PolicyUpdate {
                policy_from: Some("sha256:3f2a91c0aaaa".into()),
                policy_to: Some("sha256:91c0d4e2bbbb".into()),
                prompt_from: None,
                prompt_to: None,
                scenarios: vec![("search".into(), "reader can search".into())],
                first_report: true,
                headline: "policy sha256:3f2a91c0…→sha256:91c0d4e2…: 1 scenario flipped allow→deny".into(),
            }],
            new_scenarios: vec![("search".into(), "brand new".into())],
            ..Comparison::default()
        };
        let diff = "--- a/snapshots/search.yaml\n+++ b/snapshots/search.yaml\n@@ -1 +1 @@\n-    decision: allow\n+    decision: deny\n";
        insta::assert_snapshot!(comparison_section(&c, Some(diff)));
        assert_eq!(comparison_section(&Comparison::default(), None), "");
    }
}

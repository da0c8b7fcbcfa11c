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
//! ```
//!
//! Annotations ([`github_annotations`]), one per non-passing scenario:
//!
//! ```text
//! ::error file=scenarios/documents.yaml,line=10,col=5,title=gateprobe fail::documents › reader cannot delete: expected deny (missing_capability), the gateway answered allow (granted_by_role)
//! ```

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use crate::outcome::{Outcome, RunSummary, ScenarioResult};

use super::{ReportError, text};

fn icon(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "✅",
        Outcome::Fail => "❌",
        Outcome::EvidenceMissing => "🧾",
        Outcome::Leak => "🚨",
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
    let policy = match policies.len() {
        0 => "policy version unknown".to_string(),
        1 => format!("policy {}", code(&policies[0])),
        _ => format!("policies {}", policies.iter().map(|p| code(p)).collect::<Vec<_>>().join(", ")),
    };
    let _ = writeln!(
        out,
        "Target {}, {policy}, started {}, took {}.",
        code(&summary.target),
        cell(&summary.started_at),
        text::seconds(summary.duration)
    );
    out.push('\n');

    out.push_str("| outcome | scenarios |\n|---|---:|\n");
    for (outcome, count) in summary.counts() {
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
            let location = format!("{}:{}", r.file.display(), r.location.line);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} {} | {} |",
                cell(&r.suite),
                cell(&r.scenario),
                cell(&expected),
                cell(&observed),
                cell(r.reason.as_deref().unwrap_or("")),
                icon(r.outcome),
                r.outcome,
                code(&location),
            );
        }
        out.push_str("\n<details><summary>Messages</summary>\n\n");
        for r in summary.results.iter().filter(|r| !r.outcome.is_pass()) {
            let _ = writeln!(out, "- **{} › {}**: {}", cell(&r.suite), cell(&r.scenario), cell(&text::message(r)));
        }
        out.push_str("\n</details>\n");
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
        let _ = writeln!(
            out,
            "::error file={},line={},col={},title={}::{}",
            escape_property(&r.file.to_string_lossy()),
            r.location.line,
            r.location.column,
            escape_property(&format!("gateprobe {}", r.outcome)),
            escape_data(&format!("{} › {}: {}", r.suite, r.scenario, text::message(r))),
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
pub fn github_step_summary_with(summary: &RunSummary, env: impl Fn(&str) -> Option<OsString>) -> Result<bool, ReportError> {
    if env("GITHUB_ACTIONS").as_deref() != Some(std::ffi::OsStr::new("true")) {
        return Ok(false);
    }
    let Some(path) = env("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()).map(PathBuf::from) else {
        return Ok(false);
    };
    let io = |source| ReportError::Io { path: path.clone(), source };
    // Other steps append to the same file: never truncate it, and separate our part from theirs.
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
    let mut text = render(summary);
    text.push('\n');
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::report::fixture;

    #[test]
    fn markdown_report_snapshot() {
        insta::assert_snapshot!(render(&fixture::summary()));
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
        assert!(!github_step_summary_with(&summary, env(&[("GITHUB_ACTIONS", "false"), ("GITHUB_STEP_SUMMARY", p)])).unwrap());
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
}

//! REPORT: renders a [`RunSummary`] for people and machines. One renderer per format, and several
//! formats per run (`--report json=out/run.json --report junit=out/junit.xml`):
//!
//! - [`console`]: the human summary printed at the end of `gateprobe run`, and the progress bar;
//! - [`json`]: a stable, versioned JSON document, described by `schemas/report.schema.json`;
//! - [`junit`]: JUnit XML for CI test views (assertion failures as `<failure>`, target trouble as
//!   `<error>`);
//! - [`markdown`]: a pull-request summary, GitHub `::error` annotations and `$GITHUB_STEP_SUMMARY`;
//! - [`html`]: a self-contained page with the identity × tool decision grid and cell details;
//! - [`comparison`]: the compare stage on the console (regressions by policy update, drift, new
//!   and stale snapshots, policy skew);
//! - [`canary`]: golden prompts asked of a baseline and candidate assistants, where they differ
//!   (the console and Markdown lay it out);
//! - [`mutation`]: `gateprobe mutate`'s console, JSON and Markdown reports;
//! - [`review`]: the snapshot diff of `gateprobe snapshot review` and `run --ci`;
//! - [`coverage`]: the coverage section and the grid's cells in words, for the renderers above.
//!
//! Renderers only read the summary: aggregation happened in [`gateprobe::outcome`], comparison in
//! [`gateprobe::compare`], coverage in [`gateprobe::coverage`]; the engine writes no text for
//! people. The summary holds no token, no canary value and no call argument, and no renderer
//! adds one.

pub mod canary;
pub mod comparison;
pub mod console;
pub mod coverage;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod mutation;
pub mod review;
pub mod tools;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use gateprobe::RunSummary;
use serde::Serialize;

/// A file report format (the console summary is always printed, so it is not one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    Json,
    Junit,
    Markdown,
    /// A self-contained HTML page with the identity × tool decision grid.
    Html,
}

impl ReportFormat {
    pub const ALL: [ReportFormat; 4] =
        [ReportFormat::Json, ReportFormat::Junit, ReportFormat::Markdown, ReportFormat::Html];

    /// The name used in a report spec (`json=PATH`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Json => "json",
            ReportFormat::Junit => "junit",
            ReportFormat::Markdown => "markdown",
            ReportFormat::Html => "html",
        }
    }

    /// Renders `summary` in this format.
    pub fn render(self, summary: &RunSummary) -> Result<String, ReportError> {
        match self {
            ReportFormat::Json => json::render(summary),
            ReportFormat::Junit => junit::render(summary),
            ReportFormat::Markdown => Ok(markdown::render(summary)),
            ReportFormat::Html => Ok(html::render(summary)),
        }
    }
}

impl fmt::Display for ReportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One requested report: a format and the file to write it to. Parsed from `FORMAT=PATH`, the
/// value of `--report`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSpec {
    pub format: ReportFormat,
    pub path: PathBuf,
}

impl fmt::Display for ReportSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.format, self.path.display())
    }
}

/// Why a `--report` value could not be parsed. The message shows the value, says what is wrong and
/// lists the formats.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid report `{spec}`: {problem}; expected FORMAT=PATH with FORMAT one of {formats} (e.g. `junit=target/gateprobe/junit.xml`)", formats = format_names())]
pub struct ParseReportSpecError {
    /// The value as given.
    pub spec: String,
    /// What is wrong with it.
    pub problem: String,
}

fn format_names() -> String {
    ReportFormat::ALL.map(ReportFormat::as_str).join(", ")
}

impl FromStr for ReportSpec {
    type Err = ParseReportSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |problem: String| ParseReportSpecError { spec: s.to_string(), problem };
        let Some((name, path)) = s.split_once('=') else {
            return Err(err("missing `=`".to_string()));
        };
        let name = name.trim();
        let format =
            ReportFormat::ALL.into_iter().find(|f| f.as_str().eq_ignore_ascii_case(name)).ok_or_else(|| {
                if name.is_empty() {
                    err("the format is empty".to_string())
                } else {
                    err(format!("unknown format `{name}`"))
                }
            })?;
        if path.trim().is_empty() {
            return Err(err(format!("the path after `{}=` is empty", format.as_str())));
        }
        Ok(ReportSpec { format, path: PathBuf::from(path) })
    }
}

/// The harness could not write a report. A failed scenario is never a `ReportError`.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write report {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("two reports would be written to the same file {0}")]
    DuplicatePath(PathBuf),
    #[error("cannot render the JSON report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot render the JUnit report: {0}")]
    Junit(#[from] quick_junit::SerializeError),
}

/// Renders and writes every requested report. Parent directories are created; each file is
/// written to a temporary file in the same directory and renamed into place, so a reader (a CI
/// step, a dashboard) never sees half a report. Every report is rendered before the first is
/// written, so a render error leaves no file behind.
pub fn write_reports(summary: &RunSummary, specs: &[ReportSpec]) -> Result<(), ReportError> {
    for (i, spec) in specs.iter().enumerate() {
        if specs[..i].iter().any(|other| other.path == spec.path) {
            return Err(ReportError::DuplicatePath(spec.path.clone()));
        }
    }
    let rendered =
        specs.iter().map(|spec| Ok((spec, spec.format.render(summary)?))).collect::<Result<Vec<_>, ReportError>>()?;
    for (spec, text) in rendered {
        gateprobe::atomic_file::write(&spec.path, |w| w.write_all(text.as_bytes()))
            .map_err(|source| ReportError::Io { path: spec.path.clone(), source })?;
    }
    Ok(())
}

/// An assistant that golden prompts asked in a run, and the prompt bundle version it ran with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromptVersion {
    pub assistant: String,
    pub prompt_version: String,
}

/// The assistants' prompt versions seen in a run, in run order (the baseline first: its results
/// come before the candidates'), each pair once. Empty when no golden prompt ran.
pub fn prompt_versions(summary: &RunSummary) -> Vec<PromptVersion> {
    let mut out: Vec<PromptVersion> = Vec::new();
    for p in summary.results.iter().filter_map(|r| r.proposal.as_ref()) {
        if !out.iter().any(|v| v.assistant == p.assistant && v.prompt_version == p.prompt_version) {
            out.push(PromptVersion { assistant: p.assistant.clone(), prompt_version: p.prompt_version.clone() });
        }
    }
    out
}

/// Helpers shared by the renderers.
pub(crate) mod text {
    use gateprobe::RunSummary;
    use gateprobe::outcome::{Outcome, ProposalSummary, ScenarioResult};

    use super::PromptVersion;

    /// `scenarios/documents.yaml:12:5`
    pub fn location(r: &ScenarioResult) -> String {
        format!("{}:{}:{}", r.file.display(), r.location.line, r.location.column)
    }

    /// ` (target global)` after a scenario's name when it ran on a named target (the config's
    /// `targets:`), else nothing.
    pub fn on_target(r: &ScenarioResult) -> String {
        r.target.as_deref().map(|t| format!(" (target {t})")).unwrap_or_default()
    }

    /// `allow`, or `none` when no decision could be read.
    pub fn observed(r: &ScenarioResult) -> &'static str {
        r.observed.map_or("none", |d| d.as_str())
    }

    /// A one-line message for a non-passing result: its own, or one built from the decisions
    /// (from the proposal, for model drift).
    pub fn message(r: &ScenarioResult) -> String {
        match (&r.message, &r.proposal) {
            (Some(m), _) if !m.trim().is_empty() => m.clone(),
            (_, Some(p)) if r.outcome == Outcome::ModelDrift => {
                format!("the assistant proposed {}, expected {}", proposed(p), p.expected)
            }
            _ => match r.observed {
                Some(d) => format!("expected {}, observed {d}", r.expected),
                None => format!("expected {}, no decision could be read", r.expected),
            },
        }
    }

    /// The run's count of each outcome, for people: `model_drift` is left out of runs that asked
    /// no assistant (it cannot happen there, and "0 model_drift" would only be noise).
    pub fn counts(summary: &RunSummary) -> Vec<(Outcome, usize)> {
        let asked = summary.results.iter().any(|r| r.proposal.is_some());
        summary.counts().into_iter().filter(|&(o, n)| asked || n > 0 || o != Outcome::ModelDrift).collect()
    }

    /// The tools an assistant proposed, in order: `files.read, files.delete`, or `no call`.
    pub fn proposed(p: &ProposalSummary) -> String {
        if p.proposed.is_empty() { "no call".to_string() } else { p.proposed.join(", ") }
    }

    /// The first tool an assistant proposed (the one the scenario's decision is about), or
    /// `no call`.
    pub fn first_proposed(p: &ProposalSummary) -> &str {
        p.proposed.first().map_or("no call", String::as_str)
    }

    /// `email.send → allow`: the expected decision, after the expected proposal for a golden
    /// prompt.
    pub fn expected_call(r: &ScenarioResult, decision: &str) -> String {
        match &r.proposal {
            Some(p) => format!("{} → {decision}", p.expected),
            None => decision.to_string(),
        }
    }

    /// `admin.grant_role → deny`: the observed decision, after the first proposed tool for a
    /// golden prompt (`no call` alone when it proposed none).
    pub fn observed_call(r: &ScenarioResult, decision: &str) -> String {
        match &r.proposal {
            Some(p) if p.proposed.is_empty() => "no call".to_string(),
            Some(p) => format!("{} → {decision}", first_proposed(p)),
            None => decision.to_string(),
        }
    }

    /// `smollm2 (prompt 1a2b3c4d5e6f)`
    pub fn assistant(p: &ProposalSummary) -> String {
        format!("{} (prompt {})", p.assistant, p.prompt_version)
    }

    /// `prompt 1a2b3c4d5e6f (smollm2)`, `prompts 1a2b3c4d5e6f (smollm2), 9f8e7d6c5b4a (terse)`,
    /// with `code` applied to versions and names; `None` when no golden prompt ran.
    pub fn prompts(versions: &[PromptVersion], code: impl Fn(&str) -> String) -> Option<String> {
        let list: Vec<String> =
            versions.iter().map(|v| format!("{} ({})", code(&v.prompt_version), code(&v.assistant))).collect();
        match list.len() {
            0 => None,
            1 => Some(format!("prompt {}", list[0])),
            _ => Some(format!("prompts {}", list.join(", "))),
        }
    }

    /// `0.41 s`
    pub fn seconds(d: std::time::Duration) -> String {
        format!("{:.2} s", d.as_secs_f64())
    }

    /// Newlines (and other control characters) folded to spaces, for one-line output.
    pub fn one_line(s: &str) -> String {
        s.split(['\r', '\n']).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ").replace(char::is_control, " ")
    }
}

#[cfg(test)]
pub(crate) use gateprobe::testing as fixture;

/// A run with golden prompts, for the renderers' tests (the engine's fixtures have none): a
/// fixed call, then two golden prompts asked of the baseline `smollm2` and of the candidate
/// `smollm2-terse`. The baseline proposes as expected for the search and drifts on the e-mail
/// (it proposes `admin.grant_role`, which the gateway denies); the candidate drifts on both, so
/// the canary comparison finds one scenario that differs.
#[cfg(test)]
pub(crate) mod golden {
    use std::path::PathBuf;
    use std::time::Duration;

    use gateprobe::RunSummary;
    use gateprobe::decision::Decision;
    use gateprobe::outcome::{Outcome, ProposalSummary, ScenarioResult};
    use gateprobe::suite::Location;

    pub const BASELINE: &str = "smollm2";
    pub const CANDIDATE: &str = "smollm2-terse";
    pub const BASELINE_PROMPT: &str = "1a2b3c4d5e6f";
    pub const CANDIDATE_PROMPT: &str = "9f8e7d6c5b4a";
    pub const SEARCH: &str = "a reader's search goes through the assistant";
    pub const EMAIL: &str = "an e-mail request proposes email.send";

    /// A golden-prompt result: `proposed` by `assistant`, the first call decided `observed`.
    pub fn result(
        scenario: &str,
        line: usize,
        assistant: &str,
        expected: &str,
        proposed: &[&str],
        observed: Option<Decision>,
    ) -> ScenarioResult {
        let (key, prompt_version) = if assistant == BASELINE {
            (scenario.to_string(), BASELINE_PROMPT)
        } else {
            (gateprobe::plan::candidate_key(scenario, assistant), CANDIDATE_PROMPT)
        };
        let first = proposed.first().copied();
        let drift = first != Some(expected);
        let message = drift.then(|| {
            let decided = observed.map(|d| format!(" (the gateway decided {d})")).unwrap_or_default();
            format!("the assistant proposed {}, expected {expected}{decided}", first.unwrap_or("no call"))
        });
        let mut r = super::fixture::summary().results.swap_remove(0);
        r.suite = "assistant".into();
        r.scenario = key;
        r.file = PathBuf::from("scenarios/assistant.yaml");
        r.location = Location { line, column: 5 };
        r.tool = first.unwrap_or(expected).into();
        r.outcome = if drift { Outcome::ModelDrift } else { Outcome::Pass };
        r.message = message;
        r.expected = Decision::Allow;
        r.observed = observed;
        r.reason = match observed {
            Some(Decision::Allow) => Some("granted".into()),
            Some(_) => Some("missing_capability".into()),
            None => None,
        };
        r.calls = proposed.len();
        let n = if assistant == BASELINE { line } else { 50 + line };
        r.correlation_ids = vec![format!("0190f3a2-7c4e-7b1a-9d2e-3f4a5b6c7e{n:02}")];
        r.proposal = Some(ProposalSummary {
            assistant: assistant.into(),
            prompt_version: prompt_version.into(),
            expected: expected.into(),
            proposed: proposed.iter().map(|t| t.to_string()).collect(),
            latencies: vec![Duration::from_millis(1400)],
        });
        r
    }

    /// The fixed call `documents › reader can read a handbook page`, then the golden prompts:
    /// the baseline's results, then the candidate's.
    pub fn summary() -> RunSummary {
        let mut s = super::fixture::summary();
        s.results.truncate(1);
        s.results.extend([
            result(SEARCH, 4, BASELINE, "search.query", &["search.query"], Some(Decision::Allow)),
            result(EMAIL, 10, BASELINE, "email.send", &["admin.grant_role"], Some(Decision::Deny)),
            result(SEARCH, 4, CANDIDATE, "search.query", &["files.delete"], Some(Decision::Deny)),
            result(EMAIL, 10, CANDIDATE, "email.send", &["admin.grant_role"], Some(Decision::Deny)),
        ]);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins where a named target shows: after the scenario's name on the console, in the
    /// Markdown table, messages and annotations, as a JUnit property and in its text, in the JSON
    /// report and the HTML report's data; a result without one shows nothing new.
    #[test]
    fn every_renderer_names_the_target() {
        let mut summary = fixture::summary();
        let failing = summary.results.iter().position(|r| r.scenario == "reader cannot delete").unwrap();
        summary.results[failing].target = Some("global".into());
        summary.results[failing].endpoint = Some("http://127.0.0.1:4444/mcp/".into());
        let named = "reader cannot delete (target global)";
        let console = console::render(&summary, false);
        assert!(console.contains(&format!("✗ documents › {named} — fail")), "{console}");
        assert_eq!(console.matches("(target ").count(), 1, "{console}");
        let md = markdown::render(&summary);
        assert!(md.contains(&format!("| documents | {named} |")), "{md}");
        assert!(md.contains(&format!("- **documents › {named}**")), "{md}");
        assert!(markdown::github_annotations(&summary).contains(&format!("documents › {named}: ")));
        let junit = junit::render(&summary).unwrap();
        assert!(junit.contains(r#"<property name="target" value="global"/>"#), "{junit}");
        assert!(junit.contains("target: global (http://127.0.0.1:4444/mcp/)"), "{junit}");
        let json = json::to_value(&summary).unwrap();
        let entry = &json["results"][failing];
        assert_eq!(
            (entry["target"].as_str(), entry["endpoint"].as_str()),
            (Some("global"), Some("http://127.0.0.1:4444/mcp/"))
        );
        assert!(json["results"][0].get("target").is_none(), "{json}");
        assert!(html::render(&summary).contains(r#""target":"global""#));
    }

    #[test]
    fn parses_each_format() {
        for (text, format) in [
            ("json=out/run.json", ReportFormat::Json),
            ("junit=junit.xml", ReportFormat::Junit),
            ("markdown=target/summary.md", ReportFormat::Markdown),
            ("JUnit=junit.xml", ReportFormat::Junit),
        ] {
            let spec: ReportSpec = text.parse().unwrap();
            assert_eq!(spec.format, format, "{text}");
        }
        let spec: ReportSpec = "json=dir/with=sign.json".parse().unwrap();
        assert_eq!(spec.path, PathBuf::from("dir/with=sign.json"));
        assert_eq!(spec.to_string(), "json=dir/with=sign.json");
    }

    #[test]
    fn malformed_spec_says_what_is_wrong_and_lists_formats() {
        let err = "xml=out.xml".parse::<ReportSpec>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid report `xml=out.xml`: unknown format `xml`; expected FORMAT=PATH with FORMAT one of json, junit, markdown, html (e.g. `junit=target/gateprobe/junit.xml`)"
        );
        let err = "report.json".parse::<ReportSpec>().unwrap_err();
        assert_eq!(err.problem, "missing `=`");
        assert!(err.to_string().contains("json, junit, markdown, html"));
        let err = "junit=".parse::<ReportSpec>().unwrap_err();
        assert_eq!(err.problem, "the path after `junit=` is empty");
        let err = "=a.json".parse::<ReportSpec>().unwrap_err();
        assert_eq!(err.problem, "the format is empty");
    }

    #[test]
    fn writes_several_formats_creating_directories() {
        let dir = tempfile::tempdir().unwrap();
        let summary = fixture::summary();
        let specs: Vec<ReportSpec> = ["json=a/b/run.json", "junit=a/junit.xml", "markdown=summary.md"]
            .iter()
            .map(|s| {
                let spec: ReportSpec = s.parse().unwrap();
                ReportSpec { path: dir.path().join(spec.path), ..spec }
            })
            .collect();
        write_reports(&summary, &specs).unwrap();
        for spec in &specs {
            let written = std::fs::read_to_string(&spec.path).unwrap();
            assert_eq!(written, spec.format.render(&summary).unwrap(), "{spec}");
        }
        // No temporary file is left beside the reports.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".gateprobe-report-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn overwrites_an_existing_report() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        std::fs::write(&path, "stale").unwrap();
        write_reports(&fixture::summary(), &[ReportSpec { format: ReportFormat::Json, path: path.clone() }]).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().starts_with('{'));
    }

    #[test]
    fn refuses_two_reports_to_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report");
        let specs = [
            ReportSpec { format: ReportFormat::Json, path: path.clone() },
            ReportSpec { format: ReportFormat::Markdown, path: path.clone() },
        ];
        let err = write_reports(&fixture::summary(), &specs).unwrap_err();
        assert!(matches!(err, ReportError::DuplicatePath(p) if p == path));
        assert!(!path.exists());
    }

    #[test]
    fn unwritable_path_is_an_io_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        // A directory cannot be created under a regular file.
        let path = blocker.join("run.json");
        let err = write_reports(&fixture::summary(), &[ReportSpec { format: ReportFormat::Json, path: path.clone() }])
            .unwrap_err();
        assert!(err.to_string().starts_with(&format!("cannot write report {}", path.display())), "{err}");
    }

    #[test]
    fn one_line_folds_newlines_and_controls() {
        assert_eq!(text::one_line("a\r\nb\n\nc\td"), "a b c d");
    }
}

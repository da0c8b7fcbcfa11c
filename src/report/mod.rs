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
//! - [`review`]: the snapshot diff of `gateprobe snapshot review` and `run --ci`;
//! - [`coverage`]: the coverage section and the grid's cells in words, for the renderers above.
//!
//! Renderers only read the summary: aggregation happened in [`gateprobe::outcome`], comparison in
//! [`gateprobe::compare`], coverage in [`gateprobe::coverage`]; the engine writes no text for
//! people. The summary holds no token, no canary value and no call argument, and no renderer
//! adds one.

pub mod comparison;
pub mod console;
pub mod coverage;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod review;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use gateprobe::outcome::RunSummary;

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

/// Helpers shared by the renderers.
pub(crate) mod text {
    use gateprobe::outcome::ScenarioResult;

    /// `scenarios/documents.yaml:12:5`
    pub fn location(r: &ScenarioResult) -> String {
        format!("{}:{}:{}", r.file.display(), r.location.line, r.location.column)
    }

    /// `allow`, or `none` when no decision could be read.
    pub fn observed(r: &ScenarioResult) -> &'static str {
        r.observed.map_or("none", |d| d.as_str())
    }

    /// A one-line message for a non-passing result: its own, or one built from the decisions.
    pub fn message(r: &ScenarioResult) -> String {
        match &r.message {
            Some(m) if !m.trim().is_empty() => m.clone(),
            _ => match r.observed {
                Some(d) => format!("expected {}, observed {d}", r.expected),
                None => format!("expected {}, no decision could be read", r.expected),
            },
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

#[cfg(test)]
mod tests {
    use super::*;

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

//! Diagnostics that point into a YAML file, rendered the way rustc and Hurl do:
//!
//! ```text
//! error: unknown field `decison`, expected one of `decision`, `reason`, ...
//!   --> scenarios/documents.yaml:12:15
//!    |
//! 12 |     expect: { decison: allow }
//!    |               ^
//!    = help: check the spelling; `gateprobe schema suite` lists every key
//! ```
//!
//! A diagnostic keeps a copy of its source line, so a batch of them can be rendered long after
//! the files were read (and the lint can mask the sensitive part of the line it shows).

use std::fmt;
use std::path::{Path, PathBuf};

use owo_colors::OwoColorize;

use super::model::Location;

/// One problem in one file, at a 1-based line and column (line 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as given.
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file (unreadable, too large).
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// A rule name (the lint's, e.g. `email-outside-example-domains`), shown as `error[rule]`.
    pub code: Option<String>,
    /// The source line as shown under the arrow (the lint masks what it found in it).
    pub source_line: Option<String>,
    /// How many characters the caret underlines (at least 1).
    pub width: usize,
}

impl Diagnostic {
    /// A diagnostic at `line:column` of `file`, whose text is `source` (used for the snippet).
    pub fn new(file: &Path, source: &str, location: Location, message: impl Into<String>) -> Self {
        let location = if location.line == 0 { location } else { within(source, location) };
        let source_line =
            if location.line == 0 { None } else { source_lines(source).nth(location.line - 1).map(str::to_owned) };
        Diagnostic {
            file: file.to_path_buf(),
            line: location.line,
            column: location.column.max(1),
            message: message.into(),
            help: None,
            code: None,
            source_line,
            width: 1,
        }
    }

    /// A diagnostic about a whole file (no position).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
            help: None,
            code: None,
            source_line: None,
            width: 1,
        }
    }

    /// Adds what to do about it (shown as `= help:`).
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Names the rule that found it (shown as `error[rule]`).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets how many characters the caret underlines (at least 1).
    pub fn with_width(mut self, width: usize) -> Self {
        self.width = width.max(1);
        self
    }

    /// Its line and column.
    pub fn location(&self) -> Location {
        Location { line: self.line, column: self.column }
    }

    /// The rustc-style text; ANSI colours only when `color` is true.
    pub fn render(&self, color: bool) -> String {
        let paint = Painter { color };
        let mut out = String::new();
        let head = match &self.code {
            Some(code) => format!("error[{code}]"),
            None => "error".to_owned(),
        };
        out.push_str(&paint.error(&head));
        out.push_str(&paint.bold(&format!(": {}", self.message)));
        out.push('\n');

        let number = self.line.to_string();
        let gutter = " ".repeat(if self.line == 0 { 1 } else { number.len() });
        let file = self.file.display();
        if self.line == 0 {
            out.push_str(&format!("{gutter}{} {file}\n", paint.blue("-->")));
        } else {
            out.push_str(&format!("{gutter}{} {file}:{}:{}\n", paint.blue("-->"), self.line, self.column));
        }
        if let (Some(full), true) = (&self.source_line, self.line > 0) {
            // A hostile file can be one 8 MiB line: show a window around the column.
            let (text, column) = window(full, self.column);
            let text = text.as_str();
            let bar = paint.blue("|");
            out.push_str(&format!("{gutter} {bar}\n"));
            out.push_str(&format!("{} {bar} {text}\n", paint.blue(&number)));
            // Keep tabs before the caret so it lines up with the character above it.
            let pad: String =
                text.chars().take(column.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            let available = text.chars().count().saturating_sub(column.saturating_sub(1)).max(1);
            let carets = "^".repeat(self.width.min(available));
            out.push_str(&format!("{gutter} {bar} {pad}{}\n", paint.error(&carets)));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("{gutter} {} {help}\n", paint.bold("= help:")));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// Source lines longer than this many characters are shown as a window around the column.
const MAX_SHOWN_LINE: usize = 160;

/// The part of `line` to show and the 1-based column within it: the whole line when short,
/// else [`MAX_SHOWN_LINE`] characters around `column`, cut ends marked with `…`.
fn window(line: &str, column: usize) -> (String, usize) {
    let count = line.chars().count();
    if count <= MAX_SHOWN_LINE {
        return (line.to_owned(), column);
    }
    let start = column.saturating_sub(1).saturating_sub(MAX_SHOWN_LINE / 2).min(count - MAX_SHOWN_LINE);
    let mut shown: String = line.chars().skip(start).take(MAX_SHOWN_LINE).collect();
    if start + MAX_SHOWN_LINE < count {
        shown.push('…');
    }
    if start == 0 { (shown, column) } else { (format!("…{shown}"), column - start + 1) }
}

/// Renders several diagnostics, separated by blank lines, with a closing count.
pub fn render_all(diagnostics: &[Diagnostic], color: bool) -> String {
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&d.render(color));
        out.push('\n');
    }
    let n = diagnostics.len();
    let files: std::collections::BTreeSet<&Path> = diagnostics.iter().map(|d| d.file.as_path()).collect();
    let summary = format!(
        "{n} error{} in {} file{}",
        if n == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    out.push_str(&Painter { color }.error("error"));
    out.push_str(&Painter { color }.bold(&format!(": {summary}")));
    out.push('\n');
    out
}

struct Painter {
    color: bool,
}

impl Painter {
    fn error(&self, s: &str) -> String {
        if self.color { s.red().bold().to_string() } else { s.to_owned() }
    }
    fn blue(&self, s: &str) -> String {
        if self.color { s.blue().bold().to_string() } else { s.to_owned() }
    }
    fn bold(&self, s: &str) -> String {
        if self.color { s.bold().to_string() } else { s.to_owned() }
    }
}

/// The lines of a YAML text, without their breaks. YAML breaks lines at LF, CRLF and a lone CR
/// alike (Rust's `str::lines` knows only the first two), and so do its parser's positions.
pub fn source_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = (!text.is_empty()).then_some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        let Some(i) = t.find(['\n', '\r']) else {
            rest = None;
            return Some(t);
        };
        let after = if t[i..].starts_with("\r\n") { i + 2 } else { i + 1 };
        rest = (after < t.len()).then(|| &t[after..]);
        Some(&t[..i])
    })
}

/// How many line breaks `text` holds, counted as [`source_lines`] splits.
pub fn line_breaks(text: &str) -> usize {
    let bytes = text.as_bytes();
    (0..bytes.len()).filter(|&i| bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n'))).count()
}

/// The line and column of byte `offset` in `text`, lines counted as [`source_lines`] splits.
pub fn location_of(text: &str, offset: usize) -> Location {
    let before = &text[..offset];
    let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
    Location { line: line_breaks(before) + 1, column: before[line_start..].chars().count() + 1 }
}

/// `location`, or the end of the text when it lies past it. A parser may report "end of file"
/// on the line after the last one when the file does not end with a line break (found by the
/// fuzzer): a line no editor and no CI annotation can show.
fn within(text: &str, location: Location) -> Location {
    if location.line <= line_breaks(text) + 1 { location } else { location_of(text, text.len()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_lines_break_at_lf_crlf_and_lone_cr() {
        let lines = |t| source_lines(t).collect::<Vec<_>>();
        assert_eq!(lines("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(lines("a\n\nb\n"), ["a", "", "b"]);
        assert_eq!(lines(""), Vec::<&str>::new());
        assert_eq!(line_breaks("a\nb\r\nc\rd\n"), 4);
        let d = Diagnostic::new(Path::new("f.yaml"), "a: 1\rb: 2\rc: 3\r", Location { line: 2, column: 1 }, "m");
        assert_eq!(d.source_line.as_deref(), Some("b: 2"));
    }

    const SRC: &str = "suite: docs\nscenarios:\n  - name: a\n    expect: { decison: allow }\n";

    /// Pins the window over very long source lines (a hostile one-line file printed whole).
    #[test]
    fn long_lines_are_shown_as_a_window_with_the_caret_in_place() {
        let line = format!("{}X{}", "a".repeat(5000), "b".repeat(5000));
        let d = Diagnostic::new(Path::new("f.yaml"), &line, Location { line: 1, column: 5001 }, "m");
        let out = d.render(false);
        assert!(out.len() < 600, "{}", out.len());
        let lines: Vec<&str> = out.lines().collect();
        let shown = lines[3].split_once("| ").unwrap().1;
        let caret = lines[4].split_once("| ").unwrap().1;
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert_eq!(shown.chars().nth(caret.chars().count() - 1), Some('X'));
        // Near the start: no leading ellipsis, the column is unchanged.
        assert_eq!(window(&line, 3), (format!("{}…", "a".repeat(MAX_SHOWN_LINE)), 3));
        assert_eq!(window("short", 2), ("short".to_owned(), 2));
    }

    #[test]
    fn renders_like_rustc() {
        let d = Diagnostic::new(
            Path::new("scenarios/documents.yaml"),
            SRC,
            Location { line: 4, column: 15 },
            "unknown field `decison`",
        )
        .with_help("check the spelling");
        assert_eq!(
            d.render(false),
            "error: unknown field `decison`\n \
             --> scenarios/documents.yaml:4:15\n  \
             |\n\
             4 |     expect: { decison: allow }\n  \
             |               ^\n  \
             = help: check the spelling\n"
        );
    }

    #[test]
    fn gutter_grows_with_the_line_number_and_caret_width_is_bounded() {
        let src = format!("{}x: 12345\n", "\n".repeat(11));
        let d = Diagnostic::new(Path::new("f.yaml"), &src, Location { line: 12, column: 4 }, "m")
            .with_code("rule")
            .with_width(50);
        assert_eq!(d.render(false), "error[rule]: m\n  --> f.yaml:12:4\n   |\n12 | x: 12345\n   |    ^^^^^\n");
    }

    #[test]
    fn whole_file_has_no_snippet() {
        let d = Diagnostic::whole_file(Path::new("big.yaml"), "too large");
        assert_eq!(d.render(false), "error: too large\n --> big.yaml\n");
    }

    #[test]
    fn colour_only_when_asked() {
        let d = Diagnostic::new(Path::new("f.yaml"), SRC, Location { line: 1, column: 1 }, "m");
        assert!(!d.render(false).contains('\u{1b}'));
        assert!(d.render(true).contains('\u{1b}'));
    }

    #[test]
    fn summary_counts_errors_and_files() {
        let a = Diagnostic::whole_file(Path::new("a.yaml"), "x");
        let b = Diagnostic::whole_file(Path::new("b.yaml"), "y");
        assert!(render_all(&[a.clone(), b, a], false).ends_with("error: 3 errors in 2 files\n"));
    }
}

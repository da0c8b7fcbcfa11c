//! The console summary printed at the end of `gateprobe run`, and the progress bar shown while it
//! runs. Passing scenarios are only counted (all are listed with `verbose`); each one that did not
//! pass gets one line saying what was expected, what the gateway did (for a golden prompt, what
//! the assistant proposed, and which assistant and prompt bundle it was), and where the scenario
//! is. When golden prompts ran under candidate assistants, the canary comparison follows.
//!
//! ```text
//! ✗ documents › reader cannot delete — fail: expected deny, observed allow (reason granted_by_role; expected reason missing_capability) · expected deny (missing_capability), the gateway answered allow (granted_by_role) · scenarios/documents.yaml:10:5
//! ✗ tickets › burst of searches is throttled — error: expected allow, observed none (timeout) · call 3 of 30 timed out after 5s · scenarios/tickets.yaml:14:5
//! ✗ assistant › an e-mail request proposes email.send — model_drift: expected email.send → allow, observed admin.grant_role → deny (reason missing_capability), assistant smollm2 (prompt 1a2b3c4d5e6f) · the assistant proposed admin.grant_role, expected email.send (the gateway decided deny) · scenarios/assistant.yaml:10:5
//!
//! 1 passed, 1 failed, 0 evidence_missing, 0 leak, 1 model_drift, 1 error (4 scenarios in 6.41 s, policy sha256:9f2c4e1a0b7d, prompt 1a2b3c4d5e6f (smollm2))
//!
//! canary comparison: baseline smollm2 (prompt 1a2b3c4d5e6f) vs candidate smollm2-terse (prompt 9f8e7d6c5b4a) — 1 of 2 scenarios differs
//!   assistant › a reader's search goes through the assistant: proposed search.query→files.delete, decision allow→deny, outcome pass→model_drift
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::OwoColorize;

use gateprobe::RunSummary;
use gateprobe::outcome::{Outcome, ScenarioResult};

use super::text;

/// How the console summary is rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsoleOptions {
    /// ANSI colours (the caller decides: a TTY, no `NO_COLOR`, no `--color never`).
    pub color: bool,
    /// List passing scenarios too, not only count them.
    pub verbose: bool,
    /// Only what did not pass and the totals: no canary comparison, matrix or coverage (`-q`).
    pub brief: bool,
}

/// Renders the summary: one line per non-passing scenario, then the totals line.
pub fn render(summary: &RunSummary, color: bool) -> String {
    render_with(summary, ConsoleOptions { color, ..ConsoleOptions::default() })
}

/// [`render`] with every option.
pub fn render_with(summary: &RunSummary, options: ConsoleOptions) -> String {
    let paint = Painter(options.color);
    let mut out = String::new();
    let mut listed = 0;
    for r in &summary.results {
        if r.outcome.is_pass() {
            if options.verbose {
                let by = r.proposal.as_ref().map(|p| format!("{}, ", text::assistant(p))).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{} {} — {}: {} ({})",
                    paint.outcome(Outcome::Pass, "✓"),
                    name(r),
                    paint.outcome(Outcome::Pass, "pass"),
                    text::expected_call(r, r.expected.as_str()),
                    paint.dim(&text::one_line(&format!("{by}{} ms", r.duration.as_millis())))
                );
                listed += 1;
            }
            continue;
        }
        let _ = writeln!(
            out,
            "{} {} — {}: {} · {} · {}",
            paint.outcome(r.outcome, "✗"),
            paint.bold(&name(r)),
            paint.outcome(r.outcome, r.outcome.as_str()),
            decisions(r),
            text::one_line(&text::message(r)),
            paint.dim(&text::location(r)),
        );
        listed += 1;
    }
    if listed > 0 {
        out.push('\n');
    }
    out.push_str(&totals(summary, paint));
    out.push('\n');
    if options.brief {
        return out;
    }
    out.push_str(&canary_section(summary, paint));
    if let Some(coverage) = &summary.coverage {
        out.push('\n');
        out.push_str(&grid(summary, paint));
        out.push_str(&coverage_section(coverage, paint));
    }
    out
}

/// What `gateprobe coverage` prints: the decision matrix and the coverage section.
pub fn render_coverage(summary: &RunSummary, color: bool) -> String {
    let paint = Painter(color);
    let mut out = grid(summary, paint);
    if let Some(coverage) = &summary.coverage {
        out.push_str(&coverage_section(coverage, paint));
    }
    out
}

/// The identity × tool grid: the expected letter where the gateway agreed, `expected→actual`
/// where it did not, `·` where no scenario ran; columns numbered, with a legend.
fn grid(summary: &RunSummary, paint: Painter) -> String {
    let g = gateprobe::coverage::Grid::from_results(&summary.results);
    let mut out = String::new();
    if g.cells.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{} {}",
        paint.bold("decision matrix"),
        paint.dim("(expected; expected→actual where they differ; * decided as expected, did not pass)")
    );
    let row_width = g.identities.iter().map(|i| i.chars().count()).max().unwrap_or(0);
    let width = g
        .cells
        .iter()
        .map(|c| super::coverage::cell_text(c).chars().count())
        .max()
        .unwrap_or(1)
        .max(g.tools.len().to_string().len())
        + 2;
    let mut header = format!("  {:row_width$}", "");
    for j in 1..=g.tools.len() {
        let _ = write!(header, "{:>width$}", j);
    }
    let _ = writeln!(out, "{}", paint.dim(&header));
    for identity in &g.identities {
        let _ = write!(out, "  {identity:row_width$}");
        for tool in &g.tools {
            match g.cell(identity, tool) {
                Some(c) => {
                    let t = super::coverage::cell_text(c);
                    let pad = width.saturating_sub(t.chars().count());
                    let _ = write!(out, "{}{}", " ".repeat(pad), paint.outcome(c.outcome, &t));
                }
                None => {
                    let _ = write!(out, "{}", paint.dim(&format!("{:>width$}", "·")));
                }
            }
        }
        out.push('\n');
    }
    let legend: Vec<String> = g.tools.iter().enumerate().map(|(j, t)| format!("{} {t}", j + 1)).collect();
    let _ = writeln!(out, "  {}", paint.dim(&legend.join("  ")));
    out.push('\n');
    out
}

fn coverage_section(coverage: &gateprobe::coverage::Coverage, paint: Painter) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", paint.bold("coverage"));
    for (label, value) in super::coverage::lines(coverage) {
        let value = if value == "none" { paint.outcome(Outcome::Pass, &value) } else { value };
        let _ = writeln!(out, "  {label}: {value}");
    }
    out
}

fn name(r: &ScenarioResult) -> String {
    text::one_line(&format!("{} › {}{}", r.suite, r.scenario, text::on_target(r)))
}

/// `expected deny, observed allow (reason granted_by_role; expected reason missing_capability)`;
/// for a golden prompt `expected email.send → allow, observed admin.grant_role → deny, assistant
/// smollm2 (prompt 1a2b3c4d5e6f)`.
fn decisions(r: &ScenarioResult) -> String {
    let observed = match (r.observed, r.error_kind) {
        (None, Some(kind)) => format!("none ({kind})"),
        _ => text::observed(r).to_string(),
    };
    let mut out = format!(
        "expected {}, observed {}",
        text::expected_call(r, r.expected.as_str()),
        text::observed_call(r, &observed)
    );
    // The decisions shown are the first call's: when it got what was expected, say so, or the
    // line reads "expected allow, observed allow" about a scenario that failed in a later call.
    if r.calls > 1 && r.observed == Some(r.expected) {
        out = format!("first of {} calls: {out}", r.calls);
    }
    let reasons: Vec<String> = [
        r.reason.as_deref().map(|x| format!("reason {x}")),
        r.expected_reason.as_deref().map(|x| format!("expected reason {x}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !reasons.is_empty() {
        let _ = write!(out, " ({})", text::one_line(&reasons.join("; ")));
    }
    if !r.missing_fields.is_empty() {
        let _ = write!(out, ", missing evidence: {}", r.missing_fields.join(", "));
    }
    if !r.contradicted_fields.is_empty() {
        let _ = write!(out, ", evidence contradicts: {}", r.contradicted_fields.join(", "));
    }
    if let Some(p) = &r.proposal {
        if p.proposed.len() > 1 {
            let _ = write!(out, ", proposed {}", text::proposed(p));
        }
        let _ = write!(out, ", assistant {}", text::one_line(&text::assistant(p)));
    }
    out
}

/// The canary comparison: for each candidate assistant, the golden prompts it answered
/// otherwise than the baseline. Empty when no candidate ran.
fn canary_section(summary: &RunSummary, paint: Painter) -> String {
    let mut out = String::new();
    for canary in super::canary::compare(summary) {
        let headline = text::one_line(&canary.headline(str::to_string));
        let _ = writeln!(out, "\n{} {headline}", paint.bold("canary comparison:"));
        for d in &canary.differences {
            let what = paint.outcome(d.candidate.outcome, &d.describe());
            let _ = writeln!(out, "  {}: {what}", text::one_line(&format!("{} › {}", d.suite(), d.scenario())));
        }
    }
    out
}

/// `12 passed, 1 failed, 0 evidence_missing, 0 leak, 0 error (13 scenarios in 0.41 s, policy sha256:…)`
fn totals(summary: &RunSummary, paint: Painter) -> String {
    let parts: Vec<String> = text::counts(summary)
        .into_iter()
        .map(|(o, n)| {
            let label = match o {
                Outcome::Pass => "passed",
                Outcome::Fail => "failed",
                other => other.as_str(),
            };
            let part = format!("{n} {label}");
            if n > 0 { paint.outcome(o, &part) } else { part }
        })
        .collect();
    let policies = summary.policy_versions();
    let mut policy = match policies.len() {
        0 => "policy unknown".to_string(),
        1 => format!("policy {}", policies[0]),
        _ => format!("policies {}", policies.join(", ")),
    };
    if let Some(prompts) = text::prompts(&super::prompt_versions(summary), str::to_string) {
        policy = format!("{policy}, {prompts}");
    }
    let n = summary.results.len();
    format!(
        "{} ({n} {} in {}, {})",
        parts.join(", "),
        if n == 1 { "scenario" } else { "scenarios" },
        text::seconds(summary.duration),
        text::one_line(&policy)
    )
}

#[derive(Clone, Copy)]
struct Painter(bool);

impl Painter {
    fn outcome(self, outcome: Outcome, s: &str) -> String {
        if !self.0 {
            return s.to_string();
        }
        match outcome {
            Outcome::Pass => s.green().to_string(),
            Outcome::Fail | Outcome::Leak => s.red().bold().to_string(),
            Outcome::EvidenceMissing | Outcome::ModelDrift => s.yellow().bold().to_string(),
            Outcome::Error => s.magenta().bold().to_string(),
        }
    }

    fn bold(self, s: &str) -> String {
        if self.0 { s.bold().to_string() } else { s.to_string() }
    }

    fn dim(self, s: &str) -> String {
        if self.0 { s.dimmed().to_string() } else { s.to_string() }
    }
}

/// Progress of a run on stderr: a bar with the count of scenarios that did not pass. Shared by
/// the concurrent scenario tasks (`Send + Sync`); a no-op when disabled, e.g. when stderr is not a
/// terminal (`Progress::new(n, std::io::stderr().is_terminal())`).
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    not_passing: AtomicUsize,
}

impl Progress {
    pub fn new(total: usize, enabled: bool) -> Progress {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} scenarios {msg} {elapsed}")
                .expect("the progress template is valid")
                .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress { bar, not_passing: AtomicUsize::new(0) }
    }

    /// Counts one finished scenario.
    pub fn record(&self, result: &ScenarioResult) {
        let not_passing = if result.outcome.is_pass() {
            self.not_passing.load(Ordering::Relaxed)
        } else {
            self.not_passing.fetch_add(1, Ordering::Relaxed) + 1
        };
        if let Some(bar) = &self.bar {
            if not_passing > 0 {
                bar.set_message(format!("({not_passing} not passing)"));
            }
            bar.inc(1);
        }
    }

    /// Scenarios recorded so far that did not pass.
    pub fn not_passing(&self) -> usize {
        self.not_passing.load(Ordering::Relaxed)
    }

    /// Removes the bar, so the summary that follows stands alone.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use gateprobe::decision::Decision;

    use super::*;
    use crate::report::{fixture, golden};

    #[test]
    fn console_summary_snapshot() {
        insta::assert_snapshot!(render(&fixture::summary(), false));
    }

    #[test]
    fn grid_and_coverage_only_when_the_run_computed_coverage() {
        let mut summary = fixture::summary();
        let plain = render_with(&summary, ConsoleOptions { color: false, verbose: false, brief: false });
        assert!(!plain.contains("decision matrix"));
        summary.coverage = Some(gateprobe::coverage::Coverage::default());
        let out = render_with(&summary, ConsoleOptions { color: false, verbose: false, brief: false });
        assert!(out.contains("decision matrix"), "{out}");
        assert!(out.contains("  alice-reader    A  D→A    ·  A→?\n"), "{out}");
        assert!(out.contains("1 files.read  2 files.delete  3 tickets.create  4 search.query"), "{out}");
        assert!(out.contains("coverage\n  tools: 0 (named by scenarios only), 0 with both directions\n"), "{out}");
    }

    #[test]
    fn console_verbose_snapshot() {
        insta::assert_snapshot!(render_with(
            &fixture::summary(),
            ConsoleOptions { color: false, verbose: true, brief: false }
        ));
    }

    #[test]
    fn all_pass_is_one_totals_line() {
        assert_eq!(
            render(&fixture::all_pass(), false),
            "2 passed, 0 failed, 0 evidence_missing, 0 leak, 0 error (2 scenarios in 0.41 s, policy sha256:9f2c4e1a0b7d)\n"
        );
    }

    #[test]
    fn golden_prompts_snapshot() {
        insta::assert_snapshot!(render(&golden::summary(), false), @r"
        ✗ assistant › an e-mail request proposes email.send — model_drift: expected email.send → allow, observed admin.grant_role → deny (reason missing_capability), assistant smollm2 (prompt 1a2b3c4d5e6f) · the assistant proposed admin.grant_role, expected email.send (the gateway decided deny) · scenarios/assistant.yaml:10:5
        ✗ assistant › a reader's search goes through the assistant [smollm2-terse] — model_drift: expected search.query → allow, observed files.delete → deny (reason missing_capability), assistant smollm2-terse (prompt 9f8e7d6c5b4a) · the assistant proposed files.delete, expected search.query (the gateway decided deny) · scenarios/assistant.yaml:4:5
        ✗ assistant › an e-mail request proposes email.send [smollm2-terse] — model_drift: expected email.send → allow, observed admin.grant_role → deny (reason missing_capability), assistant smollm2-terse (prompt 9f8e7d6c5b4a) · the assistant proposed admin.grant_role, expected email.send (the gateway decided deny) · scenarios/assistant.yaml:10:5

        2 passed, 0 failed, 0 evidence_missing, 0 leak, 3 model_drift, 0 error (5 scenarios in 6.41 s, policy sha256:9f2c4e1a0b7d, prompts 1a2b3c4d5e6f (smollm2), 9f8e7d6c5b4a (smollm2-terse))

        canary comparison: baseline smollm2 (prompt 1a2b3c4d5e6f) vs candidate smollm2-terse (prompt 9f8e7d6c5b4a) — 1 of 2 scenarios differs
          assistant › a reader's search goes through the assistant: proposed search.query→files.delete, decision allow→deny, outcome pass→model_drift
        ");
    }

    #[test]
    fn golden_prompt_passes_name_the_proposal_and_the_assistant_when_verbose() {
        let out = render_with(&golden::summary(), ConsoleOptions { color: false, verbose: true, brief: false });
        assert!(
            out.contains("✓ assistant › a reader's search goes through the assistant — pass: search.query → allow (smollm2 (prompt 1a2b3c4d5e6f), 42 ms)\n"),
            "{out}"
        );
        // A fixed call's line is as before.
        assert!(out.contains("✓ documents › reader can read a handbook page — pass: allow (42 ms)\n"), "{out}");
    }

    /// Pins the words when the assistant proposed nothing, or several calls: the observed side
    /// says `no call`, and every proposed tool is listed.
    #[test]
    fn a_proposal_of_nothing_or_of_several_calls_is_said() {
        let nothing = golden::result(golden::EMAIL, 10, golden::BASELINE, "email.send", &[], None);
        let several = golden::result(
            golden::SEARCH,
            4,
            golden::BASELINE,
            "search.query",
            &["files.read", "search.query"],
            Some(Decision::Allow),
        );
        let summary = RunSummary { results: vec![nothing, several], ..golden::summary() };
        let out = render(&summary, false);
        assert!(out.contains("— model_drift: expected email.send → allow, observed no call, assistant smollm2 (prompt 1a2b3c4d5e6f) · the assistant proposed no call, expected email.send ·"), "{out}");
        assert!(
            out.contains(
                "observed files.read → allow (reason granted), proposed files.read, search.query, assistant smollm2"
            ),
            "{out}"
        );
    }

    #[test]
    fn the_canary_comparison_is_painted_by_the_candidate_outcome() {
        let coloured = render(&golden::summary(), true);
        let line = coloured.lines().find(|l| l.contains("proposed search.query→files.delete")).unwrap();
        assert!(line.contains("\u{1b}["), "{line}");
        assert!(!render(&fixture::summary(), false).contains("canary comparison"));
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = render(&fixture::summary(), false);
        let coloured = render(&fixture::summary(), true);
        assert!(!plain.contains('\u{1b}'), "{plain}");
        assert!(coloured.contains("\u{1b}["), "{coloured}");
        // Same text once the escapes are removed.
        let stripped = regex::Regex::new("\u{1b}\\[[0-9;]*m").unwrap().replace_all(&coloured, "");
        assert_eq!(stripped, plain);
    }

    #[test]
    fn multi_line_messages_stay_on_one_line() {
        let out = render(&fixture::summary(), false);
        let error_line = out.lines().find(|l| l.contains("burst of searches")).unwrap();
        assert!(error_line.contains("timed out after 5s: no answer from"), "{error_line}");
        assert!(error_line.ends_with("scenarios/tickets.yaml:14:5"), "{error_line}");
    }

    /// Pins: when a repeated scenario's first call got the expected decision, the headline says
    /// it is about the first call, so "expected allow, observed allow" never stands alone on a
    /// scenario that failed later.
    #[test]
    fn a_failure_in_a_later_call_names_the_first_call_as_such() {
        let mut r = fixture::summary().results.swap_remove(1);
        r.expected = Decision::Allow;
        r.outcome = Outcome::Fail;
        r.observed = Some(r.expected);
        r.calls = 30;
        assert!(decisions(&r).starts_with("first of 30 calls: expected allow, observed allow"), "{}", decisions(&r));
        r.calls = 1;
        assert!(decisions(&r).starts_with("expected allow, observed allow"), "{}", decisions(&r));
        r.calls = 30;
        r.observed = Some(Decision::Deny);
        assert!(decisions(&r).starts_with("expected allow, observed deny"), "{}", decisions(&r));
    }

    #[test]
    fn progress_is_shareable_and_counts() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Progress>();

        let progress = std::sync::Arc::new(Progress::new(4, false));
        let summary = fixture::summary();
        std::thread::scope(|s| {
            for r in &summary.results {
                let progress = progress.clone();
                s.spawn(move || progress.record(r));
            }
        });
        progress.finish();
        assert_eq!(progress.not_passing(), 3);
    }

    #[test]
    fn enabled_progress_records_without_panicking() {
        // Under `cargo test` stderr is usually not a terminal, so indicatif draws nothing; this
        // still exercises the bar's bookkeeping.
        let progress = Progress::new(4, true);
        for r in &fixture::summary().results {
            progress.record(r);
        }
        assert_eq!(progress.bar.as_ref().map(|b| b.position()), Some(4));
        progress.finish();
    }
}

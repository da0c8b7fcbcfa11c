//! The `gateprobe` binary: parses the command line, sets up logs, runs, maps to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use gateprobe::plan::Filter;
use gateprobe::{LoadOptions, compare};
use gateprobe_cli::cli::{
    Cli, ColorChoice, Command, CoverageArgs, LoadArgs, LogFormat, RunArgs, SchemaKind, ServeArgs, SnapshotArgs,
    SnapshotCommand,
};
use gateprobe_cli::report;

/// The command line's stdout and stderr. A reader that goes away (`gateprobe run --verbose |
/// head -1`) ends the printing, never the command: the rest of the output is dropped, and the
/// command still saves its state, writes its reports and exits with its own code. Rust ignores
/// SIGPIPE, so a closed pipe is an `EPIPE` error here, on which `print!` would panic (exit 101);
/// restoring SIGPIPE's default instead would kill `run` before it saves its state, and `serve`
/// on a closed log pipe.
mod stdio {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};

    static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
    static STDERR_GONE: AtomicBool = AtomicBool::new(false);

    pub(crate) fn out(args: std::fmt::Arguments<'_>) {
        if let Some(e) = write(&mut std::io::stdout().lock(), &STDOUT_GONE, args)
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            err(format_args!("warning: could not write to stdout ({e}); the rest of its output is dropped\n"));
        }
    }

    pub(crate) fn err(args: std::fmt::Arguments<'_>) {
        let _ = write(&mut std::io::stderr().lock(), &STDERR_GONE, args);
    }

    /// Writes unless an earlier write to `w` failed; returns the error of the first that fails.
    fn write(w: &mut impl Write, gone: &AtomicBool, args: std::fmt::Arguments<'_>) -> Option<std::io::Error> {
        if gone.load(Ordering::Relaxed) {
            return None;
        }
        let e = w.write_fmt(args).and_then(|()| w.flush()).err()?;
        gone.store(true, Ordering::Relaxed);
        Some(e)
    }
}

/// `print!` that survives a closed stdout (see [`stdio`]).
macro_rules! out {
    ($($arg:tt)*) => { stdio::out(format_args!($($arg)*)) };
}

/// `println!` that survives a closed stdout (see [`stdio`]).
macro_rules! outln {
    ($($arg:tt)*) => { stdio::out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that survives a closed stderr (see [`stdio`]).
macro_rules! errln {
    ($($arg:tt)*) => { stdio::err(format_args!("{}\n", format_args!($($arg)*))) };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    // The reference gateway serves load on every core. Everything else is a client (and serve
    // mostly sleeps): one thread drives all its connections with less CPU than a worker pool
    // that hands wake-ups between threads (a fifth less wall time in `benches/run.sh`, half the
    // system time), and idles with fewer thread stacks and malloc arenas. The embedded target's
    // gateway shares that thread; it serves the small bundled suites.
    let builder = match cli.command {
        Command::Gateway(_) => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    };
    let runtime = match builder {
        Ok(r) => r,
        Err(e) => {
            errln!("error: could not start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    ExitCode::from(runtime.block_on(dispatch(cli)))
}

async fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Run(args) => run(args).await,
        Command::Serve(args) => serve(args).await,
        Command::Snapshot { command } => match command {
            SnapshotCommand::Review(args) => snapshot(&args, false),
            SnapshotCommand::Accept(args) => snapshot(&args, true),
        },
        Command::Coverage(args) => coverage(args).await,
        Command::Lint(args) => lint(&args),
        Command::Schema { kind } => {
            let schema = match kind {
                SchemaKind::Suite => gateprobe::suite::suite_schema(),
                SchemaKind::Config => gateprobe::config::config_schema(),
            };
            outln!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
            0
        }
        Command::Gateway(args) => match gateprobe_cli::commands::gateway::run(args).await {
            Ok(()) => 0,
            Err(e) => {
                errln!("error: {e:#}");
                1
            }
        },
    }
}

fn load_options(args: &LoadArgs) -> LoadOptions {
    LoadOptions { config: args.config.clone(), suites: args.suites.clone() }
}

async fn serve(args: ServeArgs) -> u8 {
    let options = (|| {
        Ok::<_, gateprobe_cli::serve::ServeError>(gateprobe_cli::serve::ServeOptions {
            load: load_options(&args.load),
            schedule: gateprobe_cli::serve::parse_schedule(&args.schedule)?,
            jitter: args.jitter,
            listen: args.listen,
            trigger_token: gateprobe_cli::serve::trigger_token(args.trigger_token_file.as_deref())?,
            watch_interval: args.watch_interval,
            alertmanager_url: args.alertmanager_url.clone(),
            compare: args.compare.options(),
        })
    })();
    match options {
        Ok(options) => match gateprobe_cli::serve::serve(options).await {
            Ok(()) => 0,
            Err(e) => {
                errln!("error: {e}");
                e.exit_code()
            }
        },
        Err(e) => {
            errln!("error: {e}");
            e.exit_code()
        }
    }
}

fn lint(args: &LoadArgs) -> u8 {
    match gateprobe::load(&load_options(args)) {
        Ok(loaded) => {
            let scenarios: usize = loaded.suites.iter().map(|s| s.scenarios.len()).sum();
            outln!("ok: {} suites, {scenarios} scenarios, no findings", loaded.suites.len());
            0
        }
        Err(e) => {
            errln!("{e}");
            e.exit_code()
        }
    }
}

async fn run(args: RunArgs) -> u8 {
    let loaded = match gateprobe::load(&load_options(&args.load)) {
        Ok(l) => l,
        Err(e) => {
            errln!("{e}");
            return e.exit_code();
        }
    };
    // The snapshots and the previous state are read on another thread while the calls go out.
    let options = args.compare.options();
    let references = tokio::task::spawn_blocking({
        let options = options.clone();
        move || compare::References::load(&options)
    });
    let filter = Filter { suites: args.suite.clone(), scenario: args.scenario.clone() };
    let progress = report::console::Progress::new(filter.count(&loaded.suites), std::io::stderr().is_terminal());
    let summary = match gateprobe::run(&loaded, &filter, &|r| progress.record(r)).await {
        Ok(s) => s,
        Err(e) => {
            progress.finish();
            errln!("error: {e}");
            return e.exit_code();
        }
    };
    progress.finish();
    let color = use_color(args.color);
    out!(
        "{}",
        report::console::render_with(&summary, report::console::ConsoleOptions { color, verbose: args.verbose })
    );

    // COMPARE and RECORD: against the approved snapshots and the previous run's state, then the
    // state saved (the sequence `serve` runs too). A broken snapshot file is bad input, but the
    // run's own reports are still written.
    let defined = compare::defined_scenarios(&loaded.suites);
    let references = references.await.expect("reading the snapshots and state does not panic");
    let compared = match references {
        Ok(r) => Some(compare::record(&summary, &defined, &options, r)),
        Err(e) => {
            errln!("{}", e.render());
            None
        }
    };
    let mut diff = None;
    if let Some(c) = &compared {
        if let Some(w) = &c.state_warning {
            errln!("warning: {w}");
        }
        out!("{}", compare::regression::render(&c.comparison, color));
        out!("{}", compare::regression::render_drift(&c.comparison, color));
        if args.ci && !c.comparison.gate_passes(true) {
            // What `snapshot accept` would write, from the state this run just recorded.
            let selection =
                compare::snapshot::Selection { suites: args.suite.clone(), scenario: args.scenario.clone() };
            match compare::plan_from_state(&defined, &options, &selection, &c.state) {
                Ok(plan) => {
                    out!("{}", compare::snapshot::render_review(&plan, color));
                    diff = Some(compare::snapshot::render_review(&plan, false));
                }
                Err(e) => errln!("{}", e.render()),
            }
        }
        // After the failures and the regressions, which stand: they were found against the
        // state read before the run.
        if let Some(failure) = c.save_failure() {
            errln!("error: {failure}");
        }
    }

    let reports_written = match report::write_reports(&summary, &args.reports) {
        Ok(()) => true,
        Err(e) => {
            errln!("error: {e}");
            false
        }
    };
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        out!("{}", report::markdown::github_annotations(&summary));
    }
    if let Err(e) = report::markdown::github_step_summary(&summary) {
        errln!("warning: could not write the GitHub step summary: {e}");
    }
    if let Some(c) = &compared
        && let Err(e) = report::markdown::github_step_summary_comparison(&c.comparison, diff.as_deref())
    {
        errln!("warning: could not write the GitHub step summary: {e}");
    }
    let verdict = match &compared {
        Some(c) if args.ci => c.comparison.ci_exit_code(&summary),
        _ => summary.exit_code(),
    };
    let mut code = gate(&summary, args.require_coverage, verdict);
    if compared.is_none() {
        code = most_important(code, EXIT_INVALID_INPUT);
    }
    if !reports_written || compared.as_ref().is_some_and(|c| c.save_error.is_some()) {
        code = most_important(code, EXIT_NOT_SAVED);
    }
    // The process ends next: freeing every result, scenario and state entry one by one would
    // only add to the run's tail (a tenth of it at 10,000 scenarios).
    std::mem::forget((loaded, summary, compared));
    code
}

/// Exit code of `run`: invalid suites, config or snapshot files.
const EXIT_INVALID_INPUT: u8 = 2;
/// Exit code of `run`: every result is valid, but the run state or a report could not be
/// written (a read-only directory, a full disk).
const EXIT_NOT_SAVED: u8 = 4;

/// Of two exit codes that both apply to a run, the one that wins. What the gateway did comes
/// first, gateprobe's own trouble after it (that is printed on stderr either way): 1 (a scenario
/// failed or regressed, or the CI gate failed) over 3 (no decision could be read) over 2 (a
/// snapshot file found broken after the calls) over 4 (the run state or a report could not be
/// written) over 0.
fn most_important(a: u8, b: u8) -> u8 {
    const ORDER: [u8; 5] = [1, 3, EXIT_INVALID_INPUT, EXIT_NOT_SAVED, 0];
    let rank = |code: u8| ORDER.iter().position(|&c| c == code).unwrap_or(0);
    if rank(b) < rank(a) { b } else { a }
}

/// `snapshot review` / `snapshot accept`: from the last run's state, never the gateway. The suites
/// are loaded only to know which scenarios exist (new ones, and snapshots left without one).
fn snapshot(args: &SnapshotArgs, accept: bool) -> u8 {
    let loaded = match gateprobe::load(&load_options(&args.load)) {
        Ok(l) => l,
        Err(e) => {
            errln!("{e}");
            return e.exit_code();
        }
    };
    let defined = compare::defined_scenarios(&loaded.suites);
    let selection = compare::snapshot::Selection { suites: args.suite.clone(), scenario: args.scenario.clone() };
    let (plan, warning) = match compare::plan_from_last_run(&defined, &args.compare.options(), &selection) {
        Ok(p) => p,
        Err(e) => {
            errln!("{}", e.render());
            return 2;
        }
    };
    if let Some(w) = warning {
        errln!("warning: {w}");
    }
    if !accept {
        out!("{}", compare::snapshot::render_review(&plan, use_color(args.color)));
        return 0;
    }
    if let Err(e) = compare::snapshot::apply(&plan) {
        errln!("{}", e.render());
        return 2;
    }
    for change in &plan.changes {
        let what = if change.new_text.is_none() { "deleted" } else { "wrote" };
        outln!(
            "{what} {}: {} accepted, {} removed",
            change.path.display(),
            change.accepted.len(),
            change.removed.len()
        );
    }
    for (suite, scenario, why) in &plan.skipped {
        outln!("skipped {suite} › {scenario}: {why}");
    }
    if plan.changes.is_empty() {
        outln!("snapshots already match the last run");
    }
    0
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// The coverage gate: with `require`, a tool lacking a direction turns a clean exit into 1.
fn gate(summary: &gateprobe::outcome::RunSummary, require: bool, code: u8) -> u8 {
    let message = summary.coverage.as_ref().and_then(|c| c.gate_message());
    match message {
        Some(m) if require => {
            errln!("error: {m}");
            if code == 0 { 1 } else { code }
        }
        _ => code,
    }
}

async fn coverage(args: CoverageArgs) -> u8 {
    let loaded = match gateprobe::load(&load_options(&args.load)) {
        Ok(l) => l,
        Err(e) => {
            errln!("{e}");
            return e.exit_code();
        }
    };
    let filter = Filter { suites: args.suite.clone(), scenario: None };
    let summary = match gateprobe::run(&loaded, &filter, &|_| {}).await {
        Ok(s) => s,
        Err(e) => {
            errln!("error: {e}");
            return e.exit_code();
        }
    };
    out!("{}", report::console::render_coverage(&summary, use_color(args.color)));
    let code = if summary.results.iter().any(|r| r.outcome == gateprobe::outcome::Outcome::Error) { 3 } else { 0 };
    gate(&summary, args.require_coverage, code)
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEPROBE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A log line that cannot be written is dropped: by default tracing-subscriber reports that
    // with `eprintln!`, which panics when stderr is a closed pipe (see [`stdio`]).
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).log_internal_errors(false);
    match format {
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the precedence of `run`'s exit codes: what the gateway did wins over gateprobe's own
    /// trouble, whichever order they are combined in.
    #[test]
    fn exit_codes_combine_by_precedence() {
        let order = [1, 3, EXIT_INVALID_INPUT, EXIT_NOT_SAVED, 0];
        for (i, &higher) in order.iter().enumerate() {
            for &lower in &order[i..] {
                assert_eq!(most_important(higher, lower), higher, "{higher} vs {lower}");
                assert_eq!(most_important(lower, higher), higher, "{lower} vs {higher}");
            }
        }
    }
}

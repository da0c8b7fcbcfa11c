//! The `gateprobe` binary: parses the command line, sets up logs, runs, maps to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use gateprobe_cli::cli::{
    Cli, ColorChoice, Command, CoverageArgs, LoadArgs, LogFormat, RunArgs, SchemaKind, ServeArgs, SnapshotArgs,
    SnapshotCommand,
};
use gateprobe::plan::Filter;
use gateprobe::{LoadOptions, compare};
use gateprobe_cli::report;

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
            eprintln!("error: could not start the async runtime: {e}");
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
            println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
            0
        }
        Command::Gateway(args) => match gateprobe_cli::commands::gateway::run(args).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
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
                eprintln!("error: {e}");
                e.exit_code()
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn lint(args: &LoadArgs) -> u8 {
    match gateprobe::load(&load_options(args)) {
        Ok(loaded) => {
            let scenarios: usize = loaded.suites.iter().map(|s| s.scenarios.len()).sum();
            println!("ok: {} suites, {scenarios} scenarios, no findings", loaded.suites.len());
            0
        }
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

async fn run(args: RunArgs) -> u8 {
    let loaded = match gateprobe::load(&load_options(&args.load)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
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
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    progress.finish();
    let color = use_color(args.color);
    print!(
        "{}",
        report::console::render_with(&summary, report::console::ConsoleOptions { color, verbose: args.verbose })
    );

    // COMPARE: against the approved snapshots and the previous run's state. A broken snapshot
    // file is bad input (exit 2), but the run's own reports are still written.
    let defined = compare::defined_scenarios(&loaded.suites);
    let references = references.await.expect("reading the snapshots and state does not panic");
    let compared = match references.and_then(|r| compare::record(&summary, &defined, &options, r)) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("{}", e.render());
            None
        }
    };
    let mut diff = None;
    if let Some(c) = &compared {
        if let Some(w) = &c.state_warning {
            eprintln!("warning: {w}");
        }
        print!("{}", compare::regression::render(&c.comparison, color));
        print!("{}", compare::regression::render_drift(&c.comparison, color));
        if args.ci && !c.comparison.gate_passes(true) {
            // What `snapshot accept` would write, from the state this run just saved.
            let selection =
                compare::snapshot::Selection { suites: args.suite.clone(), scenario: args.scenario.clone() };
            match compare::plan_from_last_run(&defined, &options, &selection) {
                Ok((plan, _)) => {
                    print!("{}", compare::snapshot::render_review(&plan, color));
                    diff = Some(compare::snapshot::render_review(&plan, false));
                }
                Err(e) => eprintln!("{}", e.render()),
            }
        }
    }

    if let Err(e) = report::write_reports(&summary, &args.reports) {
        eprintln!("error: {e}");
        return 2;
    }
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        print!("{}", report::markdown::github_annotations(&summary));
    }
    if let Err(e) = report::markdown::github_step_summary(&summary) {
        eprintln!("warning: could not write the GitHub step summary: {e}");
    }
    let Some(compared) = compared else { return 2 };
    if let Err(e) = report::markdown::github_step_summary_comparison(&compared.comparison, diff.as_deref()) {
        eprintln!("warning: could not write the GitHub step summary: {e}");
    }
    let code = if args.ci { compared.comparison.ci_exit_code(&summary) } else { summary.exit_code() };
    let code = gate(&summary, args.require_coverage, code);
    // The process ends next: freeing every result, scenario and state entry one by one would
    // only add to the run's tail (a tenth of it at 10,000 scenarios).
    std::mem::forget((loaded, summary, compared));
    code
}

/// `snapshot review` / `snapshot accept`: from the last run's state, never the gateway. The suites
/// are loaded only to know which scenarios exist (new ones, and snapshots left without one).
fn snapshot(args: &SnapshotArgs, accept: bool) -> u8 {
    let loaded = match gateprobe::load(&load_options(&args.load)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return e.exit_code();
        }
    };
    let defined = compare::defined_scenarios(&loaded.suites);
    let selection = compare::snapshot::Selection { suites: args.suite.clone(), scenario: args.scenario.clone() };
    let (plan, warning) = match compare::plan_from_last_run(&defined, &args.compare.options(), &selection) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}", e.render());
            return 2;
        }
    };
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    if !accept {
        print!("{}", compare::snapshot::render_review(&plan, use_color(args.color)));
        return 0;
    }
    if let Err(e) = compare::snapshot::apply(&plan) {
        eprintln!("{}", e.render());
        return 2;
    }
    for change in &plan.changes {
        let what = if change.new_text.is_none() { "deleted" } else { "wrote" };
        println!(
            "{what} {}: {} accepted, {} removed",
            change.path.display(),
            change.accepted.len(),
            change.removed.len()
        );
    }
    for (suite, scenario, why) in &plan.skipped {
        println!("skipped {suite} › {scenario}: {why}");
    }
    if plan.changes.is_empty() {
        println!("snapshots already match the last run");
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
            eprintln!("error: {m}");
            if code == 0 { 1 } else { code }
        }
        _ => code,
    }
}

async fn coverage(args: CoverageArgs) -> u8 {
    let loaded = match gateprobe::load(&load_options(&args.load)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return e.exit_code();
        }
    };
    let filter = Filter { suites: args.suite.clone(), scenario: None };
    let summary = match gateprobe::run(&loaded, &filter, &|_| {}).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    print!("{}", report::console::render_coverage(&summary, use_color(args.color)));
    let code = if summary.results.iter().any(|r| r.outcome == gateprobe::outcome::Outcome::Error) { 3 } else { 0 };
    gate(&summary, args.require_coverage, code)
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEPROBE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

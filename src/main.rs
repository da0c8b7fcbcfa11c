//! The `gateprobe` binary: parses the command line, sets up logs, runs, maps to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use gateprobe::cli::{Cli, ColorChoice, Command, LoadArgs, LogFormat, RunArgs, SchemaKind, ServeArgs};
use gateprobe::plan::Filter;
use gateprobe::{LoadOptions, report};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
        Command::Lint(args) => lint(&args),
        Command::Schema { kind } => {
            let schema = match kind {
                SchemaKind::Suite => gateprobe::suite::suite_schema(),
                SchemaKind::Config => gateprobe::config::config_schema(),
            };
            println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
            0
        }
        Command::Gateway(args) => match gateprobe::gateway::cli::run(args).await {
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
        Ok::<_, gateprobe::serve::ServeError>(gateprobe::serve::ServeOptions {
            load: load_options(&args.load),
            schedule: gateprobe::serve::parse_schedule(&args.schedule)?,
            jitter: args.jitter,
            listen: args.listen,
            trigger_token: gateprobe::serve::trigger_token(args.trigger_token_file.as_deref())?,
            watch_interval: args.watch_interval,
            alertmanager_url: args.alertmanager_url.clone(),
        })
    })();
    match options {
        Ok(options) => match gateprobe::serve::serve(options).await {
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
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    print!("{}", report::console::render_with(&summary, report::console::ConsoleOptions { color, verbose: args.verbose }));
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
    summary.exit_code()
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

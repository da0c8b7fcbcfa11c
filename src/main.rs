//! The `gateprobe` binary: parses the command line, sets up logs and the runtime, runs the
//! command (`gateprobe_cli::commands`, one file each) and exits with its status.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::CommandFactory;
use clap::Parser;
use gateprobe::outcome::Exit;
use gateprobe_cli::cli::{Cli, Command, LogFormat, Output};
use gateprobe_cli::commands;
use gateprobe_cli::stdio;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format, cli.output);
    if cli.output.level() <= -2 {
        // -qq: nothing on stdout, the exit status speaks.
        stdio::silence_stdout();
    }
    // The reference gateway serves load on every core. Everything else is a client (and serve
    // mostly sleeps): one thread drives all its connections with less CPU than a worker pool
    // that hands wake-ups between threads (a fifth less wall time in `benches/run.sh`, half the
    // system time), and idles with fewer thread stacks and malloc arenas. The embedded target's
    // gateway shares that thread; it serves the small bundled suites.
    let builder = match cli.command {
        // Mutation testing runs `--jobs` gateways and runs at once: worth the worker pool.
        Command::Gateway(_) | Command::Mutate(_) => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    };
    let runtime = match builder {
        Ok(r) => r,
        Err(e) => {
            stdio::err(format_args!("error: could not start the async runtime: {e}\n"));
            return ExitCode::from(u8::from(Exit::NoDecision));
        }
    };
    ExitCode::from(u8::from(runtime.block_on(dispatch(cli))))
}

async fn dispatch(cli: Cli) -> Exit {
    match cli.command {
        Command::Run(args) => commands::run::run(args, cli.output).await,
        Command::Serve(args) => commands::serve::run(args).await,
        Command::Snapshot { command } => commands::snapshot::run(command, cli.output),
        Command::Coverage(args) => commands::coverage::run(args, cli.output).await,
        Command::Tools(args) => commands::tools::run(args).await,
        Command::Lint(args) => commands::lint::run(&args),
        Command::Mutate(args) => commands::mutate::run(args, cli.output).await,
        Command::Schema { kind } => commands::schema::run(kind),
        Command::Gateway(args) => match commands::gateway::run(args).await {
            Ok(()) => Exit::Pass,
            Err(e) => {
                stdio::err(format_args!("error: {e:#}\n"));
                Exit::Fail
            }
        },
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "gateprobe", &mut out);
            stdio::out(format_args!("{}", String::from_utf8_lossy(&out)));
            Exit::Pass
        }
        Command::Man => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut out) {
                Ok(()) => {
                    stdio::out(format_args!("{}", String::from_utf8_lossy(&out)));
                    Exit::Pass
                }
                Err(e) => {
                    stdio::err(format_args!("error: could not render the man page: {e}\n"));
                    Exit::Fail
                }
            }
        }
    }
}

fn init_tracing(format: LogFormat, output: Output) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEPROBE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(output.log_filter()));
    // A log line that cannot be written is dropped: by default tracing-subscriber reports that
    // with `eprintln!`, which panics when stderr is a closed pipe (see `gateprobe_cli::stdio`).
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).log_internal_errors(false);
    match format {
        LogFormat::Human => builder
            .with_ansi(output.color(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref()))
            .init(),
        LogFormat::Json => builder.json().init(),
    }
}

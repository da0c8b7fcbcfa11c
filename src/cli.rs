//! Command-line interface: clap definitions only; `main.rs` dispatches.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Golden-prompt synthetic monitoring for AI tool gateways: replays scenarios against a live
/// gateway, checks allow/deny decisions and audit evidence, and reports regressions.
#[derive(Debug, Parser)]
#[command(name = "gateprobe", version, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "GATEPROBE_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One pass over the suites: exit 0 all pass, 1 a scenario failed, 2 invalid suites or
    /// config, 3 the target gave no readable decision.
    Run(RunArgs),
    /// Validate suites and config, including the sensitivity scan.
    Lint(LoadArgs),
    /// Print the JSON Schema of suite files or of the config.
    Schema {
        #[arg(value_enum, default_value_t = SchemaKind::Suite)]
        kind: SchemaKind,
    },
    /// Run the reference gateway on its own.
    Gateway(crate::gateway::cli::GatewayArgs),
    /// Review or accept the drift between the last run and the approved snapshots.
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
}

/// Both work from the last run's state (`--state`), so they never call the gateway: run first.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Show, as a unified diff, what `accept` would change in `snapshots/`.
    Review(SnapshotArgs),
    /// Write the last run's results into `snapshots/` (atomically), and drop entries no
    /// scenario references any more.
    Accept(SnapshotArgs),
}

#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub compare: CompareArgs,
    /// Only these suites (by name).
    #[arg(long = "suite", value_name = "NAME")]
    pub suite: Vec<String>,
    /// Only scenarios whose name contains this text.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Colour on the console.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// Where snapshots and the run state live.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Directory of approved snapshots, one `<suite>.yaml` per suite.
    #[arg(long, value_name = "DIR", default_value = crate::compare::snapshot::DEFAULT_SNAPSHOT_DIR, env = "GATEPROBE_SNAPSHOTS")]
    pub snapshots: PathBuf,
    /// The run state file: last result and last passing policy version per scenario.
    #[arg(long, value_name = "PATH", default_value = crate::compare::state::DEFAULT_STATE_PATH, env = "GATEPROBE_STATE")]
    pub state: PathBuf,
}

impl CompareArgs {
    pub fn options(&self) -> crate::compare::CompareOptions {
        crate::compare::CompareOptions { snapshots: self.snapshots.clone(), state: self.state.clone() }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaKind {
    Suite,
    Config,
}

/// Where suites and config come from.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Config file (default: ./gateprobe.yaml if present, else the bundled config).
    #[arg(long, short, env = "GATEPROBE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Suite files or directories, instead of the config's `suites`.
    #[arg(long = "suites", value_name = "PATH")]
    pub suites: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Run only these suites (by name).
    #[arg(long = "suite", value_name = "NAME")]
    pub suite: Vec<String>,
    /// Run only scenarios whose name contains this text.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Write a report: `json=PATH`, `junit=PATH` or `markdown=PATH`; repeat for several.
    #[arg(long = "report", value_name = "FORMAT=PATH")]
    pub reports: Vec<crate::report::ReportSpec>,
    /// List every scenario in the console summary, not only those that did not pass.
    #[arg(long, short)]
    pub verbose: bool,
    /// Colour on the console.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// The CI gate: exit 1 on drift from the approved snapshots, on scenarios without a snapshot
    /// and on snapshots no scenario references; failures already accepted in the snapshots do
    /// not fail it (exit 3 still means no decision could be read).
    #[arg(long, env = "GATEPROBE_CI")]
    pub ci: bool,
    #[command(flatten)]
    pub compare: CompareArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

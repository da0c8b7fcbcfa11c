//! Command-line interface: clap definitions only; `main.rs` dispatches.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Golden-prompt synthetic monitoring for AI tool gateways: replays scenarios against a live
/// gateway, checks allow/deny decisions and audit evidence, and reports regressions.
#[derive(Debug, Parser)]
#[command(name = "gateprobe", version, propagate_version = true)]
#[command(after_help = "Logs go to stderr; GATEPROBE_LOG sets their filter (tracing's syntax, e.g. \
                         `debug` or `gateprobe=debug,reqwest=warn`) and wins over -q and -v. NO_COLOR \
                         (set and not empty) turns colour off where --color is auto.")]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "GATEPROBE_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

/// How much every subcommand says, and in what colours.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Output {
    /// Say less: -q prints what did not pass, the totals and the regressions (no matrix, no
    /// coverage) and logs warnings and errors only; -qq prints nothing on stdout (the exit status
    /// speaks) and logs errors only.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    /// Say more: -v lists every scenario, passing ones too; -vv adds debug logs, -vvv trace logs.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour on the console and in the logs: auto (on a terminal, unless NO_COLOR is set and
    /// not empty), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

impl Output {
    /// Above 0 says more, below says less.
    pub fn level(&self) -> i8 {
        self.verbose.min(3) as i8 - self.quiet.min(2) as i8
    }

    /// The log filter when GATEPROBE_LOG is not set.
    pub fn log_filter(&self) -> &'static str {
        match self.level() {
            ..=-2 => "error",
            -1 => "warn",
            0 | 1 => "info",
            2 => "debug",
            _ => "trace",
        }
    }

    /// Whether to colour what goes to a stream that `is_terminal` (or not), given NO_COLOR's value.
    pub fn color(&self, is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            // no-color.org: NO_COLOR counts only when present and not empty.
            ColorChoice::Auto => is_terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One pass over the suites: exit 0 all pass, 1 a scenario failed, 2 invalid suites or
    /// config, 3 the target gave no readable decision, 4 the run state or a report could not be
    /// written (when several apply: 1, then 3, 2, 4).
    Run(RunArgs),
    /// The service: runs the suites on a schedule, on `POST /trigger` and when the gateway's
    /// policy version changes; serves `/metrics`, `/healthz` and `/status`; pushes regressions to
    /// Alertmanager. SIGHUP reloads suites and config; SIGTERM/SIGINT stop after the current run.
    Serve(ServeArgs),
    /// Run the suites and show what they leave untested: tools the gateway lists without a
    /// must-allow or must-deny scenario, policies and reasons no scenario exercised, identities
    /// never used; and the identity × tool decision matrix. Exit 1 on a gap with
    /// `--require-coverage`, else 0 (2 invalid input, 3 target trouble).
    Coverage(CoverageArgs),
    /// What the gateway offers a suite author: its tools with their argument schemas (as an
    /// identity sees them), its policy ids and decision reasons, and with `--sample` the
    /// evidence fields of a scenario's audit record. Exit 3 when the tools cannot be listed.
    Tools(ToolsArgs),
    /// Validate suites and config, including the sensitivity scan.
    Lint(LoadArgs),
    /// Policy mutation testing: change the Cedar policies one small way at a time (delete a
    /// statement, drop or negate a condition, drop a conjunct, drop an action from a list, widen
    /// an action to all, move the subject quota), run the suites against each change through its
    /// own embedded gateway, and report the score (killed / valid mutants) and every survivor
    /// with its file:line, operator and diff (-v also lists every mutant and what killed it; -q
    /// leaves out the operator table). Exit 0; 1 below `--min-score` or when the suites fail
    /// against the unmutated policies; 2 invalid input; 3 target trouble; 4 a report could not be
    /// written.
    Mutate(MutateArgs),
    /// Print the JSON Schema of suite files or of the config.
    Schema {
        #[arg(value_enum, default_value_t = SchemaKind::Suite)]
        kind: SchemaKind,
    },
    /// Run the reference gateway on its own.
    Gateway(crate::commands::gateway::GatewayArgs),
    /// Review or accept the drift between the last run and the approved snapshots.
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
    /// Print a shell completion script, e.g. `gateprobe completions bash >
    /// ~/.local/share/bash-completion/completions/gateprobe`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `gateprobe man > ~/.local/share/man/man1/gateprobe.1`.
    Man,
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
}

/// Where snapshots and the run state live.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Directory of approved snapshots, one `<suite>.yaml` per suite.
    #[arg(long, value_name = "DIR", default_value = gateprobe::compare::snapshot::DEFAULT_SNAPSHOT_DIR, env = "GATEPROBE_SNAPSHOTS")]
    pub snapshots: PathBuf,
    /// The run state file: last result and last passing policy version per scenario.
    #[arg(long, value_name = "PATH", default_value = gateprobe::compare::state::DEFAULT_STATE_PATH, env = "GATEPROBE_STATE")]
    pub state: PathBuf,
}

impl CompareArgs {
    pub fn options(&self) -> gateprobe::compare::CompareOptions {
        gateprobe::compare::CompareOptions { snapshots: self.snapshots.clone(), state: self.state.clone() }
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
    /// Only this shard of the scenarios, e.g. `2/3`: N instances given 1/N … N/N split one golden
    /// set, each scenario in one shard (by a hash of its suite and name), the same every run.
    #[arg(long, value_name = "i/N")]
    pub shard: Option<gateprobe::plan::Shard>,
    /// Ask only these assistants (by name, from the config's `assistants`) with the golden
    /// prompts; the first is the baseline, the others candidates compared with it.
    #[arg(long = "assistant", value_name = "NAME")]
    pub assistants: Vec<String>,
    /// Write a report: `json=PATH`, `junit=PATH`, `markdown=PATH` or `html=PATH`; repeat for several.
    #[arg(long = "report", value_name = "FORMAT=PATH")]
    pub reports: Vec<crate::report::ReportSpec>,
    /// The CI gate: exit 1 on drift from the approved snapshots, on scenarios without a snapshot
    /// and on snapshots no scenario references; failures already accepted in the snapshots do
    /// not fail it (exit 3 still means no decision could be read).
    #[arg(long, env = "GATEPROBE_CI")]
    pub ci: bool,
    #[command(flatten)]
    pub compare: CompareArgs,
    /// Exit 1 when a tool lacks a must-allow or a must-deny scenario (the coverage gate).
    #[arg(long)]
    pub require_coverage: bool,
}

#[derive(Debug, clap::Args)]
pub struct ToolsArgs {
    /// Config file (default: ./gateprobe.yaml if present, else the bundled config).
    #[arg(long, short, env = "GATEPROBE_CONFIG")]
    pub config: Option<PathBuf>,
    /// List the tools as this identity sees them (default: the first with a credential).
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,
    /// With named `targets:` in the config, list the tools of this one (default: the first, in
    /// name order, that can list its tools).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Also run the first scenario whose name contains this text (its calls are sent) and show
    /// the fields of its audit record.
    #[arg(long, value_name = "SCENARIO")]
    pub sample: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CoverageArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Count only these suites (by name).
    #[arg(long = "suite", value_name = "NAME")]
    pub suite: Vec<String>,
    /// Only this shard of the scenarios, e.g. `2/3`: N instances given 1/N … N/N split one golden
    /// set, each scenario in one shard (by a hash of its suite and name), the same every run.
    #[arg(long, value_name = "i/N")]
    pub shard: Option<gateprobe::plan::Shard>,
    /// Exit 1 when a tool lacks a must-allow or a must-deny scenario.
    #[arg(long)]
    pub require_coverage: bool,
}

#[derive(Debug, clap::Args)]
pub struct MutateArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// The policy directory to mutate (default: the embedded target's `policies`). It must be
    /// one the reference gateway loads: a `.cedarschema`, `*.cedar`, optional `limits.yaml`.
    #[arg(long, value_name = "DIR")]
    pub policies: Option<std::path::PathBuf>,
    /// Mutants run at once, each its own embedded gateway and run of the suites.
    #[arg(long, short, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Exit 1 when the mutation score (killed / valid mutants, in percent) is below PCT.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub min_score: Option<f64>,
    /// Write a report: `json=PATH` or `markdown=PATH`; repeat for both.
    #[arg(long = "report", value_name = "FORMAT=PATH")]
    pub reports: Vec<crate::report::ReportSpec>,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a percentage from 0 to 100 (e.g. `90` or `100`)")),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub compare: CompareArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    /// When to run, in the `cron` crate's format, which starts with a SECONDS field:
    /// `sec min hour day-of-month month day-of-week [year]`, e.g. `0 */5 * * * *` (every five
    /// minutes) or `0 0 * * * *` (hourly). `off`: run only at start, on trigger and on policy change.
    #[arg(long, value_name = "CRON", default_value = "0 */5 * * * *", env = "GATEPROBE_SCHEDULE")]
    pub schedule: String,
    /// Random delay (0 to this) added to every scheduled run, e.g. `5s`.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub jitter: Duration,
    /// Address of `/metrics`, `/healthz`, `/status` and `/trigger`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464", env = "GATEPROBE_LISTEN")]
    pub listen: SocketAddr,
    /// File whose first line is the bearer token `POST /trigger` requires. The environment
    /// variable GATEPROBE_TRIGGER_TOKEN takes precedence; with neither, `/trigger` is off.
    #[arg(long, value_name = "FILE")]
    pub trigger_token_file: Option<PathBuf>,
    /// How often the gateway's policy version (`x-policy-version` header) is polled; a change
    /// runs the suites at once. `0s` turns the watch off.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub watch_interval: Duration,
    /// Alertmanager base URL regressions are pushed to; repeat it (or separate with commas) for
    /// every node of an Alertmanager cluster, each alert goes to all. Overrides the config's
    /// `alerting.alertmanager_url` and `alerting.alertmanager_urls`.
    #[arg(long, value_name = "URL", env = "GATEPROBE_ALERTMANAGER_URL", value_delimiter = ',', value_parser = parse_http_url)]
    pub alertmanager_url: Vec<String>,
    /// Only this shard of the scenarios, e.g. `2/3`: N instances given 1/N … N/N split one golden
    /// set, each scenario in one shard (by a hash of its suite and name), the same every run.
    #[arg(long, value_name = "i/N")]
    pub shard: Option<gateprobe::plan::Shard>,
    /// An instance label, e.g. `--label location=eu-west`, over the config's `labels`: on every
    /// pushed alert and on `gateprobe_instance_info`. Repeat for several.
    #[arg(long = "label", value_name = "NAME=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
}

/// An http(s) URL, checked as the config's URLs are.
fn parse_http_url(s: &str) -> Result<String, String> {
    gateprobe::config::check_http_url(s).map(|()| s.to_owned()).map_err(|why| format!("`{s}` {why}"))
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or("expected NAME=VALUE, e.g. location=eu-west")?;
    gateprobe::config::check_label_name(name)?;
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    fn output(color: ColorChoice) -> Output {
        Output { quiet: 0, verbose: 0, color }
    }

    /// Pins no-color.org: NO_COLOR turns auto colour off only when present and not empty;
    /// `always` and `never` win over it and over the terminal.
    #[test]
    fn no_color_counts_only_when_not_empty() {
        let auto = output(ColorChoice::Auto);
        assert!(auto.color(true, None));
        assert!(auto.color(true, Some(OsStr::new(""))));
        assert!(!auto.color(true, Some(OsStr::new("1"))));
        assert!(!auto.color(false, None));
        assert!(output(ColorChoice::Always).color(false, Some(OsStr::new("1"))));
        assert!(!output(ColorChoice::Never).color(true, None));
    }

    /// Every `--alertmanager-url` (repeated or comma-separated) is an http(s) URL, or serve
    /// does not start.
    #[test]
    fn alertmanager_urls_are_checked() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["gateprobe", "serve"], args].concat());
        let Ok(Cli { command: Command::Serve(serve), .. }) =
            parse(&["--alertmanager-url", "http://am-0:9093,https://am-1:9093", "--alertmanager-url", "http://am-2"])
        else {
            panic!("valid URLs refused")
        };
        assert_eq!(serve.alertmanager_url, ["http://am-0:9093", "https://am-1:9093", "http://am-2"]);
        let Err(e) = parse(&["--alertmanager-url", "http://am-0:9093,localhost:9093"]) else {
            panic!("`localhost:9093` was accepted")
        };
        assert!(e.to_string().contains("`localhost:9093` is not an http(s) URL"), "{e}");
    }

    #[test]
    fn quiet_and_verbose_set_the_log_filter() {
        let at = |quiet, verbose| Output { quiet, verbose, color: ColorChoice::Auto }.log_filter();
        assert_eq!(
            [at(2, 0), at(1, 0), at(0, 0), at(0, 1), at(0, 2), at(0, 9)],
            ["error", "warn", "info", "info", "debug", "trace"]
        );
    }
}

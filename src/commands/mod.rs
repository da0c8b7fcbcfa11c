//! One file per subcommand: each turns its arguments into work for the engine and the
//! renderers, prints, and says how the command ends ([`Exit`]).

pub mod coverage;
pub mod gateway;
pub mod lint;
pub mod mutate;
pub mod run;
pub mod schema;
pub mod serve;
pub mod snapshot;
pub mod tools;

use std::io::IsTerminal;

use gateprobe::LoadOptions;
use gateprobe::RunSummary;
use gateprobe::outcome::Exit;

use crate::cli::{LoadArgs, Output};

fn load_options(args: &LoadArgs) -> LoadOptions {
    LoadOptions { config: args.config.clone(), suites: args.suites.clone() }
}

fn use_color(output: Output) -> bool {
    output.color(std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR").as_deref())
}

/// The coverage gate: with `require`, a tool lacking a direction turns a clean exit into a
/// failure.
fn coverage_gate(summary: &RunSummary, require: bool, exit: Exit) -> Exit {
    let message = summary.coverage.as_ref().and_then(|c| c.gate_message());
    match message {
        Some(m) if require => {
            errln!("error: {m}");
            if exit == Exit::Pass { Exit::Fail } else { exit }
        }
        _ => exit,
    }
}

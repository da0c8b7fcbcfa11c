//! `gateprobe snapshot review|accept`: the drift of the last run from `snapshots/` as a diff,
//! and writing it. From the last run's state, never the gateway.

use gateprobe::compare;
use gateprobe::outcome::Exit;

use super::{load_options, use_color};
use crate::cli::{Output, SnapshotArgs, SnapshotCommand};
use crate::report;

pub fn run(command: SnapshotCommand, output: Output) -> Exit {
    match command {
        SnapshotCommand::Review(args) => snapshot(&args, false, output),
        SnapshotCommand::Accept(args) => snapshot(&args, true, output),
    }
}

/// The suites are loaded only to know which scenarios exist (new ones, and snapshots left
/// without one).
fn snapshot(args: &SnapshotArgs, accept: bool, output: Output) -> Exit {
    let loaded = match gateprobe::load(&load_options(&args.load)) {
        Ok(l) => l,
        Err(e) => {
            errln!("{e}");
            return e.exit_code();
        }
    };
    let defined = compare::defined_scenarios(&loaded.suites, &loaded.config.assistants);
    let selection = compare::snapshot::Selection { suites: args.suite.clone(), scenario: args.scenario.clone() };
    let (plan, warning) = match compare::plan_from_last_run(&defined, &args.compare.options(), &selection) {
        Ok(p) => p,
        Err(e) => {
            errln!("{}", e.render());
            return Exit::InvalidInput;
        }
    };
    if let Some(w) = warning {
        errln!("warning: {w}");
    }
    if !accept {
        out!("{}", report::review::render(&plan, use_color(output)));
        return Exit::Pass;
    }
    if let Err(e) = compare::snapshot::apply(&plan) {
        errln!("{}", e.render());
        return Exit::InvalidInput;
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
    Exit::Pass
}

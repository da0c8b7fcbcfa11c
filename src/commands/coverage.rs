//! `gateprobe coverage`: runs the suites and prints only the decision grid and what they leave
//! untested.

use gateprobe::outcome::{Exit, Outcome};
use gateprobe::plan::Filter;

use super::{coverage_gate, load_options, use_color};
use crate::cli::{CoverageArgs, Output};
use crate::report;

pub async fn run(args: CoverageArgs, output: Output) -> Exit {
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
    out!("{}", report::console::render_coverage(&summary, use_color(output)));
    let exit = if summary.results.iter().any(|r| r.outcome == Outcome::Error) { Exit::NoDecision } else { Exit::Pass };
    coverage_gate(&summary, args.require_coverage, exit)
}

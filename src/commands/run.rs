//! `gateprobe run`: one pass over the suites, then the sequence `serve` runs too (compare with
//! the snapshots and the previous state, record, save), then reports; its [`Exit`] combines what
//! the gateway did with gateprobe's own trouble, by [`Exit::most_important`].

use std::io::IsTerminal;

use gateprobe::compare;
use gateprobe::outcome::Exit;
use gateprobe::plan::Filter;

use super::{coverage_gate, load_options, use_color};
use crate::cli::{Output, RunArgs};
use crate::report;

pub async fn run(args: RunArgs, output: Output) -> Exit {
    let loaded = match gateprobe::load(&load_options(&args.load)).and_then(|l| l.with_assistants(&args.assistants)) {
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
    let progress = report::console::Progress::new(
        filter.count(&loaded.suites, loaded.config.assistants.len()),
        std::io::stderr().is_terminal(),
    );
    let summary = match gateprobe::run(&loaded, &filter, &|r| progress.record(r)).await {
        Ok(s) => s,
        Err(e) => {
            progress.finish();
            errln!("error: {e}");
            return e.exit_code();
        }
    };
    progress.finish();
    let color = use_color(output);
    let console = report::console::ConsoleOptions { color, verbose: output.level() > 0, brief: output.level() < 0 };
    out!("{}", report::console::render_with(&summary, console));

    // COMPARE and RECORD: against the approved snapshots and the previous run's state, then the
    // state saved (the sequence `serve` runs too). A broken snapshot file is bad input, but the
    // run's own reports are still written.
    let defined = compare::defined_scenarios(&loaded.suites, &loaded.config.assistants);
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
        out!("{}", report::comparison::render(&c.comparison, color));
        out!("{}", report::comparison::render_drift(&c.comparison, color));
        if args.ci && !c.comparison.gate_passes(true) {
            // What `snapshot accept` would write, from the state this run just recorded.
            let selection =
                compare::snapshot::Selection { suites: args.suite.clone(), scenario: args.scenario.clone() };
            match compare::snapshot::plan(&c.snapshots, &c.state, &defined, &selection) {
                Ok(plan) => {
                    out!("{}", report::review::render(&plan, color));
                    diff = Some(report::review::render(&plan, false));
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
    let mut exit = coverage_gate(&summary, args.require_coverage, verdict);
    if compared.is_none() {
        exit = exit.most_important(Exit::InvalidInput);
    }
    if !reports_written || compared.as_ref().is_some_and(|c| c.save_error.is_some()) {
        exit = exit.most_important(Exit::NotSaved);
    }
    // The process ends next: freeing every result, scenario and state entry one by one would
    // only add to the run's tail (a tenth of it at 10,000 scenarios).
    std::mem::forget((loaded, summary, compared));
    exit
}

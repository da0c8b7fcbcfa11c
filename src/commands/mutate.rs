//! `gateprobe mutate`: policy mutation testing. Mutates the policies (the embedded target's, or
//! `--policies DIR`), runs the suites against each mutant through its own embedded gateway, and
//! reports the score and every survivor. Exit 0, or 1 below `--min-score` (or when the suites do
//! not pass against the unmutated policies); 2 invalid input; 3 the target gave no decision in the
//! baseline run; 4 a report could not be written.

use gateprobe::mutate::{self, Fate, MutateError, MutateOptions};
use gateprobe::outcome::Exit;

use super::{load_options, use_color};
use crate::cli::{MutateArgs, Output};
use crate::report::{self, ReportFormat, mutation};

pub async fn run(args: MutateArgs, output: Output) -> Exit {
    for spec in &args.reports {
        if !matches!(spec.format, ReportFormat::Json | ReportFormat::Markdown) {
            errln!("error: --report {spec}: `gateprobe mutate` writes json= and markdown= reports only");
            return Exit::InvalidInput;
        }
    }
    let loaded = match gateprobe::load(&load_options(&args.load)) {
        Ok(l) => l,
        Err(e) => {
            errln!("{e}");
            return e.exit_code();
        }
    };
    let options = MutateOptions { policies: args.policies.clone(), jobs: usize::from(args.jobs) };
    let color = use_color(output);
    let verbose = output.level() >= 1;
    let outcome = match mutate::policy_dir(&loaded, &options) {
        Ok(dir) => match mutate::generate(&dir) {
            Ok(mutants) => {
                errln!(
                    "mutating {}: {} mutants ({} invalid, not run), {} at a time",
                    dir.display(),
                    mutants.valid.len(),
                    mutants.invalid.len(),
                    options.jobs
                );
                let progress = |r: &mutate::MutantResult| {
                    if verbose {
                        let fate = match r.fate {
                            Fate::Killed { .. } => "killed",
                            Fate::KilledByError { .. } => "killed by error",
                            Fate::Survived => "survived",
                        };
                        errln!("  #{} {}:{} {}: {fate}", r.mutant.id, r.mutant.file, r.mutant.line, r.mutant.operator);
                    }
                };
                mutate::run(&loaded, mutants, options.jobs, &progress).await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let run = match outcome {
        Ok(run) => run,
        Err(MutateError::Baseline { failing, summary }) => {
            out!("{}", report::console::render(&summary, color));
            errln!("error: {}", MutateError::Baseline { failing, summary: summary.clone() });
            return summary.exit_code().most_important(Exit::Fail);
        }
        Err(e) => {
            errln!("error: {e}");
            return e.exit_code();
        }
    };

    out!("{}", mutation::console(&run, color, output.level()));
    let mut exit = Exit::Pass;
    if let Some(min) = args.min_score
        && run.score() < min
    {
        errln!("error: mutation score {:.1}% is below --min-score {min}", run.score());
        exit = Exit::Fail;
    }
    if let Err(e) = write_reports(&run, &args.reports) {
        errln!("error: {e}");
        exit = exit.most_important(Exit::NotSaved);
    }
    if let Err(e) =
        report::markdown::append_to_step_summary(|n| std::env::var_os(n), || mutation::markdown(&run) + "\n")
    {
        errln!("warning: could not write the GitHub step summary: {e}");
    }
    exit
}

fn write_reports(run: &mutate::MutationRun, specs: &[report::ReportSpec]) -> Result<(), report::ReportError> {
    for (i, spec) in specs.iter().enumerate() {
        if specs[..i].iter().any(|other| other.path == spec.path) {
            return Err(report::ReportError::DuplicatePath(spec.path.clone()));
        }
    }
    for spec in specs {
        let text = match spec.format {
            ReportFormat::Json => mutation::json(run)?,
            _ => mutation::markdown(run),
        };
        gateprobe::atomic_file::write(&spec.path, |w| w.write_all(text.as_bytes()))
            .map_err(|source| report::ReportError::Io { path: spec.path.clone(), source })?;
    }
    Ok(())
}

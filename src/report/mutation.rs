//! The reports of `gateprobe mutate`: the console summary, the JSON document
//! (`schemas/mutate.schema.json`, [`SCHEMA`]) and the Markdown summary (also appended to
//! `$GITHUB_STEP_SUMMARY` in GitHub Actions). Every survivor is shown with its file:line, its
//! operator and the unified diff of the change no scenario noticed.
//!
//! ```text
//! ✗ survived #12 roles.cedar:8 drop_condition (reader-read): drop the `when` clause
//!     --- a/policies/roles.cedar
//!     +++ b/policies/roles.cedar
//!     @@ -5,4 +5,4 @@
//!        action in [Action::"files.read", Action::"search.query"],
//!        resource
//!     -) when { principal.roles.contains("reader") };
//!     +) ;
//!
//! operators:
//!   delete_statement   5 mutants,  5 killed   delete a whole statement
//!   drop_condition     5 mutants,  4 killed   drop one `when`/`unless` clause
//!   …
//!
//! mutation score 96.4% — 27 of 28 mutants killed (0 by error), 1 survived, 0 invalid (policies, 27 scenarios each, 2 jobs, 9.80 s)
//! ```

use std::fmt::Write as _;
use std::path::Path;

use owo_colors::OwoColorize;
use serde::Serialize;

use gateprobe::mutate::{Fate, Killer, Mutant, MutantResult, MutationRun, Operator};

use super::text;

/// The JSON Schema of [`json`]'s output.
pub const SCHEMA: &str = include_str!("../../schemas/mutate.schema.json");

/// The unified diff of one mutant, with paths under the policy directory.
pub fn diff(dir: &Path, mutant: &Mutant) -> String {
    let path = dir.join(&mutant.file);
    similar::TextDiff::from_lines(mutant.original(), mutant.mutated())
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{}", path.display()), &format!("b/{}", path.display()))
        .to_string()
}

fn place(m: &Mutant) -> String {
    let policy = m.policy.as_ref().map(|p| format!(" ({p})")).unwrap_or_default();
    format!("#{} {}:{} {}{policy}: {}", m.id, m.file, m.line, m.operator, m.description)
}

/// The summary line: `mutation score 100.0% — 28 of 28 mutants killed …`.
fn headline(run: &MutationRun) -> String {
    let survived = run.survivors().count();
    format!(
        "mutation score {:.1}% — {} of {} mutants killed ({} by error), {survived} survived, {} invalid ({}, {} scenarios each, {} jobs, {})",
        run.score(),
        run.killed() + run.killed_by_error(),
        run.results.len(),
        run.killed_by_error(),
        run.invalid.len(),
        run.dir.display(),
        run.scenarios,
        run.jobs,
        text::seconds(run.duration),
    )
}

/// Per operator: mutants run and killed (either way).
fn per_operator(run: &MutationRun) -> Vec<(Operator, usize, usize)> {
    Operator::ALL
        .iter()
        .map(|&op| {
            let of: Vec<&MutantResult> = run.results.iter().filter(|r| r.mutant.operator == op).collect();
            let killed = of.iter().filter(|r| !matches!(r.fate, Fate::Survived)).count();
            (op, of.len(), killed)
        })
        .collect()
}

/// The first three scenarios that killed a mutant, and how many more (the JSON report has all).
fn killers(by: &[Killer]) -> String {
    let mut list: Vec<String> =
        by.iter().take(3).map(|k| format!("{} › {} ({})", k.suite, k.scenario, k.outcome.as_str())).collect();
    if by.len() > 3 {
        list.push(format!("and {} more", by.len() - 3));
    }
    list.join("; ")
}

/// The console summary: survivors with their diffs, mutants killed by an error, invalid ones,
/// the operator table and the score. At `level` 1 (-v) it also lists every killed mutant and its
/// killers; below 0 (-q) it leaves out the operator table.
pub fn console(run: &MutationRun, color: bool, level: i8) -> String {
    let verbose = level >= 1;
    let red = |s: &str| if color { s.red().bold().to_string() } else { s.to_string() };
    let magenta = |s: &str| if color { s.magenta().bold().to_string() } else { s.to_string() };
    let green = |s: &str| if color { s.green().to_string() } else { s.to_string() };
    let dim = |s: &str| if color { s.dimmed().to_string() } else { s.to_string() };
    let mut out = String::new();
    for r in &run.results {
        match &r.fate {
            Fate::Survived => {
                let _ = writeln!(out, "{} {}", red("✗ survived"), place(&r.mutant));
                for line in diff(&run.dir, &r.mutant).lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
            Fate::KilledByError { message } => {
                let _ = writeln!(
                    out,
                    "{} {} · {}",
                    magenta("! killed by error"),
                    place(&r.mutant),
                    text::one_line(message)
                );
            }
            Fate::Killed { by } if verbose => {
                let _ =
                    writeln!(out, "{} {} {}", green("✓ killed"), place(&r.mutant), dim(&format!("by {}", killers(by))));
            }
            Fate::Killed { .. } => {}
        }
    }
    for i in &run.invalid {
        let _ = writeln!(out, "{} {} · {}", dim("- invalid"), place(&i.mutant), dim(&text::one_line(&i.message)));
    }
    if !out.is_empty() {
        out.push('\n');
    }
    if level >= 0 {
        out.push_str("operators:\n");
        for (op, n, killed) in per_operator(run) {
            let _ = writeln!(out, "  {:<18} {n:>3} mutants, {killed:>3} killed   {}", op.as_str(), dim(op.describe()));
        }
        out.push('\n');
    }
    let line = headline(run);
    let _ = writeln!(out, "{}", if run.survivors().next().is_some() { red(&line) } else { green(&line) });
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    version: u32,
    policies: String,
    duration_ms: f64,
    jobs: usize,
    scenarios: usize,
    score: f64,
    counts: Counts,
    operators: Vec<JsonOperator>,
    mutants: Vec<JsonMutant<'a>>,
}

#[derive(Serialize)]
struct Counts {
    mutants: usize,
    killed: usize,
    killed_by_error: usize,
    survived: usize,
    invalid: usize,
}

#[derive(Serialize)]
struct JsonOperator {
    name: &'static str,
    description: &'static str,
    mutants: usize,
    killed: usize,
}

#[derive(Serialize)]
struct JsonMutant<'a> {
    id: usize,
    file: &'a str,
    line: usize,
    operator: Operator,
    policy: Option<&'a str>,
    description: &'a str,
    /// killed, killed_by_error, survived or invalid.
    status: &'static str,
    killed_by: &'a [Killer],
    /// Why it was killed by error, or why the gateway would not load it.
    error: Option<&'a str>,
    diff: String,
}

/// The JSON report: every mutant (the invalid ones last) with its fate and diff.
pub fn json(run: &MutationRun) -> Result<String, serde_json::Error> {
    let mut mutants: Vec<JsonMutant<'_>> = run
        .results
        .iter()
        .map(|r| {
            let (status, killed_by, error): (&str, &[Killer], Option<&str>) = match &r.fate {
                Fate::Killed { by } => ("killed", by, None),
                Fate::KilledByError { message } => ("killed_by_error", &[], Some(message)),
                Fate::Survived => ("survived", &[], None),
            };
            json_mutant(&run.dir, &r.mutant, status, killed_by, error)
        })
        .collect();
    mutants.extend(run.invalid.iter().map(|i| json_mutant(&run.dir, &i.mutant, "invalid", &[], Some(&i.message))));
    let report = JsonReport {
        version: 1,
        policies: run.dir.display().to_string(),
        duration_ms: run.duration.as_secs_f64() * 1000.0,
        jobs: run.jobs,
        scenarios: run.scenarios,
        score: (run.score() * 10.0).round() / 10.0,
        counts: Counts {
            mutants: run.results.len(),
            killed: run.killed(),
            killed_by_error: run.killed_by_error(),
            survived: run.survivors().count(),
            invalid: run.invalid.len(),
        },
        operators: per_operator(run)
            .into_iter()
            .map(|(op, mutants, killed)| JsonOperator {
                name: op.as_str(),
                description: op.describe(),
                mutants,
                killed,
            })
            .collect(),
        mutants,
    };
    serde_json::to_string_pretty(&report).map(|s| s + "\n")
}

fn json_mutant<'a>(
    dir: &Path,
    m: &'a Mutant,
    status: &'static str,
    killed_by: &'a [Killer],
    error: Option<&'a str>,
) -> JsonMutant<'a> {
    JsonMutant {
        id: m.id,
        file: &m.file,
        line: m.line,
        operator: m.operator,
        policy: m.policy.as_deref(),
        description: &m.description,
        status,
        killed_by,
        error,
        diff: diff(dir, m),
    }
}

/// The Markdown summary: the score, the operator table, then each survivor with its diff.
pub fn markdown(run: &MutationRun) -> String {
    let survivors: Vec<&MutantResult> = run.survivors().collect();
    let mut out = String::new();
    let icon = if survivors.is_empty() { "✅" } else { "❌" };
    let _ = writeln!(
        out,
        "## {icon} gateprobe mutate: score {:.1}% ({} of {} mutants killed)\n",
        run.score(),
        run.killed() + run.killed_by_error(),
        run.results.len()
    );
    let _ = writeln!(
        out,
        "Policies `{}`, {} scenarios against each mutant, {} survived, {} killed by error, {} invalid (not run), took {}.\n",
        run.dir.display(),
        run.scenarios,
        survivors.len(),
        run.killed_by_error(),
        run.invalid.len(),
        text::seconds(run.duration)
    );
    out.push_str("| operator | what it changes | mutants | killed |\n|---|---|---:|---:|\n");
    for (op, n, killed) in per_operator(run) {
        let _ = writeln!(out, "| `{}` | {} | {n} | {killed} |", op.as_str(), op.describe().replace('|', "\\|"));
    }
    if !survivors.is_empty() {
        out.push_str("\n### Survivors: changes no scenario noticed\n");
        for r in survivors {
            let m = &r.mutant;
            let policy = m.policy.as_ref().map(|p| format!(" (`{p}`)")).unwrap_or_default();
            let _ = writeln!(
                out,
                "\n**#{}** `{}:{}` `{}`{policy}: {}\n\n```diff\n{}```",
                m.id,
                m.file,
                m.line,
                m.operator,
                m.description.replace('`', "'"),
                diff(&run.dir, m)
            );
        }
    }
    let errors: Vec<(&Mutant, &str)> = run
        .results
        .iter()
        .filter_map(|r| match &r.fate {
            Fate::KilledByError { message } => Some((&r.mutant, message.as_str())),
            _ => None,
        })
        .collect();
    if !errors.is_empty() {
        out.push_str("\n### Killed by an error, not by a decision\n\n");
        for (m, message) in errors {
            let _ =
                writeln!(out, "- **#{}** `{}:{}` `{}`: {}", m.id, m.file, m.line, m.operator, text::one_line(message));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use gateprobe::outcome::Outcome;

    use super::*;

    /// Two real mutants of the bundled policies: one killed, one survivor.
    fn run() -> MutationRun {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
        let mut mutants = gateprobe::mutate::generate(&dir).unwrap().valid;
        let survivor = mutants
            .iter()
            .position(|m| m.operator == Operator::DropCondition && m.policy.as_deref() == Some("reader-read"))
            .unwrap();
        let survivor = mutants.swap_remove(survivor);
        let killed = mutants.swap_remove(0);
        let by = vec![Killer { suite: "documents".into(), scenario: "reader can read".into(), outcome: Outcome::Fail }];
        MutationRun {
            dir: PathBuf::from("policies"),
            results: vec![
                MutantResult { mutant: killed, fate: Fate::Killed { by }, duration: Duration::ZERO },
                MutantResult { mutant: survivor, fate: Fate::Survived, duration: Duration::ZERO },
            ],
            invalid: vec![],
            scenarios: 3,
            jobs: 2,
            duration: Duration::from_millis(1500),
        }
    }

    #[test]
    fn console_shows_the_survivor_with_its_diff_and_the_score() {
        let out = console(&run(), false, 0);
        assert!(out.contains("✗ survived #"), "{out}");
        assert!(out.contains("roles.cedar:8 drop_condition (reader-read): drop the `when` clause"), "{out}");
        assert!(out.contains("    -) when { principal.roles.contains(\"reader\") };"), "{out}");
        assert!(out.contains("    +++ b/policies/roles.cedar"), "{out}");
        assert!(out.contains("mutation score 50.0% — 1 of 2 mutants killed (0 by error), 1 survived"), "{out}");
        assert!(!out.contains("✓ killed"));
        assert!(console(&run(), false, 1).contains("✓ killed"));
        let four: Vec<Killer> =
            (0..4).map(|i| Killer { suite: "s".into(), scenario: format!("n{i}"), outcome: Outcome::Fail }).collect();
        assert_eq!(killers(&four), "s › n0 (fail); s › n1 (fail); s › n2 (fail); and 1 more");
        assert!(!console(&run(), false, -1).contains("operators:"));
    }

    #[test]
    fn json_report_validates_against_its_schema() {
        let text = json(&run()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
        let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(value["score"], 50.0);
        assert_eq!(value["mutants"][1]["status"], "survived");
        assert_eq!(value["mutants"][0]["killed_by"][0]["outcome"], "fail");
    }

    #[test]
    fn markdown_lists_survivors_with_a_diff_block() {
        let out = markdown(&run());
        assert!(out.starts_with("## ❌ gateprobe mutate: score 50.0% (1 of 2 mutants killed)"), "{out}");
        assert!(out.contains("`roles.cedar:8` `drop_condition` (`reader-read`)"), "{out}");
        assert!(out.contains("```diff\n--- a/policies/roles.cedar"), "{out}");
    }
}

//! MUTATE: policy mutation testing. How good is a golden set? Change the policies one small
//! way at a time ([`Operator`]); every change the suites still pass unchanged is a seam of the
//! policy no scenario pins (a *survivor*).
//!
//! [`generate`] reads a policy directory the reference gateway can load and makes every mutant,
//! keeping those the gateway would still load (the others are counted, never run). [`run`]
//! first runs the suites against the unmutated policies (they must all pass: a failing
//! baseline kills every mutant and proves nothing), then against each mutant: its own temporary
//! copy of the directory and its own embedded gateway, `jobs` at a time, through the same
//! [`crate::run`] as `gateprobe run`.

mod operators;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::RunSummary;
use crate::config::{EmbeddedTarget, TargetConfig};
use crate::outcome::Outcome;
use crate::plan::Filter;
use crate::{Loaded, RunError};

pub use operators::Operator;
use operators::{Edit, line_of};

/// Why mutation testing could not run. Bad input is exit 2; a baseline that does not pass or a
/// target that gives no decision keep `run`'s meaning.
#[derive(Debug, thiserror::Error)]
pub enum MutateError {
    #[error(
        "the config's target is not `embedded`, so there are no policies to mutate; pass `--policies DIR` (a policy directory the reference gateway loads) or use a config whose target is `{{kind: embedded}}` (with named `targets:`, one of them must be, and it runs the mutants)"
    )]
    /// No `--policies` and the config's target is not the embedded gateway (with named targets:
    /// none of them is).
    NotEmbedded,
    #[error("{0}; fix the policies first (`gateprobe gateway --policies DIR` loads them the same way)")]
    /// The unmutated policies do not load (the message names the file, and the line of a
    /// syntax error).
    Policies(String),
    #[error("cannot copy the policies to a temporary directory: {0}")]
    /// A policy file could not be read or a mutant's directory written.
    Io(#[from] std::io::Error),
    #[error("nothing to mutate in {0}: no statement, condition, action list or subject quota")]
    /// No operator applies anywhere in the directory.
    NoMutants(PathBuf),
    #[error(transparent)]
    /// The baseline run could not start (its config, suites or target).
    Run(#[from] RunError),
    /// The suites do not all pass against the unmutated policies.
    #[error("the suites do not all pass against the unmutated policies ({failing} did not); fix them first")]
    Baseline {
        /// How many scenarios did not pass.
        failing: usize,
        /// The baseline run, to show what failed.
        summary: Box<RunSummary>,
    },
}

impl MutateError {
    /// The exit status, with `gateprobe run`'s meanings.
    pub fn exit_code(&self) -> crate::outcome::Exit {
        use crate::outcome::Exit;
        match self {
            MutateError::Run(e) => e.exit_code(),
            MutateError::Baseline { summary, .. } => summary.exit_code(),
            MutateError::Io(_) => Exit::NoDecision,
            MutateError::NotEmbedded | MutateError::Policies(_) | MutateError::NoMutants(_) => Exit::InvalidInput,
        }
    }
}

/// One changed copy of the policy directory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Mutant {
    /// 1-based, in file name and source order: stable from run to run.
    pub id: usize,
    /// The changed file's name in the policy directory.
    pub file: String,
    /// The line the change starts on.
    pub line: usize,
    /// The operator that made it.
    pub operator: Operator,
    /// The changed statement's `@id`.
    pub policy: Option<String>,
    /// What changed, in a few words.
    pub description: String,
    #[serde(skip)]
    original: String,
    #[serde(skip)]
    mutated: String,
}

impl Mutant {
    /// The file as it was.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The file as this mutant has it.
    pub fn mutated(&self) -> &str {
        &self.mutated
    }
}

/// A mutant the gateway would not load, counted and never run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Invalid {
    /// The mutant.
    pub mutant: Mutant,
    /// What the gateway said.
    pub message: String,
}

/// The mutants of one policy directory.
#[derive(Debug, Clone)]
pub struct Mutants {
    /// The policy directory they change.
    pub dir: PathBuf,
    /// The mutants the gateway loads, in id order.
    pub valid: Vec<Mutant>,
    /// The ones it would not load.
    pub invalid: Vec<Invalid>,
}

/// Makes every mutant of `dir`, in file name then source order, and sorts out those the gateway
/// would not load. `dir` itself must load.
pub fn generate(dir: &Path) -> Result<Mutants, MutateError> {
    gateprobe_gateway::check_policies(dir).map_err(|e| MutateError::Policies(placed(&e)))?;
    let files = policy_files(dir)?;
    let mut all = Vec::new();
    for (name, text) in &files {
        let edits: Vec<Edit> = if name.ends_with(".cedar") {
            // The directory loaded, so every .cedar file parses; a parse error here would be a
            // difference between the two parsers, and that file is left alone.
            operators::cedar(text).unwrap_or_default()
        } else if name == "limits.yaml" {
            operators::quota(text)
        } else {
            continue;
        };
        for edit in edits {
            all.push(Mutant {
                id: all.len() + 1,
                file: name.clone(),
                line: line_of(text, edit.span.start),
                operator: edit.operator,
                policy: edit.policy.clone(),
                description: edit.description.clone(),
                original: text.clone(),
                mutated: edit.apply(text),
            });
        }
    }
    let mut mutants = Mutants { dir: dir.to_path_buf(), valid: Vec::new(), invalid: Vec::new() };
    for mutant in all {
        let copy = materialize(&files, &mutant)?;
        match gateprobe_gateway::check_policies(copy.path()) {
            Ok(()) => mutants.valid.push(mutant),
            Err(e) => mutants.invalid.push(Invalid { message: e.to_string(), mutant }),
        }
    }
    if mutants.valid.is_empty() && mutants.invalid.is_empty() {
        return Err(MutateError::NoMutants(dir.to_path_buf()));
    }
    Ok(mutants)
}

/// The gateway's message, with the line and column of a Cedar syntax error before it.
fn placed(error: &gateprobe_gateway::PolicyError) -> String {
    let file = error.file();
    let at = match file.extension().and_then(|e| e.to_str()) {
        Some("cedar") => std::fs::read_to_string(file).ok().and_then(|src| operators::syntax_error_at(&src)),
        _ => None,
    };
    match (at, error) {
        (Some((line, column)), gateprobe_gateway::PolicyError::Invalid { message, .. }) => {
            format!("{}:{line}:{column}: {message}", file.display())
        }
        _ => error.to_string(),
    }
}

/// The directory's regular, non-hidden files, by name: what the gateway reads (it skips the
/// rest). Names and contents are copied into every mutant's directory.
fn policy_files(dir: &Path) -> Result<Vec<(String, String)>, MutateError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.file_type()?.is_file() {
            continue;
        }
        // The directory loaded, so its policy files are UTF-8; other files are copied as read.
        let bytes = std::fs::read(entry.path())?;
        files.push((name, String::from_utf8_lossy(&bytes).into_owned()));
    }
    files.sort();
    Ok(files)
}

fn materialize(files: &[(String, String)], mutant: &Mutant) -> Result<tempfile::TempDir, std::io::Error> {
    let dir = tempfile::Builder::new().prefix("gateprobe-mutant-").tempdir()?;
    for (name, text) in files {
        let text = if *name == mutant.file { &mutant.mutated } else { text };
        std::fs::write(dir.path().join(name), text)?;
    }
    Ok(dir)
}

/// What the suites did to a mutant.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Fate {
    /// Some scenario failed, lost its evidence or leaked: the suites notice this change.
    Killed {
        /// The scenarios that did not pass.
        by: Vec<Killer>,
    },
    /// No scenario failed, but some gave no decision (or the target did not start): the change
    /// broke the gateway rather than a decision. Counted as killed, reported apart.
    KilledByError {
        /// The first error, and how many scenarios had one.
        message: String,
    },
    /// Every scenario passed: no scenario pins what changed.
    Survived,
}

/// A scenario that killed a mutant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Killer {
    /// Its suite.
    pub suite: String,
    /// Its name (keyed `<scenario> [<assistant>]` under a candidate assistant).
    pub scenario: String,
    /// How it ended against the mutant.
    pub outcome: Outcome,
}

/// One mutant and what became of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MutantResult {
    /// The mutant.
    #[serde(flatten)]
    pub mutant: Mutant,
    /// What the suites did to it.
    pub fate: Fate,
    /// Its gateway's start and the run of the suites.
    #[serde(skip)]
    pub duration: Duration,
}

/// A whole mutation run.
#[derive(Debug, Clone)]
pub struct MutationRun {
    /// The policy directory that was mutated.
    pub dir: PathBuf,
    /// Mutants run, in id order.
    pub results: Vec<MutantResult>,
    /// Mutants the gateway would not load.
    pub invalid: Vec<Invalid>,
    /// Scenarios each run had.
    pub scenarios: usize,
    /// Mutants run at once.
    pub jobs: usize,
    /// The baseline and every mutant, wall-clock.
    pub duration: Duration,
}

impl MutationRun {
    /// Mutants a scenario's decision or evidence killed.
    pub fn killed(&self) -> usize {
        self.results.iter().filter(|r| matches!(r.fate, Fate::Killed { .. })).count()
    }

    /// Mutants only an error killed.
    pub fn killed_by_error(&self) -> usize {
        self.results.iter().filter(|r| matches!(r.fate, Fate::KilledByError { .. })).count()
    }

    /// Mutants every scenario passed against.
    pub fn survivors(&self) -> impl Iterator<Item = &MutantResult> {
        self.results.iter().filter(|r| matches!(r.fate, Fate::Survived))
    }

    /// Killed (either way) over valid mutants, in percent; 100 when there were none.
    pub fn score(&self) -> f64 {
        if self.results.is_empty() {
            return 100.0;
        }
        let killed = self.killed() + self.killed_by_error();
        100.0 * killed as f64 / self.results.len() as f64
    }
}

/// How to mutate.
#[derive(Debug, Clone)]
pub struct MutateOptions {
    /// The policy directory; `None`: the embedded target's.
    pub policies: Option<PathBuf>,
    /// Mutants run at once (each is a gateway and a run), at least 1.
    pub jobs: usize,
}

/// Which directory a mutation run mutates: the option, or the embedded target's.
pub fn policy_dir(loaded: &Loaded, options: &MutateOptions) -> Result<PathBuf, MutateError> {
    let config = &loaded.config;
    let embedded = config.embedded();
    match (&options.policies, embedded) {
        // With named targets, the mutants replace the embedded one's policies: it must be there.
        (_, None) if !config.targets.is_empty() => Err(MutateError::NotEmbedded),
        (Some(dir), _) => Ok(dir.clone()),
        (None, Some(e)) => Ok(e.policies.clone()),
        (None, None) => Err(MutateError::NotEmbedded),
    }
}

/// The baseline, then every valid mutant of `mutants`, `jobs` at a time; `progress` sees each
/// mutant as it ends.
pub async fn run(
    loaded: &Loaded,
    mutants: Mutants,
    jobs: usize,
    progress: &(dyn Fn(&MutantResult) + Sync),
) -> Result<MutationRun, MutateError> {
    let start = Instant::now();
    let files = policy_files(&mutants.dir)?;
    let baseline = crate::run(&with_policies(loaded, &mutants.dir), &Filter::default(), &|_| {}).await?;
    let failing = baseline.results.iter().filter(|r| !r.outcome.is_pass()).count();
    if failing > 0 {
        return Err(MutateError::Baseline { failing, summary: Box::new(baseline) });
    }
    let scenarios = baseline.results.len();
    let files = &files;
    let mut results: Vec<MutantResult> = futures::stream::iter(mutants.valid)
        .map(|mutant| async move {
            let started = Instant::now();
            let fate = match materialize(files, &mutant) {
                Ok(dir) => {
                    let outcome = crate::run(&with_policies(loaded, dir.path()), &Filter::default(), &|_| {}).await;
                    fate(outcome)
                }
                Err(e) => Fate::KilledByError { message: format!("cannot write the mutant's policies: {e}") },
            };
            let result = MutantResult { mutant, fate, duration: started.elapsed() };
            progress(&result);
            result
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    results.sort_by_key(|r| r.mutant.id);
    Ok(MutationRun {
        dir: mutants.dir,
        results,
        invalid: mutants.invalid,
        scenarios,
        jobs: jobs.max(1),
        duration: start.elapsed(),
    })
}

/// The loaded config with an embedded target on `dir` (the config's own embedded settings kept).
fn with_policies(loaded: &Loaded, dir: &Path) -> Loaded {
    let mut loaded = loaded.clone();
    if !loaded.config.targets.is_empty() {
        // Named targets: the embedded one ([`policy_dir`] made sure there is one) runs the
        // mutant; the others are reached as configured.
        if let Some(e) = loaded.config.embedded_mut() {
            e.policies = dir.to_path_buf();
        }
        return loaded;
    }
    let mut embedded = match &loaded.config.target {
        TargetConfig::Embedded(e) => e.clone(),
        _ => EmbeddedTarget::default(),
    };
    embedded.policies = dir.to_path_buf();
    loaded.config.target = TargetConfig::Embedded(embedded);
    loaded
}

fn fate(outcome: Result<RunSummary, RunError>) -> Fate {
    let summary = match outcome {
        Ok(s) => s,
        Err(e) => return Fate::KilledByError { message: e.to_string() },
    };
    let by: Vec<Killer> = summary
        .results
        .iter()
        .filter(|r| !r.outcome.is_pass() && r.outcome != Outcome::Error)
        .map(|r| Killer { suite: r.suite.clone(), scenario: r.scenario.clone(), outcome: r.outcome })
        .collect();
    if !by.is_empty() {
        return Fate::Killed { by };
    }
    let errors: Vec<&str> = summary
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Error)
        .map(|r| r.message.as_deref().unwrap_or("no decision could be read"))
        .collect();
    match errors.first() {
        Some(first) => {
            Fate::KilledByError { message: format!("{} scenario(s) gave no decision: {first}", errors.len()) }
        }
        None => Fate::Survived,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
    }

    #[test]
    fn bundled_policies_give_the_measured_28_mutants_all_loadable() {
        let m = generate(&bundled()).unwrap();
        assert!(m.invalid.is_empty(), "{:?}", m.invalid);
        assert_eq!(m.valid.len(), 28);
        let count = |op: Operator| m.valid.iter().filter(|x| x.operator == op).count();
        assert_eq!(
            Operator::ALL.map(count),
            [5, 5, 5, 2, 6, 3, 2],
            "delete, drop condition, negate, conjunct, drop action, widen, quota"
        );
        let ids: Vec<usize> = m.valid.iter().map(|x| x.id).collect();
        assert_eq!(ids, (1..=28).collect::<Vec<_>>());
    }

    #[test]
    fn a_mutant_the_schema_rejects_is_counted_invalid_and_never_run() {
        let dir = tempfile::tempdir().unwrap();
        let schema = "entity User = { note?: String };\nentity Resource;\naction \"a\" appliesTo { principal: [User], resource: [Resource] };\n";
        std::fs::write(dir.path().join("schema.cedarschema"), schema).unwrap();
        // Dropping the `has` guard reads an optional attribute unguarded: strict validation refuses it.
        let policy = "@id(\"p\")\npermit (principal, action == Action::\"a\", resource)\nwhen { principal has note && principal.note == \"x\" };\n";
        std::fs::write(dir.path().join("p.cedar"), policy).unwrap();
        let m = generate(dir.path()).unwrap();
        assert_eq!(m.invalid.len(), 1, "{:?}", m.invalid);
        let invalid = &m.invalid[0];
        assert_eq!((invalid.mutant.operator, invalid.mutant.line), (Operator::DropConjunct, 3));
        assert!(invalid.mutant.mutated().contains("when { principal.note == \"x\" }"));
        assert!(invalid.message.contains("p.cedar"), "{}", invalid.message);
        assert_eq!(m.valid.len(), 5, "delete, drop condition, negate, the other conjunct, widen");

        std::fs::write(dir.path().join("p.cedar"), "permit (principal, action == Action::\"nope\", resource);\n")
            .unwrap();
        assert!(matches!(generate(dir.path()), Err(MutateError::Policies(_))));
    }

    #[test]
    fn a_directory_without_policies_says_so() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(bundled().join("schema.cedarschema"), dir.path().join("schema.cedarschema")).unwrap();
        assert!(matches!(generate(dir.path()), Err(MutateError::NoMutants(_))));
    }
}

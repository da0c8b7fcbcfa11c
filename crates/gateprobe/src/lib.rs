//! The gateprobe engine: golden-prompt synthetic monitoring for AI tool gateways.
//!
//! The stages, in the order data flows through them:
//! `suite` (load + lint) → `plan` → (`propose`, for golden prompts: not built yet) →
//! `execute` (through an `adapter`, evidence from the audit source) → `verify` → `outcome` →
//! `compare` (snapshots, state, regressions). ARCHITECTURE.md at the repository root maps it.
//! Rendering, metrics, alerting and the service live in the `gateprobe` binary; the reference
//! gateway is the `gateprobe-gateway` crate, reached only over HTTP.

pub mod adapter;
mod aggregate;
pub mod atomic_file;
pub mod compare;
pub mod config;
pub mod coverage;
pub mod decision;
pub mod evidence;
pub mod execute;
pub mod mutate;
pub mod outcome;
pub mod plan;
pub mod propose;
pub mod secret;
pub mod suite;
#[doc(hidden)]
pub mod testing;
pub mod transport;
pub mod verify;

use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt;

use crate::adapter::Target;
use crate::config::Config;
use crate::outcome::{RunSummary, ScenarioResult};
use crate::plan::Filter;
use crate::suite::Suite;

/// Why a run could not start. Every variant but a target failure means bad input (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Suites(#[from] suite::LoadError),
    #[error(transparent)]
    Plan(#[from] plan::UnknownIdentity),
    #[error(transparent)]
    Target(#[from] adapter::TargetError),
    #[error("--assistant {name}: the config defines no such assistant (it defines: {known})")]
    UnknownAssistant { name: String, known: String },
}

impl RunError {
    pub fn exit_code(&self) -> outcome::Exit {
        match self {
            RunError::Target(adapter::TargetError::Embedded(_)) => outcome::Exit::NoDecision,
            _ => outcome::Exit::InvalidInput,
        }
    }
}

/// Where suites and config come from.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Config file; `None` looks for `./gateprobe.yaml`, then uses the bundled config.
    pub config: Option<PathBuf>,
    /// Suite files or directories that replace the config's `suites`.
    pub suites: Vec<PathBuf>,
}

/// A valid config and its suites: what a run needs before it touches the network.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub suites: Vec<Suite>,
}

impl Loaded {
    /// Keeps only the named assistants, in the order named (none named: all of them).
    pub fn with_assistants(mut self, names: &[String]) -> Result<Loaded, RunError> {
        if names.is_empty() {
            return Ok(self);
        }
        let mut chosen = Vec::new();
        for name in names {
            let Some(a) = self.config.assistants.iter().find(|a| &a.name == name) else {
                let known: Vec<&str> = self.config.assistants.iter().map(|a| a.name.as_str()).collect();
                return Err(RunError::UnknownAssistant { name: name.clone(), known: known.join(", ") });
            };
            chosen.push(a.clone());
        }
        self.config.assistants = chosen;
        Ok(self)
    }
}

/// LOAD: reads and lints the config and every suite, reporting all problems at once.
pub fn load(options: &LoadOptions) -> Result<Loaded, RunError> {
    // The sensitivity rules, compiled once for the config and every suite file.
    let rules = suite::lint::Rules::new();
    let mut config = config::load_config(options.config.as_deref(), &rules)?;
    if !options.suites.is_empty() {
        config.suites = options.suites.clone();
    }
    let suites = suite::load_suites(&config.suites, &rules)?;
    let mut unknown = config::check_identities(&suites, &config);
    unknown.extend(config::check_assistants(&suites, &config));
    if !unknown.is_empty() {
        return Err(suite::LoadError::from(unknown).into());
    }
    Ok(Loaded { config, suites })
}

/// One pass: connects to the target the config names, runs, and disconnects.
pub async fn run(
    loaded: &Loaded,
    filter: &Filter,
    progress: &(dyn Fn(&ScenarioResult) + Sync),
) -> Result<RunSummary, RunError> {
    let target = Target::connect(&loaded.config).await?;
    let summary = run_on(&target, loaded, filter, progress).await;
    target.shutdown().await;
    summary
}

/// One pass against an already connected target (the service keeps one across runs).
pub async fn run_on(
    target: &Target,
    loaded: &Loaded,
    filter: &Filter,
    progress: &(dyn Fn(&ScenarioResult) + Sync),
) -> Result<RunSummary, RunError> {
    let started_at = time::OffsetDateTime::now_utc();
    let start = Instant::now();
    let assistants = propose::connect(&loaded.config.assistants).await?;
    let planned = plan::plan(&loaded.suites, &target.identities, &assistants, filter)?;
    let executor = execute::Executor::new(target, &loaded.config.run);
    let scenarios = futures::stream::iter(planned.iter().enumerate())
        .map(|(i, p)| {
            let executor = &executor;
            async move {
                let execution = executor.execute(p).await;
                let verdict = verify::verify(p.scenario, &p.identity, &execution);
                let result = ScenarioResult::new(p, execution, verdict, &loaded.config.coverage.policy_ids_pointer);
                progress(&result);
                (i, result)
            }
        })
        .buffer_unordered(execute::scenarios_in_flight(&loaded.config.run))
        .collect::<Vec<(usize, ScenarioResult)>>();
    // The gateway's listing (for coverage) is fetched while the scenarios run, not after them.
    let (mut results, listing) = futures::join!(scenarios, target.listing());
    executor.finish().await;
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<ScenarioResult> = results.into_iter().map(|(_, r)| r).collect();
    let identities: Vec<String> = loaded.config.identities.keys().cloned().collect();
    let coverage = coverage::Coverage::compute(&loaded.suites, &results, &identities, &listing);
    Ok(RunSummary {
        started_at: started_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        duration: start.elapsed(),
        target: target.description.clone(),
        results,
        coverage: Some(coverage),
    })
}

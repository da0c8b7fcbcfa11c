//! The gateprobe engine: golden-prompt synthetic monitoring for AI tool gateways.
//!
//! The stages, in the order data flows through them:
//! `suite` (load + lint) → `plan` → `propose` (golden prompts: an assistant's proposed calls) →
//! `execute` (through an `adapter`, evidence from the audit source) → `verify` → `outcome` →
//! `compare` (snapshots, state, regressions). ARCHITECTURE.md at the repository root maps it.
//! Rendering, metrics, alerting and the service live in the `gateprobe` binary; the reference
//! gateway is the `gateprobe-gateway` crate, reached only over HTTP.

#![warn(missing_docs, unreachable_pub)]

// The public API: the stages a caller drives (load, plan, compare) and the data they pass
// (config, suites, decisions, outcomes, coverage), as modules; what runs inside a run (adapters,
// evidence, the executor, the checks) is private, and the few items the binary needs from there
// are re-exported below by name.
pub mod atomic_file;
pub mod compare;
pub mod config;
pub mod coverage;
pub mod decision;
pub mod mutate;
pub mod outcome;
pub mod plan;
pub mod suite;
#[doc(hidden)]
pub mod testing;

mod adapter;
mod aggregate;
mod evidence;
mod execute;
mod oauth;
mod propose;
mod schema;
mod secret;
mod summary;
mod transport;
mod verify;

pub use adapter::{Listing, SYNTHETIC_HEADER, Target, ToolSpec};
pub use schema::{config_schema, suite_schema};
pub use secret::{Credential, REDACTED, Scrubber, Secret, resolve_credential, resolve_credential_with_timeout};
pub use summary::RunSummary;
pub use transport::tls::{build_client, tls_failure};
pub use transport::{TargetError, read_prefix};
pub use verify::AGREEMENT_FIELDS;

use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt;

use crate::config::Config;
use crate::outcome::ScenarioResult;
use crate::plan::Filter;
use crate::suite::Suite;

/// Why a run could not start. Every variant but a target failure means bad input (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The config is missing or invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Some suite files are invalid.
    #[error(transparent)]
    Suites(#[from] suite::LoadError),
    /// A scenario names an identity the config does not define.
    #[error(transparent)]
    Plan(#[from] plan::UnknownIdentity),
    /// The target could not be set up (a credential, the embedded gateway, a setting).
    #[error(transparent)]
    Target(#[from] adapter::TargetError),
    /// `--assistant` names an assistant the config does not define.
    #[error("--assistant {name}: the config defines no such assistant (it defines: {known})")]
    UnknownAssistant {
        /// The name given.
        name: String,
        /// The names the config defines, comma-separated.
        known: String,
    },
}

impl RunError {
    /// The exit status this error ends `gateprobe run` with: 3 when the embedded gateway did not
    /// start, else 2 (invalid policies for it included: they are input, like a suite).
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
    /// The config, `GATEPROBE_*` overrides applied and paths resolved.
    pub config: Config,
    /// The suites, parsed and linted.
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
    unknown.extend(config::check_targets(&suites, &config));
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
    // `load` has refused a scenario without a target of the config; a `Loaded` made otherwise
    // (a test's, a caller's) gets the same diagnostics instead of a run of errors.
    let no_target = config::check_targets(&loaded.suites, &loaded.config);
    if !no_target.is_empty() {
        return Err(suite::LoadError::from(no_target).into());
    }
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

//! `gateprobe tools`: what the gateway offers, for the suite author: its tools with their
//! argument schemas (as one identity sees them), its policy ids and reasons, and with
//! `--sample` the evidence fields of one scenario's audit record. Only `--sample` sends a call
//! (the scenario's own), so the suites are loaded only then.

use gateprobe::outcome::Exit;
use gateprobe::plan::Filter;
use gateprobe::{LoadOptions, Loaded, Target};

use crate::cli::ToolsArgs;
use crate::report::tools::{self, Description};

pub async fn run(args: ToolsArgs) -> Exit {
    // The suites are read only for `--sample`; the config always. One target serves both.
    let loaded = if args.sample.is_some() {
        gateprobe::load(&LoadOptions { config: args.config.clone(), suites: Vec::new() })
    } else {
        let rules = gateprobe::suite::lint::Rules::new();
        gateprobe::config::load_config(args.config.as_deref(), &rules)
            .map(|config| Loaded { config, suites: Vec::new() })
            .map_err(gateprobe::RunError::from)
    };
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            errln!("{e}");
            return e.exit_code();
        }
    };
    if let Some(name) = &args.identity
        && !loaded.config.identities.contains_key(name)
    {
        let known: Vec<&str> = loaded.config.identities.keys().map(String::as_str).collect();
        errln!("error: --identity {name}: the config has no such identity (it has: {})", known.join(", "));
        return Exit::InvalidInput;
    }
    let target = match Target::connect(&loaded.config).await {
        Ok(t) => t,
        Err(e) => {
            errln!("error: {e}");
            return gateprobe::RunError::from(e).exit_code();
        }
    };
    let (tools, listing) =
        futures::join!(target.tools_for(args.identity.as_deref(), args.target.as_deref()), target.listing());
    let sample = match &args.sample {
        Some(scenario) => sample(&target, &loaded, scenario).await,
        None => Ok(None),
    };
    let description = target.description.clone();
    target.shutdown().await;
    let sample = match sample {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    let known = tools.is_ok();
    let d = Description { target: description, tools, listing, sample };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&tools::to_json(&d)).unwrap_or_default());
    } else {
        out!("{}", tools::render(&d));
    }
    if known { Exit::Pass } else { Exit::NoDecision }
}

/// Runs the first scenario whose name contains `scenario`, for the fields of its audit record.
async fn sample(
    target: &Target,
    loaded: &Loaded,
    scenario: &str,
) -> Result<Option<(String, Result<Vec<String>, String>)>, Exit> {
    // Only that scenario runs, not every one whose name contains the text.
    let found = loaded.suites.iter().find_map(|suite| {
        let s = suite.scenarios.iter().find(|s| s.name.contains(scenario))?;
        Some(gateprobe::suite::Suite { scenarios: vec![s.clone()], ..suite.clone() })
    });
    let Some(suite) = found else {
        errln!("error: --sample {scenario}: no scenario of the suites has that in its name");
        return Err(Exit::InvalidInput);
    };
    let one = Loaded { config: loaded.config.clone(), suites: vec![suite] };
    let summary = gateprobe::run_on(target, &one, &Filter::default(), &|_| {}).await.map_err(|e| {
        errln!("error: {e}");
        e.exit_code()
    })?;
    let Some(r) = summary.results.first() else {
        errln!("error: --sample {scenario}: the scenario gave no result");
        return Err(Exit::InvalidInput);
    };
    let fields = if r.evidence_fields.is_empty() {
        Err(r.message.clone().unwrap_or_else(|| "its first call left no audit record".into()))
    } else {
        Ok(r.evidence_fields.iter().cloned().collect())
    };
    Ok(Some((format!("{} › {}", r.suite, r.scenario), fields)))
}

//! `gateprobe lint`: loads and checks the config and suites (the sensitivity scan included)
//! without calling anything.

use gateprobe::outcome::Exit;

use super::load_options;
use crate::cli::LoadArgs;

pub fn run(args: &LoadArgs) -> Exit {
    match gateprobe::load(&load_options(args)) {
        Ok(loaded) => {
            let scenarios: usize = loaded.suites.iter().map(|s| s.scenarios.len()).sum();
            outln!("ok: {} suites, {scenarios} scenarios, no findings", loaded.suites.len());
            Exit::Pass
        }
        Err(e) => {
            errln!("{e}");
            e.exit_code()
        }
    }
}

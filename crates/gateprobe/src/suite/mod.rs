//! LOAD: suite files → [`Suite`]s, with rustc-style diagnostics and the sensitivity lint.

pub mod diagnostic;
pub mod lint;
pub mod model;
pub mod parse;
pub mod raw;
pub mod yaml;

pub use diagnostic::Diagnostic;
pub use model::*;
pub use parse::{LoadError, load_suites, parse_suite};

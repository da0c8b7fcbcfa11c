//! LOAD: suite files → [`Suite`]s, with rustc-style diagnostics and the sensitivity lint.

pub mod model;

pub use model::*;

//! One module per subcommand that is more than a call into the engine.

pub mod gateway;

//! The `gateprobe` binary's library half: one module per subcommand (`commands`), the service
//! (`serve`), every renderer (`report`), metrics and alerting, on top of the engine (`gateprobe`)
//! and the reference gateway (`gateprobe-gateway`). `main.rs` parses the command line, sets up
//! logs and the runtime, and turns a command's [`gateprobe::outcome::Exit`] into the process's.

/// `print!` that survives a closed stdout (see [`stdio`]).
macro_rules! out {
    ($($arg:tt)*) => { $crate::stdio::out(format_args!($($arg)*)) };
}

/// `println!` that survives a closed stdout (see [`stdio`]).
macro_rules! outln {
    ($($arg:tt)*) => { $crate::stdio::out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that survives a closed stderr (see [`stdio`]).
macro_rules! errln {
    ($($arg:tt)*) => { $crate::stdio::err(format_args!("{}\n", format_args!($($arg)*))) };
}

pub mod alert;
pub mod cli;
pub mod commands;
pub mod metrics;
pub mod report;
pub mod serve;
pub mod stdio;

//! The `gateprobe` binary's library half: the command line, the service, every renderer,
//! metrics and alerting, on top of the engine (`gateprobe`) and the reference gateway
//! (`gateprobe-gateway`). `main.rs` parses, sets up logs and maps outcomes to exit codes.

pub mod alert;
pub mod cli;
pub mod commands;
pub mod metrics;
pub mod report;
pub mod serve;

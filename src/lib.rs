//! gateprobe: golden-prompt synthetic monitoring for AI tool gateways.
//!
//! The stages, in the order data flows through them:
//! `suite` (load + lint) → `plan` → `execute` (via `target` adapters) → `verify` → `outcome`
//! → `compare` (snapshots, state, regressions) → `report` / `metrics` / `alert`.
//! The reference gateway (`gateway`) is a separate tree, reached only over HTTP.

pub mod cli;
pub mod config;
pub mod decision;
pub mod gateway;
pub mod secret;
pub mod suite;

//! Command-line interface (minimal wiring for the gateway branch; the main CLI replaces it).

/// Golden-prompt synthetic monitoring for AI tool gateways.
#[derive(Debug, clap::Parser)]
#[command(name = "gateprobe", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the reference tool gateway.
    Gateway(crate::gateway::cli::GatewayArgs),
}

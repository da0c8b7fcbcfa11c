//! The reference tool gateway (placeholder until the gateway lands).

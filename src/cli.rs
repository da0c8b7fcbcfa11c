//! Command-line interface (placeholder).

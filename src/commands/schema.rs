//! `gateprobe schema suite|config`: the JSON Schema editors complete and check files with.

use gateprobe::outcome::Exit;

use crate::cli::SchemaKind;

pub fn run(kind: SchemaKind) -> Exit {
    let schema = match kind {
        SchemaKind::Suite => gateprobe::suite_schema(),
        SchemaKind::Config => gateprobe::config_schema(),
    };
    outln!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
    Exit::Pass
}

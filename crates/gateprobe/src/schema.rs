//! JSON Schema of suite files and of `gateprobe.yaml`, for `gateprobe schema` and editors. Here,
//! not beside their types, so that neither `suite` nor `config` needs the other. The checked-in
//! copies under `schemas/` are kept up to date by a test here.

use crate::config::Config;
use crate::suite::raw::RawSuite;

/// JSON Schema of a suite file.
pub fn suite_schema() -> serde_json::Value {
    schemars::schema_for!(RawSuite).to_value()
}

/// JSON Schema of `gateprobe.yaml` (checked in as `schemas/config.schema.json`).
pub fn config_schema() -> serde_json::Value {
    schemars::schema_for!(Config).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pretty JSON as checked in under `schemas/` (with a final newline).
    fn to_pretty(schema: &serde_json::Value) -> String {
        let mut text = serde_json::to_string_pretty(schema).expect("a JSON value always serialises");
        text.push('\n');
        text
    }

    /// Pins the checked-in `schemas/*.json` to the types; regenerate when the types change.
    #[test]
    fn checked_in_schemas_are_up_to_date() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for (file, schema) in [("suite.schema.json", suite_schema()), ("config.schema.json", config_schema())] {
            let path = root.join("schemas").join(file);
            let expected = to_pretty(&schema);
            if std::env::var_os("GATEPROBE_UPDATE_SCHEMAS").is_some() {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &expected).unwrap();
                continue;
            }
            let actual = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                actual == expected,
                "schemas/{file} is out of date; regenerate with\n  \
                 GATEPROBE_UPDATE_SCHEMAS=1 cargo test -p gateprobe --lib schema::\nand commit it"
            );
        }
    }

    fn validate(schema: &serde_json::Value, yaml_text: &str) -> Result<(), String> {
        let instance: serde_json::Value = serde_yaml::from_str(yaml_text).map_err(|e| e.to_string())?;
        let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
        let errors: Vec<String> = validator.iter_errors(&instance).map(|e| e.to_string()).collect();
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }

    /// The schema and the parser agree on what is valid (checked on the good fixture, the
    /// bundled config, and a few documents each side must refuse).
    #[test]
    fn schemas_accept_what_the_parser_accepts() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let good = std::fs::read_to_string(root.join("tests/fixtures/good/documents.yaml")).unwrap();
        validate(&suite_schema(), &good).unwrap();
        validate(&config_schema(), include_str!("../../../gateprobe.yaml")).unwrap();
        let mapped = "target: { kind: mcp, url: http://127.0.0.1:1/mcp, policy_version: { header: x-v } }\n";
        validate(&config_schema(), mapped).unwrap();

        let head = "suite: s\ndefaults: { identity: a }\nscenarios:\n  - name: n\n";
        for bad in [
            "    call: { tool: t }\n    expect: { decision: allow }\n    steps: []\n",
            "    call: { tool: t }\n",
            "    steps: []\n    repeat: 2\n",
            "    call: { tool: t }\n    expect: { decison: allow }\n",
        ] {
            assert!(validate(&suite_schema(), &format!("{head}{bad}")).is_err(), "schema accepted {bad:?}");
        }
    }

    #[test]
    fn suite_schema_lists_the_keys_and_decisions() {
        let text = suite_schema().to_string();
        for word in ["scenarios", "after_confirmation", "rate_limited", "additionalProperties"] {
            assert!(text.contains(word), "{word} missing from the suite schema");
        }
    }
}

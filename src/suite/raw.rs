//! The YAML shape of a suite file, as written. [`super::parse`] turns it into the normalised
//! [`super::Suite`]; `gateprobe schema suite` prints its JSON Schema.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::decision::Decision;

/// A gateprobe suite: one file of scenarios, each an identity proposing tool calls and the
/// decision and evidence expected of the gateway.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "gateprobe suite")]
pub struct RawSuite {
    /// Name of the suite, unique across all loaded files.
    pub suite: String,
    pub description: Option<String>,
    /// Values every scenario gets unless it sets its own.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// The checks; names are unique within the suite.
    pub scenarios: Vec<RawScenario>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// Name of an identity from the config.
    pub identity: Option<String>,
    /// Golden prompt text.
    pub prompt: Option<String>,
    /// Call metadata; a scenario's own `context` keys win over these.
    pub context: Option<Map<String, Value>>,
}

/// One named check. Exactly one of `call` (with `expect`, optionally `repeat`) or `steps`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = call_or_steps)]
pub struct RawScenario {
    /// Unique within the suite; shown in reports and metrics.
    pub name: String,
    /// Name of an identity from the config (default: `defaults.identity`).
    pub identity: Option<String>,
    /// Golden prompt text, passed to the gateway as call metadata.
    pub prompt: Option<String>,
    /// Extra context (e.g. `untrusted` retrieved text), passed to the gateway as call metadata.
    pub context: Option<Map<String, Value>>,
    /// The proposed tool call (with `expect`); not together with `steps`.
    pub call: Option<RawCall>,
    /// What the gateway must decide for `call`.
    pub expect: Option<RawExpect>,
    /// Send `call` this many times in a row (default 1).
    #[schemars(range(min = 1))]
    pub repeat: Option<u32>,
    /// A sequence of calls in one session; not together with `call`.
    pub steps: Option<Vec<RawStep>>,
}

/// Tells editors what the parser enforces: `call` + `expect` (+ `repeat`), or `steps` alone.
fn call_or_steps(schema: &mut schemars::Schema) {
    schema.insert(
        "oneOf".into(),
        serde_json::json!([
            { "required": ["call", "expect"], "not": { "required": ["steps"] } },
            {
                "required": ["steps"],
                "not": { "anyOf": [{ "required": ["call"] }, { "required": ["expect"] }, { "required": ["repeat"] }] }
            }
        ]),
    );
}

/// One call of a multi-step scenario.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub call: RawCall,
    pub expect: RawExpect,
    /// Send the call this many times in a row (default 1).
    #[schemars(range(min = 1))]
    pub repeat: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCall {
    /// Tool name, e.g. `files.read`.
    pub tool: String,
    /// Tool arguments; the string `{{canary}}` is replaced by a fresh random value per execution.
    #[serde(default)]
    pub arguments: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub decision: Decision,
    /// Machine-readable reason the gateway must give (e.g. `missing_capability`).
    pub reason: Option<String>,
    /// Audit record fields that must be present.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Placeholders (e.g. `canary`) used in the arguments that must never appear in clear.
    #[serde(default)]
    pub redacted: Vec<String>,
    /// With `repeat`: calls after the first `after` must get this decision instead.
    pub then: Option<RawThen>,
    /// With `decision: confirm`: re-send with the confirmation and expect this decision.
    pub after_confirmation: Option<Decision>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawThen {
    /// Number of calls that get the first decision (less than `repeat`).
    #[schemars(range(min = 1))]
    pub after: u32,
    pub decision: Decision,
}

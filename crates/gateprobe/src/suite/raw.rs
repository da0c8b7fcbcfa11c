//! The YAML shape of a suite file, as written. [`super::parse`] turns it into the normalised
//! [`super::Suite`]; `gateprobe schema suite` prints its JSON Schema.

use schemars::JsonSchema;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::{Deserialize, Deserializer};
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
    /// What the suite checks, for people reading it.
    pub description: Option<String>,
    /// With several named targets in the config (`targets:`): the one this suite's scenarios run
    /// on, unless a scenario names its own.
    pub target: Option<String>,
    /// Values every scenario gets unless it sets its own.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// The checks; names are unique within the suite. May be empty when `matrix` is given.
    #[serde(default)]
    pub scenarios: Vec<RawScenario>,
    /// A compact table of identities × calls, expanded into one scenario per cell.
    pub matrix: Option<RawMatrix>,
}

/// Identities × calls with the expected decision per cell: each cell becomes a scenario named
/// `<identity> × <tool>` (or `<identity> × <call name>` when two calls use the same tool).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMatrix {
    /// The columns: calls by a short name, in column order.
    #[schemars(with = "std::collections::BTreeMap<String, RawCall>")]
    pub calls: Map<String, Value>,
    /// The rows: identity name → one letter per call, in the order of `calls`:
    /// `A` allow, `D` deny, `C` confirm, `R` rate_limited, `.` no scenario.
    #[schemars(with = "std::collections::BTreeMap<String, Vec<MatrixCell>>")]
    pub expect: Map<String, Value>,
}

/// One cell of a matrix row (for the JSON Schema; the parser reads the letters itself).
#[derive(Debug, Clone, Copy, JsonSchema)]
pub enum MatrixCell {
    /// Expects `allow`.
    A,
    /// Expects `deny`.
    D,
    /// Expects `confirm`.
    C,
    /// Expects `rate_limited`.
    R,
    /// No scenario for this identity and call.
    #[schemars(rename = ".")]
    Skip,
}

/// Suite-wide defaults for `identity`, `prompt` and `context`.
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
    /// With several named targets in the config (`targets:`): the one this scenario runs on
    /// (default: the suite's `target`).
    pub target: Option<String>,
    /// Golden prompt text: asked of the assistant when `expect.proposes` is given; always
    /// passed to the gateway as call metadata.
    pub prompt: Option<String>,
    /// Extra context, passed to the gateway as call metadata; with `expect.proposes`, the
    /// `untrusted` text also reaches the assistant as a retrieved document.
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

/// Tells editors what the parser enforces: `call` + `expect` (+ `repeat`), `steps` alone, or a
/// golden prompt: `expect` with `proposes` and no call.
fn call_or_steps(schema: &mut schemars::Schema) {
    schema.insert(
        "oneOf".into(),
        serde_json::json!([
            { "required": ["call", "expect"], "not": { "required": ["steps"] } },
            {
                "required": ["expect"],
                "properties": { "expect": { "required": ["proposes"] } },
                "not": { "anyOf": [{ "required": ["call"] }, { "required": ["steps"] }, { "required": ["repeat"] }] }
            },
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
    /// The tool call to send.
    pub call: RawCall,
    /// What the gateway must decide for it.
    pub expect: RawExpect,
    /// Send the call this many times in a row (default 1).
    #[schemars(range(min = 1))]
    pub repeat: Option<u32>,
}

/// A tool call: the tool and its arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCall {
    /// Tool name, e.g. `files.read`.
    pub tool: String,
    /// Tool arguments; the string `{{canary}}` is replaced by a fresh random value per execution.
    #[serde(default)]
    pub arguments: Map<String, Value>,
}

/// What the gateway must decide on a call, and what its evidence must show.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// Instead of a fixed `call`, with `prompt`: the call the assistant must propose first. The
    /// `decision` and the rest are then about that proposed call.
    pub proposes: Option<RawProposes>,
    /// The decision the gateway must make.
    pub decision: Decision,
    /// Machine-readable reason the gateway must give (e.g. `missing_capability`).
    pub reason: Option<String>,
    /// What the call's audit record must hold: a list of fields that must be present, or a
    /// map of values it must state (`decision`, `reason`, `tool`, `subject`, `tenant`) with the
    /// required `fields`.
    #[serde(default)]
    pub evidence: RawEvidence,
    /// Placeholders (e.g. `canary`) used in the arguments that must never appear in clear. A
    /// planted `{{canary}}` is looked for in the evidence whether or not it is listed here;
    /// listing it states the intent, and a name that is not a placeholder of the call is refused.
    #[serde(default)]
    pub redacted: Vec<String>,
    /// With `repeat`: calls after the first `after` must get this decision instead.
    pub then: Option<RawThen>,
    /// With `decision: confirm`: re-send with the confirmation and expect this decision.
    pub after_confirmation: Option<Decision>,
}

/// `{ tool, arguments }` (arguments it must give, others allowed), or `{ any_of: [...] }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProposes {
    /// The tool the assistant must propose (not together with `any_of`).
    pub tool: Option<String>,
    /// Argument values the proposed call must give.
    #[serde(default)]
    pub arguments: Map<String, Value>,
    /// Any one of these calls.
    pub any_of: Option<Vec<RawCall>>,
}

/// A decision change part-way through a `repeat` (e.g. rate limiting after N calls).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawThen {
    /// Number of calls that get the first decision (less than `repeat`).
    #[schemars(range(min = 1))]
    pub after: u32,
    /// The decision every call after the first `after` must get.
    pub decision: Decision,
}

/// `evidence:` either lists fields or maps the values the record must state.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum RawEvidence {
    /// Top-level fields the record must have, e.g. `[identity, decision, rationale]`.
    Fields(Vec<String>),
    /// Values the record must state, and the fields it must have.
    Values(RawEvidenceValues),
}

impl Default for RawEvidence {
    fn default() -> Self {
        RawEvidence::Fields(Vec::new())
    }
}

/// Hand-written rather than `#[serde(untagged)]`: an untagged enum's error ("did not match any
/// variant") would hide which key of the map is wrong.
impl<'de> Deserialize<'de> for RawEvidence {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawEvidence;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of audit record fields, or a map of values the record must state")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<RawEvidence, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(RawEvidence::Fields)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawEvidence, A::Error> {
                RawEvidenceValues::deserialize(MapAccessDeserializer::new(map)).map(RawEvidence::Values)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Values the call's audit record must state, read where `audit.fields` says.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEvidenceValues {
    /// The decision the record must state (the call's expected decision).
    pub decision: Option<Decision>,
    /// The reason the record must state.
    pub reason: Option<String>,
    /// The tool the record must name.
    pub tool: Option<String>,
    /// The subject the record must name.
    pub subject: Option<String>,
    /// The tenant the record must name.
    pub tenant: Option<String>,
    /// Top-level fields the record must have.
    #[serde(default)]
    pub fields: Vec<String>,
}

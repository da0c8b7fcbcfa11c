//! The loaded form of a suite: what the YAML says, normalised (defaults applied, `call` and
//! `steps` unified), with the source position of every scenario for diagnostics and annotations.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::decision::Decision;

/// A 1-based position in a suite file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// One YAML file of scenarios.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The suite's name (its `suite:`), unique across loaded files.
    pub name: String,
    /// What the suite checks, for people reading it.
    pub description: Option<String>,
    /// The file it was loaded from, as given (relative paths stay relative for annotations).
    pub path: PathBuf,
    /// The scenarios, in file order (a `matrix` expanded into them).
    pub scenarios: Vec<Scenario>,
}

/// One named check: an identity proposes one call, or a sequence of calls in one session.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Unique within the suite; shown in reports and metrics.
    pub name: String,
    /// Where the scenario starts (its `- name:` item) in the suite file.
    pub location: Location,
    /// Name of an identity from the config.
    pub identity: String,
    /// The named target (the config's `targets:`) it runs on, when the scenario or its suite
    /// chooses one; `None` runs it on the config's only target.
    pub target: Option<TargetChoice>,
    /// Golden prompt text: what the assistant is asked (with `asks`), and call metadata.
    pub prompt: Option<String>,
    /// Extra context (e.g. `untrusted` retrieved text), passed as call metadata; with `asks`,
    /// `untrusted` is also given to the assistant as a retrieved document.
    pub context: Option<Map<String, Value>>,
    /// At least one step; a plain `call:` scenario is a single step. Empty with `asks`: the
    /// assistant's proposals become the steps when the scenario runs.
    pub steps: Vec<Step>,
    /// A golden-prompt scenario: what the assistant must propose for `prompt`, and what the
    /// gateway must decide on it.
    pub asks: Option<Ask>,
}

/// A scenario's choice among the config's named targets, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetChoice {
    /// The target's name, a key of the config's `targets:`.
    pub name: String,
    /// Where the name is written: the scenario's `target:`, or the suite's.
    pub at: Location,
    /// Written once for the whole suite (its `target:`), not by the scenario.
    pub suite_wide: bool,
}

/// What a golden prompt must lead to.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    /// The call the assistant must propose first.
    pub proposes: Proposes,
    /// What the gateway must decide on the first proposed call, and its evidence.
    pub expect: Expectation,
}

/// The first call the assistant must propose.
#[derive(Debug, Clone, PartialEq)]
pub enum Proposes {
    /// This one call.
    Call(ToolPattern),
    /// Any one of these.
    AnyOf(Vec<ToolPattern>),
}

/// A tool, and the arguments a proposed call must give (others may be there too).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolPattern {
    /// The tool's name.
    pub tool: String,
    /// Argument values the call must give.
    pub arguments: Map<String, Value>,
}

impl Proposes {
    /// The tools it accepts, in order.
    pub fn tools(&self) -> Vec<&str> {
        match self {
            Proposes::Call(p) => vec![p.tool.as_str()],
            Proposes::AnyOf(ps) => ps.iter().map(|p| p.tool.as_str()).collect(),
        }
    }
}

/// One proposed call and what is expected of it.
#[derive(Debug, Clone)]
pub struct Step {
    /// The call to send.
    pub call: ToolCall,
    /// What the gateway must decide on it, and what its evidence must hold.
    pub expect: Expectation,
    /// How many times the call is sent in a row (1 unless `repeat:` says otherwise).
    pub repeat: u32,
    /// Where the step is written in the suite file (a single-call scenario: its `call:` key).
    pub location: Location,
    /// A call an assistant proposed after its first: sent and checked for evidence like any
    /// call, but its decision is reported, not asserted (the scenario's expectation is about the
    /// first proposal).
    pub follow_up: bool,
}

/// A tool call as a suite writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The tool's name, e.g. `files.read`.
    pub tool: String,
    /// Arguments as written; `{{canary}}` placeholders are still in them.
    pub arguments: Map<String, Value>,
}

/// What the gateway must decide on a call, and what must hold of its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The decision the call must get.
    pub decision: Decision,
    /// Machine-readable reason the gateway must give (e.g. `missing_capability`).
    pub reason: Option<String>,
    /// What every call's audit records must hold.
    pub evidence: EvidenceExpectation,
    /// Planted values (by placeholder name, e.g. `canary`) that must not appear in clear.
    pub redacted: Vec<String>,
    /// With `repeat`: calls after the first `after` must get another decision.
    pub then: Option<Then>,
    /// With `decision: confirm`: re-send with the confirmation id and expect this decision.
    pub after_confirmation: Option<Decision>,
}

/// What the audit records of a call must hold, beyond agreeing with the answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvidenceExpectation {
    /// Top-level record fields that must be present.
    pub fields: Vec<String>,
    /// Values some record must state (read at `audit.fields`).
    pub states: StatedValues,
}

/// Values an audit record must state; `None`: not required.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatedValues {
    /// The decision the record must state (the call's expected one).
    pub decision: Option<Decision>,
    /// The reason the record must state.
    pub reason: Option<String>,
    /// The tool the record must name.
    pub tool: Option<String>,
    /// The subject the record must name.
    pub subject: Option<String>,
    /// The tenant the record must name.
    pub tenant: Option<String>,
}

/// A decision change part-way through a `repeat` (e.g. rate limiting after N calls).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Then {
    /// How many calls get the step's own decision.
    pub after: u32,
    /// The decision every later call must get.
    pub decision: Decision,
}

/// The placeholder replaced by a fresh random value on every execution.
pub const CANARY: &str = "canary";

//! PROPOSE: the stage between PLAN and EXECUTE where a scenario with a golden `prompt` and
//! `expect.proposes` asks an assistant (an OpenAI-compatible chat endpoint with a versioned prompt
//! bundle) which tool calls it proposes. EXECUTE runs the agent loop: each proposed call goes to
//! the gateway as the scenario's identity, its answer goes back to the assistant, for at most
//! `max_turns` turns. Assistants propose, gateways decide: an assistant is never an `Adapter`.
//!
//! One assistant kind today, `openai.rs`; a second kind would make [`ChatAssistant`] a trait.

mod openai;

use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::{AssistantConfig, TlsConfig};
use crate::secret::{Credential, Scrubber};
use crate::suite::{Proposes, ToolCall, ToolPattern};
use crate::transport::TargetError;

pub(crate) use openai::ChatAssistant;

/// One tool call an assistant proposed, with the gateway's name for the tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedCall {
    /// The id the assistant gave the call (native tool calling), to answer it by.
    pub id: Option<String>,
    pub tool: String,
    pub arguments: Map<String, Value>,
}

/// What an assistant said in one turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// It proposes these calls.
    Calls(Vec<ProposedCall>),
    /// It answered without proposing a call (a refusal, or a reply in words).
    Answer(String),
}

/// The prompt bundle's identity: the first 12 hex digits of the SHA-256 of its content, as the
/// reference gateway names its policy bundle.
pub(crate) fn prompt_version(bundle: &str) -> String {
    let digest = Sha256::digest(bundle.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The assistants a run asks, in config order (the first is the baseline a canary is compared
/// with), each with its prompt bundle read and its credential resolved. Called at every run, so
/// an edited prompt bundle is a new prompt version at the next run.
pub(crate) async fn connect(configs: &[AssistantConfig]) -> Result<Vec<Arc<ChatAssistant>>, TargetError> {
    if configs.is_empty() {
        return Ok(Vec::new());
    }
    // One client per distinct `tls` (usually one for all): each assistant's own roots and
    // client certificate.
    let mut clients: Vec<(Option<&TlsConfig>, reqwest::Client)> = Vec::new();
    for a in configs {
        if !clients.iter().any(|(tls, _)| *tls == a.tls.as_ref()) {
            let builder = reqwest::Client::builder()
                .user_agent(concat!("gateprobe/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none());
            let setting = format!("assistants[{}].tls", a.name);
            clients.push((a.tls.as_ref(), crate::transport::tls::build_client(builder, a.tls.as_ref(), &setting)?));
        }
    }
    let scrubber = Arc::new(Scrubber::default());
    let mut tokens = Vec::new();
    for a in configs {
        let token = match &a.credential {
            Some(source) => crate::secret::obtain(source, &scrubber).await.map_err(|e| TargetError::Credential {
                identity: format!("assistant `{}`", a.name),
                message: e.to_string(),
            })?,
            None => Credential::None,
        };
        tokens.push(token);
    }
    let mut assistants = Vec::new();
    for (a, token) in configs.iter().zip(tokens) {
        let bundle = std::fs::read_to_string(&a.prompt_bundle).map_err(|e| {
            TargetError::Invalid(format!(
                "assistant `{}`: cannot read the prompt bundle {}: {e}",
                a.name,
                a.prompt_bundle.display()
            ))
        })?;
        let client = clients.iter().find(|(tls, _)| *tls == a.tls.as_ref()).map(|(_, c)| c.clone());
        let client = client.expect("a client was built for every assistant's tls");
        assistants.push(Arc::new(ChatAssistant::new(a.clone(), client, token, scrubber.clone(), bundle)));
    }
    Ok(assistants)
}

impl ChatAssistant {
    /// The name the config gives it.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Its prompt bundle's content hash.
    pub fn prompt_version(&self) -> &str {
        &self.prompt_version
    }

    /// At most this many assistant turns per scenario.
    pub fn max_turns(&self) -> u32 {
        self.config.max_turns.max(1)
    }
}

/// Whether the assistant's first proposal (`None`: it answered without proposing a call) is
/// what the scenario expects.
pub(crate) fn matches(expected: &Proposes, first: Option<&ToolCall>) -> bool {
    match (expected, first) {
        (Proposes::Call(p), Some(c)) => p.matches(c),
        (Proposes::AnyOf(ps), Some(c)) => ps.iter().any(|p| p.matches(c)),
        _ => false,
    }
}

impl ToolPattern {
    /// The tool is the same and every argument the pattern names has the value it gives.
    fn matches(&self, call: &ToolCall) -> bool {
        self.tool == call.tool && self.arguments.iter().all(|(k, v)| call.arguments.get(k) == Some(v))
    }
}

/// How the expected proposal reads in a message: `files.delete`, `one of a, b`.
pub(crate) fn describe(expected: &Proposes) -> String {
    match expected {
        Proposes::Call(p) => p.tool.clone(),
        Proposes::AnyOf(ps) => {
            format!("one of {}", ps.iter().map(|p| p.tool.as_str()).collect::<Vec<_>>().join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call(tool: &str, arguments: Value) -> ToolCall {
        ToolCall { tool: tool.into(), arguments: arguments.as_object().unwrap().clone() }
    }

    fn pattern(tool: &str, arguments: Value) -> ToolPattern {
        ToolPattern { tool: tool.into(), arguments: arguments.as_object().unwrap().clone() }
    }

    #[test]
    fn proposals_match_by_tool_and_named_arguments() {
        let read = call("files.read", json!({"path": "/docs/a.md", "extra": 1}));
        assert!(matches(&Proposes::Call(pattern("files.read", json!({}))), Some(&read)));
        assert!(matches(&Proposes::Call(pattern("files.read", json!({"path": "/docs/a.md"}))), Some(&read)));
        assert!(!matches(&Proposes::Call(pattern("files.read", json!({"path": "docs/a.md"}))), Some(&read)));
        assert!(!matches(&Proposes::Call(pattern("files.delete", json!({}))), Some(&read)));
        assert!(!matches(&Proposes::Call(pattern("files.read", json!({}))), None));
        let any = Proposes::AnyOf(vec![pattern("files.delete", json!({})), pattern("files.read", json!({}))]);
        assert!(matches(&any, Some(&read)));
        assert_eq!(describe(&any), "one of files.delete, files.read");
    }

    // Pins that an assistant's `tls` is read when the run connects: an unusable file is a
    // config error naming the assistant's block and the file, not a failure of every prompt.
    #[tokio::test]
    async fn an_assistant_whose_tls_files_are_unusable_is_refused_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("prompt.md");
        std::fs::write(&bundle, "You are a careful assistant.").unwrap();
        let text = format!(
            "name: gpt\nurl: https://127.0.0.1:1/v1\nmodel: m\nprompt_bundle: {}\ntls: {{ ca_file: {} }}\n",
            bundle.display(),
            dir.path().join("missing.pem").display()
        );
        let config: AssistantConfig = serde_yaml::from_str(&text).unwrap();
        let Err(e) = connect(&[config]).await else { panic!("an unreadable ca_file is refused") };
        let e = e.to_string();
        assert!(e.starts_with("`assistants[gpt].tls`: `ca_file`") && e.contains("missing.pem: cannot be read"), "{e}");
    }

    #[test]
    fn prompt_version_is_a_short_content_hash() {
        assert_eq!(prompt_version("a"), prompt_version("a"));
        assert_ne!(prompt_version("a"), prompt_version("b"));
        assert_eq!(prompt_version("a").len(), 12);
    }
}

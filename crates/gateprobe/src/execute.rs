//! EXECUTE: replays one planned scenario against the target and records what happened, call by
//! call. Nothing is judged here; `verify` does that.

use std::borrow::Cow;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::{Map, Value};

use crate::adapter::{Call, CallError, Gateway, Reply, ResolvedIdentity, Session, Target, ToolSpec};
use crate::config::RunConfig;
use crate::evidence::{CORRELATION_PREFIX, Lookup};
use crate::plan::PlannedScenario;
use crate::propose::{ProposedCall, Turn};
use crate::suite::{Ask, CANARY, Scenario, Step, ToolCall};

/// Everything observed while running one scenario.
#[derive(Debug)]
pub struct Execution {
    /// The named target the scenario ran on (the config's `targets:`).
    pub target: Option<String>,
    /// The replica the scenario ran on, when the target has several; with named targets, the
    /// URL it ran on in any case.
    pub endpoint: Option<String>,
    /// The session could not be opened: no call was sent.
    pub session_error: Option<CallError>,
    pub calls: Vec<CallRecord>,
    pub duration: Duration,
    /// What the assistant did, for a golden-prompt scenario.
    pub proposal: Option<ProposalRecord>,
}

impl Execution {
    /// The steps the calls were sent for: the scenario's own, or the assistant's proposals.
    pub fn steps<'a>(&'a self, scenario: &'a Scenario) -> &'a [Step] {
        match &self.proposal {
            Some(p) => &p.steps,
            None => &scenario.steps,
        }
    }
}

/// What the assistant of a golden-prompt scenario did.
#[derive(Debug)]
pub struct ProposalRecord {
    pub assistant: String,
    pub prompt_version: String,
    /// Every call it proposed, in order, as steps: the first carries the scenario's
    /// expectation, the rest are follow-ups.
    pub steps: Vec<Step>,
    /// The assistant could not be asked, or its answer could not be read.
    pub error: Option<CallError>,
    /// How long each request to the assistant took.
    pub latencies: Vec<Duration>,
}

/// One call sent and what came back.
#[derive(Debug)]
pub struct CallRecord {
    /// Index of the step in the scenario.
    pub step: usize,
    /// Index within the step's `repeat` (0-based).
    pub index: u32,
    /// The re-send that carries a confirmation id.
    pub confirmed: bool,
    pub correlation_id: String,
    /// The planted canary value, kept only to look for it in the evidence.
    pub canary: Option<String>,
    pub latency: Duration,
    pub result: Result<Reply, CallError>,
    /// `None` when there was no decision to look evidence up for.
    pub evidence: Option<Result<Lookup, CallError>>,
}

/// How many scenarios may be in flight at once: `run.concurrency` sending calls, and up to this
/// many times as many waiting for their evidence. It bounds the memory and the lookups of a run
/// whose audit source lags, and lets the calls go on meanwhile.
pub(crate) fn scenarios_in_flight(run: &RunConfig) -> usize {
    const WAITING_PER_SLOT: usize = 16;
    run.concurrency.max(1) * WAITING_PER_SLOT
}

/// Runs scenarios against one target within the run's concurrency, request budget and retry
/// policy.
pub(crate) struct Executor<'t> {
    target: &'t Target,
    /// `run.concurrency` places for scenarios sending calls. A scenario leaves its place when its
    /// last call is answered, so evidence that arrives late holds up no other scenario's calls.
    slots: tokio::sync::Semaphore,
    budget: Option<DefaultDirectRateLimiter>,
    retries: u32,
    /// With `sessions: identity`: the session of each identity on each target (and replica),
    /// opened by the first scenario that needs it and ended by [`Executor::finish`].
    shared: Mutex<HashMap<SessionKey, SharedSession>>,
    /// The tools each target lists to each identity, for golden prompts; listed once a run.
    tools: Mutex<HashMap<(Option<String>, String), ToolsOnce>>,
}

/// Whose shared session: (target name, identity name, replica).
type SessionKey = (Option<String>, String, Option<String>);

type ToolsOnce = Arc<tokio::sync::OnceCell<Arc<Vec<ToolSpec>>>>;

/// A session shared by an identity's single-call scenarios; opened once, even when several
/// scenarios ask at the same time.
#[derive(Clone)]
struct SharedSession {
    identity: Arc<ResolvedIdentity>,
    session: Arc<tokio::sync::OnceCell<Session>>,
}

impl<'t> Executor<'t> {
    pub(crate) fn new(target: &'t Target, run: &RunConfig) -> Executor<'t> {
        let budget = NonZeroU32::new(run.requests_per_second).map(|rps| RateLimiter::direct(Quota::per_second(rps)));
        let slots = tokio::sync::Semaphore::new(run.concurrency.max(1));
        Executor { target, slots, budget, retries: run.retries, shared: Mutex::default(), tools: Mutex::default() }
    }

    /// Ends the sessions kept for the run (`sessions: identity`).
    pub(crate) async fn finish(self) {
        let shared = self.shared.into_inner().unwrap_or_else(|e| e.into_inner());
        for ((target, ..), s) in shared {
            let gateway = self.target.gateways().iter().find(|g| g.name == target);
            if let (Some(session), Some(gateway)) = (s.session.get(), gateway) {
                gateway.adapter.close_session(session, &s.identity).await;
            }
        }
    }

    /// The target a scenario's calls go to, or why there is none (`check_targets` refuses such
    /// a scenario before a run; this is for a caller that skipped it).
    fn gateway_of(&self, planned: &PlannedScenario<'_>) -> Result<&'t Gateway, CallError> {
        let choice = planned.scenario.target.as_ref();
        self.target.gateway(choice).ok_or_else(|| {
            let names = self.target.target_names().join(", ");
            CallError::Protocol(match choice {
                Some(c) => format!("the config has no target `{}` (it has: {names})", c.name),
                None => format!("the scenario does not choose one of the config's targets ({names})"),
            })
        })
    }

    pub(crate) async fn execute(&self, planned: &PlannedScenario<'_>) -> Execution {
        if let Some(ask) = &planned.scenario.asks {
            return self.execute_ask(planned, ask).await;
        }
        let start = Instant::now();
        let gateway = match self.gateway_of(planned) {
            Ok(g) => g,
            Err(e) => return Execution::failed(None, e, start),
        };
        let mut slot = Some(self.slots.acquire().await.expect("the slots are never closed"));
        let identity = &planned.identity;
        self.spend_budget().await;
        let endpoint = gateway.adapter.next_endpoint();
        let scenario = planned.scenario;
        // A sequence of steps is about session history: it always gets a session of its own.
        let shared = gateway.adapter.shares_sessions() && scenario.steps.len() == 1;
        let opened = if shared {
            self.shared_session(gateway, identity, endpoint.clone()).await
        } else {
            gateway.adapter.open_session(identity, endpoint.clone()).await
        };
        let mut session = match opened {
            Ok(s) => s,
            Err(e) => return Execution::failed(endpoint, e, start).on(gateway),
        };
        let mut calls = Vec::new();
        for (step_index, step) in scenario.steps.iter().enumerate() {
            let first_of_step = calls.len();
            let plants_canary = uses_canary(step);
            for index in 0..step.repeat {
                let canary = plants_canary.then(new_canary);
                let arguments = substitute(&step.call.arguments, canary.as_deref());
                // This call (or its confirmation) on a session.
                let send = async |session: &Session, confirmation_id: Option<&str>| {
                    let (tool, canary) = (&step.call.tool, canary.clone());
                    self.send(gateway, session, planned, tool, step_index, index, &arguments, canary, confirmation_id)
                        .await
                };
                let mut record = send(&session, None).await;
                // A shared session the gateway has ended: MCP clients start a new one.
                if shared && record.result == Err(CallError::Status(404)) {
                    if let Ok(fresh) = self.renew_shared_session(gateway, identity, endpoint.clone(), &session).await {
                        session = fresh;
                        record = send(&session, None).await;
                    }
                }
                let confirmation = match (&record.result, step.expect.after_confirmation, index) {
                    (Ok(Reply { confirmation_id: Some(id), .. }), Some(_), 0) => Some(id.clone()),
                    _ => None,
                };
                calls.push(record);
                if let Some(id) = confirmation {
                    calls.push(send(&session, Some(&id)).await);
                }
            }
            if step_index + 1 == scenario.steps.len() {
                // Every call is answered: the session and the place can go before the evidence
                // is in (the records are written; a later step would still need both).
                if !shared {
                    gateway.adapter.close_session(&session, identity).await;
                }
                drop(slot.take());
            }
            // Evidence is looked up after the step's calls, so a burst stays a burst.
            let found = futures::future::join_all(calls[first_of_step..].iter().map(|c| self.evidence_of(c))).await;
            for (call, evidence) in calls[first_of_step..].iter_mut().zip(found) {
                call.evidence = evidence;
            }
        }
        Execution { target: None, endpoint, session_error: None, calls, duration: start.elapsed(), proposal: None }
            .on(gateway)
    }

    /// A golden-prompt scenario: the agent loop. The assistant is asked with the tools the
    /// gateway lists to the identity; each call it proposes goes to the gateway as the identity
    /// (in a session of the scenario's own), and the gateway's answer goes back to it, for at most
    /// `max_turns` turns, until it proposes nothing more, or repeats a call it already proposed.
    async fn execute_ask(&self, planned: &PlannedScenario<'_>, ask: &Ask) -> Execution {
        let start = Instant::now();
        let scenario = planned.scenario;
        let gateway = match self.gateway_of(planned) {
            Ok(g) => g,
            Err(e) => return Execution::failed(None, e, start),
        };
        let Some(assistant) = &planned.assistant else {
            let error = CallError::Protocol("no assistant is configured for golden-prompt scenarios".into());
            return Execution::failed(None, error, start).on(gateway);
        };
        let mut proposal = ProposalRecord {
            assistant: assistant.name().to_owned(),
            prompt_version: assistant.prompt_version().to_owned(),
            steps: Vec::new(),
            error: None,
            latencies: Vec::new(),
        };
        let slot = self.slots.acquire().await.expect("the slots are never closed");
        let identity = &planned.identity;
        let tools = match self.tools_of(gateway, identity).await {
            Ok(tools) => tools,
            Err(e) => return Execution::failed(None, e, start).on(gateway),
        };
        self.spend_budget().await;
        let endpoint = gateway.adapter.next_endpoint();
        let session = match gateway.adapter.open_session(identity, endpoint.clone()).await {
            Ok(s) => s,
            Err(e) => return Execution::failed(endpoint, e, start).on(gateway),
        };
        let untrusted = untrusted_text(scenario);
        let mut conversation = assistant.start(scenario.prompt.as_deref().unwrap_or_default(), &untrusted, &tools);
        let mut calls: Vec<CallRecord> = Vec::new();
        'turns: for _ in 0..assistant.max_turns() {
            let asked = Instant::now();
            let turn = assistant.next(&mut conversation).await;
            proposal.latencies.push(asked.elapsed());
            let proposed = match turn {
                Ok(Turn::Calls(proposed)) => proposed,
                Ok(Turn::Answer(_)) => break,
                Err(e) => {
                    proposal.error = Some(e);
                    break;
                }
            };
            for call in proposed {
                if proposal.steps.iter().any(|s| s.call.tool == call.tool && s.call.arguments == call.arguments) {
                    break 'turns;
                }
                let step = proposal.steps.len();
                proposal.steps.push(proposed_step(&call, ask, step > 0, scenario));
                let record =
                    self.send(gateway, &session, planned, &call.tool, step, 0, &call.arguments, None, None).await;
                assistant.answer(&mut conversation, &call, &answer_text(&record));
                calls.push(record);
            }
        }
        gateway.adapter.close_session(&session, identity).await;
        drop(slot);
        let found = futures::future::join_all(calls.iter().map(|c| self.evidence_of(c))).await;
        for (call, evidence) in calls.iter_mut().zip(found) {
            call.evidence = evidence;
        }
        let proposal = Some(proposal);
        Execution { target: None, endpoint, session_error: None, calls, duration: start.elapsed(), proposal }
            .on(gateway)
    }

    /// The tools `gateway` lists to `identity`, asked once a run.
    async fn tools_of(
        &self,
        gateway: &Gateway,
        identity: &Arc<ResolvedIdentity>,
    ) -> Result<Arc<Vec<ToolSpec>>, CallError> {
        let cell = {
            let mut map = self.tools.lock().unwrap_or_else(|e| e.into_inner());
            map.entry((gateway.name.clone(), identity.name.clone())).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            match gateway.adapter.list_tools(identity).await {
                Some(Ok(tools)) => Ok(Arc::new(tools)),
                Some(Err(e)) => Err(e),
                None => Err(CallError::Protocol(format!(
                    "an `{}` target cannot list its tools, which golden-prompt scenarios offer the assistant",
                    gateway.adapter.kind()
                ))),
            }
        })
        .await
        .cloned()
    }

    /// The audit records of an answered call; `None` for a call that got no answer, so no
    /// decision to look evidence up for.
    async fn evidence_of(&self, call: &CallRecord) -> Option<Result<Lookup, CallError>> {
        match &call.result {
            Ok(_) => Some(self.target.audit.lookup(&call.correlation_id).await),
            Err(_) => None,
        }
    }

    /// The identity's session on `endpoint` for the run, opened on first use. A failed open is
    /// not kept: the next scenario tries again.
    async fn shared_session(
        &self,
        gateway: &Gateway,
        identity: &Arc<ResolvedIdentity>,
        endpoint: Option<String>,
    ) -> Result<Session, CallError> {
        let shared = {
            let mut map = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            let entry = map.entry((gateway.name.clone(), identity.name.clone(), endpoint.clone()));
            entry.or_insert_with(|| SharedSession { identity: identity.clone(), session: Arc::default() }).clone()
        };
        shared.session.get_or_try_init(|| gateway.adapter.open_session(identity, endpoint)).await.cloned()
    }

    /// A new shared session in place of `ended`, unless another scenario has already replaced it.
    async fn renew_shared_session(
        &self,
        gateway: &Gateway,
        identity: &Arc<ResolvedIdentity>,
        endpoint: Option<String>,
        ended: &Session,
    ) -> Result<Session, CallError> {
        {
            let mut map = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            let key = (gateway.name.clone(), identity.name.clone(), endpoint.clone());
            if map.get(&key).and_then(|s| s.session.get()).is_some_and(|s| s.id == ended.id) {
                map.remove(&key);
            }
        }
        self.shared_session(gateway, identity, endpoint).await
    }

    #[expect(clippy::too_many_arguments, reason = "one call's full description; a struct would only rename it")]
    async fn send(
        &self,
        gateway: &Gateway,
        session: &Session,
        planned: &PlannedScenario<'_>,
        tool: &str,
        step: usize,
        index: u32,
        arguments: &Map<String, Value>,
        canary: Option<String>,
        confirmation_id: Option<&str>,
    ) -> CallRecord {
        let scenario = planned.scenario;
        let mut attempt = 0;
        loop {
            // Each attempt has its own id: a timed-out attempt may still have left a record.
            let correlation_id = new_correlation_id();
            let call = Call {
                tool,
                arguments,
                correlation_id: &correlation_id,
                prompt: scenario.prompt.as_deref(),
                context: scenario.context.as_ref(),
                confirmation_id,
            };
            self.spend_budget().await;
            let started = Instant::now();
            let result = gateway.adapter.call(session, &planned.identity, &call).await;
            let latency = started.elapsed();
            let retry = matches!(&result, Err(e) if e.is_transient()) && attempt < self.retries;
            if !retry {
                return CallRecord {
                    step,
                    index,
                    confirmed: confirmation_id.is_some(),
                    correlation_id,
                    canary,
                    latency,
                    result,
                    evidence: None,
                };
            }
            attempt += 1;
        }
    }

    async fn spend_budget(&self) {
        if let Some(budget) = &self.budget {
            budget.until_ready().await;
        }
    }
}

impl Execution {
    /// Nothing could be sent: the session, the tool listing or the assistant failed first.
    fn failed(endpoint: Option<String>, error: CallError, start: Instant) -> Execution {
        Execution {
            target: None,
            endpoint,
            session_error: Some(error),
            calls: Vec::new(),
            duration: start.elapsed(),
            proposal: None,
        }
    }

    /// Names the target it ran on, when it is a named one: its name, and its URL as the endpoint
    /// unless a replica is named already.
    fn on(mut self, gateway: &Gateway) -> Execution {
        if let Some(name) = &gateway.name {
            self.target = Some(name.clone());
            self.endpoint.get_or_insert_with(|| gateway.url.clone());
        }
        self
    }
}

/// A proposed call as a step: the first carries the scenario's expectation; a follow-up gets
/// none to assert.
fn proposed_step(call: &ProposedCall, ask: &Ask, follow_up: bool, scenario: &Scenario) -> Step {
    let mut expect = ask.expect.clone();
    if follow_up {
        expect.reason = None;
        expect.evidence = Default::default();
        expect.redacted = Vec::new();
    }
    Step {
        call: ToolCall { tool: call.tool.clone(), arguments: call.arguments.clone() },
        expect,
        repeat: 1,
        location: scenario.location,
        follow_up,
    }
}

/// The scenario's `context.untrusted` (a string or a list of them): retrieved text the assistant
/// sees as a document.
fn untrusted_text(scenario: &Scenario) -> Vec<String> {
    match scenario.context.as_ref().and_then(|c| c.get("untrusted")) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// What the assistant is told of the gateway's answer to its proposal.
fn answer_text(record: &CallRecord) -> String {
    match &record.result {
        Ok(reply) => {
            let mut answer = serde_json::json!({"decision": reply.decision.as_str()});
            if let Some(reason) = &reply.reason {
                answer["reason"] = reason.clone().into();
            }
            answer.to_string()
        }
        Err(e) => serde_json::json!({"error": e.kind()}).to_string(),
    }
}

fn new_correlation_id() -> String {
    format!("{CORRELATION_PREFIX}{}", uuid::Uuid::new_v4().simple())
}

fn new_canary() -> String {
    format!("gpcanary{:032x}", rand::random::<u128>())
}

fn placeholder() -> String {
    format!("{{{{{CANARY}}}}}")
}

fn uses_canary(step: &Step) -> bool {
    let p = placeholder();
    step.call.arguments.values().any(|v| v.to_string().contains(&p))
}

/// The arguments with every `{{canary}}` replaced by this execution's value; the step's own
/// arguments, uncopied, when it plants none (every call of a plain scenario).
fn substitute<'a>(arguments: &'a Map<String, Value>, canary: Option<&str>) -> Cow<'a, Map<String, Value>> {
    fn walk(v: &Value, p: &str, canary: &str) -> Value {
        match v {
            Value::String(s) => Value::String(s.replace(p, canary)),
            Value::Array(a) => Value::Array(a.iter().map(|i| walk(i, p, canary)).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), walk(v, p, canary))).collect()),
            other => other.clone(),
        }
    }
    match canary {
        None => Cow::Borrowed(arguments),
        Some(c) => {
            let p = placeholder();
            Cow::Owned(arguments.iter().map(|(k, v)| (k.clone(), walk(v, &p, c))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn canaries_are_fresh_and_substituted_deep() {
        let args = json!({"title": "printer", "nested": {"key": "k={{canary}}"}, "list": ["{{canary}}"]});
        let args = args.as_object().unwrap();
        let (a, b) = (new_canary(), new_canary());
        assert_ne!(a, b);
        let out = Value::Object(substitute(args, Some(&a)).into_owned());
        assert_eq!(out, json!({"title": "printer", "nested": {"key": format!("k={a}")}, "list": [a]}));
        assert_eq!(&*substitute(args, None), args);
    }
}

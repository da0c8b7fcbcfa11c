//! CHECK: (Scenario, Execution) → Verdict. Pure: no I/O, so every rule is unit-tested.
//!
//! Precedence when several things are wrong: `leak` (a canary in clear is a fact whatever else
//! happened) > `error` (without every decision read, sequence checks cannot be trusted) > `fail`
//! > `evidence_missing` > `pass`.

use std::collections::BTreeSet;

use crate::decision::Decision;
use crate::execute::{CallRecord, Execution};
use crate::outcome::Outcome;
use crate::suite::{Scenario, Step};
use crate::target::audit::Lookup;

/// What the checks concluded about one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub message: Option<String>,
    /// The first call's decision and reason.
    pub observed: Option<Decision>,
    pub reason: Option<String>,
    pub evidence_fields: BTreeSet<String>,
    pub missing_fields: Vec<String>,
    pub policy_version: Option<String>,
    pub error_kind: Option<&'static str>,
}

/// The decision a call is expected to get, by its place in the step.
pub fn expected_decision(step: &Step, call: &CallRecord) -> Decision {
    let e = &step.expect;
    match (call.confirmed, e.after_confirmation, e.then) {
        (true, Some(d), _) => d,
        (_, _, Some(then)) if call.index >= then.after => then.decision,
        _ => e.decision,
    }
}

pub fn verify(scenario: &Scenario, execution: &Execution) -> Verdict {
    let first = execution.calls.first();
    let first_reply = first.and_then(|c| c.result.as_ref().ok());
    let first_evidence = first.and_then(found);
    let mut verdict = Verdict {
        outcome: Outcome::Pass,
        message: None,
        observed: first_reply.map(|r| r.decision),
        reason: first_reply.and_then(|r| r.reason.clone()),
        evidence_fields: first_evidence.map(|e| e.fields()).unwrap_or_default(),
        missing_fields: Vec::new(),
        policy_version: first_reply
            .and_then(|r| r.policy_version.clone())
            .or_else(|| first_evidence.and_then(|e| e.policy_version())),
        error_kind: None,
    };
    let total = execution.calls.len();
    let describe = |c: &CallRecord| describe_call(scenario, c, total);

    if let Some(leaked) = execution.calls.iter().find(|c| {
        let evidence = found(c);
        matches!((&c.canary, evidence), (Some(canary), Some(e)) if e.contains(canary))
    }) {
        return verdict.with(
            Outcome::Leak,
            format!("{}: the planted canary appears unredacted in the audit record", describe(leaked)),
        );
    }

    if let Some(e) = &execution.session_error {
        verdict.error_kind = Some(e.kind());
        return verdict.with(Outcome::Error, format!("could not open a session: {e}"));
    }
    for call in &execution.calls {
        if let Err(e) = &call.result {
            verdict.error_kind = Some(e.kind());
            return verdict.with(Outcome::Error, format!("{}: {e}", describe(call)));
        }
        if let Some(Err(e)) = &call.evidence {
            verdict.error_kind = Some(e.kind());
            return verdict.with(Outcome::Error, format!("{}: audit lookup failed: {e}", describe(call)));
        }
    }

    for call in &execution.calls {
        let step = &scenario.steps[call.step];
        let Ok(reply) = &call.result else { continue };
        let expected = expected_decision(step, call);
        if reply.decision != expected {
            let reason = reply.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
            return verdict.with(
                Outcome::Fail,
                format!("{}: expected {expected}, got {}{reason}", describe(call), reply.decision),
            );
        }
        if let Some(want) = &step.expect.reason {
            if expected == step.expect.decision && !call.confirmed && reply.reason.as_deref() != Some(want) {
                let got = reply.reason.as_deref().unwrap_or("no reason");
                return verdict.with(Outcome::Fail, format!("{}: expected reason {want}, got {got}", describe(call)));
            }
        }
        if expected == Decision::Confirm && step.expect.after_confirmation.is_some() && reply.confirmation_id.is_none()
        {
            return verdict.with(
                Outcome::Fail,
                format!("{}: `confirm` without a confirmation id to confirm with", describe(call)),
            );
        }
        if reply.decision != Decision::Allow && found(call).is_some_and(|e| e.executed()) {
            return verdict.with(
                Outcome::Fail,
                format!("{}: decided {} but the audit record says it executed", describe(call), reply.decision),
            );
        }
    }

    for call in &execution.calls {
        match &call.evidence {
            Some(Ok(Lookup::Missing { waited })) => {
                let msg = format!(
                    "{}: no audit record for {} within {} ms",
                    describe(call),
                    call.correlation_id,
                    waited.as_millis()
                );
                return verdict.with(Outcome::EvidenceMissing, msg);
            }
            Some(Ok(Lookup::Found(e))) => {
                let step = &scenario.steps[call.step];
                let fields = e.fields();
                let missing: Vec<String> =
                    step.expect.evidence.iter().filter(|f| !fields.contains(*f)).cloned().collect();
                if !missing.is_empty() {
                    let msg = format!("{}: audit record lacks {}", describe(call), missing.join(", "));
                    verdict.missing_fields = missing;
                    return verdict.with(Outcome::EvidenceMissing, msg);
                }
            }
            _ => {}
        }
    }
    verdict
}

impl Verdict {
    fn with(mut self, outcome: Outcome, message: String) -> Verdict {
        self.outcome = outcome;
        self.message = Some(message);
        self
    }
}

fn found(call: &CallRecord) -> Option<&crate::target::Evidence> {
    match &call.evidence {
        Some(Ok(Lookup::Found(e))) => Some(e),
        _ => None,
    }
}

/// "files.delete" for a lone call; "step 2 (email.send)", "call 21 of 30", "confirmed call" otherwise.
fn describe_call(scenario: &Scenario, call: &CallRecord, total: usize) -> String {
    let step = &scenario.steps[call.step];
    let mut parts = Vec::new();
    if scenario.steps.len() > 1 {
        parts.push(format!("step {}", call.step + 1));
    }
    if step.repeat > 1 {
        parts.push(format!("call {} of {}", call.index + 1, step.repeat));
    }
    if call.confirmed {
        parts.push("confirmed call".to_string());
    }
    if total == 1 || parts.is_empty() {
        return step.call.tool.clone();
    }
    format!("{} ({})", parts.join(", "), step.call.tool)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Map, json};

    use super::*;
    use crate::suite::{Expectation, Location, Then, ToolCall};
    use crate::target::{CallError, Evidence, Reply};

    fn step(decision: Decision, repeat: u32) -> Step {
        Step {
            call: ToolCall { tool: "files.read".into(), arguments: Map::new() },
            expect: Expectation {
                decision,
                reason: None,
                evidence: vec![],
                redacted: vec![],
                then: None,
                after_confirmation: None,
            },
            repeat,
            location: Location::default(),
        }
    }

    fn scenario(steps: Vec<Step>) -> Scenario {
        Scenario {
            name: "s".into(),
            location: Location::default(),
            identity: "alice".into(),
            prompt: None,
            context: None,
            steps,
        }
    }

    fn reply(decision: Decision) -> Result<Reply, CallError> {
        Ok(Reply { decision, reason: Some("r".into()), confirmation_id: None, policy_version: Some("v1".into()) })
    }

    fn record(step: usize, index: u32, result: Result<Reply, CallError>, evidence: serde_json::Value) -> CallRecord {
        CallRecord {
            step,
            index,
            confirmed: false,
            correlation_id: format!("gp-{step}-{index}"),
            canary: None,
            latency: Duration::from_millis(1),
            result,
            evidence: Some(Ok(Lookup::Found(Evidence { records: vec![evidence], lag: Duration::ZERO }))),
        }
    }

    fn exec(calls: Vec<CallRecord>) -> Execution {
        Execution { endpoint: None, session_error: None, calls, duration: Duration::from_millis(2) }
    }

    #[test]
    fn right_decision_with_evidence_passes() {
        let v = verify(
            &scenario(vec![step(Decision::Allow, 1)]),
            &exec(vec![record(0, 0, reply(Decision::Allow), json!({"decision": "allow"}))]),
        );
        assert_eq!(
            (v.outcome, v.observed, v.policy_version.as_deref()),
            (Outcome::Pass, Some(Decision::Allow), Some("v1"))
        );
    }

    #[test]
    fn wrong_decision_fails_and_says_which() {
        let v = verify(
            &scenario(vec![step(Decision::Deny, 1)]),
            &exec(vec![record(0, 0, reply(Decision::Allow), json!({}))]),
        );
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(v.message.as_deref(), Some("files.read: expected deny, got allow (r)"));
    }

    #[test]
    fn then_switches_decision_after_n_calls() {
        let mut s = step(Decision::Allow, 3);
        s.expect.then = Some(Then { after: 2, decision: Decision::RateLimited });
        let sc = scenario(vec![s]);
        let ok = (0..3)
            .map(|i| record(0, i, reply(if i < 2 { Decision::Allow } else { Decision::RateLimited }), json!({})))
            .collect();
        assert_eq!(verify(&sc, &exec(ok)).outcome, Outcome::Pass);
        let late = (0..3).map(|i| record(0, i, reply(Decision::Allow), json!({}))).collect();
        let v = verify(&sc, &exec(late));
        assert_eq!(v.message.as_deref(), Some("call 3 of 3 (files.read): expected rate_limited, got allow (r)"));
    }

    #[test]
    fn transport_error_is_error_never_a_decision() {
        let v = verify(
            &scenario(vec![step(Decision::Deny, 1)]),
            &exec(vec![record(0, 0, Err(CallError::Timeout), json!({}))]),
        );
        assert_eq!((v.outcome, v.observed, v.error_kind), (Outcome::Error, None, Some("timeout")));
    }

    #[test]
    fn missing_evidence_fields_are_named() {
        let mut s = step(Decision::Allow, 1);
        s.expect.evidence = vec!["decision".into(), "rationale".into()];
        let v = verify(
            &scenario(vec![s]),
            &exec(vec![record(0, 0, reply(Decision::Allow), json!({"decision": "allow", "rationale": null}))]),
        );
        assert_eq!((v.outcome, v.missing_fields.clone()), (Outcome::EvidenceMissing, vec!["rationale".to_string()]));
    }

    #[test]
    fn executed_denial_fails_and_canary_in_clear_leaks() {
        let sc = scenario(vec![step(Decision::Deny, 1)]);
        let v = verify(&sc, &exec(vec![record(0, 0, reply(Decision::Deny), json!({"executed": true}))]));
        assert_eq!(v.outcome, Outcome::Fail);
        let mut leaky = record(0, 0, reply(Decision::Deny), json!({"action": {"arguments": {"api_key": "gpcanaryX"}}}));
        leaky.canary = Some("gpcanaryX".into());
        assert_eq!(verify(&sc, &exec(vec![leaky])).outcome, Outcome::Leak);
        let mut clean =
            record(0, 0, reply(Decision::Deny), json!({"action": {"arguments": {"api_key": "[REDACTED]"}}}));
        clean.canary = Some("gpcanaryX".into());
        assert_eq!(verify(&sc, &exec(vec![clean])).outcome, Outcome::Pass);
    }

    #[test]
    fn no_record_by_deadline_is_evidence_missing() {
        let mut r = record(0, 0, reply(Decision::Allow), json!({}));
        r.evidence = Some(Ok(Lookup::Missing { waited: Duration::from_millis(2000) }));
        assert_eq!(verify(&scenario(vec![step(Decision::Allow, 1)]), &exec(vec![r])).outcome, Outcome::EvidenceMissing);
    }
}

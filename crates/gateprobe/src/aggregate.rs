//! AGGREGATE: one scenario's plan, execution and verdict joined into the [`ScenarioResult`] every
//! later stage reads (kept apart from `outcome`, which the checks themselves use).

use std::collections::BTreeSet;

use crate::evidence::Lookup;
use crate::execute::Execution;
use crate::outcome::{ProposalSummary, ScenarioResult};
use crate::plan::PlannedScenario;
use crate::suite::Scenario;
use crate::verify::Verdict;

impl ScenarioResult {
    /// Joins what was planned, what happened and what the checks concluded; policy ids are read
    /// from the audit records at `policy_ids_pointer`.
    pub fn new(
        planned: &PlannedScenario<'_>,
        mut execution: Execution,
        verdict: Verdict,
        policy_ids_pointer: &str,
    ) -> ScenarioResult {
        let scenario = planned.scenario;
        // A golden prompt's first proposal, else (it proposed nothing) what was expected of it.
        let (tool, expect) = match (&scenario.asks, execution.steps(scenario).first()) {
            (Some(ask), Some(first)) => (first.call.tool.clone(), &ask.expect),
            (Some(ask), None) => (ask.proposes.tools().join("|"), &ask.expect),
            (None, _) => (scenario.steps[0].call.tool.clone(), &scenario.steps[0].expect),
        };
        let mut result = ScenarioResult {
            suite: planned.suite.name.clone(),
            scenario: planned.result_name(),
            file: planned.suite.path.clone(),
            location: scenario.location,
            identity: scenario.identity.clone(),
            tool,
            outcome: verdict.outcome,
            message: verdict.message,
            expected: expect.decision,
            observed: verdict.observed,
            expected_reason: expect.reason.clone(),
            reason: verdict.reason,
            evidence_fields: verdict.evidence_fields,
            missing_fields: verdict.missing_fields,
            contradicted_fields: verdict.contradicted_fields,
            policy_version: verdict.policy_version,
            target: execution.target.clone(),
            endpoint: execution.endpoint.clone(),
            error_kind: verdict.error_kind,
            calls: execution.calls.len(),
            correlation_ids: execution.calls.iter().map(|c| c.correlation_id.clone()).collect(),
            duration: execution.duration,
            latencies: execution.calls.iter().filter(|c| c.result.is_ok()).map(|c| c.latency).collect(),
            evidence_lags: execution
                .calls
                .iter()
                .filter_map(|c| match &c.evidence {
                    Some(Ok(Lookup::Found(e))) => Some(e.lag),
                    _ => None,
                })
                .collect(),
            policy_ids: BTreeSet::new(),
            reasons: execution.calls.iter().filter_map(|c| c.result.as_ref().ok()?.reason.clone()).collect(),
            evidence: None,
            proposal: proposal_summary(scenario, &execution),
        };
        result.read_policy_ids(&execution, policy_ids_pointer);
        result.evidence = first_record(&mut execution);
        result
    }

    /// Fills `policy_ids` from the audit records of every call, read at `pointer` (a list of
    /// strings, or one string).
    fn read_policy_ids(&mut self, execution: &Execution, pointer: &str) {
        for call in &execution.calls {
            let Some(Ok(Lookup::Found(e))) = &call.evidence else { continue };
            for record in &e.records {
                match record.pointer(pointer) {
                    Some(serde_json::Value::Array(ids)) => {
                        self.policy_ids.extend(ids.iter().filter_map(|v| v.as_str()).map(str::to_string));
                    }
                    Some(serde_json::Value::String(id)) => {
                        self.policy_ids.insert(id.clone());
                    }
                    _ => {}
                }
            }
        }
    }
}

fn proposal_summary(scenario: &Scenario, execution: &Execution) -> Option<ProposalSummary> {
    let (ask, p) = (scenario.asks.as_ref()?, execution.proposal.as_ref()?);
    Some(ProposalSummary {
        assistant: p.assistant.clone(),
        prompt_version: p.prompt_version.clone(),
        expected: crate::propose::describe(&ask.proposes),
        proposed: p.steps.iter().map(|s| s.call.tool.clone()).collect(),
        latencies: p.latencies.clone(),
    })
}

/// The first call's first audit record (taken out: the execution is done with), with every
/// planted canary of the execution masked.
fn first_record(execution: &mut Execution) -> Option<serde_json::Value> {
    let canaries: Vec<String> =
        execution.calls.iter().filter_map(|c| c.canary.clone()).filter(|c| !c.is_empty()).collect();
    let first = execution.calls.first_mut()?;
    let Some(Ok(Lookup::Found(e))) = &mut first.evidence else { return None };
    if e.records.is_empty() {
        return None;
    }
    let record = e.records.swap_remove(0);
    if canaries.is_empty() {
        return Some(record);
    }
    let mut text = record.to_string();
    for canary in &canaries {
        text = text.replace(canary.as_str(), "[canary]");
    }
    serde_json::from_str(&text).ok()
}

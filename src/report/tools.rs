//! What `gateprobe tools` prints: what a suite author needs to know of a gateway before writing
//! a scenario, on the console or as JSON. On the console:
//!
//! ```text
//! gateway: embedded http://127.0.0.1:41237/mcp, tools as alice-reader sees them
//!
//! tools (8)
//!   files.read: Read a file.
//!     arguments: {"properties":{"path":{"type":"string"}},"required":["path"],"type":"object"}
//!
//! policies (9)
//!   reader-read
//!   tenant-isolation (reason tenant_mismatch)
//!
//! reasons: confirmation_required, missing_capability, …
//!
//! evidence of documents › reader can read a handbook page: action.arguments, decision, …
//! ```

use std::fmt::Write;

use gateprobe::{Listing, ToolSpec};
use serde_json::{Value, json};

/// What the gateway told `gateprobe tools`.
#[derive(Debug)]
pub struct Description {
    /// The target, as runs describe it (`embedded http://…/mcp`).
    pub target: String,
    /// Its tools as one identity sees them (that identity's name), or why they could not be listed.
    pub tools: Result<(String, Vec<ToolSpec>), String>,
    /// Its policies and reasons (and the problems reading them).
    pub listing: Listing,
    /// With `--sample`: the scenario run (`suite › name`) and the fields of its first call's
    /// audit record, or why there are none.
    pub sample: Option<(String, Result<Vec<String>, String>)>,
}

/// The console text.
pub fn render(d: &Description) -> String {
    let mut out = String::new();
    match &d.tools {
        Ok((identity, tools)) => {
            let _ = writeln!(out, "gateway: {}, tools as {identity} sees them\n", d.target);
            let _ = writeln!(out, "tools ({})", tools.len());
            for t in tools {
                let description = t.description.as_deref().map(|s| format!(": {}", super::text::one_line(s)));
                let _ = writeln!(out, "  {}{}", t.name, description.unwrap_or_default());
                let _ = writeln!(out, "    arguments: {}", t.input_schema);
            }
        }
        Err(e) => {
            let _ = writeln!(out, "gateway: {}\n\ntools: unknown ({e})", d.target);
        }
    }
    match &d.listing.policies {
        Some(policies) => {
            let _ = writeln!(out, "\npolicies ({})", policies.len());
            for (id, reason) in policies {
                let reason = reason.as_deref().map(|r| format!(" (reason {r})")).unwrap_or_default();
                let _ = writeln!(out, "  {id}{reason}");
            }
        }
        None => out.push_str("\npolicies: unknown (the gateway does not list them; `coverage.policies_url`)\n"),
    }
    if let Some(reasons) = &d.listing.reasons {
        let _ = writeln!(out, "\nreasons: {}", reasons.join(", "));
    }
    for p in &d.listing.problems {
        let _ = writeln!(out, "note: {p}");
    }
    if let Some((scenario, fields)) = &d.sample {
        match fields {
            Ok(fields) => {
                let _ = writeln!(out, "\nevidence of {scenario}: {}", fields.join(", "));
            }
            Err(e) => {
                let _ = writeln!(out, "\nevidence of {scenario}: none ({e})");
            }
        }
    }
    out
}

/// The same as JSON, for scripts.
pub fn to_json(d: &Description) -> Value {
    let (identity, tools, tools_error) = match &d.tools {
        Ok((identity, tools)) => {
            let tools: Vec<Value> = tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
                .collect();
            (Some(identity.as_str()), Some(tools), None)
        }
        Err(e) => (None, None, Some(e.as_str())),
    };
    let policies = d
        .listing
        .policies
        .as_ref()
        .map(|p| p.iter().map(|(id, reason)| json!({"id": id, "reason": reason})).collect::<Vec<_>>());
    let sample = d.sample.as_ref().map(|(scenario, fields)| match fields {
        Ok(fields) => json!({"scenario": scenario, "evidence_fields": fields}),
        Err(e) => json!({"scenario": scenario, "evidence_fields": null, "error": e}),
    });
    json!({
        "target": d.target,
        "identity": identity,
        "tools": tools,
        "tools_error": tools_error,
        "policies": policies,
        "reasons": d.listing.reasons,
        "problems": d.listing.problems,
        "sample": sample,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description() -> Description {
        Description {
            target: "embedded http://127.0.0.1:1/mcp".into(),
            tools: Ok((
                "alice-reader".into(),
                vec![ToolSpec {
                    name: "files.read".into(),
                    description: Some("Read a file.\nFrom the store.".into()),
                    input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
                }],
            )),
            listing: Listing {
                tools: Some(vec!["files.read".into()]),
                policies: Some(vec![
                    ("reader-read".into(), None),
                    ("tenant-isolation".into(), Some("tenant_mismatch".into())),
                ]),
                reasons: Some(vec!["missing_capability".into(), "tenant_mismatch".into()]),
                problems: vec![],
            },
            sample: Some(("documents › reader reads".into(), Ok(vec!["decision".into(), "rationale.reason".into()]))),
        }
    }

    #[test]
    fn console_names_tools_schemas_policies_reasons_and_evidence() {
        insta::assert_snapshot!(render(&description()), @r#"
        gateway: embedded http://127.0.0.1:1/mcp, tools as alice-reader sees them

        tools (1)
          files.read: Read a file. From the store.
            arguments: {"type":"object","properties":{"path":{"type":"string"}}}

        policies (2)
          reader-read
          tenant-isolation (reason tenant_mismatch)

        reasons: missing_capability, tenant_mismatch

        evidence of documents › reader reads: decision, rationale.reason
        "#);
    }

    #[test]
    fn what_could_not_be_listed_says_why() {
        let mut d = description();
        d.tools = Err("an `http` target cannot list its tools".into());
        d.listing.policies = None;
        d.sample = Some(("s › n".into(), Err("no audit record".into())));
        let text = render(&d);
        assert!(text.contains("tools: unknown (an `http` target cannot list its tools)"), "{text}");
        assert!(text.contains("policies: unknown"), "{text}");
        assert!(text.contains("evidence of s › n: none (no audit record)"), "{text}");
        let v = to_json(&d);
        assert_eq!(v["tools"], Value::Null);
        assert_eq!(v["tools_error"], "an `http` target cannot list its tools");
        assert_eq!(v["sample"]["error"], "no audit record");
    }
}

//! The demo tools and the in-memory workspace they act on, so an allowed call really executes
//! (and a denied delete really leaves the file in place).

use std::collections::BTreeMap;

use jsonschema::Validator;
use serde_json::{Value, json};

use super::identity::Principal;
use super::policy::ResourceRef;

/// One tool: its name (also the Cedar action id), input schema, and whether it is irreversible
/// (irreversible tools need an explicit confirmation).
pub(crate) struct Tool {
    pub name: &'static str,
    pub description: &'static str,
    pub input_schema: Value,
    pub irreversible: bool,
    validator: Validator,
}

/// Path patterns that would widen a call beyond one named thing.
fn over_broad(s: &str) -> bool {
    s.contains('*') || s.contains('?') || s.split('/').any(|seg| seg == "..")
}

pub(crate) struct Catalog {
    tools: Vec<Tool>,
}

impl Catalog {
    pub(crate) fn new() -> Catalog {
        let path = json!({"type": "string", "minLength": 1, "maxLength": 512, "pattern": "^/"});
        let specs: Vec<(&'static str, &'static str, Value, bool)> = vec![
            (
                "files.read",
                "Read one file of the workspace.",
                json!({"type": "object", "properties": {"path": path}, "required": ["path"], "additionalProperties": false}),
                false,
            ),
            (
                "files.delete",
                "Delete one file of the workspace (irreversible).",
                json!({"type": "object", "properties": {"path": path}, "required": ["path"], "additionalProperties": false}),
                true,
            ),
            (
                "search.query",
                "Search the caller's tenant documents.",
                json!({"type": "object", "properties": {
                 "q": {"type": "string", "minLength": 1, "maxLength": 256},
                 "limit": {"type": "integer", "minimum": 1, "maximum": 100}},
              "required": ["q"]}),
                false,
            ),
            (
                "tickets.create",
                "Open a support ticket.",
                json!({"type": "object", "properties": {
                 "title": {"type": "string", "minLength": 1, "maxLength": 200},
                 "body": {"type": "string", "maxLength": 10000},
                 "priority": {"enum": ["low", "normal", "high"]}},
              "required": ["title"]}),
                false,
            ),
            (
                "email.send",
                "Send an e-mail from the tenant's outbox.",
                json!({"type": "object", "properties": {
                 "to": {"type": "string", "pattern": "^[^@\\s*?]+@[^@\\s*?]+$"},
                 "subject": {"type": "string", "maxLength": 200},
                 "body": {"type": "string", "maxLength": 20000}},
              "required": ["to"]}),
                false,
            ),
            (
                "crm.export",
                "Export a CRM segment (at most 1000 contacts).",
                json!({"type": "object", "properties": {
                 "segment": {"type": "string", "minLength": 1, "maxLength": 64},
                 "limit": {"type": "integer", "minimum": 1, "maximum": 1000}},
              "required": ["segment"]}),
                false,
            ),
            (
                "payments.refund",
                "Refund a payment (irreversible).",
                json!({"type": "object", "properties": {
                 "payment_id": {"type": "string", "minLength": 1, "maxLength": 64},
                 "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 10000}},
              "required": ["payment_id"]}),
                true,
            ),
            (
                "admin.grant_role",
                "Grant a role to a user of a tenant (irreversible).",
                json!({"type": "object", "properties": {
                 "subject": {"type": "string", "minLength": 1, "maxLength": 254},
                 "role": {"enum": ["reader", "support", "admin"]},
                 "tenant": {"type": "string", "minLength": 1, "maxLength": 64}},
              "required": ["subject", "role"], "additionalProperties": false}),
                true,
            ),
        ];
        let tools = specs
            .into_iter()
            .map(|(name, description, input_schema, irreversible)| Tool {
                validator: jsonschema::validator_for(&input_schema).expect("built-in tool schemas are valid"),
                name,
                description,
                input_schema,
                irreversible,
            })
            .collect();
        Catalog { tools }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    pub(crate) fn list(&self) -> Value {
        Value::Array(
            self.tools
                .iter()
                .map(|t| {
                    json!({"name": t.name, "description": t.description, "inputSchema": t.input_schema,
                                 "annotations": {"destructiveHint": t.irreversible}})
                })
                .collect(),
        )
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::new()
    }
}

impl Tool {
    /// JSON Schema, then the over-broad checks a schema cannot express well. Returns what is wrong.
    pub(crate) fn check_arguments(&self, args: &Value) -> Result<(), String> {
        let errors: Vec<String> = self
            .validator
            .iter_errors(args)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() { e.to_string() } else { format!("{at}: {e}") }
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        for key in ["path", "segment", "payment_id", "subject", "tenant"] {
            if let Some(s) = args.get(key).and_then(Value::as_str)
                && over_broad(s)
            {
                return Err(format!("/{key}: wildcards and '..' are not allowed ({s:?})"));
            }
        }
        if let Some(q) = args.get("q").and_then(Value::as_str)
            && (q.contains('*') || q.trim().is_empty())
        {
            return Err(format!("/q: wildcard queries are not allowed ({q:?})"));
        }
        Ok(())
    }
}

pub(crate) struct File {
    pub tenant: String,
    pub content: String,
}

pub(crate) struct Payment {
    pub tenant: String,
    pub amount: f64,
    pub refunded: f64,
}

/// The demo world the tools act on.
pub(crate) struct Workspace {
    pub files: BTreeMap<String, File>,
    pub tickets: Vec<Value>,
    pub outbox: Vec<Value>,
    /// segment → (tenant, contacts)
    pub segments: BTreeMap<String, (String, u32)>,
    pub payments: BTreeMap<String, Payment>,
    pub grants: Vec<Value>,
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace::demo()
    }
}

impl Workspace {
    pub(crate) fn demo() -> Workspace {
        let file = |tenant: &str, content: &str| File { tenant: tenant.into(), content: content.into() };
        let files = BTreeMap::from([
            (
                "/docs/handbook.md".to_owned(),
                file(
                    "acme",
                    "# Acme handbook\n\nWelcome to Acme. Support hours are 9-17 CET. Quarterly report reviews happen in the first week of each quarter.\n",
                ),
            ),
            ("/docs/old.md".to_owned(), file("acme", "# Old notes\n\nSuperseded by the handbook.\n")),
            ("/reports/q3.md".to_owned(), file("acme", "# Quarterly report Q3\n\nRevenue grew 4%.\n")),
            ("/docs/globex-handbook.md".to_owned(), file("globex", "# Globex handbook\n\nGlobex staff only.\n")),
        ]);
        let segments = BTreeMap::from([
            ("all".to_owned(), ("acme".to_owned(), 42)),
            ("enterprise".to_owned(), ("acme".to_owned(), 7)),
            ("globex-all".to_owned(), ("globex".to_owned(), 13)),
        ]);
        let payments = BTreeMap::from([
            ("pay_1001".to_owned(), Payment { tenant: "acme".into(), amount: 120.0, refunded: 0.0 }),
            ("pay_2001".to_owned(), Payment { tenant: "globex".into(), amount: 75.5, refunded: 0.0 }),
        ]);
        Workspace { files, tickets: vec![], outbox: vec![], segments, payments, grants: vec![] }
    }

    fn str_arg<'a>(args: &'a Value, key: &str) -> &'a str {
        args.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// The Cedar resource of a call: the named thing with its owning tenant, or the caller's
    /// tenant-wide service when the tool does not name one (or the thing does not exist).
    pub(crate) fn resource(&self, tool: &str, args: &Value, principal: &Principal) -> ResourceRef {
        let own = |kind: &'static str| ResourceRef {
            id: format!("{}:{kind}", principal.tenant),
            tenant: principal.tenant.clone(),
            kind,
        };
        match tool {
            "files.read" | "files.delete" => {
                let path = Self::str_arg(args, "path");
                let tenant = self.files.get(path).map_or(principal.tenant.clone(), |f| f.tenant.clone());
                ResourceRef { id: format!("{tenant}:file:{path}"), tenant, kind: "file" }
            }
            "crm.export" => {
                let segment = Self::str_arg(args, "segment");
                let tenant = self.segments.get(segment).map_or(principal.tenant.clone(), |s| s.0.clone());
                ResourceRef { id: format!("{tenant}:segment:{segment}"), tenant, kind: "crm_segment" }
            }
            "payments.refund" => {
                let id = Self::str_arg(args, "payment_id");
                let tenant = self.payments.get(id).map_or(principal.tenant.clone(), |p| p.tenant.clone());
                ResourceRef { id: format!("{tenant}:payment:{id}"), tenant, kind: "payment" }
            }
            "admin.grant_role" => {
                let tenant = args.get("tenant").and_then(Value::as_str).unwrap_or(&principal.tenant).to_owned();
                ResourceRef { id: format!("{tenant}:user:{}", Self::str_arg(args, "subject")), tenant, kind: "user" }
            }
            "search.query" => own("search"),
            "tickets.create" => own("tickets"),
            "email.send" => own("outbox"),
            _ => own("unknown"),
        }
    }

    /// The exact text shown to the user before an irreversible call runs.
    pub(crate) fn summary(&self, tool: &str, args: &Value, principal: &Principal) -> String {
        let tenant = self.resource(tool, args, principal).tenant;
        match tool {
            "files.delete" => format!("Permanently delete file {} (tenant {tenant})", Self::str_arg(args, "path")),
            "payments.refund" => {
                let id = Self::str_arg(args, "payment_id");
                let amount = args
                    .get("amount")
                    .and_then(Value::as_f64)
                    .or_else(|| self.payments.get(id).map(|p| p.amount - p.refunded))
                    .unwrap_or(0.0);
                format!("Refund {amount:.2} USD of payment {id} (tenant {tenant})")
            }
            "admin.grant_role" => format!(
                "Grant role {} to {} in tenant {tenant}",
                Self::str_arg(args, "role"),
                Self::str_arg(args, "subject")
            ),
            other => format!("Run {other} with {args}"),
        }
    }

    /// Run an authorized call. `Err` is a tool-level failure (e.g. not found), not a decision.
    pub(crate) fn execute(&mut self, tool: &str, args: &Value, principal: &Principal) -> Result<Value, String> {
        let tenant = principal.tenant.clone();
        match tool {
            "files.read" => {
                let path = Self::str_arg(args, "path");
                let f = self.files.get(path).ok_or_else(|| format!("no such file: {path}"))?;
                Ok(json!({"path": path, "content": f.content, "summary": format!("read {} bytes", f.content.len())}))
            }
            "files.delete" => {
                let path = Self::str_arg(args, "path");
                self.files.remove(path).ok_or_else(|| format!("no such file: {path}"))?;
                Ok(json!({"path": path, "deleted": true, "summary": format!("deleted {path}")}))
            }
            "search.query" => {
                let q = Self::str_arg(args, "q").to_lowercase();
                let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(10) as usize;
                let words: Vec<&str> = q.split_whitespace().collect();
                let hits: Vec<&String> = self
                    .files
                    .iter()
                    .filter(|(_, f)| f.tenant == tenant)
                    .filter(|(path, f)| {
                        let text = format!("{path} {}", f.content).to_lowercase();
                        words.iter().any(|w| text.contains(w))
                    })
                    .map(|(path, _)| path)
                    .take(limit)
                    .collect();
                Ok(json!({"hits": hits, "summary": format!("{} hits", hits.len())}))
            }
            "tickets.create" => {
                let id = format!("T-{}", 1001 + self.tickets.len());
                let title = Self::str_arg(args, "title");
                self.tickets.push(json!({"id": id, "tenant": tenant, "title": title}));
                Ok(json!({"ticket_id": id, "summary": format!("created ticket {id}")}))
            }
            "email.send" => {
                let id = format!("M-{}", 1 + self.outbox.len());
                let to = Self::str_arg(args, "to");
                self.outbox.push(json!({"id": id, "tenant": tenant, "to": to}));
                Ok(json!({"message_id": id, "summary": format!("queued mail {id} to {to}")}))
            }
            "crm.export" => {
                let segment = Self::str_arg(args, "segment");
                let (_, contacts) = self.segments.get(segment).ok_or_else(|| format!("no such segment: {segment}"))?;
                let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(u64::MAX);
                let rows = u64::from(*contacts).min(limit);
                Ok(json!({"segment": segment, "rows": rows, "summary": format!("exported {rows} contacts")}))
            }
            "payments.refund" => {
                let id = Self::str_arg(args, "payment_id");
                let p = self.payments.get_mut(id).ok_or_else(|| format!("no such payment: {id}"))?;
                let amount = args.get("amount").and_then(Value::as_f64).unwrap_or(p.amount - p.refunded);
                if amount > p.amount - p.refunded + 1e-9 {
                    return Err(format!("refund of {amount:.2} exceeds the refundable {:.2}", p.amount - p.refunded));
                }
                p.refunded += amount;
                Ok(json!({"payment_id": id, "refunded": amount, "summary": format!("refunded {amount:.2} USD")}))
            }
            "admin.grant_role" => {
                let grant = json!({
                    "tenant": args.get("tenant").and_then(Value::as_str).unwrap_or(&tenant),
                    "subject": Self::str_arg(args, "subject"),
                    "role": Self::str_arg(args, "role"),
                });
                self.grants.push(grant.clone());
                Ok(json!({"grant": grant, "summary": "role granted"}))
            }
            other => Err(format!("unknown tool {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_and_wildcard_checks() {
        let catalog = Catalog::new();
        let read = catalog.get("files.read").unwrap();
        assert!(read.check_arguments(&json!({"path": "/docs/handbook.md"})).is_ok());
        for bad in [json!({"path": "/docs/*"}), json!({"path": "/docs/../etc"}), json!({}), json!({"path": 3})] {
            assert!(read.check_arguments(&bad).is_err(), "{bad} should be rejected");
        }
        let search = catalog.get("search.query").unwrap();
        assert!(search.check_arguments(&json!({"q": "report", "limit": 100})).is_ok());
        assert!(search.check_arguments(&json!({"q": "report", "limit": 101})).is_err());
        assert!(search.check_arguments(&json!({"q": "*"})).is_err());
        assert!(catalog.get("crm.export").unwrap().check_arguments(&json!({"segment": "all", "limit": 5000})).is_err());
    }

    #[test]
    fn search_stays_in_tenant() {
        let mut ws = Workspace::demo();
        let globex = Principal { subject: "a@example.com".into(), tenant: "globex".into(), roles: vec![] };
        let out = ws.execute("search.query", &json!({"q": "handbook"}), &globex).unwrap();
        assert_eq!(out["hits"], json!(["/docs/globex-handbook.md"]));
    }
}

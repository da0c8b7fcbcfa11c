//! The policy bundle: everything in the policy directory, loaded and validated as one unit,
//! so a reload either swaps in a complete consistent set or changes nothing.
//!
//! Layout: one `*.cedarschema`, any number of `*.cedar` files (each policy named by `@id`),
//! `revoked.txt` (`tenant/subject` a line) and `limits.yaml` (quotas, see [`LimitsConfig`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityId, EntityTypeName, EntityUid, Policy, PolicyId,
    PolicySet, Request, Schema, ValidationMode, Validator,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::identity::Principal;
use super::limits::LimitsConfig;

/// Why a policy directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or the directory could not be read.
    #[error("cannot read policy directory {path}: {source}")]
    Io {
        /// What could not be read.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A file holds an invalid policy, schema, revocation list or limits.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong in it.
        message: String,
    },
}

impl PolicyError {
    /// The file at fault, for the log line of a rejected reload.
    pub fn file(&self) -> &Path {
        match self {
            PolicyError::Io { path, .. } => path,
            PolicyError::Invalid { file, .. } => file,
        }
    }
}

/// One consistent, validated policy set.
pub(crate) struct PolicyBundle {
    pub version: String,
    schema: Schema,
    policies: PolicySet,
    revoked: HashSet<String>,
    pub limits: LimitsConfig,
}

/// One policy as `GET /policies` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct PolicyInfo {
    pub id: String,
    pub effect: &'static str,
    pub reason: Option<String>,
}

/// The thing a tool acts on, as Cedar sees it.
#[derive(Debug, Clone)]
pub(crate) struct ResourceRef {
    pub id: String,
    pub tenant: String,
    pub kind: &'static str,
}

/// What the caller asks Cedar about.
pub(crate) struct AuthzRequest<'a> {
    pub principal: &'a Principal,
    pub action: &'a str,
    pub resource: &'a ResourceRef,
    pub untrusted: bool,
    /// The tenant the call says it acts in (`_meta.context.tenant`), if it names one.
    pub context_tenant: Option<&'a str>,
    pub history: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthzOutcome {
    Allow { policy_ids: Vec<String> },
    Deny { reason: String, policy_ids: Vec<String> },
}

/// Files that make up the bundle: regular, non-hidden files directly in the directory,
/// sorted by name. Hidden files are skipped so editor swap files don't change the version.
fn bundle_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, PolicyError> {
    let io = |source| PolicyError::Io { path: dir.to_path_buf(), source };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.file_type().map_err(io)?.is_file() {
            continue;
        }
        let bytes = fs::read(entry.path()).map_err(|source| PolicyError::Io { path: entry.path(), source })?;
        files.push((name, bytes));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// `sha256:` + 16 hex digits over each file's name, a NUL, its contents and a NUL, in name order.
pub(crate) fn version_of(files: &[(String, Vec<u8>)]) -> String {
    let mut hasher = Sha256::new();
    for (name, bytes) in files {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(bytes);
        hasher.update([0]);
    }
    let digest = hex::encode(hasher.finalize());
    format!("sha256:{}", &digest[..16])
}

/// The version the directory would have now, without parsing it (cheap change detection).
pub fn current_version(dir: &Path) -> Result<String, PolicyError> {
    Ok(version_of(&bundle_files(dir)?))
}

/// Loads and validates the directory as a gateway would at start, and drops it: whether a
/// gateway could serve these policies (mutation testing skips the mutants it could not).
pub fn check_policies(dir: &Path) -> Result<(), PolicyError> {
    PolicyBundle::load(dir).map(drop)
}

impl PolicyBundle {
    pub(crate) fn load(dir: &Path) -> Result<PolicyBundle, PolicyError> {
        let files = bundle_files(dir)?;
        let version = version_of(&files);
        let invalid = |name: &str, message: String| PolicyError::Invalid { file: dir.join(name), message };
        let text =
            |name: &str, bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|_| invalid(name, "not UTF-8".into()));

        let mut schema = None;
        let mut policies = PolicySet::new();
        let mut revoked = HashSet::new();
        let mut limits = LimitsConfig::default();
        let mut origin = HashMap::new();
        for (name, bytes) in &files {
            if name.ends_with(".cedarschema") {
                if schema.is_some() {
                    return Err(invalid(name, "a second .cedarschema file; keep exactly one".into()));
                }
                let (s, _warnings) = Schema::from_cedarschema_str(&text(name, bytes)?)
                    .map_err(|e| invalid(name, format!("schema: {e}")))?;
                schema = Some(s);
            } else if name.ends_with(".cedar") {
                add_policies(&mut policies, &mut origin, name, &text(name, bytes)?).map_err(|m| invalid(name, m))?;
            } else if name == "revoked.txt" {
                revoked = text(name, bytes)?
                    .lines()
                    .map(|l| l.split('#').next().unwrap_or("").trim())
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
            } else if name == "limits.yaml" {
                limits = LimitsConfig::parse(&text(name, bytes)?).map_err(|m| invalid(name, m))?;
            }
        }
        let schema = schema.ok_or_else(|| invalid("*.cedarschema", "no schema file in the policy directory".into()))?;
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !result.validation_passed() {
            let messages: Vec<String> =
                result.validation_errors().map(|e| format!("policy {}: {e}", e.policy_id())).collect();
            // Name the file that holds the first offending policy.
            let file = result
                .validation_errors()
                .next()
                .and_then(|e| origin.get(&e.policy_id().to_string()).cloned())
                .unwrap_or_else(|| "*.cedar".into());
            return Err(invalid(&file, messages.join("; ")));
        }
        Ok(PolicyBundle { version, schema, policies, revoked, limits })
    }

    /// Every policy: its id, effect (`permit`/`forbid`) and `@reason` annotation, by id.
    pub(crate) fn listing(&self) -> Vec<PolicyInfo> {
        let mut out: Vec<PolicyInfo> = self
            .policies
            .policies()
            .map(|p| PolicyInfo {
                id: p.id().to_string(),
                effect: match p.effect() {
                    cedar_policy::Effect::Permit => "permit",
                    cedar_policy::Effect::Forbid => "forbid",
                },
                reason: p.annotation("reason").map(str::to_owned),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    pub(crate) fn is_revoked(&self, principal: &Principal) -> bool {
        self.revoked.contains(&principal.key())
    }

    pub(crate) fn authorize(&self, req: &AuthzRequest<'_>) -> AuthzOutcome {
        match self.try_authorize(req) {
            Ok(outcome) => outcome,
            Err(message) => {
                // A request the schema rejects is a gateway bug or a policy/schema drift: fail closed.
                tracing::error!(action = req.action, %message, "cannot build authorization request");
                AuthzOutcome::Deny { reason: "policy_error".into(), policy_ids: vec![] }
            }
        }
    }

    fn try_authorize(&self, req: &AuthzRequest<'_>) -> Result<AuthzOutcome, String> {
        let p = req.principal;
        let principal = uid("User", &p.key())?;
        let action = uid("Action", req.action)?;
        let resource = uid("Resource", &req.resource.id)?;
        let entities = Entities::from_json_value(
            json!([
                {"uid": {"type": "User", "id": p.key()},
                 "attrs": {"tenant": p.tenant, "subject": p.subject, "roles": p.roles}, "parents": []},
                {"uid": {"type": "Resource", "id": req.resource.id},
                 "attrs": {"tenant": req.resource.tenant, "kind": req.resource.kind}, "parents": []},
            ]),
            Some(&self.schema),
        )
        .map_err(|e| e.to_string())?;
        let history: BTreeSet<&String> = req.history.iter().collect();
        // `context.tenant` is what the call claims (docs/gateway.md, "The tenant in the context"):
        // the principal's tenant is always the token's, so a client naming another tenant can only
        // be refused by the bundled `tenant-isolation`, never let in. Absent, it is the token's.
        let tenant = req.context_tenant.unwrap_or(&p.tenant);
        let context = Context::from_json_value(
            json!({"tenant": tenant, "untrusted": req.untrusted, "history": history}),
            Some((&self.schema, &action)),
        )
        .map_err(|e| e.to_string())?;
        let request =
            Request::new(principal, action, resource, context, Some(&self.schema)).map_err(|e| e.to_string())?;
        let response = Authorizer::new().is_authorized(&request, &self.policies, &entities);
        for error in response.diagnostics().errors() {
            tracing::warn!(%error, "policy evaluation error");
        }
        let mut ids: Vec<String> = response.diagnostics().reason().map(|id| id.to_string()).collect();
        ids.sort();
        Ok(match response.decision() {
            CedarDecision::Allow => AuthzOutcome::Allow { policy_ids: ids },
            // No determining policy: nothing permitted the call.
            CedarDecision::Deny if ids.is_empty() => {
                AuthzOutcome::Deny { reason: "missing_capability".into(), policy_ids: ids }
            }
            CedarDecision::Deny => {
                let reason = ids
                    .iter()
                    .find_map(|id| self.policies.annotation(&PolicyId::new(id), "reason"))
                    .unwrap_or("forbidden")
                    .to_owned();
                AuthzOutcome::Deny { reason, policy_ids: ids }
            }
        })
    }
}

fn uid(ty: &str, id: &str) -> Result<EntityUid, String> {
    let ty = EntityTypeName::from_str(ty).map_err(|e| e.to_string())?;
    Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
}

/// Parse one file's policies and give each its `@id` (or `file::policyN`), so ids are unique
/// across files and readable in rationales.
fn add_policies(
    set: &mut PolicySet,
    origin: &mut HashMap<String, String>,
    file: &str,
    src: &str,
) -> Result<(), String> {
    let parsed = PolicySet::from_str(src).map_err(|e| format!("parse error: {e}"))?;
    for policy in parsed.policies() {
        let id = match policy.annotation("id") {
            Some(id) => id.to_owned(),
            None => format!("{file}::{}", policy.id()),
        };
        let renamed: Policy = policy.new_id(PolicyId::new(&id));
        set.add(renamed).map_err(|e| format!("policy {id}: {e}"))?;
        origin.insert(id, file.to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled() -> PolicyBundle {
        PolicyBundle::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies"))
            .expect("bundled policies load")
    }

    fn decide(principal: &Principal, action: &str, tenant: &str, history: &[String]) -> AuthzOutcome {
        decide_in(principal, action, tenant, None, history)
    }

    fn decide_in(
        principal: &Principal,
        action: &str,
        tenant: &str,
        context_tenant: Option<&str>,
        history: &[String],
    ) -> AuthzOutcome {
        let resource = ResourceRef { id: format!("{tenant}:file:/x"), tenant: tenant.into(), kind: "file" };
        bundled().authorize(&AuthzRequest {
            principal,
            action,
            resource: &resource,
            untrusted: false,
            context_tenant,
            history,
        })
    }

    /// Pins the context tenant's meaning: a call naming another tenant than its token's is
    /// refused, naming its own changes nothing, and it never lets a principal into another tenant.
    #[test]
    fn a_call_naming_another_tenant_in_its_context_is_refused() {
        let alice = user("acme", "reader");
        let mismatch =
            AuthzOutcome::Deny { reason: "tenant_mismatch".into(), policy_ids: vec!["tenant-isolation".into()] };
        assert_eq!(decide_in(&alice, "files.read", "acme", Some("globex"), &[]), mismatch);
        assert!(matches!(decide_in(&alice, "files.read", "acme", Some("acme"), &[]), AuthzOutcome::Allow { .. }));
        assert_eq!(decide_in(&alice, "files.read", "globex", Some("globex"), &[]), mismatch);
    }

    fn user(tenant: &str, role: &str) -> Principal {
        Principal { subject: "u@example.com".into(), tenant: tenant.into(), roles: vec![role.into()] }
    }

    #[test]
    fn reader_reads_but_cannot_delete() {
        let alice = user("acme", "reader");
        assert!(matches!(decide(&alice, "files.read", "acme", &[]), AuthzOutcome::Allow { .. }));
        assert_eq!(
            decide(&alice, "files.delete", "acme", &[]),
            AuthzOutcome::Deny { reason: "missing_capability".into(), policy_ids: vec![] }
        );
    }

    #[test]
    fn listing_names_every_policy_by_id_with_effect_and_reason() {
        let listing = bundled().listing();
        let ids: Vec<&str> = listing.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["admin-all", "no-mail-after-export", "reader-read", "support-desk", "tenant-isolation"]);
        let guard = listing.iter().find(|p| p.id == "tenant-isolation").unwrap();
        assert_eq!((guard.effect, guard.reason.as_deref()), ("forbid", Some("tenant_mismatch")));
    }

    #[test]
    fn forbid_reason_comes_from_annotation() {
        let alice = user("globex", "reader");
        assert_eq!(
            decide(&alice, "files.read", "acme", &[]),
            AuthzOutcome::Deny { reason: "tenant_mismatch".into(), policy_ids: vec!["tenant-isolation".into()] }
        );
        let carol = user("acme", "support");
        let outcome = decide(&carol, "email.send", "acme", &["crm.export".into()]);
        assert!(matches!(outcome, AuthzOutcome::Deny { reason, .. } if reason == "sequence_risk"));
    }

    #[test]
    fn version_depends_on_names_and_contents() {
        let a = version_of(&[("a.cedar".into(), b"x".to_vec())]);
        assert_eq!(a.len(), "sha256:".len() + 16);
        assert_ne!(a, version_of(&[("b.cedar".into(), b"x".to_vec())]));
        assert_ne!(a, version_of(&[("a.cedar".into(), b"y".to_vec())]));
    }
}

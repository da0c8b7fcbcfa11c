//! The mutation operators: where each applies in a policy file, and the text it writes there.
//!
//! Cedar files are parsed with `cedar-policy-core`'s concrete syntax tree, the parser the
//! `cedar-policy` crate itself runs: it keeps every node's source span, which the public
//! `cedar-policy` API drops (its `Policy` knows its conditions but not where they are). Each
//! mutant replaces one span of the original text, so the rest of the file (comments, layout) is
//! untouched and its line is exact. `limits.yaml` is not Cedar; its quota is found by hand
//! ([`quota`]).

use std::ops::Range;

use cedar_policy_core::parser::text_to_cst::parse_policies;
use cedar_policy_core::parser::{Node, cst};

/// One way to change a policy. The set is fixed: a score means the same thing on every run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// A whole statement (annotations included) removed.
    DeleteStatement,
    /// One `when { … }` or `unless { … }` removed: the statement applies unconditionally.
    DropCondition,
    /// A condition's expression `E` replaced by `!(E)`.
    NegateCondition,
    /// One operand of a condition's top-level `&&` removed.
    DropConjunct,
    /// One action removed from an `action in [A, B, …]` list of two or more.
    DropAction,
    /// `action == X` or `action in [...]` replaced by `action`: the statement covers every action.
    WidenAction,
    /// The per-subject burst in `limits.yaml` one lower and one higher.
    Quota,
}

impl Operator {
    /// Every operator, in the order mutants of one place are listed.
    pub const ALL: [Operator; 7] = [
        Operator::DeleteStatement,
        Operator::DropCondition,
        Operator::NegateCondition,
        Operator::DropConjunct,
        Operator::DropAction,
        Operator::WidenAction,
        Operator::Quota,
    ];

    /// The name reports use (`drop_condition`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::DeleteStatement => "delete_statement",
            Operator::DropCondition => "drop_condition",
            Operator::NegateCondition => "negate_condition",
            Operator::DropConjunct => "drop_conjunct",
            Operator::DropAction => "drop_action",
            Operator::WidenAction => "widen_action",
            Operator::Quota => "quota",
        }
    }

    /// What it does, in one line (the README's operator list says the same).
    pub fn describe(self) -> &'static str {
        match self {
            Operator::DeleteStatement => "delete a whole statement",
            Operator::DropCondition => "drop one `when`/`unless` clause",
            Operator::NegateCondition => "negate one condition: `E` becomes `!(E)`",
            Operator::DropConjunct => "drop one operand of a condition's top-level `&&`",
            Operator::DropAction => "drop one action from an `action in [...]` list",
            Operator::WidenAction => "widen `action == X` / `action in [...]` to every action",
            Operator::Quota => "the per-subject burst in limits.yaml one lower and one higher",
        }
    }
}

impl std::fmt::Display for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One edit of a file: replace `span` (bytes) of the original with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    pub operator: Operator,
    pub span: Range<usize>,
    pub text: String,
    /// The statement's `@id`, when it has one.
    pub policy: Option<String>,
    /// What changed, in a few words: ``drop `search.query` from the action list``.
    pub description: String,
}

impl Edit {
    pub(crate) fn apply(&self, original: &str) -> String {
        let mut out = String::with_capacity(original.len() + self.text.len());
        out.push_str(&original[..self.span.start]);
        out.push_str(&self.text);
        out.push_str(&original[self.span.end..]);
        out
    }
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

fn span<T>(node: &Node<T>) -> Option<Range<usize>> {
    node.loc.as_ref().map(|l| l.start()..l.end())
}

/// Every edit the Cedar operators make in one file, in source order. `Err` is the parser's
/// message: the caller checked the directory loads, so that means a file the gateway skips.
pub(crate) fn cedar(src: &str) -> Result<Vec<Edit>, String> {
    let parsed = parse_policies(src).map_err(|e| e.to_string())?;
    let Some(policies) = parsed.node.as_ref() else { return Ok(Vec::new()) };
    let mut edits = Vec::new();
    for node in &policies.0 {
        let (Some(policy), Some(whole)) = (node.node.as_ref(), span(node)) else { continue };
        #[allow(unreachable_patterns, reason = "`PolicyError` exists only with cedar's tolerant-ast feature")]
        let policy = match policy {
            cst::Policy::Policy(p) => p,
            _ => continue,
        };
        statement(src, policy, whole, &mut edits);
    }
    edits.sort_by_key(|e| (e.span.start, e.operator));
    Ok(edits)
}

fn policy_id(policy: &cst::PolicyImpl) -> Option<String> {
    policy.annotations.iter().filter_map(|a| a.node.as_ref()).find_map(|a| {
        let key = a.key.node.as_ref()?;
        if !matches!(key, cst::Ident::Ident(k) if k == "id") {
            return None;
        }
        match a.value.as_ref()?.node.as_ref()? {
            cst::Str::String(v) => Some(v.to_string()),
            cst::Str::Invalid(_) => None,
        }
    })
}

fn statement(src: &str, policy: &cst::PolicyImpl, whole: Range<usize>, edits: &mut Vec<Edit>) {
    let id = policy_id(policy);
    let snippet = |r: &Range<usize>| src[r.clone()].to_string();
    let mut push = |operator, span: Range<usize>, text: String, description: String| {
        edits.push(Edit { operator, span, text, policy: id.clone(), description });
    };
    push(Operator::DeleteStatement, whole, String::new(), "delete the statement".into());

    for var in &policy.variables {
        let (Some(def), Some(def_span)) = (var.node.as_ref(), span(var)) else { continue };
        if !matches!(def.variable.node, Some(cst::Ident::Action)) {
            continue;
        }
        let Some((op, expr)) = &def.ineq else { continue };
        push(
            Operator::WidenAction,
            def_span.clone(),
            "action".into(),
            format!("widen `{}` to every action", one_line(&snippet(&def_span))),
        );
        let Some(cst::Primary::EList(items)) = (*op == cst::RelOp::In).then(|| primary(expr)).flatten() else {
            continue;
        };
        let (Some(list_span), Some(spans)) = (span(expr), items.iter().map(span).collect::<Option<Vec<_>>>()) else {
            continue;
        };
        if spans.len() < 2 {
            continue;
        }
        for (i, dropped) in spans.iter().enumerate() {
            let kept: Vec<String> =
                spans.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, s)| snippet(s)).collect();
            push(
                Operator::DropAction,
                list_span.clone(),
                format!("[{}]", kept.join(", ")),
                format!("drop `{}` from the action list", snippet(dropped)),
            );
        }
    }

    for cond in &policy.conds {
        let (Some(c), Some(cond_span)) = (cond.node.as_ref(), span(cond)) else { continue };
        let keyword = match c.cond.node {
            Some(cst::Ident::Unless) => "unless",
            _ => "when",
        };
        push(Operator::DropCondition, cond_span, String::new(), format!("drop the `{keyword}` clause"));
        let Some(expr) = &c.expr else { continue };
        let Some(expr_span) = span(expr) else { continue };
        let body = snippet(&expr_span);
        push(
            Operator::NegateCondition,
            expr_span.clone(),
            format!("!({body})"),
            format!("negate `{keyword} {{ {} }}`", one_line(&body)),
        );
        let Some(conjuncts) = conjuncts(expr) else { continue };
        for (i, dropped) in conjuncts.iter().enumerate() {
            let kept: Vec<String> =
                conjuncts.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, s)| snippet(s)).collect();
            push(
                Operator::DropConjunct,
                expr_span.clone(),
                kept.join(" && "),
                format!("drop `{}` from `{keyword}`", one_line(&snippet(dropped))),
            );
        }
    }
}

/// The spans of a top-level `A && B && …` (two or more operands), or `None`.
fn conjuncts(expr: &Node<Option<cst::Expr>>) -> Option<Vec<Range<usize>>> {
    let or = or_of(expr)?;
    if !or.extended.is_empty() {
        return None;
    }
    let and = or.initial.node.as_ref()?;
    if and.extended.is_empty() {
        return None;
    }
    std::iter::once(&and.initial).chain(&and.extended).map(span).collect()
}

fn or_of(expr: &Node<Option<cst::Expr>>) -> Option<&cst::Or> {
    #[allow(unreachable_patterns, reason = "`ErrorExpr` exists only with cedar's tolerant-ast feature")]
    let imp = match expr.node.as_ref()? {
        cst::Expr::Expr(imp) => imp,
        _ => return None,
    };
    match imp.expr.as_ref() {
        cst::ExprData::Or(or) => or.node.as_ref(),
        cst::ExprData::If(..) => None,
    }
}

/// The primary an expression is, when it is nothing more (no operator at any level): the list
/// in `action in [A, B]`.
fn primary(expr: &Node<Option<cst::Expr>>) -> Option<&cst::Primary> {
    let or = or_of(expr)?;
    let and = (or.extended.is_empty()).then_some(or.initial.node.as_ref()?)?;
    let rel = (and.extended.is_empty()).then_some(and.initial.node.as_ref()?)?;
    let cst::Relation::Common { initial, extended } = rel else { return None };
    let add = extended.is_empty().then_some(initial.node.as_ref()?)?;
    let mult = add.extended.is_empty().then_some(add.initial.node.as_ref()?)?;
    let unary = mult.extended.is_empty().then_some(mult.initial.node.as_ref()?)?;
    let member = unary.op.is_none().then_some(unary.item.node.as_ref()?)?;
    member.access.is_empty().then_some(member.item.node.as_ref()?)?.into()
}

/// `(line, column)`, 1-based, of the first syntax error in a Cedar file: the gateway's message
/// names the file but not the place, and a user fixing it wants both.
pub(crate) fn syntax_error_at(src: &str) -> Option<(usize, usize)> {
    let errors = parse_policies(src).err()?;
    let offset = match errors.first() {
        cedar_policy_core::parser::err::ParseError::ToCST(e) => e.primary_source_span()?.offset(),
        cedar_policy_core::parser::err::ParseError::ToAST(_) => return None,
    };
    let line_start = src[..offset.min(src.len())].rfind('\n').map_or(0, |i| i + 1);
    Some((line_of(src, offset), src[line_start..offset.min(src.len())].chars().count() + 1))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The quota edits in `limits.yaml`: the `subject` scope's `burst`, one lower (unless that is 0,
/// which the gateway refuses) and one higher; a suite that pins the quota notices either.
///
/// Only that number: `per_second` refills by the wall-clock second and the `tenant` bucket is
/// shared by every identity of a tenant, so neither is reachable by a synthetic suite's few,
/// fast calls without load testing; a survivor there would say nothing about the suite.
/// By hand because the file is YAML, not Cedar: the region from the top-level `subject:` key to
/// the next top-level key, its first `burst: N` (block or flow style).
pub(crate) fn quota(src: &str) -> Vec<Edit> {
    let mut region: Option<Range<usize>> = None;
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        let top_level = !line.starts_with([' ', '\t', '#', '\n', '\r']) && !line.trim().is_empty();
        if top_level {
            if let Some(r) = &mut region
                && r.end == usize::MAX
            {
                r.end = offset;
            }
            if line.starts_with("subject:") {
                region = Some(offset..usize::MAX);
            }
        }
        offset += line.len();
    }
    let Some(mut region) = region else { return Vec::new() };
    region.end = region.end.min(src.len());
    let text = &src[region.clone()];
    let Some(at) = text.find("burst:") else { return Vec::new() };
    let after = at + "burst:".len();
    let digits_start = after + (text[after..].len() - text[after..].trim_start_matches([' ', '\t']).len());
    let digits_len = text[digits_start..].bytes().take_while(u8::is_ascii_digit).count();
    let Ok(n) = text[digits_start..digits_start + digits_len].parse::<u64>() else { return Vec::new() };
    let span = region.start + digits_start..region.start + digits_start + digits_len;
    let mut edits = Vec::new();
    for m in [n.checked_sub(1).filter(|&m| m > 0), n.checked_add(1)].into_iter().flatten() {
        edits.push(Edit {
            operator: Operator::Quota,
            span: span.clone(),
            text: m.to_string(),
            policy: None,
            description: format!("subject burst {n} → {m}"),
        });
    }
    edits
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: &str = r#"// Capabilities by role.

@id("reader-read")
permit (
  principal,
  action in [Action::"files.read", Action::"search.query"],
  resource
) when { principal.roles.contains("reader") };
"#;

    const GUARDS: &str = r#"@id("tenant-isolation")
@reason("tenant_mismatch")
forbid (principal, action, resource)
unless { resource.tenant == principal.tenant && context.tenant == principal.tenant };

@id("no-mail-after-export")
forbid (principal, action == Action::"email.send", resource)
when { context.history.contains("crm.export") };
"#;

    fn mutated(src: &str, operator: Operator) -> Vec<String> {
        cedar(src).unwrap().iter().filter(|e| e.operator == operator).map(|e| e.apply(src)).collect()
    }

    fn parses(src: &str) {
        parse_policies(src).unwrap_or_else(|e| panic!("mutant does not parse: {e}\n{src}"));
    }

    #[test]
    fn delete_statement_removes_annotations_and_body() {
        let out = mutated(ROLES, Operator::DeleteStatement);
        assert_eq!(out, ["// Capabilities by role.\n\n\n"]);
        let out = mutated(GUARDS, Operator::DeleteStatement);
        assert_eq!(out.len(), 2);
        assert!(out[0].starts_with("\n\n@id(\"no-mail-after-export\")"), "{}", out[0]);
        assert!(out[1].contains("tenant-isolation") && !out[1].contains("no-mail"), "{}", out[1]);
    }

    #[test]
    fn drop_condition_leaves_the_scope() {
        let out = mutated(ROLES, Operator::DropCondition);
        assert_eq!(out.len(), 1);
        assert!(out[0].ends_with(") ;\n"), "{}", out[0]);
        assert!(!out[0].contains("when"));
    }

    #[test]
    fn negate_wraps_the_expression() {
        let out = mutated(ROLES, Operator::NegateCondition);
        assert_eq!(out.len(), 1);
        assert!(out[0].contains(r#"when { !(principal.roles.contains("reader")) };"#), "{}", out[0]);
    }

    #[test]
    fn drop_conjunct_keeps_the_others() {
        let out = mutated(GUARDS, Operator::DropConjunct);
        assert_eq!(out.len(), 2);
        assert!(out[0].contains("unless { context.tenant == principal.tenant };"), "{}", out[0]);
        assert!(out[1].contains("unless { resource.tenant == principal.tenant };"), "{}", out[1]);
    }

    #[test]
    fn drop_action_rewrites_the_list() {
        let out = mutated(ROLES, Operator::DropAction);
        assert_eq!(out.len(), 2);
        assert!(out[0].contains(r#"action in [Action::"search.query"],"#), "{}", out[0]);
        assert!(out[1].contains(r#"action in [Action::"files.read"],"#), "{}", out[1]);
        // A single `action == X` has no list to shorten.
        assert!(mutated(GUARDS, Operator::DropAction).is_empty());
    }

    #[test]
    fn widen_action_covers_every_action() {
        let out = mutated(ROLES, Operator::WidenAction);
        assert_eq!(out.len(), 1);
        assert!(out[0].contains("  action,\n  resource"), "{}", out[0]);
        let out = mutated(GUARDS, Operator::WidenAction);
        assert_eq!(out.len(), 1);
        assert!(out[0].contains("forbid (principal, action, resource)\nwhen"), "{}", out[0]);
    }

    #[test]
    fn every_cedar_mutant_parses_and_changes_the_text() {
        for src in [ROLES, GUARDS] {
            for edit in cedar(src).unwrap() {
                let out = edit.apply(src);
                assert_ne!(out, src, "{edit:?}");
                parses(&out);
            }
        }
    }

    #[test]
    fn edits_name_their_statement_and_line() {
        let edits = cedar(GUARDS).unwrap();
        let widen = edits.iter().find(|e| e.operator == Operator::WidenAction).unwrap();
        assert_eq!(widen.policy.as_deref(), Some("no-mail-after-export"));
        assert_eq!(line_of(GUARDS, widen.span.start), 7);
        assert_eq!(widen.description, r#"widen `action == Action::"email.send"` to every action"#);
        let conjunct = edits.iter().find(|e| e.operator == Operator::DropConjunct).unwrap();
        assert_eq!(line_of(GUARDS, conjunct.span.start), 4);
    }

    #[test]
    fn a_syntax_error_is_placed_by_line_and_column() {
        assert_eq!(syntax_error_at("permit (principal, action, resource)\nwhen { ;\n"), Some((2, 8)));
        assert_eq!(syntax_error_at(ROLES), None);
    }

    #[test]
    fn quota_moves_the_subject_burst_both_ways() {
        let src = "# quotas\nsubject:\n  burst: 20\n  per_second: 10\ntenant:\n  burst: 1000\n";
        let out: Vec<String> = quota(src).iter().map(|e| e.apply(src)).collect();
        assert_eq!(out, [src.replace("burst: 20", "burst: 19"), src.replace("burst: 20", "burst: 21")]);
        assert_eq!(line_of(src, quota(src)[0].span.start), 3);
        let flow = "tenant: { burst: 5 }\nsubject: { burst: 1, per_second: 1 }\n";
        let out: Vec<String> = quota(flow).iter().map(|e| e.apply(flow)).collect();
        // 0 is refused by the gateway, so only the higher one.
        assert_eq!(out, [flow.replace("burst: 1,", "burst: 2,")]);
        assert!(quota("tenant:\n  burst: 3\n").is_empty());
    }
}

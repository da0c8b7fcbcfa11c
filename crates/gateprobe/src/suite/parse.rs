//! Suite files → normalised [`Suite`]s, every mistake reported with file:line:column.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::diagnostic::{Diagnostic, render_all};
use super::lint::Rules;
use super::model::{
    Ask, CANARY, EvidenceExpectation, Expectation, Location, Proposes, Scenario, StatedValues, Step, Suite,
    TargetChoice, Then, ToolCall, ToolPattern,
};
use super::raw::{RawCall, RawDefaults, RawEvidence, RawExpect, RawMatrix, RawProposes, RawSuite};
use super::yaml::{self, Positions, join};
use crate::decision::Decision;

/// Some suite files could not be loaded; every problem of every file is in `diagnostics`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render_all(.diagnostics, false))]
pub struct LoadError {
    /// Every problem, of every file.
    pub diagnostics: Vec<Diagnostic>,
}

impl From<Vec<Diagnostic>> for LoadError {
    fn from(diagnostics: Vec<Diagnostic>) -> Self {
        LoadError { diagnostics }
    }
}

impl LoadError {
    /// All diagnostics, with ANSI colours when `color` is true.
    pub fn render(&self, color: bool) -> String {
        render_all(&self.diagnostics, color)
    }
}

/// Loads suites from files and directories (a directory: its `*.yaml`/`*.yml` files, sorted,
/// not recursive). Every file also goes through the sensitivity scan ([`super::lint::Rules`]),
/// so no run starts on a suite that holds what looks like real secrets or personal data.
/// Reports every problem of every file, not only the first; suite names must be unique.
pub fn load_suites(paths: &[PathBuf], rules: &Rules) -> Result<Vec<Suite>, LoadError> {
    let mut diagnostics = Vec::new();
    let files = expand_paths(paths, &mut diagnostics);
    let mut suites = Vec::new();
    let mut names: HashMap<String, PathBuf> = HashMap::new();
    for (file, loaded) in files.iter().zip(read_all(&files, rules)) {
        let (text, findings, parsed) = match loaded {
            Ok(loaded) => loaded,
            Err(d) => {
                diagnostics.push(d);
                continue;
            }
        };
        match parsed {
            Ok((suite, name_at)) => {
                if let Some(first) = names.get(&suite.name) {
                    diagnostics.push(
                        Diagnostic::new(file, &text, name_at, format!("duplicate suite name `{}`", suite.name))
                            .with_help(format!(
                                "`{}` already uses it; suite names are unique across files",
                                first.display()
                            )),
                    );
                } else {
                    names.insert(suite.name.clone(), file.clone());
                    suites.push(suite);
                }
            }
            Err(mut ds) => diagnostics.append(&mut ds),
        }
        diagnostics.extend(findings);
    }
    if diagnostics.is_empty() { Ok(suites) } else { Err(LoadError { diagnostics }) }
}

/// One file read, scanned and parsed: its text, the lint findings and the parse result.
type FileLoad = Result<(String, Vec<Diagnostic>, Result<(Suite, Location), Vec<Diagnostic>>), Diagnostic>;

/// Reads, scans and parses `files` on every core (files are independent; a big golden set is many
/// files), returning the results in the order of `files` so diagnostics stay deterministic.
fn read_all(files: &[PathBuf], rules: &Rules) -> Vec<FileLoad> {
    #[expect(clippy::result_large_err, reason = "one diagnostic per bad file, on the error path only")]
    let load = |file: &PathBuf| -> FileLoad {
        let text = read_bounded(file)?;
        let findings = rules.scan(file, &text);
        let parsed = parse_located(file, &text);
        Ok((text, findings, parsed))
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(files.len());
    if workers <= 1 {
        return files.iter().map(load).collect();
    }
    let chunk = files.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            files.chunks(chunk).map(|part| scope.spawn(move || part.iter().map(load).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("suite loader thread panicked")).collect()
    })
}

/// The suite files named by `paths`: files as given, directories expanded to their
/// `*.yaml`/`*.yml` files in name order. Missing paths become diagnostics.
pub fn expand_paths(paths: &[PathBuf], diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| {
                            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                        })
                        .collect();
                    found.sort();
                    files.extend(found);
                }
                Err(e) => diagnostics.push(Diagnostic::whole_file(path, format!("cannot read directory: {e}"))),
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            // Relative paths are the first thing a new user trips on (the bundled config's
            // `scenarios` is relative to where gateprobe runs): say where it was looked for.
            let message = match std::env::current_dir() {
                Ok(cwd) if path.is_relative() => {
                    format!("no such file or directory (looked for {})", cwd.join(path).display())
                }
                _ => "no such file or directory".to_string(),
            };
            diagnostics.push(Diagnostic::whole_file(path, message).with_help(
                "suites come from the config's `suites:` (relative to the config file; the bundled \
                 config's `scenarios` to the current directory), `--suites PATH` or GATEPROBE_SUITES: \
                 create the directory with a suite file, or point at one",
            ));
        }
    }
    files
}

/// Reads a file, refusing it before reading when it is larger than the YAML limit.
#[expect(clippy::result_large_err, reason = "one diagnostic per bad file, on the error path only")]
pub fn read_bounded(file: &Path) -> Result<String, Diagnostic> {
    match std::fs::metadata(file) {
        Ok(m) if m.len() > yaml::MAX_FILE_BYTES as u64 => {
            return Err(Diagnostic::whole_file(
                file,
                format!("file is {} bytes, more than the {} MiB limit", m.len(), yaml::MAX_FILE_BYTES >> 20),
            )
            .with_help("split it into several files"));
        }
        Ok(_) => {}
        Err(e) => return Err(Diagnostic::whole_file(file, format!("cannot read: {e}"))),
    }
    let bytes = std::fs::read(file).map_err(|e| Diagnostic::whole_file(file, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        Diagnostic::whole_file(file, format!("not UTF-8 (invalid byte at offset {})", e.utf8_error().valid_up_to()))
    })
}

/// Parses and checks one suite file (`text` is its content; `path` is kept in the result).
pub fn parse_suite(path: &Path, text: &str) -> Result<Suite, Vec<Diagnostic>> {
    parse_located(path, text).map(|(suite, _)| suite)
}

/// Like [`parse_suite`], also returning where the suite's name is written.
fn parse_located(path: &Path, text: &str) -> Result<(Suite, Location), Vec<Diagnostic>> {
    let (raw, pos) = yaml::parse::<RawSuite>(path, text, "suite").map_err(|d| vec![d])?;
    let mut checker = Checker { path, text, pos: &pos, diagnostics: Vec::new() };
    let suite = checker.suite(raw);
    if checker.diagnostics.is_empty() { Ok((suite, pos.value_at("/suite"))) } else { Err(checker.diagnostics) }
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    pos: &'a Positions<'a>,
    diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, at: Location, message: impl Into<String>, help: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(self.path, self.text, at, message).with_help(help));
    }

    fn suite(&mut self, raw: RawSuite) -> Suite {
        if raw.suite.trim().is_empty() {
            self.error(self.pos.value_at("/suite"), "the suite name is empty", "name it, e.g. `suite: documents`");
        }
        if raw.scenarios.is_empty() && raw.matrix.is_none() {
            self.error(
                self.pos.at("/scenarios"),
                "the suite has no scenarios",
                "add at least one under `scenarios:`, or a `matrix:`",
            );
        }
        let defaults = raw.defaults;
        // Whether the names exist is the config's business (`config::check_targets`), as for identities.
        let suite_target =
            raw.target.map(|name| TargetChoice { name, at: self.pos.value_at("/target"), suite_wide: true });
        if let Some(choice) = &suite_target {
            self.target_name(choice);
        }
        self.placeholders("/defaults/prompt", defaults.prompt.as_ref().map(|p| Value::String(p.clone())).as_ref());
        self.placeholders("/defaults/context", defaults.context.clone().map(Value::Object).as_ref());

        let mut seen: HashMap<String, Location> = HashMap::new();
        let mut scenarios = Vec::with_capacity(raw.scenarios.len());
        for (i, s) in raw.scenarios.into_iter().enumerate() {
            let p = join("/scenarios", &i.to_string());
            let location = self.pos.value_at(&p);
            let name_at = self.pos.value_at(&join(&p, "name"));
            if s.name.trim().is_empty() {
                self.error(name_at, "the scenario name is empty", "say what it checks, e.g. `reader cannot delete`");
            } else if let Some(first) = seen.get(&s.name) {
                self.error(
                    name_at,
                    format!("duplicate scenario name `{}`", s.name),
                    format!("the first is at line {}; scenario names are unique within a suite", first.line),
                );
            } else {
                seen.insert(s.name.clone(), name_at);
            }

            let identity = match s.identity.clone().or_else(|| defaults.identity.clone()) {
                Some(identity) => identity,
                None => {
                    self.error(
                        location,
                        format!("scenario `{}` has no identity", s.name),
                        "add `identity: <name>` to it, or `defaults: { identity: <name> }` to the suite",
                    );
                    String::new()
                }
            };
            let target = match s.target {
                Some(name) => {
                    let choice = TargetChoice { name, at: self.pos.value_at(&join(&p, "target")), suite_wide: false };
                    self.target_name(&choice);
                    Some(choice)
                }
                None => suite_target.clone(),
            };
            self.placeholders(&join(&p, "prompt"), s.prompt.as_ref().map(|x| Value::String(x.clone())).as_ref());
            self.placeholders(&join(&p, "context"), s.context.clone().map(Value::Object).as_ref());

            // (path of the step, call, expect, repeat)
            let mut raw_steps: Vec<(String, RawCall, RawExpect, Option<u32>)> = Vec::new();
            let prompt = s.prompt.or_else(|| defaults.prompt.clone());
            let mut asks = None;
            let proposes = s.expect.as_ref().is_some_and(|e| e.proposes.is_some());
            match (s.call, s.steps) {
                (None, None) if proposes => {
                    asks = s.expect.map(|expect| self.ask(&p, &s.name, prompt.is_some(), s.repeat.is_some(), expect));
                }
                (Some(_), _) | (_, Some(_)) if proposes => self.error(
                    self.pos.at(&join(&join(&p, "expect"), "proposes")),
                    format!("scenario `{}` fixes its call and also expects a proposal", s.name),
                    "keep `call`/`steps` to send a fixed call, or `prompt` + `expect.proposes` to ask the assistant",
                ),
                (Some(_), Some(_)) => self.error(
                    self.pos.at(&join(&p, "steps")),
                    format!("scenario `{}` has both `call` and `steps`", s.name),
                    "keep `call` + `expect` for one call, or move it into `steps`",
                ),
                (None, None) => self.error(
                    location,
                    format!("scenario `{}` has neither `call` nor `steps`", s.name),
                    "add `call: { tool: <tool>, arguments: {...} }` and `expect: { decision: ... }`, \
                     or `prompt:` and `expect: { proposes: { tool: <tool> }, decision: ... }`",
                ),
                (Some(call), None) => match s.expect {
                    Some(expect) => raw_steps.push((p.clone(), call, expect, s.repeat)),
                    None => self.error(
                        self.pos.at(&join(&p, "call")),
                        format!("scenario `{}` has a `call` but no `expect`", s.name),
                        "add `expect: { decision: allow|deny|confirm|rate_limited }`",
                    ),
                },
                (None, Some(steps)) => {
                    for (key, present) in [("expect", s.expect.is_some()), ("repeat", s.repeat.is_some())] {
                        if present {
                            self.error(
                                self.pos.at(&join(&p, key)),
                                format!("`{key}` next to `steps`"),
                                format!("with `steps`, each step has its own `{key}`"),
                            );
                        }
                    }
                    if steps.is_empty() {
                        self.error(self.pos.at(&join(&p, "steps")), "`steps` is empty", "list at least one step");
                    }
                    for (j, step) in steps.into_iter().enumerate() {
                        let sp = join(&join(&p, "steps"), &j.to_string());
                        if step.expect.proposes.is_some() {
                            self.error(
                                self.pos.at(&join(&join(&sp, "expect"), "proposes")),
                                "`proposes` in a step",
                                "a golden-prompt scenario has `prompt` and `expect.proposes` and no `steps`",
                            );
                        }
                        raw_steps.push((sp, step.call, step.expect, step.repeat));
                    }
                }
            }

            let mut used = BTreeSet::new();
            for (sp, call, _, _) in &raw_steps {
                let args = Value::Object(call.arguments.clone());
                used.extend(self.placeholders(&join(&join(sp, "call"), "arguments"), Some(&args)));
            }
            // Pushed, not collected: collecting would reuse the larger raw tuples' allocation
            // for the steps, and a 100,000-scenario golden set keeps every one of them.
            let mut steps = Vec::with_capacity(raw_steps.len());
            for (sp, call, expect, repeat) in raw_steps {
                steps.push(self.step(&sp, &p, call, expect, repeat, &used));
            }

            let context = match (&defaults.context, s.context) {
                (None, c) => c,
                (Some(d), None) => Some(d.clone()),
                (Some(d), Some(c)) => {
                    let mut merged: Map<String, Value> = d.clone();
                    merged.extend(c);
                    Some(merged)
                }
            };
            scenarios.push(Scenario { name: s.name, location, identity, target, prompt, context, steps, asks });
        }
        if let Some(matrix) = raw.matrix {
            self.matrix(matrix, &defaults, suite_target.as_ref(), &mut seen, &mut scenarios);
        }
        Suite { name: raw.suite, description: raw.description, path: self.path.to_path_buf(), scenarios }
    }

    /// Expands `matrix:` into one scenario per cell, named `<identity> × <tool>`, located at
    /// its cell, so that every later diagnostic and annotation points at the cell.
    fn matrix(
        &mut self,
        m: RawMatrix,
        defaults: &RawDefaults,
        target: Option<&TargetChoice>,
        seen: &mut HashMap<String, Location>,
        scenarios: &mut Vec<Scenario>,
    ) {
        let mut calls: Vec<(String, Option<RawCall>)> = Vec::with_capacity(m.calls.len());
        for (key, value) in m.calls {
            let cp = join("/matrix/calls", &key);
            match serde_json::from_value::<RawCall>(value) {
                Ok(call) => {
                    let args = Value::Object(call.arguments.clone());
                    self.placeholders(&join(&cp, "arguments"), Some(&args));
                    calls.push((key, Some(call)));
                }
                Err(e) => {
                    self.error(
                        self.pos.at(&cp),
                        format!("matrix call `{key}`: {e}"),
                        "write it as `{ tool: <tool>, arguments: { ... } }`",
                    );
                    calls.push((key, None));
                }
            }
        }
        if calls.is_empty() {
            self.error(
                self.pos.at("/matrix/calls"),
                "the matrix has no calls",
                "list the columns under `matrix.calls`",
            );
        }
        if m.expect.is_empty() {
            self.error(
                self.pos.at("/matrix/expect"),
                "the matrix has no rows",
                "add `<identity>: [A, D, ...]` under `matrix.expect`, one letter per call",
            );
        }
        let order = calls.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ");
        // A column is named by its tool, unless two columns share the tool.
        let column_name = |key: &str, call: &RawCall| {
            let shared = calls.iter().filter(|(_, c)| c.as_ref().is_some_and(|c| c.tool == call.tool)).count() > 1;
            if shared { key.to_owned() } else { call.tool.clone() }
        };
        let names: Vec<Option<String>> = calls.iter().map(|(k, c)| c.as_ref().map(|c| column_name(k, c))).collect();
        for (identity, row) in m.expect {
            let rp = join("/matrix/expect", &identity);
            let Value::Array(cells) = row else {
                self.error(
                    self.pos.value_at(&rp),
                    format!("matrix row `{identity}` is not a list"),
                    format!(
                        "write one letter per call, in the order {order}: e.g. `[{}]`",
                        vec!["A"; calls.len()].join(", ")
                    ),
                );
                continue;
            };
            if cells.len() != calls.len() {
                self.error(
                    self.pos.value_at(&rp),
                    format!("matrix row `{identity}` has {} cells but there are {} calls", cells.len(), calls.len()),
                    format!("one letter per call, in the order {order}"),
                );
                continue;
            }
            for (j, cell) in cells.iter().enumerate() {
                let at = self.pos.value_at(&join(&rp, &j.to_string()));
                let decision = match cell.as_str() {
                    Some("A") => Decision::Allow,
                    Some("D") => Decision::Deny,
                    Some("C") => Decision::Confirm,
                    Some("R") => Decision::RateLimited,
                    Some("." | "-") => continue,
                    _ => {
                        self.error(
                            at,
                            format!(
                                "unknown matrix cell `{}` (row `{identity}`, call `{}`)",
                                cell_text(cell),
                                calls[j].0
                            ),
                            "write `A` (allow), `D` (deny), `C` (confirm), `R` (rate_limited) or `.` (no scenario)",
                        );
                        continue;
                    }
                };
                let (Some(call), Some(column)) = (&calls[j].1, &names[j]) else { continue };
                let name = format!("{identity} × {column}");
                if let Some(first) = seen.get(&name) {
                    self.error(
                        at,
                        format!("duplicate scenario name `{name}`"),
                        format!("the first is at line {}; scenario names are unique within a suite", first.line),
                    );
                    continue;
                }
                seen.insert(name.clone(), at);
                scenarios.push(Scenario {
                    name,
                    location: at,
                    identity: identity.clone(),
                    target: target.cloned(),
                    prompt: defaults.prompt.clone(),
                    context: defaults.context.clone(),
                    steps: vec![Step {
                        call: ToolCall { tool: call.tool.clone(), arguments: call.arguments.clone() },
                        expect: Expectation {
                            decision,
                            reason: None,
                            evidence: EvidenceExpectation::default(),
                            redacted: Vec::new(),
                            then: None,
                            after_confirmation: None,
                        },
                        repeat: 1,
                        location: at,
                        follow_up: false,
                    }],
                    asks: None,
                });
            }
        }
    }

    /// A target name must at least be one: the config's names are checked against it later.
    fn target_name(&mut self, choice: &TargetChoice) {
        if choice.name.trim().is_empty() {
            self.error(
                choice.at,
                "the target name is empty",
                "name one of the config's `targets:`, e.g. `target: global`",
            );
        }
    }

    /// A golden-prompt scenario's expectation: the proposal and what the gateway must decide on it.
    fn ask(&mut self, p: &str, name: &str, has_prompt: bool, has_repeat: bool, expect: RawExpect) -> Ask {
        let ep = join(p, "expect");
        let at = |key: &str| join(&ep, key);
        if !has_prompt {
            self.error(
                self.pos.value_at(p),
                format!("scenario `{name}` expects a proposal but has no `prompt`"),
                "add `prompt: <what the user asks the assistant>`",
            );
        }
        if has_repeat {
            self.error(
                self.pos.at(&join(p, "repeat")),
                "`repeat` with `expect.proposes`",
                "ask the assistant once per scenario",
            );
        }
        if expect.after_confirmation.is_some() {
            self.error(
                self.pos.at(&at("after_confirmation")),
                "`after_confirmation` with `expect.proposes`",
                "a proposed call's confirmation is the assistant's to handle; expect `decision: confirm`",
            );
        }
        let raw = expect.proposes.clone().unwrap_or(RawProposes { tool: None, arguments: Map::new(), any_of: None });
        let proposes = match (raw.tool, raw.any_of) {
            (Some(tool), None) => Proposes::Call(ToolPattern { tool, arguments: raw.arguments }),
            (None, Some(calls)) if !calls.is_empty() && raw.arguments.is_empty() => Proposes::AnyOf(
                calls.into_iter().map(|c| ToolPattern { tool: c.tool, arguments: c.arguments }).collect(),
            ),
            _ => {
                self.error(
                    self.pos.at(&at("proposes")),
                    "`proposes` needs exactly one of `tool` (with optional `arguments`) or a non-empty `any_of`",
                    "e.g. `proposes: { tool: files.delete }` or `proposes: { any_of: [{ tool: a }, { tool: b }] }`",
                );
                Proposes::AnyOf(Vec::new())
            }
        };
        let step =
            self.step(p, p, RawCall { tool: String::new(), arguments: Map::new() }, expect, None, &BTreeSet::new());
        Ask { proposes, expect: step.expect }
    }

    fn step(
        &mut self,
        sp: &str,
        scenario_path: &str,
        call: RawCall,
        expect: RawExpect,
        repeat: Option<u32>,
        used: &BTreeSet<String>,
    ) -> Step {
        // A one-call scenario's step is where its `call` is; a listed step is its item.
        let location = if sp == scenario_path { self.pos.at(&join(sp, "call")) } else { self.pos.value_at(sp) };
        let repeat_n = repeat.unwrap_or(1);
        if repeat == Some(0) {
            self.error(self.pos.value_at(&join(sp, "repeat")), "`repeat` is 0", "send the call at least once");
        }
        let ep = join(sp, "expect");
        if let Some(then) = expect.then {
            if then.after == 0 || repeat_n <= then.after {
                let (message, help) = match repeat {
                    None => (
                        "`then` without `repeat`".to_owned(),
                        format!("add `repeat:` greater than {} next to this `expect`", then.after),
                    ),
                    Some(r) => (
                        format!("`then.after` is {} but `repeat` is {r}", then.after),
                        "`then` needs 0 < after < repeat".to_owned(),
                    ),
                };
                self.error(self.pos.at(&join(&ep, "then")), message, help);
            }
        }
        if expect.after_confirmation.is_some() && expect.decision != Decision::Confirm {
            self.error(
                self.pos.at(&join(&ep, "after_confirmation")),
                format!("`after_confirmation` with `decision: {}`", expect.decision),
                "`after_confirmation` only follows `decision: confirm`",
            );
        }
        for (k, name) in expect.redacted.iter().enumerate() {
            let at = self.pos.value_at(&join(&join(&ep, "redacted"), &k.to_string()));
            if name != CANARY {
                self.error(
                    at,
                    format!("`redacted` names `{name}`, which is not a placeholder"),
                    "`canary` is the only placeholder",
                );
            } else if !used.contains(name) {
                self.error(
                    at,
                    format!("`redacted` names `{name}`, which no argument of this scenario uses"),
                    format!("put `{{{{{name}}}}}` in an argument, or remove it from `redacted`"),
                );
            }
        }
        let evidence = match expect.evidence {
            RawEvidence::Fields(fields) => EvidenceExpectation { fields, states: StatedValues::default() },
            RawEvidence::Values(v) => {
                if v.decision.is_some_and(|d| d != expect.decision) {
                    self.error(
                        self.pos.value_at(&join(&join(&ep, "evidence"), "decision")),
                        format!(
                            "`evidence.decision` is {} but `decision` is {}",
                            v.decision.unwrap_or(expect.decision),
                            expect.decision
                        ),
                        "the record must state the decision the call gets: make them the same",
                    );
                }
                EvidenceExpectation {
                    fields: v.fields,
                    states: StatedValues {
                        decision: v.decision,
                        reason: v.reason,
                        tool: v.tool,
                        subject: v.subject,
                        tenant: v.tenant,
                    },
                }
            }
        };
        Step {
            call: ToolCall { tool: call.tool, arguments: call.arguments },
            expect: Expectation {
                decision: expect.decision,
                reason: expect.reason,
                evidence,
                redacted: expect.redacted,
                then: expect.then.map(|t| Then { after: t.after, decision: t.decision }),
                after_confirmation: expect.after_confirmation,
            },
            repeat: repeat_n,
            location,
            follow_up: false,
        }
    }

    /// Checks every `{{...}}` in the strings (and keys) under `path`; returns the valid
    /// placeholder names found.
    fn placeholders(&mut self, path: &str, value: Option<&Value>) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        if let Some(value) = value {
            self.walk(path, value, &mut found);
        }
        found
    }

    fn walk(&mut self, path: &str, value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::String(s) => self.scan(path, s, found),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.walk(&join(path, &i.to_string()), v, found);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let child = join(path, k);
                    self.scan(&child, k, found);
                    self.walk(&child, v, found);
                }
            }
            _ => {}
        }
    }

    fn scan(&mut self, path: &str, s: &str, found: &mut BTreeSet<String>) {
        let mut rest = s;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            let inner = &after[..end];
            if inner == CANARY {
                found.insert(CANARY.to_owned());
            } else {
                let help = if inner.trim() == CANARY {
                    "write it without spaces: `{{canary}}`"
                } else {
                    "`{{canary}}` is the only placeholder"
                };
                self.error(self.pos.value_at(path), format!("unknown placeholder `{{{{{inner}}}}}`"), help);
            }
            rest = &after[end + 2..];
        }
    }
}

fn cell_text(cell: &Value) -> String {
    match cell {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Suite, Vec<Diagnostic>> {
        parse_suite(Path::new("t.yaml"), text)
    }

    fn errors(text: &str) -> Vec<(usize, usize, String)> {
        parse(text).unwrap_err().into_iter().map(|d| (d.line, d.column, d.message)).collect()
    }

    #[test]
    fn call_scenario_is_one_step_and_defaults_apply() {
        let s = parse(
            "suite: s\ndefaults: { identity: alice, prompt: p, context: { a: 1, b: 2 } }\nscenarios:\n  - name: n\n    context: { b: 3 }\n    call: { tool: t }\n    expect: { decision: allow }\n",
        )
        .unwrap();
        let sc = &s.scenarios[0];
        assert_eq!(sc.identity, "alice");
        assert_eq!(sc.prompt.as_deref(), Some("p"));
        assert_eq!(Value::Object(sc.context.clone().unwrap()), serde_json::json!({"a": 1, "b": 3}));
        assert_eq!(sc.location, Location { line: 4, column: 5 });
        assert_eq!(sc.steps.len(), 1);
        assert_eq!(sc.steps[0].repeat, 1);
        assert_eq!(sc.steps[0].location, Location { line: 6, column: 5 });
    }

    #[test]
    fn exactly_one_of_call_or_steps() {
        let both =
            "suite: s\ndefaults: { identity: a }\nscenarios:\n  - name: n\n    call: { tool: t }\n    steps: []\n";
        assert_eq!(errors(both)[0].2, "scenario `n` has both `call` and `steps`");
        let neither = "suite: s\ndefaults: { identity: a }\nscenarios:\n  - name: n\n";
        assert_eq!(errors(neither), vec![(4, 5, "scenario `n` has neither `call` nor `steps`".to_owned())]);
    }

    #[test]
    fn then_needs_repeat_above_after() {
        let base = |repeat: &str| {
            format!(
                "suite: s\ndefaults: {{ identity: a }}\nscenarios:\n  - name: n\n{repeat}    call: {{ tool: t }}\n    expect: {{ decision: allow, then: {{ after: 20, decision: rate_limited }} }}\n"
            )
        };
        assert!(parse(&base("    repeat: 30\n")).is_ok());
        assert_eq!(errors(&base("    repeat: 20\n"))[0].2, "`then.after` is 20 but `repeat` is 20");
        assert_eq!(errors(&base("")), vec![(6, 32, "`then` without `repeat`".to_owned())]);
    }

    #[test]
    fn after_confirmation_only_with_confirm() {
        let t = |d: &str| {
            format!(
                "suite: s\ndefaults: {{ identity: a }}\nscenarios:\n  - name: n\n    call: {{ tool: t }}\n    expect: {{ decision: {d}, after_confirmation: allow }}\n"
            )
        };
        assert!(parse(&t("confirm")).is_ok());
        assert_eq!(errors(&t("deny"))[0].2, "`after_confirmation` with `decision: deny`");
    }

    #[test]
    fn placeholders_and_redacted() {
        let ok = "suite: s\ndefaults: { identity: a }\nscenarios:\n  - name: n\n    call: { tool: t, arguments: { k: \"x-{{canary}}\" } }\n    expect: { decision: allow, redacted: [canary] }\n";
        assert_eq!(parse(ok).unwrap().scenarios[0].steps[0].expect.redacted, vec!["canary"]);
        let unknown = "suite: s\ndefaults: { identity: a }\nscenarios:\n  - name: n\n    call: { tool: t, arguments: { k: \"{{token}}\" } }\n    expect: { decision: allow }\n";
        assert_eq!(errors(unknown), vec![(5, 38, "unknown placeholder `{{token}}`".to_owned())]);
        let unused = "suite: s\ndefaults: { identity: a }\nscenarios:\n  - name: n\n    call: { tool: t }\n    expect: { decision: allow, redacted: [canary] }\n";
        assert_eq!(errors(unused)[0].0, 6);
    }

    #[test]
    fn missing_identity_and_duplicate_names_point_at_their_lines() {
        let t = "suite: s\nscenarios:\n  - name: n\n    call: { tool: t }\n    expect: { decision: allow }\n  - name: n\n    identity: a\n    call: { tool: t }\n    expect: { decision: allow }\n";
        assert_eq!(
            errors(t),
            vec![(3, 5, "scenario `n` has no identity".to_owned()), (6, 11, "duplicate scenario name `n`".to_owned())]
        );
    }

    #[test]
    fn steps_have_their_own_locations() {
        let t = "suite: s\ndefaults: { identity: a }\nscenarios:\n  - name: n\n    steps:\n      - { call: { tool: a }, expect: { decision: allow } }\n      - call: { tool: b }\n        repeat: 3\n        expect: { decision: deny }\n";
        let s = parse(t).unwrap();
        let steps = &s.scenarios[0].steps;
        assert_eq!(steps[0].location, Location { line: 6, column: 9 });
        assert_eq!(steps[1].location, Location { line: 7, column: 9 });
        assert_eq!(steps[1].repeat, 3);
        assert_eq!(steps[1].call.tool, "b");
    }

    #[test]
    fn golden_prompts_expect_a_proposal_instead_of_a_call() {
        let t = "suite: s\ndefaults: { identity: a }\nscenarios:\n  - name: n\n    prompt: Delete the file /docs/handbook.md\n    expect: { proposes: { tool: files.delete }, decision: deny, reason: missing_capability }\n  - name: m\n    prompt: Show me a file\n    expect: { proposes: { any_of: [{ tool: files.read }, { tool: search.query }] }, decision: allow }\n";
        let s = parse(t).unwrap();
        let (n, m) = (&s.scenarios[0], &s.scenarios[1]);
        assert!(n.steps.is_empty());
        let ask = n.asks.as_ref().unwrap();
        assert_eq!((ask.proposes.tools(), ask.expect.decision), (vec!["files.delete"], Decision::Deny));
        assert_eq!(ask.expect.reason.as_deref(), Some("missing_capability"));
        assert_eq!(m.asks.as_ref().unwrap().proposes.tools(), vec!["files.read", "search.query"]);
    }

    #[test]
    fn a_proposal_needs_a_prompt_one_tool_pattern_and_no_fixed_call() {
        let head = "suite: s\ndefaults: { identity: a }\nscenarios:\n  - name: n\n";
        for (body, want) in [
            ("    expect: { proposes: { tool: x }, decision: deny }\n", "has no `prompt`"),
            (
                "    prompt: p\n    call: { tool: x }\n    expect: { proposes: { tool: x }, decision: deny }\n",
                "fixes its call and also expects a proposal",
            ),
            ("    prompt: p\n    expect: { proposes: {}, decision: deny }\n", "exactly one of"),
            ("    prompt: p\n    repeat: 2\n    expect: { proposes: { tool: x }, decision: deny }\n", "`repeat` with"),
            ("    prompt: p\n    expect: { proposes: tool_x, decision: deny }\n", "proposes"),
        ] {
            let errs = errors(&format!("{head}{body}"));
            assert!(errs.iter().any(|(_, _, m)| m.contains(want)), "{body}: {errs:?}");
        }
    }

    const MATRIX: &str = "suite: m\nmatrix:\n  calls:\n    read:   { tool: files.read, arguments: { path: /docs/handbook.md } }\n    delete: { tool: files.delete, arguments: { path: /docs/handbook.md } }\n  expect:\n    alice-reader: [A, D]\n    bob-admin:    [A, C]\n";

    #[test]
    fn matrix_expands_into_named_scenarios_at_their_cells() {
        let s = parse(MATRIX).unwrap();
        let got: Vec<(String, usize, usize, Decision)> = s
            .scenarios
            .iter()
            .map(|sc| (sc.name.clone(), sc.location.line, sc.location.column, sc.steps[0].expect.decision))
            .collect();
        assert_eq!(
            got,
            vec![
                ("alice-reader × files.read".to_owned(), 7, 20, Decision::Allow),
                ("alice-reader × files.delete".to_owned(), 7, 23, Decision::Deny),
                ("bob-admin × files.read".to_owned(), 8, 20, Decision::Allow),
                ("bob-admin × files.delete".to_owned(), 8, 23, Decision::Confirm),
            ]
        );
        assert_eq!(s.scenarios[3].identity, "bob-admin");
        assert_eq!(s.scenarios[3].steps[0].call.arguments["path"], "/docs/handbook.md");
    }

    #[test]
    fn matrix_cells_rows_and_calls_are_checked_at_their_positions() {
        let bad = MATRIX.replace("[A, C]", "[A, X]").replace("[A, D]", "[A]");
        assert_eq!(
            errors(&bad),
            vec![
                (7, 19, "matrix row `alice-reader` has 1 cells but there are 2 calls".to_owned()),
                (8, 23, "unknown matrix cell `X` (row `bob-admin`, call `delete`)".to_owned()),
            ]
        );
        let bad_call = MATRIX.replace("{ tool: files.read, arguments", "{ tol: files.read, arguments");
        assert_eq!(errors(&bad_call)[0].0, 4);
        let skipped = parse(&MATRIX.replace("[A, C]", "[., C]")).unwrap();
        assert_eq!(skipped.scenarios.len(), 3);
        // Two columns with one tool are named by their call names.
        let same_tool = MATRIX.replace("files.delete", "files.read");
        let names: Vec<String> = parse(&same_tool).unwrap().scenarios.into_iter().map(|s| s.name).collect();
        assert_eq!(names[..2], ["alice-reader × read".to_owned(), "alice-reader × delete".to_owned()]);
    }

    #[test]
    fn load_reports_every_bad_file_and_duplicate_suite_names() {
        let dir = tempfile::tempdir().unwrap();
        let good = "suite: s\ndefaults: { identity: a }\nscenarios:\n  - name: n\n    call: { tool: t }\n    expect: { decision: allow }\n";
        std::fs::write(dir.path().join("a.yaml"), good).unwrap();
        std::fs::write(dir.path().join("b.yml"), good).unwrap();
        std::fs::write(dir.path().join("c.yaml"), "suite: [").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let err = load_suites(&[dir.path().to_path_buf(), dir.path().join("missing.yaml")], &Rules::new()).unwrap_err();
        let files: Vec<String> =
            err.diagnostics.iter().map(|d| d.file.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(files, vec!["missing.yaml", "b.yml", "c.yaml"]);
        assert!(err.diagnostics[1].message.contains("duplicate suite name `s`"));
        assert!(err.to_string().ends_with("error: 3 errors in 3 files\n"));
        std::fs::remove_file(dir.path().join("b.yml")).unwrap();
        std::fs::remove_file(dir.path().join("c.yaml")).unwrap();
        assert_eq!(load_suites(&[dir.path().to_path_buf()], &Rules::new()).unwrap().len(), 1);
    }
}

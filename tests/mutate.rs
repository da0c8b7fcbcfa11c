//! `gateprobe mutate` end to end: the bundled policies mutated, each mutant its own embedded
//! gateway on loopback, the suites run against each through the real binary.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::gateprobe;

/// The bundled suites as they were before issue 21 added the scenarios that kill the four
/// survivors it measured by hand.
const OLD_SUITES: &str = "tests/fixtures/mutate/old-suites";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Runs `gateprobe mutate ARGS --report json=…`; the exit code, stdout, stderr and the report.
fn mutate(dir: &Path, args: &[&str]) -> (Option<i32>, String, String, Value) {
    let report = dir.join("mutate.json");
    let out = gateprobe()
        .arg("mutate")
        .args(args)
        .arg("--report")
        .arg(format!("json={}", report.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = std::fs::read_to_string(&report).map(|t| serde_json::from_str(&t).unwrap()).unwrap_or(Value::Null);
    (out.status.code(), stdout, stderr, json)
}

/// Real output against the checked-in schema (`schemas/mutate.schema.json`).
fn assert_valid(report: &Value) {
    let schema: Value = serde_json::from_str(&std::fs::read_to_string("schemas/mutate.schema.json").unwrap()).unwrap();
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator.iter_errors(report).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

fn survivors(report: &Value) -> BTreeSet<(String, u64, String, String)> {
    report["mutants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"] == "survived")
        .map(|m| {
            (
                m["file"].as_str().unwrap().to_owned(),
                m["line"].as_u64().unwrap(),
                m["operator"].as_str().unwrap().to_owned(),
                m["policy"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

// Pins issue 21's measurement: before the suites were fixed, exactly the four hand mutants
// survive, each named with its file:line and operator, and its diff shows the change.
#[test]
fn the_old_suites_leave_exactly_the_four_hand_mutants_alive() {
    let tmp = tempfile::tempdir().unwrap();
    let policies = tmp.path().join("policies");
    copy_dir(Path::new("policies"), &policies);
    let policies = policies.to_str().unwrap();
    let (code, stdout, stderr, report) = mutate(tmp.path(), &["--policies", policies, "--suites", OLD_SUITES]);
    assert_eq!(code, Some(0), "no --min-score: survivors are reported, not an exit 1\n{stdout}\n{stderr}");
    let expected: BTreeSet<(String, u64, String, String)> = [
        ("roles.cedar", 8, "drop_condition", "reader-read"),
        ("roles.cedar", 13, "drop_action", "support-desk"),
        ("guards.cedar", 11, "widen_action", "no-mail-after-export"),
        ("guards.cedar", 6, "drop_conjunct", "tenant-isolation"),
    ]
    .into_iter()
    .map(|(f, l, o, p)| (f.to_owned(), l, o.to_owned(), p.to_owned()))
    .collect();
    assert_valid(&report);
    assert_eq!(survivors(&report), expected, "{stdout}");
    assert_eq!(report["counts"]["mutants"], 28);
    assert_eq!(report["counts"]["survived"], 4);
    assert_eq!(report["score"], 85.7);

    // The console names each with its place and shows its diff.
    for line in [
        "roles.cedar:8 drop_condition (reader-read): drop the `when` clause",
        "roles.cedar:13 drop_action (support-desk): drop `Action::\"search.query\"` from the action list",
        "guards.cedar:11 widen_action (no-mail-after-export): widen `action == Action::\"email.send\"` to every action",
        "guards.cedar:6 drop_conjunct (tenant-isolation): drop `context.tenant == principal.tenant` from `unless`",
        "    -unless { resource.tenant == principal.tenant && context.tenant == principal.tenant };",
        "    +unless { resource.tenant == principal.tenant };",
        "    +forbid (principal, action, resource)",
        "mutation score 85.7% — 24 of 28 mutants killed (0 by error), 4 survived, 0 invalid",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
}

// Pins the fixed suites: every mutant of the bundled policies is killed, so `--min-score 100`
// passes; the Markdown report says so.
#[test]
fn the_bundled_suites_kill_every_mutant() {
    let tmp = tempfile::tempdir().unwrap();
    let markdown = tmp.path().join("mutate.md");
    let md_arg = format!("markdown={}", markdown.display());
    let (code, stdout, stderr, report) = mutate(tmp.path(), &["--min-score", "100", "--report", &md_arg]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_valid(&report);
    assert_eq!(report["score"], 100.0, "{stdout}");
    assert_eq!(report["counts"]["killed"], 28);
    assert_eq!(report["counts"]["killed_by_error"], 0);
    assert_eq!(report["counts"]["invalid"], 0);
    assert!(stdout.contains("mutation score 100.0% — 28 of 28 mutants killed"), "{stdout}");
    for op in ["delete_statement", "drop_condition", "negate_condition", "drop_conjunct", "drop_action", "widen_action"]
    {
        assert!(stdout.contains(op), "operator list lacks {op}:\n{stdout}");
    }
    let md = std::fs::read_to_string(markdown).unwrap();
    assert!(md.starts_with("## ✅ gateprobe mutate: score 100.0% (28 of 28 mutants killed)"), "{md}");
}

// Pins `--min-score`: one scenario fewer (the one that pins support's search) lets its mutant
// survive, and the score below 100 exits 1 naming the survivor.
#[test]
fn a_suite_missing_a_scenario_falls_below_min_score() {
    let tmp = tempfile::tempdir().unwrap();
    let suites = tmp.path().join("suites");
    copy_dir(Path::new("scenarios"), &suites);
    let search = suites.join("search.yaml");
    let text = std::fs::read_to_string(&search).unwrap();
    let trimmed = text.replace(
        "  - name: support can search\n    identity: carol-support\n    call: { tool: search.query, arguments: { q: printer } }\n    expect: { decision: allow }\n\n",
        "",
    );
    assert_ne!(trimmed, text, "the scenario to remove is in scenarios/search.yaml");
    std::fs::write(&search, trimmed).unwrap();
    let (code, stdout, stderr, report) =
        mutate(tmp.path(), &["--suites", suites.to_str().unwrap(), "--min-score", "100"]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("is below --min-score 100"), "{stderr}");
    let expected =
        BTreeSet::from([("roles.cedar".to_owned(), 13, "drop_action".to_owned(), "support-desk".to_owned())]);
    assert_eq!(survivors(&report), expected, "{stdout}");
}

// Pins bad input: exit 2 with a message that says which file and what to do, before any run.
#[test]
fn bad_input_exits_2_naming_what_to_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-dir");
    let (code, _, stderr, _) = mutate(tmp.path(), &["--policies", missing.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no-such-dir") && stderr.contains("fix the policies first"), "{stderr}");

    let broken = tmp.path().join("broken");
    copy_dir(Path::new("policies"), &broken);
    std::fs::write(broken.join("roles.cedar"), "permit (principal, action, resource) when { ;\n").unwrap();
    let (code, _, stderr, _) = mutate(tmp.path(), &["--policies", broken.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("roles.cedar:1:45: parse error"), "{stderr}");

    let (code, _, stderr, _) = mutate(tmp.path(), &["--report", "junit=x.xml"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("json= and markdown= reports only"), "{stderr}");

    let out = gateprobe().args(["mutate", "--min-score", "101"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a percentage from 0 to 100"));
    // Parallelism is bounded both ways.
    for jobs in ["0", "65"] {
        let out = gateprobe().args(["mutate", "--jobs", jobs]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "--jobs {jobs}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("1..=64"), "--jobs {jobs}");
    }
}

// Pins the baseline: suites that fail against the unmutated policies prove nothing about the
// mutants, so nothing is mutated and the run exits 1 showing the failure.
#[test]
fn a_failing_baseline_exits_1_before_any_mutant() {
    let tmp = tempfile::tempdir().unwrap();
    let suite: PathBuf = tmp.path().join("wrong.yaml");
    std::fs::write(
        &suite,
        "suite: wrong\nscenarios:\n  - name: reader may delete\n    identity: alice-reader\n    call: { tool: files.delete, arguments: { path: /docs/old.md } }\n    expect: { decision: allow }\n",
    )
    .unwrap();
    let (code, stdout, stderr, report) = mutate(tmp.path(), &["--suites", suite.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("reader may delete"), "{stdout}");
    assert!(stderr.contains("do not all pass against the unmutated policies"), "{stderr}");
    assert_eq!(report, Value::Null, "no report for a run that mutated nothing");
}

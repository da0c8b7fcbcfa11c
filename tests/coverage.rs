//! Matrices, the coverage report and its gate, against the real embedded reference gateway.

use std::path::{Path, PathBuf};

use gateprobe::LoadOptions;
use gateprobe::plan::Filter;

const IDENTITIES: [&str; 4] = ["alice-reader", "bob-admin", "carol-support", "alice-globex"];
const TOOLS: [&str; 8] = [
    "files.read",
    "files.delete",
    "search.query",
    "tickets.create",
    "email.send",
    "crm.export",
    "payments.refund",
    "admin.grant_role",
];

/// A 4 identities × 8 tools matrix, with what the reference gateway decides, after one
/// hand-written scenario that pins the confirmed `allow` of a refund.
/// Rows are lines 18 to 21; `tickets_denied` is what the `tickets.create` column holds where
/// the gateway denies (`D`, or `.` for no scenario).
fn suite(tickets_denied: &str) -> String {
    let t = tickets_denied;
    format!(
        r#"suite: matrix
scenarios:
  - name: refund runs once confirmed
    identity: bob-admin
    call: {{ tool: payments.refund, arguments: {{ payment_id: pay_1001 }} }}
    expect: {{ decision: confirm, after_confirmation: allow }}
matrix:
  calls:
    read: {{ tool: files.read, arguments: {{ path: /docs/handbook.md }} }}
    delete: {{ tool: files.delete, arguments: {{ path: /docs/handbook.md }} }}
    search: {{ tool: search.query, arguments: {{ q: onboarding }} }}
    ticket: {{ tool: tickets.create, arguments: {{ title: printer }} }}
    mail: {{ tool: email.send, arguments: {{ to: someone@example.org }} }}
    export: {{ tool: crm.export, arguments: {{ segment: all }} }}
    refund: {{ tool: payments.refund, arguments: {{ payment_id: pay_1001 }} }}
    grant: {{ tool: admin.grant_role, arguments: {{ subject: carol@example.com, role: admin }} }}
  expect:
    alice-reader:  [A, D, A, {t}, D, D, D, D]
    bob-admin:     [A, C, A, A, A, A, C, C]
    carol-support: [D, D, A, A, A, A, D, D]
    alice-globex:  [D, D, A, {t}, D, D, D, D]
"#
    )
}

/// A second suite with what a matrix cannot say: confirmed `allow`s of the irreversible tools
/// and an over-broad search, so that every tool has both directions.
const EXTRAS: &str = "suite: extras
defaults: { identity: bob-admin }
scenarios:
  - name: grant runs once confirmed
    call: { tool: admin.grant_role, arguments: { subject: carol@example.com, role: reader } }
    expect: { decision: confirm, after_confirmation: allow }
  - name: delete runs once confirmed
    call: { tool: files.delete, arguments: { path: /docs/old.md } }
    expect: { decision: confirm, after_confirmation: allow }
  - name: over-broad search is refused
    identity: alice-reader
    call: { tool: search.query, arguments: { q: everything, limit: 100000 } }
    expect: { decision: deny, reason: invalid_parameters }
";

fn write_suites(dir: &Path, tickets_denied: &str) -> PathBuf {
    std::fs::write(dir.join("matrix.yaml"), suite(tickets_denied)).unwrap();
    std::fs::write(dir.join("extras.yaml"), EXTRAS).unwrap();
    dir.to_path_buf()
}

fn bundled_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("gateprobe.yaml")
}

fn load(dir: &Path) -> gateprobe::Loaded {
    gateprobe::load(&LoadOptions { config: Some(bundled_config()), suites: vec![dir.to_path_buf()] })
        .expect("suites load")
}

#[test]
fn a_4x8_matrix_expands_to_32_named_scenarios_at_their_cells() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(&write_suites(dir.path(), "D"));
    let matrix = loaded.suites.iter().find(|s| s.name == "matrix").unwrap();
    let expanded: Vec<_> = matrix.scenarios.iter().skip(1).collect();
    assert_eq!(expanded.len(), 32);
    for (i, identity) in IDENTITIES.iter().enumerate() {
        for (j, tool) in TOOLS.iter().enumerate() {
            let s = expanded[i * 8 + j];
            assert_eq!(s.name, format!("{identity} × {tool}"));
            assert_eq!(s.identity, *identity);
            assert_eq!(s.steps[0].call.tool, *tool);
            // Rows are lines 18..=21; every row's first cell is at column 21, cells 3 apart.
            assert_eq!((s.location.line, s.location.column), (18 + i, 21 + 3 * j), "{}", s.name);
        }
    }
}

#[test]
fn matrix_mistakes_point_at_the_cell() {
    let dir = tempfile::tempdir().unwrap();
    let text = suite("D").replace("carol-support: [D, D, A, A, A, A, D, D]", "carol-support: [D, D, A, Q, A, A, D, D]");
    std::fs::write(dir.path().join("bad.yaml"), text).unwrap();
    let err = gateprobe::load(&LoadOptions { config: Some(bundled_config()), suites: vec![dir.path().to_path_buf()] })
        .unwrap_err();
    let rendered = err.to_string();
    assert!(rendered.contains("bad.yaml:20:30"), "{rendered}");
    assert!(rendered.contains("unknown matrix cell `Q` (row `carol-support`, call `ticket`)"), "{rendered}");
}

#[test]
fn an_unknown_matrix_identity_points_at_its_cells() {
    let dir = tempfile::tempdir().unwrap();
    let text = suite("D").replace("alice-globex:  [", "alice-nobody:  [");
    std::fs::write(dir.path().join("bad.yaml"), text).unwrap();
    let err = gateprobe::load(&LoadOptions { config: Some(bundled_config()), suites: vec![dir.path().to_path_buf()] })
        .unwrap_err();
    let rendered = err.to_string();
    assert!(rendered.contains("bad.yaml:21:21"), "{rendered}");
    assert!(rendered.contains("alice-nobody"), "{rendered}");
}

async fn run(dir: &Path) -> gateprobe::RunSummary {
    let loaded = load(dir);
    gateprobe::run(&loaded, &Filter::default(), &|_| {}).await.expect("run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matrix_passes_against_the_reference_gateway_and_coverage_lists_the_untriggered_policy() {
    let dir = tempfile::tempdir().unwrap();
    let summary = run(&write_suites(dir.path(), "D")).await;
    let failing: Vec<String> = summary
        .results
        .iter()
        .filter(|r| !r.outcome.is_pass())
        .map(|r| format!("{}: {:?}", r.scenario, r.message))
        .collect();
    assert!(failing.is_empty(), "{failing:#?}");
    assert_eq!(summary.results.len(), 36);
    let coverage = summary.coverage.as_ref().unwrap();
    assert!(coverage.tools_listed);
    assert_eq!(coverage.tools.len(), 8);
    assert_eq!(coverage.gate_message(), None, "{coverage:#?}");
    // Nothing here exports and then mails in one session: that Cedar policy never fires.
    let unexercised = coverage.unexercised_policies.as_ref().unwrap();
    assert!(unexercised.contains(&"no-mail-after-export".to_string()), "{unexercised:?}");
    assert!(!unexercised.contains(&"tenant-isolation".to_string()), "{unexercised:?}");
    assert!(!unexercised.contains(&"reader-read".to_string()), "{unexercised:?}");
    assert!(coverage.unexercised_reasons.as_ref().unwrap().contains(&"sequence_risk".to_string()));
    assert!(coverage.unused_identities.contains(&"dave-burst".to_string()));
    // The audit evidence named the policies of each call.
    let read = summary.results.iter().find(|r| r.scenario == "alice-reader × files.read").unwrap();
    assert!(read.policy_ids.contains("reader-read"), "{:?}", read.policy_ids);
}

fn gateprobe_cmd() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("gateprobe").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).env_remove("GITHUB_ACTIONS").env("NO_COLOR", "1");
    cmd
}

#[test]
fn the_coverage_gate_fails_naming_the_tool_without_a_deny_scenario() {
    let dir = tempfile::tempdir().unwrap();
    write_suites(dir.path(), "D");
    let ok = gateprobe_cmd()
        .args(["coverage", "--require-coverage", "--color", "never", "--suites"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&ok.stderr));
    let policies = stdout.lines().find(|l| l.contains("policies no scenario exercised:")).unwrap_or_default();
    assert!(policies.contains("no-mail-after-export"), "{stdout}");

    // Every deny of tickets.create gone (cells skipped with `.`).
    write_suites(dir.path(), ".");
    for command in ["coverage", "run"] {
        let gap = gateprobe_cmd()
            .args([command, "--require-coverage", "--color", "never", "--suites"])
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&gap.stderr);
        assert_eq!(gap.status.code(), Some(1), "{command}: {stderr}");
        assert!(stderr.contains("coverage gate failed: tickets.create (no must-deny scenario)"), "{command}: {stderr}");
        let stdout = String::from_utf8_lossy(&gap.stdout);
        assert!(stdout.contains("without a must-deny scenario: tickets.create"), "{command}: {stdout}");
    }
    // Without the flag the gap is reported, not fatal.
    let plain = gateprobe_cmd().args(["run", "--color", "never", "--suites"]).arg(dir.path()).output().unwrap();
    assert_eq!(plain.status.code(), Some(0), "{}", String::from_utf8_lossy(&plain.stdout));
}

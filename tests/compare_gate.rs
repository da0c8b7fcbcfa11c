//! End to end, through the `gateprobe` binary against the real embedded reference gateway: the
//! snapshot gate, regressions attributed to a policy update, and the run state's resilience.
//!
//! Each test works in a temporary directory holding a copy of the crate's `policies/`, the
//! suites it needs and the bundled config, so editing a policy file never touches the repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new(suites: &[&str]) -> Workspace {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&root.join("policies"), &dir.path().join("policies"));
        std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
        for suite in suites {
            let name = format!("{suite}.yaml");
            std::fs::copy(root.join("scenarios").join(&name), dir.path().join("scenarios").join(&name)).unwrap();
        }
        std::fs::copy(root.join("gateprobe.yaml"), dir.path().join("gateprobe.yaml")).unwrap();
        Workspace { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs the binary in the workspace with the defaults a user gets there: `./gateprobe.yaml`,
    /// `./snapshots`, `./.gateprobe/state.json`.
    fn gateprobe(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gateprobe"))
            .current_dir(self.dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("GATEPROBE_CONFIG")
            .env_remove("GATEPROBE_STATE")
            .env_remove("GATEPROBE_SNAPSHOTS")
            .env_remove("GATEPROBE_CI")
            .output()
            .unwrap()
    }

    fn run_ci(&self) -> Output {
        self.gateprobe(&["run", "--ci", "--color", "never"])
    }

    fn edit_policy(&self, file: &str, from: &str, to: &str) {
        let path = self.path("policies").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no `{from}`");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    /// The policy versions the state recorded, most recent run's.
    fn versions_in_state(&self) -> Vec<String> {
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.path(".gateprobe/state.json")).unwrap()).unwrap();
        let mut versions: Vec<String> = state["scenarios"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|s| s.as_object().unwrap().values())
            .filter_map(|e| e["last"]["policy_version"].as_str().map(String::from))
            .collect();
        versions.sort();
        versions.dedup();
        versions
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sha256:3f2a91c0…`, as the console shortens versions.
fn short(version: &str) -> String {
    let (prefix, hash) = version.split_once(':').unwrap();
    format!("{prefix}:{}…", &hash[..8])
}

/// Pins the whole policy-author loop: the first CI run fails on scenarios without snapshots,
/// accepting makes it pass, a policy edit reports exactly the flipped scenarios attributed to
/// old→new version (once), review shows the diff, and accepting makes the gate pass again.
#[test]
fn policy_update_reports_exactly_the_flipped_scenarios_and_accept_clears_the_gate() {
    let ws = Workspace::new(&["documents", "search"]);

    let first = ws.run_ci();
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    assert!(stdout(&first).contains("new scenarios without a snapshot"), "{}", text(&first));
    assert!(String::from_utf8_lossy(&first.stderr).contains("no run state"), "{}", text(&first));

    let accept = ws.gateprobe(&["snapshot", "accept"]);
    assert_eq!(accept.status.code(), Some(0), "{}", text(&accept));
    assert!(ws.path("snapshots/documents.yaml").is_file() && ws.path("snapshots/search.yaml").is_file());

    let clean = ws.run_ci();
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    let before = ws.versions_in_state();
    assert_eq!(before.len(), 1, "{before:?}");

    // Readers lose search: every reader search flips, nothing else does.
    ws.edit_policy("roles.cedar", r#"[Action::"files.read", Action::"search.query"]"#, r#"[Action::"files.read"]"#);
    let flipped = ws.run_ci();
    assert_eq!(flipped.status.code(), Some(1), "{}", text(&flipped));
    let after = ws.versions_in_state();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(before, after);
    let out = stdout(&flipped);
    let headline = format!("policy {}→{}: ", short(&before[0]), short(&after[0]));
    let line =
        out.lines().find(|l| l.trim_start().starts_with(&headline)).unwrap_or_else(|| panic!("{}", text(&flipped)));
    assert!(line.contains("2 scenarios flipped allow→deny"), "{line}");
    let mut listed: Vec<&str> = out
        .lines()
        .skip_while(|l| l.trim() != "regressions")
        .skip(2)
        .take_while(|l| l.starts_with("    "))
        .map(str::trim)
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            "search › burst of searches is throttled: allow→deny (fail)",
            "search › reader can search: allow→deny (fail)",
        ],
        "{}",
        text(&flipped)
    );
    // Drift is listed per scenario, and the CI gate prints what accepting would change.
    assert!(out.contains("search › reader can search: outcome pass→fail, decision allow→deny"), "{out}");
    assert!(out.contains("+++ b/snapshots/search.yaml"), "{out}");

    // The same update is not announced as news twice.
    let again = ws.run_ci();
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(stdout(&again).contains("(reported before)"), "{}", text(&again));

    let review = ws.gateprobe(&["snapshot", "review", "--color", "never"]);
    assert_eq!(review.status.code(), Some(0), "{}", text(&review));
    let diff = stdout(&review);
    assert!(diff.contains("--- a/snapshots/search.yaml"), "{diff}");
    assert!(diff.contains("-    decision: allow") && diff.contains("+    decision: deny"), "{diff}");
    assert!(!diff.contains("documents.yaml"), "documents did not drift: {diff}");

    let accept = ws.gateprobe(&["snapshot", "accept", "--suite", "search"]);
    assert_eq!(accept.status.code(), Some(0), "{}", text(&accept));
    assert!(stdout(&accept).contains("2 accepted"), "{}", text(&accept));
    let gated = ws.run_ci();
    assert_eq!(gated.status.code(), Some(0), "{}", text(&gated));
    // Without --ci the failing scenarios still fail the run: the suite still expects allow.
    assert_eq!(ws.gateprobe(&["run", "--color", "never"]).status.code(), Some(1));
}

/// Pins: an unchanged policy gives no drift over 20 runs, and neither does a policy edit that
/// changes no decision (a new version, the same behaviour).
#[test]
fn unchanged_decisions_give_no_drift_over_20_runs() {
    let ws = Workspace::new(&["documents", "admin"]);
    ws.run_ci();
    assert_eq!(ws.gateprobe(&["snapshot", "accept"]).status.code(), Some(0));
    let versions = ws.versions_in_state();
    for i in 0..20 {
        if i == 10 {
            ws.edit_policy("roles.cedar", "// Capabilities by role.", "// Capabilities by role (reworded).");
        }
        let out = ws.run_ci();
        assert_eq!(out.status.code(), Some(0), "run {i}: {}", text(&out));
        let s = stdout(&out);
        assert!(!s.contains("drift") && !s.contains("regressions"), "run {i}: {s}");
    }
    assert_ne!(ws.versions_in_state(), versions, "the comment edit gave a new policy version");
    let review = ws.gateprobe(&["snapshot", "review"]);
    assert!(stdout(&review).starts_with("snapshots match the last run"), "{}", text(&review));
}

/// Pins: a state file cut short mid-write (what a kill -9 leaves without atomic rename) is
/// reported and treated as empty, the run goes on, and the state is whole again afterwards.
#[test]
fn truncated_state_is_reported_and_treated_as_empty() {
    let ws = Workspace::new(&["documents"]);
    ws.run_ci();
    assert_eq!(ws.gateprobe(&["snapshot", "accept"]).status.code(), Some(0));
    let state = ws.path(".gateprobe/state.json");
    let full = std::fs::read(&state).unwrap();
    std::fs::write(&state, &full[..full.len() / 2]).unwrap();

    let out = ws.run_ci();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is corrupt") && stderr.contains("treating it as empty"), "{}", text(&out));
    let repaired: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(repaired["version"], 1);
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(ws.path(".gateprobe")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
}

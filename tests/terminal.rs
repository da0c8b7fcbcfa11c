//! Terminal conventions, as a user meets them: -q/-qq/-v on every subcommand, the log filter
//! they set (and GATEPROBE_LOG over it), --color on logs as on the console, shell completions
//! and the man page. Against the embedded reference gateway (real HTTP on loopback).

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_gateprobe");

/// `gateprobe <args>` in a fresh directory (its own state and snapshots), logs at their default.
fn gateprobe(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args(args)
        .args(["--config", &format!("{root}/gateprobe.yaml")])
        .args(["--suites", &format!("{root}/scenarios/documents.yaml")])
        .env_remove("GATEPROBE_LOG")
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("gateprobe starts")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn quiet_and_verbose_set_what_run_prints_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let normal = gateprobe(dir.path(), &["run"], &[]);
    assert_eq!(normal.status.code(), Some(0), "{}", stderr(&normal));
    assert!(stdout(&normal).contains("decision matrix"), "{}", stdout(&normal));
    assert!(stderr(&normal).contains("INFO"), "the gateway's start is logged at info: {}", stderr(&normal));
    assert!(!stdout(&normal).contains('✓'), "passing scenarios are only counted by default");

    let verbose = gateprobe(dir.path(), &["run", "-v"], &[]);
    assert!(stdout(&verbose).contains('✓'), "-v lists passing scenarios: {}", stdout(&verbose));

    let quiet = gateprobe(dir.path(), &["run", "-q"], &[]);
    assert_eq!(quiet.status.code(), Some(0));
    let q = stdout(&quiet);
    assert!(q.contains("passed") && !q.contains("decision matrix") && !q.contains("coverage"), "{q}");
    assert!(!stderr(&quiet).contains("INFO"), "-q logs warnings and errors only: {}", stderr(&quiet));

    // GATEPROBE_LOG wins over -q.
    let logged = gateprobe(dir.path(), &["run", "-q"], &[("GATEPROBE_LOG", "info")]);
    assert!(stderr(&logged).contains("INFO"), "{}", stderr(&logged));

    let silent = gateprobe(dir.path(), &["-qq", "run"], &[]);
    assert_eq!(silent.status.code(), Some(0));
    assert_eq!(stdout(&silent), "", "-qq prints nothing on stdout");
}

/// -qq hides the output, never the verdict: a failing run still exits 1.
#[test]
fn silent_runs_keep_their_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("wrong.yaml");
    std::fs::write(
        &suite,
        "suite: wrong\nscenarios:\n  - name: a reader may not delete, but expects to\n    identity: alice-reader\n    \
         call: { tool: files.delete, arguments: { path: /docs/a.md } }\n    expect: { decision: allow }\n",
    )
    .unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["run", "-qq", "--config", &format!("{root}/gateprobe.yaml"), "--suites"])
        .arg(&suite)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn color_reaches_the_logs_and_never_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let always = gateprobe(dir.path(), &["run", "--color", "always"], &[]);
    assert!(stderr(&always).contains("\x1b["), "--color always colours the logs: {}", stderr(&always));
    assert!(stdout(&always).contains("\x1b["), "and the console");
    let never = gateprobe(dir.path(), &["run", "--color", "never"], &[("NO_COLOR", "")]);
    assert!(!stderr(&never).contains("\x1b[") && !stdout(&never).contains("\x1b["));
}

#[test]
fn completions_and_man_page_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Command::new(BIN).args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = stdout(&out);
        for sub in ["run", "serve", "coverage", "snapshot", "lint"] {
            assert!(text.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let man = Command::new(BIN).arg("man").output().unwrap();
    let text = stdout(&man);
    assert!(text.starts_with(".ie") || text.contains(".TH gateprobe 1"), "{text}");
    assert!(text.contains("serve") && text.contains("GATEPROBE_LOG"), "the man page has the subcommands and the env");
}

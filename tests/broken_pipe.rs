//! A reader that goes away ends the printing, never the command (issue 16, observation 6):
//! `gateprobe run --verbose` on 3,000 scenarios piped into `head -1` used to panic with exit 101
//! (`failed printing to stdout: Broken pipe`). Pins: no panic, the exit code the command has
//! anyway, and `run` still does what comes after printing (it saves its state).

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");
const SCENARIOS: usize = 3000;

/// A workspace with the bundled config and policies (quotas far above what the run needs) and
/// one suite of `SCENARIOS` passing scenarios.
fn workspace() -> tempfile::TempDir {
    let root = Path::new(MANIFEST);
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).expect("mkdir");
    for entry in std::fs::read_dir(root.join("policies")).expect("policies") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), policies.join(entry.file_name())).expect("copy");
    }
    std::fs::write(
        policies.join("limits.yaml"),
        "subject: {burst: 1000000, per_second: 1000000}\ntenant: {burst: 1000000, per_second: 1000000}\n",
    )
    .expect("limits");
    std::fs::copy(root.join("gateprobe.yaml"), dir.path().join("gateprobe.yaml")).expect("config");
    let mut suite = String::from("suite: many\ndefaults: { identity: alice-reader }\nscenarios:\n");
    for i in 0..SCENARIOS {
        suite.push_str(&format!(
            "  - name: reader reads page {i}\n    call: {{ tool: files.read, arguments: {{ path: /docs/handbook.md }} }}\n    expect: {{ decision: allow }}\n"
        ));
    }
    std::fs::create_dir_all(dir.path().join("scenarios")).expect("mkdir");
    std::fs::write(dir.path().join("scenarios/many.yaml"), suite).expect("suite");
    dir
}

fn gateprobe(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gateprobe"));
    c.current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GATEPROBE_CONFIG")
        .env_remove("GATEPROBE_STATE")
        .env_remove("GATEPROBE_SNAPSHOTS")
        .env_remove("GATEPROBE_CI");
    c
}

/// The write end of a pipe whose read end is already closed: every write to it is `EPIPE`.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors into the array; each is owned exactly once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are not owned elsewhere.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

fn assert_quiet_end(what: &str, status: ExitStatus, expected: i32, stderr: &str) {
    assert!(!stderr.contains("panicked"), "{what}: panicked\n{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{what}: a closed pipe is not an error to report\n{stderr}");
    assert_eq!(status.code(), Some(expected), "{what}: {status}\n{stderr}");
}

#[test]
fn verbose_run_into_head_1_ends_quietly_with_its_own_exit_code_and_saves_its_state() {
    let ws = workspace();
    let mut child = gateprobe(ws.path(), &["run", "--verbose", "--color", "never"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gateprobe starts");
    let mut stderr = child.stderr.take().expect("stderr");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // What `head -1` does: read a line, then close the pipe.
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("a first line");
    assert!(!first.is_empty(), "nothing printed");
    // The console lists every scenario: far more than the pipe holds, so the writer meets the
    // closed pipe (the first line and the read buffer are at most 8 KiB, the pipe 64 KiB).
    drop(stdout);
    let status = child.wait().expect("gateprobe exits");
    let stderr = errors.join().expect("stderr reader");
    assert_quiet_end("run --verbose | head -1", status, 0, &stderr);
    let (state, warning) = gateprobe::compare::state::load(&ws.path().join(".gateprobe/state.json"));
    assert!(warning.is_none(), "the state was not saved: {warning:?}\n{stderr}");
    assert_eq!(state.scenarios["many"].len(), SCENARIOS);
}

/// Stdout and stderr both closed before the command writes anything: each ends with the code
/// it has with a reader there.
#[test]
fn commands_with_stdout_and_stderr_closed_end_with_their_own_exit_code() {
    let ws = workspace();
    std::fs::write(ws.path().join("scenarios/many.yaml"), "suite: many\nscenarios:\n  - name: [oops\n")
        .expect("bad suite");
    let cases: [(&[&str], i32); 4] = [
        (&["schema", "suite"], 0),
        (&["--help"], 0),
        // The broken suite: exit 2, its diagnostic on the closed stderr.
        (&["lint"], 2),
        (&["run", "--verbose"], 2),
    ];
    for (args, expected) in cases {
        let status =
            gateprobe(ws.path(), args).stdout(closed_pipe()).stderr(closed_pipe()).status().expect("gateprobe runs");
        assert_quiet_end(&args.join(" "), status, expected, "");
    }
    // A run that passes, and one that fails, each with a state to save.
    let mut suite = std::fs::read_to_string(Path::new(MANIFEST).join("scenarios/documents.yaml")).expect("suite");
    std::fs::write(ws.path().join("scenarios/many.yaml"), &suite).expect("suite");
    let run = |expected: i32| {
        let status = gateprobe(ws.path(), &["run", "--verbose"])
            .stdout(closed_pipe())
            .stderr(closed_pipe())
            .status()
            .expect("gateprobe runs");
        assert_quiet_end("run", status, expected, "");
    };
    run(0);
    suite = suite.replace(
        "expect: { decision: deny, reason: missing_capability, evidence",
        "expect: { decision: allow, evidence",
    );
    std::fs::write(ws.path().join("scenarios/many.yaml"), &suite).expect("suite");
    run(1);
    let (_, warning) = gateprobe::compare::state::load(&ws.path().join(".gateprobe/state.json"));
    assert!(warning.is_none(), "the state was not saved: {warning:?}");
}

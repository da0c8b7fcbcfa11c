//! Crash safety of `gateprobe serve` (the built binary, with the embedded reference gateway, its
//! run state and snapshots in a temporary directory).
//!
//! Pins: killed with SIGKILL at any moment (while a run is in flight, the instant a state write
//! has its temporary file open, or at delays spread over runs and writes), serve leaves the run
//! state either as it was or as a complete new version: never empty, truncated or unreadable,
//! and nothing but the state file and the writer's own temporary files in its directory. Each
//! time it restarts on the same port, answers `/healthz`, completes a run, and the state is
//! rewritten to reflect that run. The snapshots it only reads are never touched. Temporary files
//! a kill left behind are removed by a later save once they are old (a crash-looping service
//! must not accumulate them), while a fresh one, possibly a concurrent writer's, is left alone.
//!
//! And, under strace, the claim those outcomes rest on: serve writes the state to a new
//! temporary file in the same directory, fsyncs it, renames it onto the state file and fsyncs
//! the directory; it never opens the state file itself for writing.
//!
//! Every wait is bounded; every serve is killed when the test ends, however it ends.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use support::process::{Proc, copy_dir};

const BIN: &str = env!("CARGO_BIN_EXE_gateprobe");
const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");
const TOKEN: &str = "crash-test-trigger-token";
const STATE: &str = "state/state.json";
const KILLS: usize = 20;

/// One HTTP/1.1 exchange on loopback with bounded connect, read and write; `None` when serve
/// is not (or no longer) answering.
fn http(addr: SocketAddr, method: &str, path: &str, bearer: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).ok()?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    // axum sends these bodies with a length; a chunked one would need decoding here.
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "chunked answer to {path}");
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn status(addr: SocketAddr) -> Option<Value> {
    let (code, body) = http(addr, "GET", "/status", None)?;
    (code == 200).then(|| serde_json::from_str(&body).ok()).flatten()
}

fn trigger(addr: SocketAddr) -> bool {
    http(addr, "POST", "/trigger", Some(TOKEN)).is_some_and(|(code, _)| code == 202)
}

/// Names in `dir` that are `write_atomic`'s temporary files.
fn temp_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(".gateprobe-") && n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).expect("state file exists"))
}

/// The state file is whole: non-empty, valid JSON, accepted by gateprobe's own loader without a
/// warning, and holding every scenario the suites define. Returns its bytes.
fn check_state(path: &Path, scenarios: &BTreeSet<(String, String)>, context: &str) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{context}: state file unreadable: {e}"));
    assert!(!bytes.is_empty(), "{context}: state file is empty");
    if let Err(e) = serde_json::from_slice::<Value>(&bytes) {
        panic!("{context}: state file is not JSON ({e}):\n{}", String::from_utf8_lossy(&bytes));
    }
    let (state, warning) = gateprobe::compare::state::load(path);
    assert!(warning.is_none(), "{context}: {}", warning.map(|w| w.to_string()).unwrap_or_default());
    let found: BTreeSet<(String, String)> =
        state.scenarios.iter().flat_map(|(suite, s)| s.keys().map(move |n| (suite.clone(), n.clone()))).collect();
    assert_eq!(&found, scenarios, "{context}: the state does not hold every scenario");
    bytes
}

struct Workspace {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    port: u16,
    lives: usize,
}

impl Workspace {
    fn new() -> Workspace {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let root = Path::new(MANIFEST);
        copy_dir(&root.join("policies"), &dir.join("policies"));
        std::fs::create_dir_all(dir.join("scenarios")).expect("mkdir");
        for suite in ["documents.yaml", "identity.yaml"] {
            std::fs::copy(root.join("scenarios").join(suite), dir.join("scenarios").join(suite)).expect("copy suite");
        }
        // The bundled config: embedded gateway over ./policies, suites in ./scenarios.
        std::fs::copy(root.join("gateprobe.yaml"), dir.join("gateprobe.yaml")).expect("copy config");
        // One port for every life: a restart must get it back right after a SIGKILL.
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        Workspace { _tmp: tmp, dir, port, lives: 0 }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn state(&self) -> PathBuf {
        self.dir.join(STATE)
    }

    fn state_dir(&self) -> PathBuf {
        self.state().parent().expect("state dir").to_path_buf()
    }

    fn command(&self) -> Command {
        self.command_of(BIN)
    }

    /// `program` in the workspace with only this environment, so no GATEPROBE_* of the
    /// developer's shell changes what serve does.
    fn command_of(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("GATEPROBE_TRIGGER_TOKEN", TOKEN);
        c
    }

    /// A one-shot command, bounded to 60 s.
    fn once(&mut self, args: &[&str]) {
        self.lives += 1;
        let log = self.dir.join(format!("once-{}.log", self.lives));
        let mut p = Proc::start_logging(self.command().args(args), log);
        let status = p.wait(Duration::from_secs(60));
        assert!(matches!(status.code(), Some(0 | 1)), "gateprobe {} exited {status}\n{}", args.join(" "), p.tail());
    }

    /// Starts serve and waits until `/healthz` answers, at most 20 s.
    fn serve(&mut self) -> Proc {
        self.lives += 1;
        let log = self.dir.join(format!("serve-{}.log", self.lives));
        let listen = self.addr().to_string();
        let mut p = Proc::start_logging(
            self.command()
                .args(["--log-format", "json", "serve", "--schedule", "off", "--watch-interval", "0s"])
                .args(["--listen", &listen, "--state", STATE, "--snapshots", "snapshots"]),
            log,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if http(self.addr(), "GET", "/healthz", None).is_some_and(|(code, body)| code == 200 && body == "ok\n") {
                return p;
            }
            if let Some(status) = p.child.try_wait().expect("try_wait") {
                panic!("serve exited with {status} before /healthz answered\n{}", p.tail());
            }
            assert!(Instant::now() < deadline, "serve's /healthz did not answer within 20 s\n{}", p.tail());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until run `id` of this life has finished, at most 30 s; returns `/status`.
    fn wait_for_run(&self, serve: &Proc, id: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = status(self.addr()) {
                if s["last_run"]["id"].as_u64() >= Some(id) && s["running"] == false {
                    return s;
                }
            }
            assert!(Instant::now() < deadline, "run {id} did not finish within 30 s\n{}", serve.tail());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Where the kill landed, as far as the test could see.
#[derive(Debug, Default)]
struct Tally {
    during_run: usize,
    at_temp_file: usize,
    at_delay: usize,
    state_kept: usize,
    state_replaced: usize,
    temp_files_left: usize,
}

#[test]
fn sigkill_never_corrupts_the_state_and_serve_restarts() {
    let started = Instant::now();
    let mut ws = Workspace::new();

    // A first run and accepted snapshots, so serve compares with something it must not touch.
    let compare = ["--state", STATE, "--snapshots", "snapshots"];
    ws.once(&[&["run"][..], &compare].concat());
    ws.once(&[&["snapshot", "accept"][..], &compare].concat());
    let snapshots: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(ws.dir.join("snapshots"))
        .expect("snapshots written")
        .map(|e| {
            let p = e.expect("entry").path();
            let b = std::fs::read(&p).expect("read snapshot");
            (p, b)
        })
        .collect();
    assert_eq!(snapshots.len(), 2, "one snapshot per suite: {snapshots:?}");
    let scenarios: BTreeSet<(String, String)> = gateprobe::compare::state::load(&ws.state())
        .0
        .scenarios
        .iter()
        .flat_map(|(suite, s)| s.keys().map(move |n| (suite.clone(), n.clone())))
        .collect();
    assert_eq!(scenarios.len(), 11, "documents (6) and identity (5): {scenarios:?}");
    let mut previous = check_state(&ws.state(), &scenarios, "after the first run");

    let mut tally = Tally::default();
    let mut run_ms = 0u64;
    for i in 0..KILLS {
        let restarted_at = SystemTime::now();
        let inode_before = inode(&ws.state());
        let mut serve = ws.serve();

        // It comes up, completes its startup run, and the state is rewritten for it.
        let s = ws.wait_for_run(&serve, 1);
        assert_ne!(s["last_run"]["result"], "error", "life {i}: the run could not start: {s:#}\n{}", serve.tail());
        assert_eq!(s["scenarios"].as_array().map(Vec::len), Some(scenarios.len()), "{s:#}");
        run_ms = run_ms.max(s["last_run"]["duration_ms"].as_u64().unwrap_or(0));
        let context = format!("life {i}, after its startup run");
        previous = check_state(&ws.state(), &scenarios, &context);
        let written = inode(&ws.state());
        assert_ne!(written, inode_before, "{context}: the state file was not rewritten");
        let modified = std::fs::metadata(ws.state()).and_then(|m| m.modified()).expect("mtime");
        assert!(modified >= restarted_at, "{context}: the state file is older than the restart");

        let temps_before = temp_files(&ws.state_dir());
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            match i % 3 {
                // (a) While a run is in flight: `/status` says so.
                0 => {
                    assert!(trigger(ws.addr()), "life {i}: POST /trigger refused\n{}", serve.tail());
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while Instant::now() < deadline {
                        if status(ws.addr()).is_some_and(|s| s["running"] == true) {
                            tally.during_run += 1;
                            break;
                        }
                    }
                }
                // (b) During a state write: runs back to back, and the kill as soon as the
                // writer's temporary file appears; if none is seen in 3 s, at a varying delay.
                1 => {
                    let (addr, stop) = (ws.addr(), &stop);
                    scope.spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            trigger(addr);
                            std::thread::sleep(Duration::from_millis(15));
                        }
                    });
                    let deadline = Instant::now() + Duration::from_secs(3);
                    let mut seen = false;
                    while !seen && Instant::now() < deadline {
                        seen = temp_files(&ws.state_dir()).difference(&temps_before).next().is_some();
                    }
                    if seen {
                        tally.at_temp_file += 1;
                    } else {
                        tally.at_delay += 1;
                        std::thread::sleep(Duration::from_millis((i as u64 * 7) % 50));
                    }
                }
                // Around a run and its write: after a trigger, at delays spread over twice the
                // longest run seen.
                _ => {
                    assert!(trigger(ws.addr()), "life {i}: POST /trigger refused\n{}", serve.tail());
                    let spread = 2 * run_ms.max(20) + 20;
                    std::thread::sleep(Duration::from_millis((i as u64 * 37) % spread));
                    tally.at_delay += 1;
                }
            }
            serve.sigkill();
            stop.store(true, Ordering::Relaxed);
        });

        // The state is the previous version or a complete new one. Every save is a rename onto
        // the path, so the inode tells which (successive runs may well write the same bytes).
        let context = format!("life {i}, after SIGKILL");
        let now = check_state(&ws.state(), &scenarios, &context);
        if inode(&ws.state()) == written {
            assert_eq!(now, previous, "{context}: the state changed in place");
            tally.state_kept += 1;
        } else {
            tally.state_replaced += 1;
        }
        previous = now;
        // Nothing else in the state directory: the state file and temporary files only.
        let names: BTreeSet<String> = std::fs::read_dir(ws.state_dir())
            .expect("state dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        let temps = temp_files(&ws.state_dir());
        let others: Vec<&String> = names.iter().filter(|n| *n != "state.json" && !temps.contains(*n)).collect();
        assert!(others.is_empty(), "{context}: unexpected files in the state directory: {others:?}");
        tally.temp_files_left += temps.difference(&temps_before).count();
    }

    // A crash-looping service must not accumulate temporary files: stale ones (a kill's, aged
    // here to an hour, plus a truncated one planted as a kill would leave it) go with the next
    // save; a fresh one, which could be a concurrent writer's, stays.
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let planted = ws.state_dir().join(".gateprobe-Xk9pQ2.tmp");
    std::fs::write(&planted, &previous[..previous.len() / 2]).expect("plant temp file");
    let stale = temp_files(&ws.state_dir());
    for name in &stale {
        let f = std::fs::File::options().write(true).open(ws.state_dir().join(name)).expect("open temp file");
        f.set_modified(hour_ago).expect("age temp file");
    }
    let fresh = ws.state_dir().join(".gateprobe-fresh1.tmp");
    std::fs::write(&fresh, b"{").expect("plant fresh temp file");
    let mut serve = ws.serve();
    ws.wait_for_run(&serve, 1);
    check_state(&ws.state(), &scenarios, "after the last restart");
    let left = temp_files(&ws.state_dir());
    assert_eq!(left, BTreeSet::from([".gateprobe-fresh1.tmp".to_string()]), "stale were {stale:?}");

    // It still stops cleanly.
    let pid = serve.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let code = serve.wait(Duration::from_secs(20));
    assert!(code.success(), "serve exited with {code}\n{}", serve.tail());

    // The snapshots serve only reads are untouched, and no temporary file was left among them.
    for (path, bytes) in &snapshots {
        assert_eq!(&std::fs::read(path).expect("snapshot"), bytes, "{} changed", path.display());
    }
    assert!(temp_files(&ws.dir.join("snapshots")).is_empty());
    assert!(tally.during_run >= 1, "no kill landed while a run was in flight: {tally:?}");
    assert!(tally.state_replaced + tally.state_kept == KILLS);
    eprintln!("{KILLS} kills: {tally:?}; longest run {run_ms} ms; {:?} in all", started.elapsed());
}

/// Kills a process by pid on drop: serve started under strace, which a killed strace would
/// only detach from.
struct KillPid(String);

impl Drop for KillPid {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", &self.0]).stderr(Stdio::null()).status();
    }
}

#[test]
fn state_is_written_to_an_fsynced_temp_file_renamed_into_place() {
    let ws = Workspace::new();
    let trace = ws.dir.join("strace.txt");
    let listen = ws.addr().to_string();
    let mut cmd = ws.command_of("strace");
    cmd.args(["-f", "-qq", "-y", "-s", "16", "-e", "trace=openat,write,fsync,fdatasync,rename,renameat,renameat2"])
        .arg("-o")
        .arg(&trace)
        .arg(BIN)
        .args(["--log-format", "json", "serve", "--schedule", "off", "--watch-interval", "0s"])
        .args(["--listen", &listen, "--state", STATE, "--snapshots", "snapshots"]);
    let mut traced = Proc::start_logging(&mut cmd, ws.dir.join("strace.log"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while http(ws.addr(), "GET", "/healthz", None).is_none_or(|(code, _)| code != 200) {
        if let Some(status) = traced.child.try_wait().expect("try_wait") {
            panic!("strace exited with {status} (scripts/install-deps installs strace)\n{}", traced.tail());
        }
        assert!(Instant::now() < deadline, "serve under strace did not answer within 30 s\n{}", traced.tail());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The tracee's pid starts every line of the trace; its first line is serve's execve.
    let pid =
        std::fs::read_to_string(&trace).expect("trace").split_whitespace().next().expect("a traced line").to_string();
    let _serve = KillPid(pid.clone());
    let s = ws.wait_for_run(&traced, 1);
    assert_ne!(s["last_run"]["result"], "error", "{s:#}");
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let code = traced.wait(Duration::from_secs(20));
    assert!(code.success(), "serve under strace exited with {code}\n{}", traced.tail());

    let text = std::fs::read_to_string(&trace).expect("trace");
    let lines: Vec<&str> = text.lines().collect();
    let state_dir = std::fs::canonicalize(ws.state_dir()).expect("state dir").display().to_string();
    let at = |what: &str, pred: &dyn Fn(&str) -> bool| -> usize {
        lines.iter().position(|l| pred(l)).unwrap_or_else(|| panic!("no {what} in the trace:\n{text}"))
    };
    let rename = at("rename onto the state file", &|l| l.contains("rename") && l.contains("state/state.json\""));
    let temp = lines[rename]
        .split('"')
        .find_map(|part| part.rsplit('/').next().filter(|n| n.starts_with(".gateprobe-") && n.ends_with(".tmp")))
        .unwrap_or_else(|| panic!("the rename is not from a temporary file: {}", lines[rename]))
        .to_string();
    let fd_is = |l: &str, path: &str| l.contains(&format!("</{}>", path.trim_start_matches('/')));
    let temp_path = format!("{state_dir}/{temp}");
    let create = at("creation of the temporary file", &|l| {
        l.contains("openat(") && l.contains(&temp) && l.contains("O_CREAT") && l.contains("O_EXCL")
    });
    let write = at("write to the temporary file", &|l| l.contains("write(") && fd_is(l, &temp_path));
    let sync = at("fsync of the temporary file", &|l| {
        (l.contains("fsync(") || l.contains("fdatasync(")) && fd_is(l, &temp_path)
    });
    assert!(create < write && write < sync && sync < rename, "out of order: {create} {write} {sync} {rename}");
    assert!(
        lines[rename..].iter().any(|l| l.contains("fsync(") && fd_is(l, &state_dir)),
        "the state directory is not fsync'd after the rename:\n{text}"
    );
    // The state file itself is only ever read, never opened for writing.
    let in_place: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("openat(") && l.contains("state.json\"") && !l.contains("O_RDONLY"))
        .collect();
    assert!(in_place.is_empty(), "the state file was opened for writing: {in_place:?}");
}

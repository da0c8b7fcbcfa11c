//! The reference gateway against the official MCP conformance suite
//! (`@modelcontextprotocol/conformance` 0.1.16 on Node 22, both installed by
//! `scripts/install-deps` under `~/.cache/gateprobe/conformance`): the scenarios that apply to
//! a tools-only gateway must pass. Which do not apply, and why, is in the README ("The reference
//! gateway").

use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gateprobe");
const SUITE_VERSION: &str = "0.1.16";
/// Each scenario runs in a few seconds; past this it is stuck and is killed.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(90);

/// Each scenario, and the checks in it that must succeed. A check missing from the output
/// fails the test as surely as a failed one.
const REQUIRED: [(&str, &[&str]); 5] = [
    ("server-initialize", &["server-initialize"]),
    ("ping", &["ping"]),
    ("tools-list", &["tools-list"]),
    ("server-sse-multiple-streams", &["server-accepts-multiple-post-streams"]),
    ("dns-rebinding-protection", &["localhost-host-rebinding-rejected", "localhost-host-valid-accepted"]),
];

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Node 22 binary and the suite's CLI, or a failure that says how to get them.
fn suite() -> (PathBuf, PathBuf) {
    let dir = std::env::var_os("GATEPROBE_CONFORMANCE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/gateprobe/conformance")
    });
    let node = dir.join("node_modules/node/bin/node");
    let package = dir.join("node_modules/@modelcontextprotocol/conformance");
    let cli = package.join("dist/index.js");
    assert!(
        node.is_file() && cli.is_file(),
        "the MCP conformance suite is not installed in {} (no {} or {}): run scripts/install-deps, which installs \
         node@22 and @modelcontextprotocol/conformance@{SUITE_VERSION} there",
        dir.display(),
        node.display(),
        cli.display()
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(package.join("package.json")).expect("package.json")).unwrap();
    assert_eq!(
        manifest["version"], SUITE_VERSION,
        "the checks below are pinned to conformance {SUITE_VERSION}: run scripts/install-deps"
    );
    (node, cli)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Every `checks.json` under `dir` (the suite nests them in a directory per run).
fn checks_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(checks_files(&path));
        } else if path.file_name().is_some_and(|n| n == "checks.json") {
            found.push(path);
        }
    }
    found
}

/// Runs one scenario against `url`, bounded in time; its checks as the suite wrote them.
fn run_scenario(node: &Path, cli: &Path, url: &str, scenario: &str, work: &Path) -> Vec<Value> {
    let out = work.join(scenario);
    std::fs::create_dir_all(&out).unwrap();
    let log = out.join("output.txt");
    let mut child = Child(
        Command::new(node)
            .arg(cli)
            .args(["server", "--url", url, "--scenario", scenario, "--output-dir"])
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(out.join("stderr.txt")).unwrap())
            .spawn()
            .expect("start the conformance CLI"),
    );
    let started = Instant::now();
    loop {
        if child.0.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            started.elapsed() < SCENARIO_TIMEOUT,
            "conformance scenario {scenario} still running after {SCENARIO_TIMEOUT:?}; output: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let files = checks_files(&out);
    assert_eq!(
        files.len(),
        1,
        "scenario {scenario} wrote {files:?}; output: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    serde_json::from_str::<Vec<Value>>(&std::fs::read_to_string(&files[0]).unwrap()).expect("checks.json")
}

#[test]
fn reference_gateway_passes_the_applicable_conformance_scenarios() {
    let (node, cli) = suite();
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let _gateway = Child(
        Command::new(BIN)
            .args(["gateway", "--policies"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--no-watch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "gateway did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    // 127.0.0.1, not a name: the DNS rebinding scenario only runs against a loopback URL.
    let url = format!("http://127.0.0.1:{port}/mcp");

    let mut problems = Vec::new();
    for (scenario, required) in REQUIRED {
        let checks = run_scenario(&node, &cli, &url, scenario, work.path());
        let status = |id: &str| checks.iter().find(|c| c["id"] == id).and_then(|c| c["status"].as_str());
        for id in required {
            if status(id) != Some("SUCCESS") {
                problems.push(format!("{scenario}/{id}: {:?}", status(id)));
            }
        }
        // No other check of these scenarios may fail or warn either (JSON answers make the
        // SSE-stream check INFO: streaming is optional).
        for check in &checks {
            if matches!(check["status"].as_str(), Some("FAILURE" | "WARNING")) {
                problems.push(format!("{scenario}/{}: {}", check["id"], check));
            }
        }
    }
    assert!(problems.is_empty(), "conformance checks not passed:\n{}", problems.join("\n"));
}

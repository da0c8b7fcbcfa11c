//! Bounded everything: what a gateway, an audit API or a credential command sends is never read
//! past its cap, and no token makes gateprobe slow.
//!
//! The built binary runs against the real reference gateway behind the fault proxy
//! (tests/support/fault_proxy.rs), which answers with an endless or a 100 MB body from the
//! gateway, or an endless or a 50 MB body from the audit API. Each must end as `error`
//! (`too_large`, with the setting that raises the cap in the message), never as a decision read
//! from a part of the answer, and the binary's peak RSS (its `VmHWM`, polled every 2 ms; the
//! `ru_maxrss` of `wait4` would count the test process's RSS at the fork) must stay far below
//! what the body would take. Before the caps an endless answer took the
//! process to 1.87 GB, and a 100 MB answer that is a valid result was read whole as an allow.
//!
//! Credential commands: a command printing 10 MB is stopped at the cap with an error that names
//! it, and a command that hangs is killed with everything it started (its process group).
//! Then a 64 KiB token of one repeated letter, echoed back by the gateway, is scrubbed from
//! every answer without the quadratic time it once took (13.5 s for two scenarios).

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gateprobe::outcome::Outcome;
use serde_json::Value;
use support::fault_proxy::{Fault, FaultProxy};
use support::*;

/// Kill the binary and fail after this long; a run here takes well under a second.
const BOUND: Duration = Duration::from_secs(60);
/// Peak RSS any run here may reach. The binary itself needs about 25 MB; the caps (4 MiB for
/// an answer, 16 MiB for an audit answer) add at most what the lookups in flight hold. The
/// issue's limit for these cases is 300 MB; without the caps they take gigabytes.
const MAX_RSS_KIB: u64 = 150 * 1024;
/// Per-call timeout of these runs: long enough that a run without caps grows far past
/// [`MAX_RSS_KIB`] before it, so only the cap can keep these tests green.
const TIMEOUT_MS: u64 = 3000;

#[derive(Debug)]
struct Finished {
    code: i32,
    stderr: String,
    elapsed: Duration,
    peak_rss_kib: u64,
    /// The JSON report, when the run wrote one.
    report: Option<Value>,
}

/// Runs `gateprobe run` in `dir` with the config `dir/gateprobe.yaml` and the suite
/// `dir/probe.yaml`, watching its peak RSS; killed past [`BOUND`].
fn run_binary(dir: &Path) -> Finished {
    let report = dir.join("report.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateprobe"))
        .args(["run", "--config", "gateprobe.yaml", "--suites", "probe.yaml", "--state", "state.json"])
        .args(["--snapshots", "snapshots", "--report", "json=report.json"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GATEPROBE_CONFIG")
        .env_remove("GATEPROBE_TARGET_URL")
        .env_remove("GATEPROBE_AUDIT_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let pid = child.id();
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let mut peak = 0;
    let status = loop {
        // Read before the exit status: once the child has exited its memory is gone.
        peak = peak.max(peak_rss_kib(pid));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gateprobe still running after {BOUND:?}: killed (peak RSS {peak} KiB)");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let finished = Finished {
        code: status.code().unwrap_or(-1),
        stderr: stderr.join().unwrap(),
        elapsed: start.elapsed(),
        peak_rss_kib: peak,
        report: std::fs::read_to_string(&report).ok().map(|t| serde_json::from_str(&t).expect("report is JSON")),
    };
    eprintln!(
        "exit {}, {:.2} s, peak RSS {:.1} MB",
        finished.code,
        finished.elapsed.as_secs_f64(),
        finished.peak_rss_kib as f64 / 1024.0
    );
    finished
}

/// `VmHWM` of a live process, in KiB (0 once it is gone).
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or(0)
}

/// The read-and-delete suite through the fault proxy with `fault` set, run by the binary.
async fn run_through(fault: Fault) -> Finished {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start_gateway().await;
    let proxy = FaultProxy::start(&gateway.base_url()).await;
    proxy.set(fault);
    // Writes dir/gateprobe.yaml (and the identities' token files) as a side effect.
    mcp_config(dir.path(), &gateway, &proxy.url(), TIMEOUT_MS, 1000);
    suite(dir.path(), "probe", READ_AND_DELETE);
    let path = dir.path().to_path_buf();
    let finished = tokio::task::spawn_blocking(move || run_binary(&path)).await.unwrap();
    gateway.shutdown().await;
    finished
}

/// Every scenario is `error` of kind `too_large`, its message names `setting`, and the run
/// stayed small. `observed`: the decisions the scenarios read before the failure (an audit
/// lookup fails after the call was answered), else none.
fn assert_too_large(finished: &Finished, setting: &str, observed: [Option<&str>; 2]) {
    let report = finished.report.as_ref().unwrap_or_else(|| panic!("no report; stderr: {}", finished.stderr));
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for (r, observed) in results.iter().zip(observed) {
        assert_eq!(
            (r["outcome"].as_str(), r["error_kind"].as_str(), r["observed"].as_str()),
            (Some("error"), Some("too_large"), observed),
            "{}: {}",
            r["scenario"],
            r["message"]
        );
        let message = r["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("raise `{setting}`")), "{message}");
    }
    assert_eq!(finished.code, 3, "{}", finished.stderr);
    assert!(finished.peak_rss_kib < MAX_RSS_KIB, "peak RSS {} KiB, more than {MAX_RSS_KIB} KiB", finished.peak_rss_kib);
}

#[tokio::test]
async fn an_endless_answer_from_the_gateway_is_cut_at_the_cap() {
    let finished = run_through(Fault::EndlessBody).await;
    assert_too_large(&finished, "run.max_response_bytes", [None, None]);
    // Cut at the cap, not ended by the timeout.
    assert!(finished.elapsed < Duration::from_millis(TIMEOUT_MS), "{:?}", finished.elapsed);
}

// Pins: a 100 MB answer that is a valid JSON-RPC result was read whole and taken as an allow.
#[tokio::test]
async fn a_100_mb_answer_is_too_large_not_an_allow() {
    assert_too_large(&run_through(Fault::LargeBody(100 << 20)).await, "run.max_response_bytes", [None, None]);
}

/// What the scenarios of [`READ_AND_DELETE`] read before their audit lookups fail.
const AUDITED: [Option<&str>; 2] = [Some("allow"), Some("deny")];

#[tokio::test]
async fn an_endless_audit_answer_fails_the_lookup() {
    assert_too_large(&run_through(Fault::EndlessAudit).await, "run.max_audit_response_bytes", AUDITED);
}

// Pins: a valid 50 MB audit answer (a padding record before the real ones) was accepted.
#[tokio::test]
async fn a_50_mb_audit_answer_fails_the_lookup() {
    assert_too_large(&run_through(Fault::LargeAudit(50 << 20)).await, "run.max_audit_response_bytes", AUDITED);
}

fn sh(script: &str) -> gateprobe::config::CredentialSource {
    gateprobe::config::CredentialSource::Command(vec!["sh".into(), "-c".into(), script.into()])
}

// Pins: a command printing 10 MB took over 90 s and 5.6 GB before its output was refused.
#[tokio::test]
async fn a_credential_command_printing_10_mb_fails_at_once() {
    let start = Instant::now();
    let source = sh("head -c 10000000 /dev/zero | tr '\\0' a");
    let e = gateprobe::resolve_credential(&source).await.unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(
        e.to_string(),
        "credential command `sh` printed more than 65536 bytes, far more than any token; it was stopped"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

/// Whether process `pid` has ended (gone, or a zombie its new parent has not reaped yet).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

// Pins: a command that hung was timed out, but what it had started kept running (re-parented
// to init).
#[tokio::test]
async fn a_hanging_credential_command_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("background.pid");
    let script = format!("sleep 100 & echo $! > '{}'; sleep 100", pid_file.display());
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let e = gateprobe::resolve_credential_with_timeout(&sh(&script), timeout).await.unwrap_err();
    assert!(e.to_string().contains("did not finish within"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    let background: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let killed_by = Instant::now() + Duration::from_secs(5);
    while !ended(background) {
        assert!(Instant::now() < killed_by, "the command's background child {background} still runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// Pins: a run took 13.5 s with a 64 KiB token of one repeated letter (0.08 s with a random
// one): building the scrubber was quadratic in the token's length.
#[tokio::test]
async fn a_long_repetitive_token_is_scrubbed_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start_gateway().await;
    let proxy = FaultProxy::start(&gateway.base_url()).await;
    // The gateway quotes the caller's token in every refusal, its reason and its audit records.
    proxy.set(Fault::EchoCredentials);
    let config = mcp_config(dir.path(), &gateway, &proxy.url(), 5000, 500);
    let token = "a".repeat(64 << 10);
    std::fs::write(dir.path().join("alice.token"), &token).unwrap();
    let start = Instant::now();
    let summary = run(config, vec![suite(dir.path(), "probe", READ_AND_DELETE)]).await;
    let elapsed = start.elapsed();
    gateway.shutdown().await;
    eprintln!("two scenarios with a 64 KiB repetitive token: {:.2} s", elapsed.as_secs_f64());
    // Not a speed test (debug build, shared cores): the bound only tells linear from quadratic.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    // The token is no JWT: both calls are refused as unauthenticated, with the token quoted.
    assert!(summary.results.iter().all(|r| r.outcome != Outcome::Pass), "{:?}", outcomes(&summary));
    let messages: Vec<&str> = summary.results.iter().filter_map(|r| r.message.as_deref()).collect();
    assert!(messages.iter().any(|m| m.contains("[REDACTED]")), "{messages:?}");
    assert!(messages.iter().all(|m| !m.contains("aaaaaaaa")), "{messages:?}");
}

//! Hostile suites, configs and flags against the built binary: every case must end with exit 2
//! and a message that points at the file (file:line:column) or names the variable, within a
//! wall-clock bound and a peak-memory bound. The bounds prove that the loader terminates and
//! stays small on hostile input; they are not a speed test (debug build, shared CI cores), so
//! they are generous.
//!
//! Generated inputs (huge documents, deep nesting, alias bombs) are written at test time; the
//! small hand-written corpus lives in `tests/fixtures/bad/` and is run through the binary too.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kill the binary and fail after this long (small inputs).
const BOUND: Duration = Duration::from_secs(10);
/// The same for multi-megabyte documents, which a debug build parses in a few CPU seconds.
const BOUND_HUGE: Duration = Duration::from_secs(60);
/// Peak resident memory any case may reach.
const MAX_RSS_KIB: u64 = 512 * 1024;

#[derive(Debug)]
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    peak_rss_kib: u64,
}

/// Runs the binary in the crate root with `args` and extra `env`, killing it past `bound`.
fn gateprobe(args: &[&str], env: &[(&str, &str)], bound: Duration) -> Finished {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateprobe"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("GATEPROBE_CONFIG")
        .env_remove("GATEPROBE_TARGET_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("the binary starts");
    let pid = child.id();
    // Drain the pipes on threads, so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        peak = peak.max(peak_rss_kib(pid));
        if start.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gateprobe {args:?} still running after {bound:?}: killed (peak RSS {peak} KiB)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        code: status.code(),
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
        elapsed: start.elapsed(),
        peak_rss_kib: peak,
    }
}

/// `VmHWM` of a live process (0 once it is gone).
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Asserts exit 2, a bounded peak RSS and that stderr holds every `needle`; returns stderr.
fn refused(what: &str, f: Finished, needles: &[&str]) -> String {
    eprintln!("{what}: exit {:?} in {:?}, peak RSS {} KiB", f.code, f.elapsed, f.peak_rss_kib);
    assert_eq!(f.code, Some(2), "{what}: expected exit 2\nstdout:\n{}\nstderr:\n{}", f.stdout, f.stderr);
    assert!(f.peak_rss_kib < MAX_RSS_KIB, "{what}: peak RSS {} KiB", f.peak_rss_kib);
    for needle in needles {
        assert!(f.stderr.contains(needle), "{what}: stderr lacks {needle:?}:\n{}", head(&f.stderr));
    }
    assert!(!f.stderr.contains("panicked"), "{what}: panic:\n{}", head(&f.stderr));
    // Hostile input must not turn into hostile output.
    assert!(f.stderr.len() < 64 * 1024, "{what}: {} bytes of stderr", f.stderr.len());
    f.stderr
}

fn head(s: &str) -> &str {
    s.char_indices().nth(4000).map_or(s, |(i, _)| &s[..i])
}

/// `--> <file>:<line>:<column>` for some line and column.
fn points_into(stderr: &str, file: &Path) -> Option<(usize, usize)> {
    let prefix = format!("--> {}:", file.display());
    stderr.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix(&prefix)?;
        let (line, column) = rest.split_once(':')?;
        Some((line.parse().ok()?, column.parse().ok()?))
    })
}

fn lint_suite(file: &Path, bound: Duration) -> Finished {
    gateprobe(&["lint", "--suites", file.to_str().unwrap()], &[], bound)
}

const HEADER: &str = "suite: hostile\ndefaults: { identity: alice-reader }\nscenarios:\n";

fn scenario(i: usize) -> String {
    format!(
        "  - name: scenario number {i}\n    call: {{ tool: files.read, arguments: {{ path: /docs/{i}.md }} }}\n    expect: {{ decision: allow }}\n"
    )
}

/// A suite of `bytes` bytes of good scenarios, with a misspelt key on its last line.
fn huge_suite(bytes: usize) -> String {
    let mut s = String::from(HEADER);
    let mut i = 0;
    let tail = "  - name: the last\n    call: { tool: files.read }\n    expect: { decison: allow }\n";
    while s.len() + tail.len() < bytes {
        s.push_str(&scenario(i));
        i += 1;
    }
    s.push_str(tail);
    s
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn huge_documents_are_read_or_refused_with_a_position() {
    let dir = tempfile::tempdir().unwrap();
    // 7 MiB, under the 8 MiB limit: parsed in full, the mistake on the last line is found.
    let seven = huge_suite(7 << 20);
    let lines = seven.lines().count();
    let file = write(dir.path(), "seven.yaml", &seven);
    let err = refused("7 MiB suite", lint_suite(&file, BOUND_HUGE), &["unknown field `decison`"]);
    assert_eq!(points_into(&err, &file), Some((lines, 15)), "{}", head(&err));

    // 7 MiB on one line (one huge prompt): the message shows a window of the line, not all of it.
    let one_line = format!(
        "{{suite: wide, defaults: {{identity: alice-reader}}, scenarios: [{{name: n, prompt: \"{}\", call: {{tool: t}}, expect: {{decision: maybe}}}}]}}\n",
        "p".repeat(7 << 20)
    );
    let file = write(dir.path(), "one-line.yaml", &one_line);
    let err = refused("7 MiB line", lint_suite(&file, BOUND_HUGE), &["unknown variant `maybe`"]);
    assert!(points_into(&err, &file).is_some_and(|(l, _)| l == 1), "{}", head(&err));

    // 9 MiB: refused by size before it is read.
    let file = write(dir.path(), "nine.yaml", &huge_suite(9 << 20));
    let err = refused("9 MiB suite", lint_suite(&file, BOUND), &["more than the 8 MiB limit", "split it"]);
    assert!(err.contains(&format!("--> {}", file.display())), "{err}");

    // A config that large is refused the same way.
    let file = write(dir.path(), "config.yaml", &format!("{}\nsuites: [x]\n", "#".repeat(9 << 20)));
    refused("9 MiB config", gateprobe(&["lint", "-c", file.to_str().unwrap()], &[], BOUND), &["8 MiB limit"]);
}

#[test]
fn huge_flat_documents_are_bounded_in_nodes() {
    let dir = tempfile::tempdir().unwrap();
    // Millions of tiny nodes in a few MiB: refused before the position table fills memory.
    let ones = format!(
        "{HEADER}  - name: n\n    call: {{ tool: files.read, arguments: {{ xs: [{}1] }} }}\n    expect: {{ decision: allow }}\n",
        "1,".repeat(3_000_000)
    );
    let file = write(dir.path(), "ones.yaml", &ones);
    let err = refused("3M scalars", lint_suite(&file, BOUND_HUGE), &["more than 1000000 nodes"]);
    assert_eq!(points_into(&err, &file).map(|p| p.0), Some(5));
    let keys: String = (0..700_000).map(|i| format!("k{i}: 1, ")).collect();
    let text = format!(
        "{HEADER}  - name: n\n    call: {{ tool: files.read, arguments: {{ {keys} }} }}\n    expect: {{ decision: allow }}\n"
    );
    let file = write(dir.path(), "keys.yaml", &text);
    refused("700k keys", lint_suite(&file, BOUND_HUGE), &["more than 1000000 nodes"]);
}

#[test]
fn deep_nesting_is_refused_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // Past saphyr's 255 flow levels (this one used to take minutes in libyaml).
        ("flow-seq", format!("suite: {}{}\n", "[".repeat(100_000), "]".repeat(100_000))),
        ("flow-map", format!("suite: {}1{}\n", "{a: ".repeat(50_000), "}".repeat(50_000))),
        ("unclosed", format!("suite: {}\n", "[".repeat(200_000))),
        ("block", (0..300).map(|i| format!("{}k{i}:\n", "  ".repeat(i))).collect()),
        ("block-seq", (0..300).map(|i| format!("{}-\n", "  ".repeat(i))).collect()),
    ];
    for (name, text) in cases {
        let file = write(dir.path(), &format!("{name}.yaml"), &text);
        let err = refused(name, lint_suite(&file, BOUND), &["nested deeper than 64 levels"]);
        assert!(points_into(&err, &file).is_some(), "{name}: {}", head(&err));
    }
}

#[test]
fn alias_bombs_are_refused_at_the_alias() {
    let dir = tempfile::tempdir().unwrap();
    let mut seq = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    let mut map = String::from("a0: &a0 {x0: 1, x1: 1, x2: 1, x3: 1, x4: 1, x5: 1, x6: 1, x7: 1, x8: 1, x9: 1}\n");
    for i in 1..10 {
        let p = i - 1;
        seq.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{p}"); 10].join(", ")));
        map.push_str(&format!(
            "a{i}: &a{i} {{{}}}\n",
            (0..10).map(|j| format!("k{j}: *a{p}")).collect::<Vec<_>>().join(", ")
        ));
    }
    // Merge keys chained: each level merges the previous one.
    let mut merge = String::from("m0: &m0 {x: [a, b, c, d, e, f, g, h]}\n");
    for i in 1..40 {
        merge.push_str(&format!("m{i}: &m{i}\n  <<: [*m{}, *m{}]\n  y{i}: [*m{}, *m{}]\n", i - 1, i - 1, i - 1, i - 1));
    }
    for (name, text) in [("seq", seq), ("map", map), ("merge", merge)] {
        let file = write(dir.path(), &format!("bomb-{name}.yaml"), &text);
        let err = refused(name, lint_suite(&file, BOUND), &["aliases expand this document beyond"]);
        assert!(points_into(&err, &file).is_some_and(|(l, _)| l > 1), "{name}: {}", head(&err));
    }
    // As a config too.
    let file =
        write(dir.path(), "bomb-config.yaml", &format!("suites: [x]\nextra:\n{}", indent(&read("alias-bomb.yaml"))));
    let err =
        refused("config bomb", gateprobe(&["lint", "-c", file.to_str().unwrap()], &[], BOUND), &["aliases expand"]);
    assert!(points_into(&err, &file).is_some(), "{}", head(&err));
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn read(fixture: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad").join(fixture)).unwrap()
}

/// The hand-written corpus (duplicate keys, wrong types, unknown keys, syntax, tabs...), through
/// the binary rather than the library: exit 2 and a position in the right file, for each.
#[test]
fn the_bad_corpus_exits_2_with_positions() {
    let bad = Path::new("tests/fixtures/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(bad))
        .unwrap()
        .map(|e| bad.join(e.unwrap().file_name()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{files:?}");
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let f = if name.starts_with("config-") {
            gateprobe(&["lint", "-c", file.to_str().unwrap()], &[], BOUND)
        } else {
            lint_suite(&file, BOUND)
        };
        let err = refused(name, f, &[]);
        assert!(points_into(&err, &file).is_some(), "{name}: no file:line:column in\n{err}");
    }
}

#[test]
fn odd_bytes_and_shapes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut noise = Vec::with_capacity(256 * 1024);
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..256 * 1024 {
        // xorshift: fixed noise, the same on every run
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.push(x as u8);
    }
    let file = dir.path().join("noise.yaml");
    std::fs::write(&file, &noise).unwrap();
    refused("binary noise", lint_suite(&file, BOUND), &["not UTF-8"]);

    let cases: &[(&str, &str, &str)] = &[
        ("empty", "", "the file is empty"),
        ("comments-only", "# nothing\n# here\n", "the file is empty"),
        ("nul", "suite: a\u{0}\nscenarios: []\n", "error"),
        ("scalar", "just a string\n", "invalid type"),
        ("list", "- a\n- b\n", "invalid type"),
        ("two-docs", "suite: a\nscenarios: []\n---\nsuite: b\n", "more than one document"),
        ("bad-tag", "suite: !!binary aGk=\nscenarios: []\n", "error"),
        ("null-key", "~: 1\nsuite: a\n", "error"),
        ("complex-key", "? [a, b]\n: 1\nsuite: a\n", "error"),
        (
            "huge-int",
            &format!(
                "{HEADER}  - name: n\n    repeat: 99999999999999999999999\n    call: {{ tool: t }}\n    expect: {{ decision: allow }}\n"
            ),
            "repeat",
        ),
        (
            "negative-repeat",
            &format!(
                "{HEADER}  - name: n\n    repeat: -1\n    call: {{ tool: t }}\n    expect: {{ decision: allow }}\n"
            ),
            "repeat",
        ),
        (
            "name-is-map",
            &format!("{HEADER}  - name: {{ a: 1 }}\n    call: {{ tool: t }}\n    expect: {{ decision: allow }}\n"),
            "invalid type",
        ),
        (
            "decision-is-list",
            &format!("{HEADER}  - name: n\n    call: {{ tool: t }}\n    expect: {{ decision: [allow] }}\n"),
            "decision",
        ),
        (
            "unknown-key-deep",
            &format!(
                "{HEADER}  - name: n\n    call: {{ tool: t, argumentz: {{}} }}\n    expect: {{ decision: allow }}\n"
            ),
            "unknown field `argumentz`",
        ),
        (
            "dup-key-deep",
            &format!(
                "{HEADER}  - name: n\n    call: {{ tool: t, arguments: {{ a: 1, a: 2 }} }}\n    expect: {{ decision: allow }}\n"
            ),
            "duplicate key `a`",
        ),
        ("undefined-alias", "suite: *nothing\n", "error"),
        ("bom-then-tab", "\u{feff}suite: a\n\tscenarios: []\n", "tab character"),
    ];
    for (name, text, needle) in cases {
        let file = write(dir.path(), &format!("{name}.yaml"), text);
        let err = refused(name, lint_suite(&file, BOUND), &[needle]);
        assert!(err.contains(&format!("--> {}", file.display())), "{name}: {}", head(&err));
    }
}

/// Config files: wrong types, unknown keys and bad URLs point at their line; the same
/// through `GATEPROBE_*` overrides name the variable.
#[test]
fn bad_configs_point_at_the_line_or_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let suite = write(dir.path(), "s.yaml", &format!("{HEADER}{}", scenario(0)));
    let target =
        |url: &str| format!("target:\n  kind: mcp\n  url: \"{url}\"\naudit: {{ kind: none }}\nsuites: [s.yaml]\n");
    let cases = [
        ("bad-scheme", target("ftp://127.0.0.1/mcp"), (3, 8), "is not an http(s) URL"),
        ("space-in-host", target("http://exa mple.com/mcp"), (3, 8), "is not a valid URL"),
        ("open-bracket", target("http://[::1/mcp"), (3, 8), "is not a valid URL"),
        ("port-overflow", target("http://127.0.0.1:99999/mcp"), (3, 8), "is not a valid URL"),
        ("empty-host", target("http://:8080/mcp"), (3, 8), "is not a valid URL"),
        (
            "audit-url",
            "audit: { kind: http, url: \"http//oops/{correlation_id}\" }\nsuites: [s.yaml]\n".to_owned(),
            (1, 27),
            "is not a valid URL",
        ),
        (
            "alertmanager-url",
            "alerting:\n  alertmanager_url: localhost:9093\nsuites: [s.yaml]\n".to_owned(),
            (2, 21),
            "is not an http(s) URL",
        ),
        ("wrong-type", "run:\n  timeout_ms: soon\nsuites: [s.yaml]\n".to_owned(), (2, 15), "invalid type"),
        ("negative", "run:\n  concurrency: -4\nsuites: [s.yaml]\n".to_owned(), (2, 16), "expected usize"),
        ("unknown-key", "suites: [s.yaml]\ntarget:\n  kind: embedded\n  polices: p\n".to_owned(), (4, 3), "unknown field `polices`"),
        ("unknown-kind", "target: { kind: grpc }\nsuites: [s.yaml]\n".to_owned(), (1, 17), "unknown variant `grpc`"),
        (
            "two-credentials",
            "suites: [s.yaml]\nidentities:\n  a: { subject: a@example.com, tenant: t, credential: { env: A, file: b } }\n"
                .to_owned(),
            (3, 65),
            "second key",
        ),
        ("dup-identity", "suites: [s.yaml]\nidentities:\n  a: { subject: s, tenant: t }\n  a: { subject: s, tenant: t }\n".to_owned(), (4, 3), "duplicate key `a`"),
    ];
    for (name, text, (line, column), needle) in cases {
        let file = write(dir.path(), &format!("{name}.yaml"), &text);
        let f = gateprobe(&["run", "-c", file.to_str().unwrap()], &[], BOUND);
        let err = refused(name, f, &[needle]);
        assert_eq!(points_into(&err, &file), Some((line, column)), "{name}:\n{err}");
    }
    // The same mistakes through the environment name the variable.
    let config = write(dir.path(), "ok.yaml", "suites: [s.yaml]\n");
    let _ = suite;
    for (var, value) in [
        ("GATEPROBE_TARGET_URL", "http://exa mple/mcp"),
        ("GATEPROBE_TARGET_URL", "127.0.0.1:8080"),
        ("GATEPROBE_AUDIT_URL", "http://[oops"),
        ("GATEPROBE_CONCURRENCY", "0"),
        ("GATEPROBE_TIMEOUT_MS", "-1"),
        ("GATEPROBE_SUITES", ":::"),
    ] {
        let f = gateprobe(&["run", "-c", config.to_str().unwrap()], &[(var, value)], BOUND);
        refused(var, f, &[var]);
    }
}

/// Credentials that cannot be obtained: exit 2 naming the identity and the variable, file or
/// command, before any scenario runs; never a crash, never a hang.
#[test]
fn missing_credentials_name_the_identity_and_the_source() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.yaml", &format!("{HEADER}{}", scenario(0)));
    let config = |credential: &str| {
        format!(
            "target:\n  kind: mcp\n  url: http://127.0.0.1:9/mcp\naudit: {{ kind: none }}\nsuites: [s.yaml]\nidentities:\n  alice-reader: {{ subject: alice@example.com, tenant: acme, roles: [reader], credential: {credential} }}\n"
        )
    };
    let cases = [
        ("env", "{ env: GP_MISSING }", vec!["alice-reader", "GP_MISSING", "not set"]),
        ("empty-env", "{ env: GP_EMPTY }", vec!["alice-reader", "GP_EMPTY", "empty"]),
        ("file", "{ file: no/such/token }", vec!["alice-reader", "no/such/token"]),
        ("command", "{ command: [/no/such/helper, --token] }", vec!["alice-reader", "/no/such/helper"]),
        ("failing-command", "{ command: [sh, -c, 'echo denied >&2; exit 7'] }", vec!["alice-reader", "denied"]),
        ("silent-command", "{ command: [\"true\"] }", vec!["alice-reader", "printed no token"]),
    ];
    for (name, credential, needles) in cases {
        let file = write(dir.path(), &format!("cred-{name}.yaml"), &config(credential));
        // (`serve` keeps running and reports the same message as a failed run in `/status`:
        // a token file or command may recover; see tests/secrets.rs for serve.)
        let f = gateprobe(&["run", "-c", file.to_str().unwrap()], &[("GP_EMPTY", "  ")], BOUND);
        refused(name, f, &needles);
    }
    // Also on the embedded target, where a credential source overrides the minted token.
    let file = write(
        dir.path(),
        "embedded.yaml",
        &format!(
            "target: {{ kind: embedded, policies: {} }}\nsuites: [s.yaml]\nidentities:\n  alice-reader: {{ subject: alice@example.com, tenant: acme, roles: [reader], credential: {{ env: GP_MISSING }} }}\n",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("policies").display()
        ),
    );
    refused(
        "embedded env",
        gateprobe(&["run", "-c", file.to_str().unwrap()], &[], BOUND),
        &["alice-reader", "GP_MISSING"],
    );
}

#[test]
fn invalid_cron_schedules_are_refused_by_serve() {
    for schedule in [
        "bogus",
        "* * * * *  * * * *",
        "61 * * * * *",
        "*/0 * * * * *",
        "0 0 0 31 2 *", // valid, but never fires
        "0 0 0 1 1 * 1999",
        &"* ".repeat(10_000),
    ] {
        let f = gateprobe(&["serve", "--schedule", schedule, "--listen", "127.0.0.1:0"], &[], BOUND);
        let err = refused(&format!("schedule {:.40}", schedule), f, &["invalid --schedule", "sec min hour"]);
        assert!(err.lines().count() <= 3, "the message is one line: {err}");
    }
    // Other serve flags.
    let f = gateprobe(&["serve", "--jitter", "soon"], &[], BOUND);
    refused("jitter", f, &["--jitter"]);
    let f = gateprobe(&["serve", "--listen", "localhost"], &[], BOUND);
    refused("listen", f, &["--listen"]);
    let f = gateprobe(&["serve", "--trigger-token-file", "/no/such/file", "--listen", "127.0.0.1:0"], &[], BOUND);
    refused("token file", f, &["/no/such/file"]);
}

/// Pins: a Cedar syntax error in the embedded gateway's policies is invalid input (exit 2, naming
/// the file and what to do), not target trouble (3): retrying will not fix it.
#[test]
fn invalid_embedded_policies_are_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, policies.join(path.file_name().unwrap())).unwrap();
    }
    let roles = policies.join("roles.cedar");
    let text = std::fs::read_to_string(&roles).unwrap();
    std::fs::write(&roles, format!("{text}\npermit(principal, action, resource) when {{ oops }};\n")).unwrap();
    let state = dir.path().join("state.json");
    let snapshots = dir.path().join("snapshots");
    let f = gateprobe(
        &["run", "--state", state.to_str().unwrap(), "--snapshots", snapshots.to_str().unwrap()],
        &[("GATEPROBE_POLICIES", policies.to_str().unwrap())],
        BOUND,
    );
    refused("a Cedar syntax error", f, &["roles.cedar", "policies are invalid", "help:"]);
}

//! The HTML report in a real browser: headless Chromium loads the file a run against the
//! embedded gateway wrote, runs its script, and the DOM must show the grid and a failing cell's
//! detail. The screenshot is kept under the target directory as an artifact.
//!
//! Needs Chromium (Debian package `chromium`, installed by `scripts/install-deps`); the test
//! fails, never skips, when it is missing. `GATEPROBE_CHROMIUM` names another binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gateprobe::LoadOptions;
use gateprobe::plan::Filter;
use gateprobe_cli::report::{ReportFormat, ReportSpec};

/// 2 identities × 3 tools; `alice-reader × files.delete` expects allow, which the gateway denies.
const SUITE: &str = "suite: html
matrix:
  calls:
    read: { tool: files.read, arguments: { path: /docs/handbook.md } }
    delete: { tool: files.delete, arguments: { path: /docs/handbook.md } }
    search: { tool: search.query, arguments: { q: onboarding } }
  expect:
    alice-reader: [A, A, A]
    carol-support: [D, D, A]
";

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("GATEPROBE_CHROMIUM") {
        return PathBuf::from(p);
    }
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "headless Chromium is required for the HTML report test but was not found at /usr/bin/chromium; \
         install it with `apt-get install -y chromium` (scripts/install-deps does) or set GATEPROBE_CHROMIUM"
    );
}

/// Runs Chromium headless on `url` with `extra` flags; returns stdout. Killed after a minute.
fn headless(profile: &Path, url: &str, extra: &[&str]) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait for chromium").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("chromium output");
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_report_shows_the_grid_and_a_failing_cells_detail_in_chromium() {
    let chromium = chromium(); // fail fast, before the run, when it is missing
    assert!(chromium.exists(), "{} does not exist", chromium.display());

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("html.yaml"), SUITE).unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateprobe.yaml");
    let loaded =
        gateprobe::load(&LoadOptions { config: Some(config), suites: vec![dir.path().to_path_buf()] }).unwrap();
    let summary = gateprobe::run(&loaded, &Filter::default(), &|_| {}).await.unwrap();
    assert_eq!(summary.results.len(), 6);
    assert_eq!(summary.exit_code(), 1, "exactly the planted wrong cell fails");

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    std::fs::create_dir_all(&artifacts).unwrap();
    let html = artifacts.join("report.html");
    gateprobe_cli::report::write_reports(&summary, &[ReportSpec { format: ReportFormat::Html, path: html.clone() }])
        .unwrap();
    let url = format!("file://{}#click-first-failure", html.display());
    let profile = tempfile::tempdir().unwrap();

    let dom = headless(profile.path(), &url, &["--dump-dom"]);
    let cells = dom.matches("<td class=\"cell ").count();
    assert_eq!(cells, 6, "the grid has one cell per identity × tool:\n{dom}");
    assert_eq!(dom.matches("<td class=\"cell fail").count(), 1, "{dom}");
    let detail =
        dom.split("<section id=\"detail\"").nth(1).expect("detail section").split("</section>").next().unwrap();
    assert!(!detail.starts_with(" hidden"), "the failing cell was not opened:\n{detail}");
    for needle in [
        "alice-reader × files.delete",
        "<dd>allow</dd>",
        "<dd>deny</dd>",
        "<dd>missing_capability</dd>",
        "files.delete: expected allow, got deny (missing_capability)",
        "\"decision\": \"deny\"",
        "<pre class=\"evidence\">{",
    ] {
        assert!(detail.contains(needle), "detail lacks `{needle}`:\n{detail}");
    }

    let screenshot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    headless(profile.path(), &url, &[&format!("--screenshot={}", screenshot.display())]);
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "not a real screenshot: {} bytes", png.len());
    eprintln!("screenshot: {}", screenshot.display());
}

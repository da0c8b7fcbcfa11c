//! Child processes for tests that start real programs (gateprobe's binary, Prometheus,
//! Alertmanager): each is killed when its handle drops, however the test ends, and its output
//! goes to a log file whose tail is shown when a wait fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A child process killed on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with its output in `dir/<name>.log`.
    pub fn start(name: &str, dir: &Path, cmd: &mut Command) -> Proc {
        Proc::start_logging(cmd, dir.join(format!("{name}.log")))
    }

    /// Starts `cmd` with its output in `log`; the process is named after the file.
    pub fn start_logging(cmd: &mut Command, log: PathBuf) -> Proc {
        let name = log.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let file = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} could not start: {e} (scripts/install-deps installs it)"));
        Proc { name, child, log }
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit within {limit:?}\n{}", self.name, self.tail());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no handler runs, nothing is flushed.
    pub fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.wait(Duration::from_secs(10));
        assert!(!status.success(), "{} was already gone before the kill: {status}\n{}", self.name, self.tail());
    }

    /// The last 30 lines of its output.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!("--- {} (last lines) ---\n{}", self.name, lines[lines.len().saturating_sub(30)..].join("\n"))
    }

    /// True while the process has not exited.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// True when the process has exited and nobody has reaped it yet (a zombie): read from
    /// `/proc/<pid>/stat` because `Child::try_wait` needs `&mut`, and waits hold shared handles.
    /// A process reaped on purpose (`sigkill`) has no entry and is not reported.
    fn died(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // The state follows the command name, which is in parentheses and may hold spaces.
        stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Alertmanager on `127.0.0.1:port` with a route that notifies nobody.
pub fn start_alertmanager(dir: &Path, port: u16) -> Proc {
    std::fs::write(
        dir.join("alertmanager.yml"),
        "route: { receiver: 'null', group_wait: 1s, group_interval: 1s, group_by: ['alertname', 'policy_from', 'policy_to'] }\nreceivers: [{ name: 'null' }]\n",
    )
    .expect("write");
    Proc::start(
        "alertmanager",
        dir,
        Command::new("/usr/bin/prometheus-alertmanager")
            .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.join("am").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address="),
    )
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Copies the files of `from` (not recursive) into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// Polls `probe` every 200 ms until it returns `Some`, at most `limit`; on timeout, or as soon as
/// one of `procs` dies, fails with their logs.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, procs: &[&Proc], mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        let logs = || procs.iter().map(|p| p.tail()).collect::<Vec<_>>().join("\n");
        if let Some(dead) = procs.iter().find(|p| p.died()) {
            panic!("{} exited while waiting for {what}\n{}", dead.name, logs());
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}\n{}", logs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls serve's `/status` at `base` until run `id` has finished, at most `limit`; on timeout
/// fails with `log()`.
pub async fn wait_for_run(
    client: &reqwest::Client,
    base: &str,
    id: u64,
    limit: Duration,
    log: impl Fn() -> String,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(r) = client.get(format!("{base}/status")).send().await {
            if let Ok(status) = r.json::<serde_json::Value>().await {
                if status["last_run"]["id"].as_u64() >= Some(id) && status["running"] == false {
                    return status;
                }
            }
        }
        assert!(Instant::now() < deadline, "serve did not finish run {id} within {limit:?}\n{}", log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! Credentials of synthetic identities: resolved from the environment, a file, a command or an
//! OAuth token endpoint (`oauth.rs`), held in a [`Secret`] that never prints its value.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use tokio::io::AsyncReadExt;

use crate::config::{ClientSecretSource, CredentialSource, OAuthCredential};
use crate::oauth::TokenSource;

/// How long a token command may run.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest credential read from a file or a command's output. A token is a few KiB at most;
/// a command that prints more is the wrong command, and is stopped as soon as it passes this.
pub(crate) const MAX_CREDENTIAL_BYTES: usize = 64 << 10;

/// How much of a credential command's stderr is kept (only its first line is quoted); the rest
/// is read and dropped, so a chatty command does not block on a full pipe.
const MAX_STDERR_BYTES: usize = 8 << 10;

/// A credential. `Debug` and `Display` print `[REDACTED]`; [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must send it (an `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// What replaces a credential found in text a gateway sent back.
pub const REDACTED: &str = "[REDACTED]";

/// Shorter values are not scrubbed: replacing every occurrence of a few common characters would
/// garble unrelated text, and so short a value is no secret a scrub could keep anyway.
const MIN_SCRUBBED_LEN: usize = 8;

/// Removes the run's credentials from what a gateway sends back. A gateway may quote the caller's
/// token (an error message, a reason, a header, an audit record that logs request headers), and
/// all of that ends up in reports, logs, the state and metric labels; so adapters scrub every
/// answer as it arrives, before anything quotes or truncates it.
///
/// For a JWT, its payload and signature segments are scrubbed on their own too: each is unique
/// to the token. The header segment is the same for every token of an algorithm and stays.
///
/// Every byte that belongs to an occurrence of any value is hidden, and overlapping or adjacent
/// occurrences become one [`REDACTED`]. Building and scrubbing take time linear in the length of
/// the values and of the text, whatever the values look like (`benches/scrub.sh` prints it).
///
/// Clones share their values: a token minted during the run (an OAuth credential's refresh) is
/// [learned](Scrubber::learn) before it is first sent, and from then on every clone scrubs it.
#[derive(Clone, Default)]
pub struct Scrubber {
    shared: Arc<RwLock<Learned>>,
}

/// What a [`Scrubber`] knows: the values it was built with, the tokens minted since (the most
/// recent [`MAX_MINTED`]), and the automaton of both.
#[derive(Default)]
struct Learned {
    fixed: Vec<Secret>,
    minted: VecDeque<Secret>,
    compiled: Arc<Compiled>,
}

/// Most minted tokens a scrubber keeps: a service refreshing a few identities' tokens every few
/// minutes would otherwise grow it for weeks. The oldest dropped have long expired.
const MAX_MINTED: usize = 256;

/// The values of a [`Scrubber`] at one moment, compiled.
#[derive(Default)]
struct Compiled {
    /// All values in one automaton, which tells in one pass whether a text holds any of them:
    /// nearly every string of every answer holds none. `None` when there is nothing to scrub.
    detector: Option<AhoCorasick>,
    /// Each value with its KMP failure table: on the rare text that holds a value, every
    /// occurrence of every value (overlapping ones too) is found in one pass per value.
    values: Box<[Needle]>,
}

/// A value to scrub and the length of the longest proper border (prefix that is also a suffix)
/// of each of its prefixes.
struct Needle {
    bytes: Box<[u8]>,
    border: Box<[u32]>,
}

impl Needle {
    fn new(value: &str) -> Needle {
        let bytes = value.as_bytes();
        let mut border = vec![0u32; bytes.len()];
        let mut k = 0;
        for i in 1..bytes.len() {
            while k > 0 && bytes[i] != bytes[k] {
                k = border[k - 1] as usize;
            }
            if bytes[i] == bytes[k] {
                k += 1;
            }
            border[i] = k as u32;
        }
        Needle { bytes: bytes.into(), border: border.into() }
    }

    /// Marks in `hidden` every byte of `text` inside an occurrence of this value. Linear: the
    /// search is Knuth–Morris–Pratt, and each byte is marked once however many occurrences
    /// cover it.
    fn mark(&self, text: &[u8], hidden: &mut [bool]) {
        let (p, n) = (&self.bytes, self.bytes.len());
        let (mut k, mut marked_to) = (0, 0);
        for (i, &b) in text.iter().enumerate() {
            while k > 0 && p[k] != b {
                k = self.border[k - 1] as usize;
            }
            if p[k] == b {
                k += 1;
            }
            if k == n {
                let (start, end) = (i + 1 - n, i + 1);
                hidden[start.max(marked_to)..end].iter_mut().for_each(|h| *h = true);
                marked_to = end;
                k = self.border[n - 1] as usize;
            }
        }
    }
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} values)", self.current().values.len())
    }
}

impl Scrubber {
    /// A scrubber for `secrets` (with a JWT's payload and signature on their own; very short values are skipped).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Scrubber {
        let fixed: Vec<Secret> = secrets.into_iter().cloned().collect();
        let compiled = Arc::new(Compiled::new(&fixed));
        Scrubber { shared: Arc::new(RwLock::new(Learned { fixed, minted: VecDeque::new(), compiled })) }
    }

    /// Adds a credential the run holds for its whole life (a token from env, file or command, an
    /// OAuth client secret), for this scrubber and every clone of it: never dropped.
    pub fn keep(&self, secret: &Secret) {
        self.add(secret, |learned| learned.fixed.push(secret.clone()));
    }

    /// Adds a token minted during the run (an OAuth refresh), for this scrubber and every clone
    /// of it, before the token is sent anywhere. Only the latest [`MAX_MINTED`] are kept.
    pub fn learn(&self, secret: &Secret) {
        self.add(secret, |learned| {
            if learned.minted.len() == MAX_MINTED {
                learned.minted.pop_front();
            }
            learned.minted.push_back(secret.clone());
        });
    }

    /// `secret` put in place by `insert` unless already known, then every value compiled again.
    fn add(&self, secret: &Secret, insert: impl FnOnce(&mut Learned)) {
        let mut learned = self.shared.write().unwrap_or_else(|p| p.into_inner());
        if learned.fixed.contains(secret) || learned.minted.contains(secret) {
            return;
        }
        insert(&mut learned);
        let all: Vec<Secret> = learned.fixed.iter().chain(&learned.minted).cloned().collect();
        learned.compiled = Arc::new(Compiled::new(&all));
    }

    /// The values as they are now (a scrub in progress keeps the set it started with).
    fn current(&self) -> Arc<Compiled> {
        self.shared.read().unwrap_or_else(|p| p.into_inner()).compiled.clone()
    }

    /// Whether there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.current().detector.is_none()
    }

    /// `text` with every credential replaced by [`REDACTED`].
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.current().scrub(text)
    }

    /// [`Scrubber::scrub`] for an owned string, reusing it when nothing is found.
    pub fn scrub_string(&self, text: String) -> String {
        self.current().scrub_string(text)
    }

    /// Scrubs every string and every object key of `value`, in place.
    pub fn scrub_json(&self, value: &mut serde_json::Value) {
        self.current().scrub_json(value)
    }
}

impl Compiled {
    fn new(secrets: &[Secret]) -> Compiled {
        let mut needles = Vec::new();
        for secret in secrets {
            let value = secret.expose();
            needles.push(value.to_string());
            if let [_, payload, signature] = value.split('.').collect::<Vec<_>>()[..] {
                needles.extend([payload.to_string(), signature.to_string()]);
            }
        }
        needles.retain(|n| n.len() >= MIN_SCRUBBED_LEN);
        needles.sort();
        needles.dedup();
        if needles.is_empty() {
            return Compiled::default();
        }
        // Chosen so that building is linear whatever the values: not the DFA the crate picks for
        // few patterns (filling its table follows failure links from every state: 12.5 s for a
        // 64 KiB token of one letter), and leftmost semantics, whose match states are the values'
        // ends only (standard semantics makes every state a match state whose suffix is a value,
        // and the crate's reordering of match states is quadratic in their number).
        let detector = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .match_kind(MatchKind::LeftmostFirst)
            .build(&needles);
        Compiled {
            // Building only fails past limits far beyond a run's few tokens.
            detector: Some(detector.expect("credentials fit one automaton")),
            values: needles.iter().map(|n| Needle::new(n)).collect(),
        }
    }

    fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match &self.detector {
            // `is_match` stops at the first value found, so it never rescans.
            Some(detector) if detector.is_match(text) => Cow::Owned(self.redact(text)),
            _ => Cow::Borrowed(text),
        }
    }

    /// `text` with each run of bytes inside occurrences of values replaced by one [`REDACTED`].
    /// The runs start and end on character boundaries: a value is UTF-8, so an occurrence of it
    /// in UTF-8 text begins at a leading byte and ends after a whole character.
    fn redact(&self, text: &str) -> String {
        let mut hidden = vec![false; text.len()];
        self.values.iter().for_each(|v| v.mark(text.as_bytes(), &mut hidden));
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            let run = hidden[i..].iter().position(|&h| h != hidden[i]).unwrap_or(text.len() - i);
            if hidden[i] {
                out.push_str(REDACTED);
            } else {
                out.push_str(&text[i..i + run]);
            }
            i += run;
        }
        out
    }

    fn scrub_string(&self, text: String) -> String {
        match self.scrub(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(scrubbed) => scrubbed,
        }
    }

    fn scrub_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        if self.detector.is_none() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(scrubbed) = self.scrub(s) {
                    *s = scrubbed;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_json(v)),
            Value::Object(map) => {
                if map.keys().any(|k| matches!(self.scrub(k), Cow::Owned(_))) {
                    *map = std::mem::take(map).into_iter().map(|(k, v)| (self.scrub_string(k), v)).collect();
                }
                map.values_mut().for_each(|v| self.scrub_json(v));
            }
            _ => {}
        }
    }
}

/// A credential could not be obtained. Messages never include the credential itself.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    #[error("environment variable {0} is empty")]
    EmptyEnv(String),
    #[error("cannot read credential file {}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    #[error("credential file {} is empty", .0.display())]
    EmptyFile(PathBuf),
    #[error("credential command is empty")]
    EmptyCommand,
    #[error("cannot run credential command `{program}`: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("credential command `{program}` did not finish within {}s", timeout.as_secs())]
    Timeout { program: String, timeout: Duration },
    #[error("credential command `{program}` failed ({status}): {stderr}")]
    CommandFailed { program: String, status: String, stderr: String },
    #[error("credential command `{program}` printed no token")]
    EmptyOutput { program: String },
    #[error("credential command `{program}` printed more than {limit} bytes, far more than any token; it was stopped")]
    CommandTooLarge { program: String, limit: usize },
    #[error("credential file {} is larger than {limit} bytes, far more than any token", path.display())]
    FileTooLarge { path: PathBuf, limit: usize },
    #[error("the token from {from} holds a line break or another control character, which an HTTP header cannot carry")]
    NotHeaderSafe { from: String },
    #[error("OAuth client secret: {0}")]
    ClientSecret(Box<CredentialError>),
    #[error("no token from {url}: {cause}")]
    TokenEndpoint { url: String, cause: String },
}

/// A bearer credential as a run holds it: the same token for the whole run (env, file, command,
/// or minted by the embedded gateway), or an OAuth token source that gives its current token
/// and obtains a new one shortly before that expires.
#[derive(Clone, Debug, Default)]
pub enum Credential {
    /// None: requests go without `Authorization`.
    #[default]
    None,
    /// One token for the run.
    Fixed(Secret),
    /// Tokens from an OAuth 2 token endpoint, refreshed as they near expiry.
    OAuth(Arc<TokenSource>),
}

impl Credential {
    /// The bearer token to send now, if any (for OAuth, the current one, refreshed when due).
    pub async fn bearer(&self) -> Result<Option<Secret>, CredentialError> {
        match self {
            Credential::None => Ok(None),
            Credential::Fixed(secret) => Ok(Some(secret.clone())),
            Credential::OAuth(source) => source.token().await.map(Some),
        }
    }

    /// Whether requests carry a token.
    pub fn is_some(&self) -> bool {
        !matches!(self, Credential::None)
    }
}

/// The credential `src` names, as the run holds it; `scrubber` learns every value it gives
/// (an OAuth source also its client secret, and each token it obtains later). An OAuth source
/// obtains its first token here, so a refusing token endpoint stops the run before any call.
/// `none` and `invalid` give [`Credential::None`]: no credential, or one the embedded target
/// mints itself.
pub(crate) async fn obtain(src: &CredentialSource, scrubber: &Scrubber) -> Result<Credential, CredentialError> {
    let secret = match src {
        CredentialSource::OAuth(config) => {
            let source = token_source(config, scrubber).await?;
            source.token().await?;
            return Ok(Credential::OAuth(Arc::new(source)));
        }
        _ => resolve_credential(src).await?,
    };
    Ok(match secret {
        Some(secret) => {
            scrubber.keep(&secret);
            Credential::Fixed(secret)
        }
        None => Credential::None,
    })
}

/// Obtains the credential `src` names. `none` and `invalid` give `Ok(None)`: no credential, or
/// one the embedded target mints itself.
pub async fn resolve_credential(src: &CredentialSource) -> Result<Option<Secret>, CredentialError> {
    resolve_credential_with_timeout(src, COMMAND_TIMEOUT).await
}

/// [`resolve_credential`] with a given timeout for token commands.
pub async fn resolve_credential_with_timeout(
    src: &CredentialSource,
    timeout: Duration,
) -> Result<Option<Secret>, CredentialError> {
    let (token, from) = match src {
        CredentialSource::None | CredentialSource::Invalid(_) => return Ok(None),
        CredentialSource::Env(name) => (from_env(name)?, format!("environment variable {name}")),
        CredentialSource::File(path) => (from_file(path).await?, format!("file {}", path.display())),
        CredentialSource::Command(argv) => {
            (run_command(argv, timeout).await?, format!("command `{}`", argv.first().map_or("", String::as_str)))
        }
        // One token, for a caller that sends one request (a run holds a refreshing source: `obtain`).
        CredentialSource::OAuth(config) => {
            return token_source(config, &Scrubber::default()).await?.token().await.map(Some);
        }
    };
    // Said here, naming where the token came from: sent, it would fail every call with no hint.
    if !is_header_safe(token.expose()) {
        return Err(CredentialError::NotHeaderSafe { from });
    }
    Ok(Some(token))
}

/// Whether `token` can go in an `Authorization: Bearer` header: no control character but tab
/// (the rule of the `HeaderValue` that carries it).
pub(crate) fn is_header_safe(token: &str) -> bool {
    reqwest::header::HeaderValue::from_bytes(format!("Bearer {token}").as_bytes()).is_ok()
}

/// An OAuth token source for `config`, its client secret read.
async fn token_source(config: &OAuthCredential, scrubber: &Scrubber) -> Result<TokenSource, CredentialError> {
    let client_secret = match &config.client_secret {
        ClientSecretSource::Env(name) => from_env(name),
        ClientSecretSource::File(path) => from_file(path).await,
    }
    .map_err(|e| CredentialError::ClientSecret(Box::new(e)))?;
    TokenSource::new(config.clone(), client_secret, scrubber.clone())
}

/// The trimmed value of the environment variable `name`.
fn from_env(name: &str) -> Result<Secret, CredentialError> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Err(CredentialError::EmptyEnv(name.to_owned())),
        Ok(v) => Ok(Secret(v.trim().to_owned())),
        Err(_) => Err(CredentialError::MissingEnv(name.to_owned())),
    }
}

/// The trimmed content of the file at `path`, read up to [`MAX_CREDENTIAL_BYTES`].
async fn from_file(path: &std::path::Path) -> Result<Secret, CredentialError> {
    let file_error = |source| CredentialError::File { path: path.to_owned(), source };
    // Bounded: `file: /dev/zero` (or a log file named by mistake) is not read whole.
    let file = tokio::fs::File::open(path).await.map_err(file_error)?;
    let bytes = read_credential(file)
        .await
        .map_err(file_error)?
        .ok_or_else(|| CredentialError::FileTooLarge { path: path.to_owned(), limit: MAX_CREDENTIAL_BYTES })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| file_error(std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CredentialError::EmptyFile(path.to_owned()));
    }
    Ok(Secret(token.to_owned()))
}

/// All of `reader` up to [`MAX_CREDENTIAL_BYTES`]; `None` as soon as it holds more (what is past
/// the cap is never read).
async fn read_credential(reader: impl tokio::io::AsyncRead + Unpin) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader.take(MAX_CREDENTIAL_BYTES as u64 + 1).read_to_end(&mut bytes).await?;
    Ok((bytes.len() <= MAX_CREDENTIAL_BYTES).then_some(bytes))
}

/// A credential command's process group (the command leads it), killed whole when dropped
/// unless it [`finished`](ProcessGroup::finished): a command that timed out or printed too much
/// leaves nothing behind, not even what it started in the background.
struct ProcessGroup {
    child: tokio::process::Child,
    /// The leader's pid, the group's id (kept: the child forgets it once reaped).
    id: Option<u32>,
    running: bool,
}

impl ProcessGroup {
    fn finished(mut self) {
        self.running = false;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // A group id is not handed out again while any process of the group lives (even with
        // the leader reaped), so this reaches only what the command started.
        if let (true, Some(pid)) = (self.running, self.id) {
            // SAFETY: killpg only sends a signal; a group that is already gone gives ESRCH.
            unsafe { libc::killpg(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

async fn run_command(argv: &[String], timeout: Duration) -> Result<Secret, CredentialError> {
    let (program, args) = argv.split_first().ok_or(CredentialError::EmptyCommand)?;
    let spawn_error = |source| CredentialError::Spawn { program: program.clone(), source };
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a timeout can kill everything it started.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_error)?;
    let mut group = ProcessGroup { id: child.id(), child, running: true };
    let stdout = group.child.stdout.take().expect("stdout is piped");
    let stderr = group.child.stderr.take().expect("stderr is piped");
    let read_stdout = async {
        read_credential(stdout)
            .await
            .map_err(spawn_error)?
            .ok_or_else(|| CredentialError::CommandTooLarge { program: program.clone(), limit: MAX_CREDENTIAL_BYTES })
    };
    let read_stderr = async {
        let mut stderr = stderr;
        let mut kept = Vec::new();
        (&mut stderr).take(MAX_STDERR_BYTES as u64).read_to_end(&mut kept).await.map_err(spawn_error)?;
        tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await.map_err(spawn_error)?;
        Ok(kept)
    };
    let wait = async { group.child.wait().await.map_err(spawn_error) };
    // Whichever fails first ends the wait (too much output does not wait for the command).
    let (stdout, stderr, status) =
        match tokio::time::timeout(timeout, async { tokio::try_join!(read_stdout, read_stderr, wait) }).await {
            Ok(result) => result?,
            Err(_) => return Err(CredentialError::Timeout { program: program.clone(), timeout }),
        };
    group.finished();
    if !status.success() {
        // Only stderr's first line: stdout may hold a partial token.
        let stderr = String::from_utf8_lossy(&stderr);
        let first = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(no message)");
        return Err(CredentialError::CommandFailed {
            program: program.clone(),
            status: status.to_string(),
            stderr: first.chars().take(200).collect(),
        });
    }
    let token = String::from_utf8_lossy(&stdout).trim().to_owned();
    if token.is_empty() {
        return Err(CredentialError::EmptyOutput { program: program.clone() });
    }
    Ok(Secret(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InvalidCredential;

    fn sh(script: &str) -> CredentialSource {
        CredentialSource::Command(vec!["sh".into(), "-c".into(), script.into()])
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "[REDACTED] [REDACTED]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn scrubber_removes_tokens_and_jwt_segments_everywhere() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLWFsaWNl";
        let scrubber = Scrubber::new([&Secret::new(jwt), &Secret::new("opaque-token-1234"), &Secret::new("short")]);
        assert_eq!(format!("{scrubber:?}"), "Scrubber(4 values)");
        assert_eq!(scrubber.scrub(&format!("bad token {jwt}!")), "bad token [REDACTED]!");
        assert_eq!(
            scrubber.scrub("sig c2lnbmF0dXJlLW9mLWFsaWNl, payload eyJzdWIiOiJhbGljZSJ9"),
            "sig [REDACTED], payload [REDACTED]"
        );
        assert_eq!(scrubber.scrub("Bearer opaque-token-1234"), "Bearer [REDACTED]");
        // The header segment is every HS256 token's, and too-short values are left alone.
        assert_eq!(scrubber.scrub("eyJhbGciOiJIUzI1NiJ9 short"), "eyJhbGciOiJIUzI1NiJ9 short");
        let mut v = serde_json::json!({"a": [format!("x {jwt}")], "opaque-token-1234": {"k": "opaque-token-1234"}});
        scrubber.scrub_json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["x [REDACTED]"], "[REDACTED]": {"k": "[REDACTED]"}}));
        assert!(Scrubber::default().is_empty());
    }

    /// A token minted mid-run (an OAuth refresh) is scrubbed by every clone of the run's
    /// scrubber from then on, and a long-lived service keeps only the latest minted ones.
    #[test]
    fn learned_values_reach_every_clone_and_minted_ones_are_bounded() {
        let scrubber = Scrubber::default();
        scrubber.keep(&Secret::new("fixed-token-1"));
        let clone = scrubber.clone();
        assert_eq!(clone.scrub("minted-token-1"), "minted-token-1");
        scrubber.learn(&Secret::new("minted-token-1"));
        scrubber.learn(&Secret::new("minted-token-1"));
        assert_eq!(clone.scrub("fixed-token-1 minted-token-1"), "[REDACTED] [REDACTED]");
        assert_eq!(format!("{clone:?}"), "Scrubber(2 values)");
        for i in 0..MAX_MINTED {
            scrubber.learn(&Secret::new(format!("later-token-{i:04}")));
        }
        assert_eq!(
            clone.scrub("minted-token-1 fixed-token-1"),
            "minted-token-1 [REDACTED]",
            "the oldest minted went, a kept credential stays"
        );
        assert_eq!(format!("{clone:?}"), format!("Scrubber({} values)", MAX_MINTED + 1));
    }

    #[test]
    fn overlapping_and_adjacent_values_are_one_redaction() {
        let scrubber = Scrubber::new([&Secret::new("abcdefgh"), &Secret::new("efghijklmn")]);
        assert_eq!(scrubber.scrub("x abcdefghijklmn y"), "x [REDACTED] y");
        assert_eq!(scrubber.scrub("abcdefghabcdefgh, abcdefg"), "[REDACTED], abcdefg");
        // A value that ends later but starts earlier swallows what was found before it.
        let scrubber =
            Scrubber::new([&Secret::new("cdefghij"), &Secret::new("klmnopqr"), &Secret::new("abcdefghijklmnopqrst")]);
        assert_eq!(scrubber.scrub("<abcdefghijklmnopqrst>"), "<[REDACTED]>");
        assert_eq!(scrubber.scrub("é cdefghij ü klmnopqr"), "é [REDACTED] ü [REDACTED]");
    }

    /// Tokens of one repeated letter, one a prefix of the other, over a text that nearly holds
    /// the long one everywhere: the shape that made the DFA's construction quadratic, made an
    /// automaton with standard semantics quadratic to build (the short value ends at every
    /// position of the long one) and would make leftmost-longest matching rescan after every
    /// match. Not a speed test: the bound only tells linear (milliseconds) from quadratic.
    #[test]
    fn repetitive_tokens_scrub_in_linear_time() {
        let start = std::time::Instant::now();
        let long = "a".repeat(64 << 10);
        let scrubber = Scrubber::new([&Secret::new(long.clone()), &Secret::new("a".repeat(8))]);
        let near_misses = format!("{}b", &long[1..]).repeat(16);
        let scrubbed = scrubber.scrub(&near_misses);
        assert_eq!(scrubbed, "[REDACTED]b".repeat(16));
        assert_eq!(scrubber.scrub(&format!("x{long}y")), "x[REDACTED]y");
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn env_source() {
        let e = resolve_credential(&CredentialSource::Env("GATEPROBE_TEST_SURELY_UNSET_VAR".into())).await.unwrap_err();
        assert_eq!(e.to_string(), "environment variable GATEPROBE_TEST_SURELY_UNSET_VAR is not set");
        // PATH is set in any test environment.
        assert!(resolve_credential(&CredentialSource::Env("PATH".into())).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn file_source_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  abc123\n").unwrap();
        let s = resolve_credential(&CredentialSource::File(path.clone())).await.unwrap().unwrap();
        assert_eq!(s.expose(), "abc123");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            resolve_credential(&CredentialSource::File(path.clone())).await,
            Err(CredentialError::EmptyFile(_))
        ));
        // Two tokens on two lines (a file meant for something else): refused, naming the file,
        // not the token.
        std::fs::write(&path, "first-token\nsecond-token\n").unwrap();
        let e = resolve_credential(&CredentialSource::File(path.clone())).await.unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "the token from file {} holds a line break or another control character, which an HTTP header cannot carry",
                path.display()
            )
        );
    }

    #[tokio::test]
    async fn command_source() {
        let s = resolve_credential(&sh("echo tok-42")).await.unwrap().unwrap();
        assert_eq!(s.expose(), "tok-42");
        let e = resolve_credential(&sh("echo half-a-token; echo 'no session' >&2; echo more >&2; exit 3"))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("no session") && !e.contains("more") && !e.contains("half-a-token"), "{e}");
        let e = resolve_credential_with_timeout(&sh("sleep 5"), Duration::from_millis(100)).await.unwrap_err();
        assert!(matches!(e, CredentialError::Timeout { .. }), "{e}");
        // Stderr past its cap is read and dropped: the command is not blocked on a full pipe.
        let s = resolve_credential(&sh("head -c 1000000 /dev/zero >&2; echo tok-43")).await.unwrap().unwrap();
        assert_eq!(s.expose(), "tok-43");
        let e = resolve_credential(&sh("head -c 65537 /dev/zero")).await.unwrap_err();
        assert!(matches!(e, CredentialError::CommandTooLarge { limit: MAX_CREDENTIAL_BYTES, .. }), "{e}");
        assert!(resolve_credential(&sh("printf %65536s x")).await.is_ok());
    }

    #[tokio::test]
    async fn a_credential_file_is_read_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "x".repeat(MAX_CREDENTIAL_BYTES + 1)).unwrap();
        let e = resolve_credential(&CredentialSource::File(path)).await.unwrap_err();
        assert!(matches!(e, CredentialError::FileTooLarge { limit: MAX_CREDENTIAL_BYTES, .. }), "{e}");
        let e = resolve_credential(&CredentialSource::File("/dev/zero".into())).await.unwrap_err();
        assert!(matches!(e, CredentialError::FileTooLarge { .. }), "{e}");
    }

    #[tokio::test]
    async fn none_and_invalid_have_no_secret() {
        assert!(resolve_credential(&CredentialSource::None).await.unwrap().is_none());
        let invalid = CredentialSource::Invalid(InvalidCredential::Expired);
        assert!(resolve_credential(&invalid).await.unwrap().is_none());
    }
}

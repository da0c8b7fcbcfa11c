//! Credentials of synthetic identities: resolved from the environment, a file or a command,
//! held in a [`Secret`] that never prints its value.

use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::config::CredentialSource;

/// How long a token command may run.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// A credential. `Debug` and `Display` print `[REDACTED]`; [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
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
    match src {
        CredentialSource::None | CredentialSource::Invalid(_) => Ok(None),
        CredentialSource::Env(name) => match std::env::var(name) {
            Ok(v) if v.trim().is_empty() => Err(CredentialError::EmptyEnv(name.clone())),
            Ok(v) => Ok(Some(Secret(v.trim().to_owned()))),
            Err(_) => Err(CredentialError::MissingEnv(name.clone())),
        },
        CredentialSource::File(path) => {
            let text = tokio::fs::read_to_string(path)
                .await
                .map_err(|source| CredentialError::File { path: path.clone(), source })?;
            let token = text.trim();
            if token.is_empty() {
                return Err(CredentialError::EmptyFile(path.clone()));
            }
            Ok(Some(Secret(token.to_owned())))
        }
        CredentialSource::Command(argv) => run_command(argv, timeout).await.map(Some),
    }
}

async fn run_command(argv: &[String], timeout: Duration) -> Result<Secret, CredentialError> {
    let (program, args) = argv.split_first().ok_or(CredentialError::EmptyCommand)?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| CredentialError::Spawn { program: program.clone(), source })?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(result) => result.map_err(|source| CredentialError::Spawn { program: program.clone(), source })?,
        // Dropping the future drops the child, which kills it.
        Err(_) => return Err(CredentialError::Timeout { program: program.clone(), timeout }),
    };
    if !output.status.success() {
        // Only stderr's first line: stdout may hold a partial token.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(no message)");
        return Err(CredentialError::CommandFailed {
            program: program.clone(),
            status: output.status.to_string(),
            stderr: first.chars().take(200).collect(),
        });
    }
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
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
        assert!(matches!(resolve_credential(&CredentialSource::File(path)).await, Err(CredentialError::EmptyFile(_))));
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
    }

    #[tokio::test]
    async fn none_and_invalid_have_no_secret() {
        assert!(resolve_credential(&CredentialSource::None).await.unwrap().is_none());
        let invalid = CredentialSource::Invalid(InvalidCredential::Expired);
        assert!(resolve_credential(&invalid).await.unwrap().is_none());
    }
}

//! TLS of every outbound connection (target, audit API, Alertmanager, assistants), in one place:
//! the roots a client trusts and the certificate it presents ([`build_client`]), and what a
//! failed handshake means ([`Failure`]).
//!
//! Trusted: the bundled Mozilla roots, the system store (rustls-native-certs, which honours
//! `SSL_CERT_FILE` and `SSL_CERT_DIR`), and the `ca_file` of the URL's `tls` block. There is no
//! way to skip verification, by design: a probe that would accept any certificate could be
//! answered by anyone, and its "allow" and "deny" would prove nothing.
//!
//! A failed handshake is classified by the `rustls::Error` among the causes of reqwest's error
//! (its type, never its message text), and said in words that name the setting that cures it.

use std::error::Error as StdError;
use std::io::Read;
use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, CertificateError};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::TargetError;
use crate::config::TlsConfig;

/// Largest PEM file read: a CA bundle of a few hundred certificates is well under it.
const MAX_PEM_BYTES: u64 = 4 << 20;

/// `builder` with `tls` applied, built. `setting` names the block in errors (e.g. `target.tls`).
/// A file that cannot be read or holds no usable certificate or key, or a key that does not
/// belong to its certificate, is a [`TargetError::Tls`] naming the file (a config error, exit 2),
/// found here rather than at the first handshake.
pub fn build_client(
    builder: reqwest::ClientBuilder,
    tls: Option<&TlsConfig>,
    setting: &str,
) -> Result<reqwest::Client, TargetError> {
    let error = |message: String| TargetError::Tls { setting: setting.to_owned(), message };
    // The bundled and system roots stay on (reqwest's default); nothing here can turn them,
    // or verification, off.
    let mut builder = builder.use_rustls_tls();
    let Some(tls) = tls else {
        return builder.build().map_err(|e| TargetError::Invalid(format!("HTTP client: {e}")));
    };
    if let Some(path) = &tls.ca_file {
        for (i, der) in certificates(path, "ca_file").map_err(error)?.into_iter().enumerate() {
            // Checked here so that a certificate unfit as a trust anchor is named with its file.
            rustls::RootCertStore::empty().add(der.clone()).map_err(|e| {
                error(format!("`ca_file` {}: certificate {} cannot be a trusted root: {e}", path.display(), i + 1))
            })?;
            let cert = reqwest::Certificate::from_der(&der)
                .map_err(|e| error(format!("`ca_file` {}: {e}", path.display())))?;
            builder = builder.add_root_certificate(cert);
        }
    }
    let pair = match (&tls.client_cert_file, &tls.client_key_file) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(error("give both `client_cert_file` and `client_key_file`, or neither".into())),
    };
    if let Some((cert_path, key_path)) = pair {
        let chain = certificates(cert_path, "client_cert_file").map_err(error)?;
        let key = private_key(key_path).map_err(error)?;
        // reqwest takes a client identity as PEM: the chain and the key, written again from
        // what was read (a key file may hold other sections reqwest would refuse).
        let mut pem = String::new();
        for der in &chain {
            pem.push_str(&encode_pem("CERTIFICATE", der));
        }
        let label = match &key {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        pem.push_str(&encode_pem(label, key.secret_der()));
        let identity = reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| {
            error(format!(
                "`client_cert_file` {} with `client_key_file` {}: {e}",
                cert_path.display(),
                key_path.display()
            ))
        })?;
        builder = builder.identity(identity);
    }
    // What rustls refuses when the client is built concerns the client certificate and its key
    // (the roots were checked above): an unsupported key, or a key of another certificate.
    let (cert, key) = (
        tls.client_cert_file.as_deref().unwrap_or(Path::new("")).display(),
        tls.client_key_file.as_deref().unwrap_or(Path::new("")).display(),
    );
    builder.build().map_err(|e| match rustls_error(&e) {
        Some(rustls::Error::InconsistentKeys(_)) => error(format!(
            "the key in `client_key_file` {key} does not belong to the certificate in `client_cert_file` {cert}"
        )),
        Some(r) => error(format!("`client_cert_file` {cert} with `client_key_file` {key} cannot be used: {r}")),
        None => TargetError::Invalid(format!("HTTP client: {e}")),
    })
}

/// The contents of a PEM file, read within [`MAX_PEM_BYTES`]; `key` names it in errors.
fn read_pem(path: &Path, key: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("`{key}` {}: cannot be read: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("`{key}` {}: cannot be read: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(format!("`{key}` {}: larger than {MAX_PEM_BYTES} bytes, not a PEM file", path.display()));
    }
    Ok(bytes)
}

/// Every certificate of a PEM file; at least one, or an error naming the file.
fn certificates(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read_pem(path, key)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{key}` {}: not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("`{key}` {}: holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)", path.display()));
    }
    Ok(certs)
}

/// The private key of a PEM file, or an error naming the file.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read_pem(path, "client_key_file")?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => format!(
            "`client_key_file` {}: holds no PEM private key (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`; an encrypted key must be decrypted first)",
            path.display()
        ),
        e => format!("`client_key_file` {}: not valid PEM: {e}", path.display()),
    })
}

/// One PEM section: `label` around the base64 of `der`, in lines of 64.
fn encode_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The rustls error among the causes of `e`. `std::io::Error::source` skips the error it wraps
/// (it returns that error's own source), and tokio-rustls wraps rustls's errors in one, so an
/// I/O error is opened with `get_ref`.
fn rustls_error<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(error) = next {
        if let Some(r) = error.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(inner) = error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            next = Some(inner as &(dyn StdError + 'static));
            continue;
        }
        next = error.source();
    }
    None
}

/// Why a TLS handshake failed, as rustls said it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure(rustls::Error);

impl Failure {
    /// The TLS failure behind a failed exchange, if TLS is what failed.
    pub(crate) fn of(e: &reqwest::Error) -> Option<Failure> {
        rustls_error(e).cloned().map(Failure)
    }

    /// The cause in words, with the setting that cures it; `setting` is the URL's `tls` block
    /// (e.g. `target.tls`).
    pub(crate) fn describe(&self, setting: &str) -> String {
        match &self.0 {
            rustls::Error::InvalidCertificate(c) => describe_certificate(c, setting),
            rustls::Error::AlertReceived(alert) => describe_alert(*alert, setting),
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                format!("the server did not answer in TLS ({}); is it a plain-HTTP port (an `http://` URL)?", self.0)
            }
            other => format!("the handshake failed: {other}"),
        }
    }
}

/// A server certificate gateprobe refused.
fn describe_certificate(c: &CertificateError, setting: &str) -> String {
    let date = |secs: u64| {
        i64::try_from(secs)
            .ok()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| format!("{secs} s after 1970"))
    };
    match c {
        CertificateError::UnknownIssuer => format!(
            "the server's certificate is not signed by a trusted CA (give `{setting}.ca_file` the CA that signed it, or add that CA to the system store or SSL_CERT_FILE)"
        ),
        CertificateError::BadSignature => "the server's certificate chain has a bad signature".into(),
        CertificateError::NotValidForName => "the server's certificate is not valid for the URL's host name".into(),
        CertificateError::NotValidForNameContext { expected, presented } => format!(
            "the server's certificate is not valid for the URL's host `{}` (it is for: {})",
            expected.to_str(),
            if presented.is_empty() {
                "no name".to_owned()
            } else {
                presented.iter().map(|n| bare_name(n)).collect::<Vec<_>>().join(", ")
            }
        ),
        CertificateError::Expired => "the server's certificate has expired".into(),
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("the server's certificate expired at {}", date(not_after.as_secs()))
        }
        CertificateError::NotValidYet => "the server's certificate is not valid yet".into(),
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!("the server's certificate is not valid before {}", date(not_before.as_secs()))
        }
        CertificateError::Revoked => "the server's certificate is revoked".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "the server's certificate is not for server authentication".into()
        }
        other => format!("the server's certificate was refused: {}", rustls::Error::InvalidCertificate(other.clone())),
    }
}

/// A name as rustls lists the ones a certificate presents (`DnsName("gw.example.com")`,
/// `IpAddress(10.0.0.1)`), without the wrapper: only for display.
fn bare_name(presented: &str) -> &str {
    presented
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .map_or(presented, |inner| inner.trim_matches('"'))
}

/// An alert the server ended the handshake with: mostly about our client certificate.
fn describe_alert(alert: AlertDescription, setting: &str) -> String {
    match alert {
        AlertDescription::CertificateRequired => format!(
            "the server requires a client certificate (give `{setting}.client_cert_file` and `{setting}.client_key_file`)"
        ),
        AlertDescription::UnknownCA => {
            format!("the server does not trust the CA of the client certificate (`{setting}.client_cert_file`)")
        }
        AlertDescription::CertificateExpired => {
            format!("the server refused the client certificate as expired (`{setting}.client_cert_file`)")
        }
        AlertDescription::BadCertificate
        | AlertDescription::CertificateUnknown
        | AlertDescription::CertificateRevoked
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::AccessDenied => {
            format!("the server refused the client certificate (`{setting}.client_cert_file`): alert {alert:?}")
        }
        AlertDescription::HandshakeFailure => format!(
            "the server refused the handshake (alert HandshakeFailure): it may require a client certificate (`{setting}.client_cert_file`) or share no cipher suite"
        ),
        other => format!("the server ended the handshake with alert {other:?}"),
    }
}

/// The TLS cause of a failed exchange in words, naming `setting`, when TLS is what failed; for
/// callers outside the engine (the Alertmanager client).
pub fn tls_failure(e: &reqwest::Error, setting: &str) -> Option<String> {
    Failure::of(e).map(|f| f.describe(setting))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_opened_to_find_the_rustls_error() {
        let rustls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls.clone());
        // What std does: the wrapped error is not the I/O error's source.
        assert!(io.source().is_none_or(|s| s.downcast_ref::<rustls::Error>().is_none()));
        assert_eq!(rustls_error(&io), Some(&rustls));
        let other = std::io::Error::other("refused");
        assert_eq!(rustls_error(&other), None);
    }

    #[test]
    fn causes_are_said_with_the_setting_that_cures_them() {
        let say = |e: rustls::Error| Failure(e).describe("target.tls");
        let unknown = say(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        assert!(
            unknown.contains("not signed by a trusted CA") && unknown.contains("`target.tls.ca_file`"),
            "{unknown}"
        );
        let required = say(rustls::Error::AlertReceived(AlertDescription::CertificateRequired));
        assert!(required.contains("requires a client certificate") && required.contains("target.tls.client_cert_file"));
        let expired = say(rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_000)),
            not_after: rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000)),
        }));
        assert_eq!(expired, "the server's certificate expired at 2023-11-14T22:13:20Z");
        // A handshake that failed fails again: not retried, and its own kind.
        let e = super::super::CallError::Tls(unknown);
        assert!(!e.is_transient());
        assert_eq!(e.kind(), "tls");
        assert!(super::super::CallError::KINDS.contains(&"tls"));
    }

    #[test]
    fn presented_names_are_shown_bare() {
        assert_eq!(bare_name("DnsName(\"gw.example.com\")"), "gw.example.com");
        assert_eq!(bare_name("IpAddress(10.0.0.1)"), "10.0.0.1");
        assert_eq!(bare_name("gw.example.com"), "gw.example.com");
    }

    #[test]
    fn pem_sections_are_written_in_lines_of_64() {
        let pem = encode_pem("CERTIFICATE", &[7u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(back.as_ref(), &[7u8; 100]);
    }

    #[test]
    fn files_are_named_when_they_hold_nothing_usable() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let tls = |ca: &Path| TlsConfig { ca_file: Some(ca.to_path_buf()), ..TlsConfig::default() };
        let e = build_client(reqwest::Client::builder(), Some(&tls(&empty)), "audit.tls").unwrap_err().to_string();
        assert!(
            e.starts_with("`audit.tls`: `ca_file`") && e.contains("empty.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let missing = dir.path().join("missing.pem");
        let e = build_client(reqwest::Client::builder(), Some(&tls(&missing)), "audit.tls").unwrap_err().to_string();
        assert!(e.contains("missing.pem: cannot be read"), "{e}");
        let key_only = TlsConfig {
            client_cert_file: Some(empty.clone()),
            client_key_file: Some(empty.clone()),
            ..TlsConfig::default()
        };
        let e = build_client(reqwest::Client::builder(), Some(&key_only), "target.tls").unwrap_err().to_string();
        assert!(e.contains("`client_cert_file`") && e.contains("no PEM certificate"), "{e}");
    }
}

//! HTTPS, and mutual TLS, served by the gateway itself (`--tls-cert`, `--tls-key`,
//! `--client-ca`): so that a gateway behind a private CA, or one that requires client
//! certificates, can be run, and tested end to end, without a proxy in front.
//!
//! The TLS is rustls through tokio-rustls; what is written here is only the accept glue, an
//! `axum::serve::Listener` (axum 0.8's extension point for this), so that the TLS gateway is
//! served by the same `axum::serve` and graceful shutdown as the plain one. axum-server would
//! bring a second server loop for one option, and its default provider is aws-lc-rs (a C build)
//! beside the ring that reqwest already uses. Handshakes run in tasks of their own, each bounded
//! in time, so one slow or silent client cannot hold up the others' accepts.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client has to complete the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve HTTPS with this certificate, and with `client_ca`, require client certificates (mTLS).
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// The server's certificate chain (PEM, the leaf first).
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM): clients must present a certificate signed by one of them.
    pub client_ca: Option<PathBuf>,
}

/// Why the TLS settings cannot be used; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}: {message}", path.display())]
pub struct TlsError {
    /// Which setting: `--tls-cert`, `--tls-key`, `--client-ca`.
    what: &'static str,
    path: PathBuf,
    message: String,
}

fn tls_error(what: &'static str, path: &Path, message: impl std::fmt::Display) -> TlsError {
    TlsError { what, path: path.to_path_buf(), message: message.to_string() }
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(what, path, e))?;
    if certs.is_empty() {
        return Err(tls_error(what, path, "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"));
    }
    Ok(certs)
}

/// The rustls server config `options` describe, every file read and checked now.
pub(crate) fn server_config(options: &TlsOptions) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certificates("--tls-cert", &options.cert)?;
    let key = PrivateKeyDer::from_pem_file(&options.key).map_err(|e| tls_error("--tls-key", &options.key, e))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match &options.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates("--client-ca", path)? {
                roots.add(cert).map_err(|e| tls_error("--client-ca", path, e))?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|e| tls_error("--client-ca", path, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| tls_error("--tls-key", &options.key, format!("does not fit --tls-cert: {e}")))?;
    // The router speaks HTTP/1.1 only (axum without its http2 feature).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// TCP connections that completed a TLS handshake, for `axum::serve`.
pub(crate) struct TlsListener {
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    /// Accepts connections and starts their handshakes; ended when the listener is dropped
    /// (at shutdown), which closes the socket.
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// `local` is the address `listener` is bound to.
    pub(crate) fn new(listener: TcpListener, local: SocketAddr, config: Arc<rustls::ServerConfig>) -> TlsListener {
        let (ready, handshaken) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let accepting = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, ready) = (acceptor.clone(), ready.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = ready.send((stream, peer)).await;
                        }
                        Ok(Err(error)) => tracing::info!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { handshaken, local, accepting }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The accepting task only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_files_are_named_with_their_flag() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello\n").unwrap();
        let options = |cert: &Path, client_ca: Option<&Path>| TlsOptions {
            cert: cert.to_path_buf(),
            key: not_pem.clone(),
            client_ca: client_ca.map(Path::to_path_buf),
        };
        let e = server_config(&options(&dir.path().join("missing.pem"), None)).unwrap_err().to_string();
        assert!(e.starts_with("--tls-cert ") && e.contains("missing.pem"), "{e}");
        let e = server_config(&options(&not_pem, None)).unwrap_err().to_string();
        assert!(e.starts_with("--tls-cert ") && e.contains("holds no PEM certificate"), "{e}");
    }
}

//! A private PKI for tests that speak TLS: a CA made on the fly (rcgen) and the leaf
//! certificates it signs, each written as PEM files a gateway, a test server or a config names.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// A CA of our own: its certificate on disk, and what signs with it.
pub struct Ca {
    pub pem: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new CA, its certificate written as `dir/<name>.pem`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, format!("gateprobe test CA {name}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pem = dir.join(format!("{name}.pem"));
        std::fs::write(&pem, cert.pem()).unwrap();
        Ca { pem, issuer: Issuer::new(params, key) }
    }

    /// A leaf certificate for `names`, valid in `[from, until)` years, written as
    /// `<file>.pem` and `<file>.key`.
    pub fn leaf(
        &self,
        dir: &Path,
        file: &str,
        names: &[&str],
        purpose: ExtendedKeyUsagePurpose,
        years: (i32, i32),
    ) -> Leaf {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, file);
        params.extended_key_usages = vec![purpose];
        params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
        params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let leaf = Leaf { cert: dir.join(format!("{file}.pem")), key: dir.join(format!("{file}.key")) };
        std::fs::write(&leaf.cert, cert.pem()).unwrap();
        std::fs::write(&leaf.key, key.serialize_pem()).unwrap();
        leaf
    }

    /// A server certificate for `localhost` and `127.0.0.1`.
    pub fn server(&self, dir: &Path, file: &str) -> Leaf {
        self.leaf(dir, file, &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth, (2020, 2090))
    }

    /// A client certificate (mutual TLS).
    pub fn client(&self, dir: &Path, file: &str) -> Leaf {
        self.leaf(dir, file, &["probe.example.com"], ExtendedKeyUsagePurpose::ClientAuth, (2020, 2090))
    }
}

/// A certificate and its key, as PEM files.
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

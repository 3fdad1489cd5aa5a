//! TLS for the edge. In dev the control plane keeps a local CA in its state dir and issues a
//! certificate per tenant host on demand, from the SNI of each handshake: clients (curl, Python,
//! Go, gh) refuse a `*.localhost` wildcard, because a wildcard needs two labels after it. In
//! production the edge loads a certificate chain and key from files instead.

use crate::Error;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

const CA_CERT_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca-key.pem";
const CA_NAME: &str = "shoal dev CA";
/// Certificates kept in memory; beyond this the cache is cleared (hosts are cheap to re-issue).
const MAX_CACHED_HOSTS: usize = 10_000;

fn tls(msg: impl std::fmt::Display) -> Error {
    Error::Tls(msg.to_string())
}

/// The CA's parameters. Rebuilt identically on every load, so certificates issued after a restart
/// name the same issuer as the CA certificate clients already trust.
fn ca_params() -> Result<CertificateParams, Error> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, "shoal (local development)");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(3650);
    Ok(p)
}

/// A local certificate authority stored as `ca.pem` (to trust) and `ca-key.pem` (0600) in a dir.
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    cert_path: PathBuf,
}

impl DevCa {
    /// Loads the CA from `dir`, or creates it there on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self, Error> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let key = if cert_path.exists() && key_path.exists() {
            let pem =
                std::fs::read_to_string(&key_path).map_err(|e| tls(format!("read {}: {e}", key_path.display())))?;
            KeyPair::from_pem(&pem).map_err(|e| tls(format!("{} is not a key: {e}", key_path.display())))?
        } else {
            std::fs::create_dir_all(dir).map_err(|e| tls(format!("create {}: {e}", dir.display())))?;
            let key = KeyPair::generate().map_err(tls)?;
            let cert = ca_params()?.self_signed(&key).map_err(tls)?;
            write_private(&key_path, key.serialize_pem().as_bytes())?;
            std::fs::write(&cert_path, cert.pem()).map_err(|e| tls(format!("write {}: {e}", cert_path.display())))?;
            tracing::info!(ca = %cert_path.display(), "created the dev CA");
            key
        };
        Ok(Self {
            issuer: Issuer::new(ca_params()?, key),
            cert_path,
        })
    }

    /// The CA certificate clients should trust (`SSL_CERT_FILE`, `curl --cacert`).
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// A fresh certificate and key for exactly `host`, valid for 90 days.
    pub fn issue(&self, host: &str) -> Result<CertifiedKey, Error> {
        let mut p = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
        p.subject_alt_names = vec![SanType::DnsName(host.try_into().map_err(tls)?)];
        p.distinguished_name.push(DnType::CommonName, host);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        let now = OffsetDateTime::now_utc();
        p.not_before = now - Duration::hours(1);
        p.not_after = now + Duration::days(90);
        let key = KeyPair::generate().map_err(tls)?;
        let cert = p.signed_by(&key, &self.issuer).map_err(tls)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer = any_supported_type(&der).map_err(tls)?;
        Ok(CertifiedKey::new(vec![cert.der().clone()], signer))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| tls(format!("write {}: {e}", path.display())))?;
    f.write_all(bytes)
        .map_err(|e| tls(format!("write {}: {e}", path.display())))
}

/// Whether `host` is the base domain or one DNS label under it; returns it lower-cased.
pub fn edge_host(host: &str, base_domain: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == base_domain {
        return Some(host);
    }
    let label = host.strip_suffix(base_domain)?.strip_suffix('.')?;
    let valid = !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then_some(host)
}

/// Picks (issuing on first sight) the certificate for the SNI of each handshake. Names outside
/// the base domain get no certificate, so the handshake fails.
pub struct SniResolver {
    ca: DevCa,
    base_domain: String,
    issued: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SniResolver({})", self.base_domain)
    }
}

impl SniResolver {
    pub fn new(ca: DevCa, base_domain: &str) -> Self {
        Self {
            ca,
            base_domain: base_domain.to_ascii_lowercase(),
            issued: Mutex::new(HashMap::new()),
        }
    }

    fn certificate_for(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let host = edge_host(host, &self.base_domain)?;
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = issued.get(&host) {
            return Some(c.clone());
        }
        if issued.len() >= MAX_CACHED_HOSTS {
            issued.clear();
        }
        match self.ca.issue(&host) {
            Ok(c) => {
                let c = Arc::new(c);
                issued.insert(host, c.clone());
                Some(c)
            }
            Err(e) => {
                tracing::error!(error = %e, "could not issue an edge certificate");
                None
            }
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // Without SNI (a client dialling an IP) the base domain's certificate is the best answer.
        let name = hello.server_name().unwrap_or(&self.base_domain).to_string();
        self.certificate_for(&name)
    }
}

fn server_config_builder() -> Result<rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier>, Error> {
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(tls)
}

/// Dev TLS: certificates issued on demand by the local CA for `base_domain` and its subdomains.
pub fn dev_server_config(ca: DevCa, base_domain: &str) -> Result<Arc<ServerConfig>, Error> {
    let mut cfg = server_config_builder()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver::new(ca, base_domain)));
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Production TLS: a PEM certificate chain and private key from files.
pub fn file_server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, Error> {
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| tls(format!("read {}: {e}", cert_path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls(format!("{} holds no valid certificate: {e}", cert_path.display())))?;
    if certs.is_empty() {
        return Err(tls(format!("{} holds no certificate", cert_path.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| tls(format!("{} holds no valid private key: {e}", key_path.display())))?;
    let mut cfg = server_config_builder()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls(format!("certificate and key do not match: {e}")))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_base_domain_and_one_label_under_it_are_edge_hosts() {
        assert_eq!(
            edge_host("acme.localhost", "localhost").as_deref(),
            Some("acme.localhost")
        );
        assert_eq!(
            edge_host("ACME.localhost.", "localhost").as_deref(),
            Some("acme.localhost")
        );
        assert_eq!(edge_host("localhost", "localhost").as_deref(), Some("localhost"));
        for bad in [
            "a.b.localhost",
            "evil.com",
            "xlocalhost",
            ".localhost",
            "-a.localhost",
            "a_b.localhost",
            "localhost.evil",
        ] {
            assert_eq!(edge_host(bad, "localhost"), None, "{bad}");
        }
        assert_eq!(
            edge_host("acme.shoal.example", "shoal.example").as_deref(),
            Some("acme.shoal.example")
        );
    }
}

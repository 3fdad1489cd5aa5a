//! The edge's dev TLS, checked with real clients: curl verifies a per-host certificate against
//! the generated CA; a name outside the base domain gets no certificate.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use shoal_control_plane::edge::tls::{DevCa, dev_server_config};
use std::process::Command;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Serves `hello from <SNI>` over TLS on a loopback port until the test ends.
async fn serve(cfg: Arc<rustls::ServerConfig>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = TlsAcceptor::from(cfg);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let sni = tls.get_ref().1.server_name().unwrap_or("-").to_string();
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let body = format!("hello from {sni}");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn curl(ca: &std::path::Path, host: &str, port: u16) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg(format!("https://{host}:{port}/"))
        .output()
        .expect("curl is installed by make test")
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_trusts_a_certificate_issued_per_tenant_host_by_the_dev_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::load_or_create(dir.path()).unwrap();
    let ca_path = ca.cert_path().to_path_buf();
    let port = serve(dev_server_config(ca, "localhost").unwrap()).await;

    for host in ["acme.localhost", "other-org.localhost"] {
        let out = tokio::task::spawn_blocking({
            let ca_path = ca_path.clone();
            move || curl(&ca_path, host, port)
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "curl failed for {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("hello from {host}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ca_survives_a_restart_and_keeps_signing_for_the_same_trust_root() {
    let dir = tempfile::tempdir().unwrap();
    let first = DevCa::load_or_create(dir.path()).unwrap();
    let pem_before = std::fs::read_to_string(first.cert_path()).unwrap();
    drop(first);

    let again = DevCa::load_or_create(dir.path()).unwrap();
    assert_eq!(std::fs::read_to_string(again.cert_path()).unwrap(), pem_before);
    let ca_path = again.cert_path().to_path_buf();
    let port = serve(dev_server_config(again, "localhost").unwrap()).await;
    let out = tokio::task::spawn_blocking(move || curl(&ca_path, "acme.localhost", port))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("ca-key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the CA key must be private to its owner");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_outside_the_base_domain_gets_no_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::load_or_create(dir.path()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca.cert_path()).unwrap())
        .unwrap();
    let port = serve(dev_server_config(ca, "localhost").unwrap()).await;

    let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(client));

    let ok = connector
        .connect(
            ServerName::try_from("acme.localhost").unwrap(),
            TcpStream::connect(("127.0.0.1", port)).await.unwrap(),
        )
        .await;
    assert!(ok.is_ok(), "handshake for a tenant host failed: {:?}", ok.err());

    for name in ["evil.example.com", "a.b.localhost"] {
        let refused = connector
            .connect(
                ServerName::try_from(name).unwrap(),
                TcpStream::connect(("127.0.0.1", port)).await.unwrap(),
            )
            .await;
        assert!(refused.is_err(), "{name} got a certificate");
    }
}

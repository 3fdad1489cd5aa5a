//! A loopback TLS terminator in front of the fake, for clients that only speak HTTPS to a
//! GitHub Enterprise-style host (the real `gh` does). It holds a fresh self-signed certificate
//! for `localhost`, which the client is told to trust (`SSL_CERT_FILE`).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

/// A running terminator; it serves until its runtime stops.
pub struct TlsFront {
    /// The port on 127.0.0.1 (reach it as `localhost:PORT`).
    pub port: u16,
    /// The certificate to trust, PEM.
    pub cert_pem: String,
}

/// Serves TLS on 127.0.0.1:0 and forwards each connection to `upstream`.
pub async fn tls_front(upstream: SocketAddr) -> std::io::Result<TlsFront> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).map_err(std::io::Error::other)?;
    let cert_pem = ck.cert.pem();
    let cert = rustls::pki_types::CertificateDer::from(ck.cert.der().to_vec());
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).map_err(std::io::Error::other)?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(std::io::Error::other)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    Ok(TlsFront { port, cert_pem })
}

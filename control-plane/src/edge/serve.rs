//! Serving the edge router on a plain listener and on a TLS listener (each connection's TLS
//! handshake picks its certificate by SNI; see `tls`).

use axum::Router;
use shoal_common::serve::{serve, serve_with};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Accepts TLS connections until the task is dropped, serving `router` over HTTP/1.1 on each.
pub async fn serve_tls(listener: TcpListener, tls: Arc<rustls::ServerConfig>, router: Router) {
    let acceptor = TlsAcceptor::from(tls);
    serve_with(listener, router, std::future::pending(), move |tcp| {
        let handshake = acceptor.accept(tcp);
        async move { handshake.await.ok() }
    })
    .await
}

/// Serves `router` on a plain listener (behind a TLS-terminating load balancer, or for tests).
pub async fn serve_plain(listener: TcpListener, router: Router) {
    serve(listener, router, std::future::pending()).await
}

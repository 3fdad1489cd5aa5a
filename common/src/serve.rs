//! Serving an axum router over HTTP/1.1 the one way every shoal listener does: the request head
//! is bounded ([`MAX_REQUEST_HEAD`], 431 beyond it), the peer address is available as
//! `ConnectInfo`, and shutdown lets in-flight requests finish. [`accept_loop`] and
//! [`serve_connection`] are its parts, for a server that answers some requests itself.

use crate::github::ErrorBody;
use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// The largest request line plus headers a shoal server serves (32 KiB, as common proxies bound
/// it); a larger head is answered `431 Request Header Fields Too Large` in GitHub's error shape
/// without reaching a handler. The head is read whole first (hyper stops at its own ~400 KiB
/// buffer bound), so the client reads the 431 instead of a reset connection.
pub const MAX_REQUEST_HEAD: usize = 32 * 1024;

/// The request line and headers as sent, in bytes.
fn head_len<B>(req: &hyper::Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + target + " HTTP/1.1\r\n ".len();
    line + req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum::<usize>()
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// the open connections to finish their in-flight requests.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    serve_with(listener, router, shutdown, |tcp| async move { Some(tcp) }).await
}

/// [`serve`] over a per-connection transport made from each accepted TCP stream (a TLS
/// handshake, for example); a connection whose `wrap` answers `None` is dropped.
pub async fn serve_with<W, F, S>(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>, wrap: W)
where
    W: Fn(tokio::net::TcpStream) -> F,
    F: Future<Output = Option<S>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    accept_loop(listener, shutdown, |tcp, peer, closing| {
        let stream = wrap(tcp);
        let router = router.clone();
        async move {
            if let Some(stream) = stream.await {
                serve_connection(stream, router, Some(peer), closing).await;
            }
        }
    })
    .await
}

/// Told when the server stops accepting; every connection holds one, and the server waits
/// until all are dropped.
#[derive(Clone)]
pub struct Closing(watch::Receiver<bool>);

impl Closing {
    /// Whether the server has stopped accepting.
    pub fn is_closing(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the server stops accepting.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|closing| *closing).await;
    }
}

/// Accepts connections on `listener` (`TCP_NODELAY` set) and runs `connection` for each on its
/// own task until `shutdown` resolves; then stops accepting and waits for the connections'
/// tasks to end (each sees [`Closing`] say so and finishes what it is answering).
pub async fn accept_loop<C, F>(listener: TcpListener, shutdown: impl Future<Output = ()>, mut connection: C)
where
    C: FnMut(tokio::net::TcpStream, SocketAddr, Closing) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let (closing, closed) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(tcp, peer, Closing(closed.clone())));
    }
    drop(listener);
    let _ = closing.send(true);
    drop(closed);
    closing.closed().await;
}

/// Serves one connection with hyper until it ends; once `closing` says so, finishes the
/// in-flight request and closes. `peer` becomes the requests' `ConnectInfo` when given.
pub async fn serve_connection<S>(stream: S, router: Router, peer: Option<SocketAddr>, mut closing: Closing)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let router = router.clone();
        async move {
            let len = head_len(&req);
            if len > MAX_REQUEST_HEAD {
                return Ok(head_too_large(len));
            }
            if let Some(peer) = peer {
                req.extensions_mut().insert(ConnectInfo(peer));
            }
            router.oneshot(req.map(axum::body::Body::new)).await
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        () = closing.wait() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "connection ended");
    }
}

/// `431 Request Header Fields Too Large` in GitHub's error shape, for a head of `len` bytes.
fn head_too_large(len: usize) -> axum::response::Response {
    let message = format!(
        "Request header fields too large: the request head is {len} bytes; at most {MAX_REQUEST_HEAD} are read"
    );
    let body = axum::Json(ErrorBody::new(message));
    (axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, body).into_response()
}

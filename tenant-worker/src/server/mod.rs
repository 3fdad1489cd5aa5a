//! The HTTP server around a [`Worker`]: binds, serves [`crate::relay::router`] through the
//! worker's own HTTP/1.1 loop ([`http1`]), and shuts down letting in-flight requests finish.

pub mod http1;

use crate::error::Error;
use crate::worker::Worker;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A running server.
pub struct Running {
    /// The bound address (port 0 resolved).
    pub addr: SocketAddr,
    pub worker: Arc<Worker>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the cache's disk writes.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        self.worker.flush().await;
    }
}

/// Binds `listen` and serves the worker until shut down.
pub async fn serve(worker: Arc<Worker>, listen: SocketAddr) -> Result<Running, Error> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Config(format!("cannot read the bound address: {e}")))?;
    let (tx, rx) = oneshot::channel::<()>();
    let router = crate::relay::router(worker.clone());
    let w = worker.clone();
    let shutdown = async move {
        let _ = rx.await;
    };
    let task = tokio::spawn(shoal_common::serve::accept_loop(
        listener,
        shutdown,
        move |tcp, _, closing| http1::connection(tcp, w.clone(), router.clone(), closing),
    ));
    Ok(Running {
        addr,
        worker,
        shutdown: Some(tx),
        task,
    })
}

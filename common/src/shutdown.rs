//! How every shoal server learns it should stop: Ctrl-C (SIGINT) or SIGTERM (what a supervisor,
//! `unshare --kill-child` and Kubernetes send).

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "no SIGTERM handler; stopping on Ctrl-C only");
            let _ = ctrl_c.await;
        }
    }
}

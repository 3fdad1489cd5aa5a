//! No pooled token in any response, log line or stats field: checked with the tokens the fake
//! issued as canaries, across reads, errors, refusals, quarantine and every local endpoint.

use crate::support::{Env, Ident, Setup};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn pooled_tokens_never_appear_in_responses_logs_or_stats() {
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .init();
    let env = Env::start(Setup {
        identities: vec![Ident::pat("alice"), Ident::revoked("bob"), Ident::discovered("carol")],
        ..Setup::default()
    })
    .await;
    let mut seen = String::new();
    for p in [
        "/repos/octo-org/hello-world/pulls/1",
        "/repos/octo-org/hello-world/pulls/1",
        "/repos/octo-org/hello-world/issues?per_page=1",
        "/repos/octo-org/hello-world/issues/2",
        "/repos/octo-org/hello-world/issues/3",
        "/repos/octo-org/hello-world/pulls/999999",
        "/repos/octo-org/secret-sauce",
        "/user",
        "/rate_limit",
        "/_shoal/stats",
        "/repos/octo-org/hello-world/contents/%2e%2e",
    ] {
        let r = env.get(p).await;
        seen.push_str(&format!("{:?}\n", r.headers()));
        seen.push_str(&r.text().await.unwrap());
    }
    seen.push_str(&env.metrics().await);
    seen.push_str(&env.stats().to_string());
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("quarantined"), "the 401 was logged: {logs}");
    for token in &env.tokens {
        assert!(!seen.contains(token.as_str()), "a pooled token leaked into a response");
        assert!(!logs.contains(token.as_str()), "a pooled token leaked into the logs");
        // Not even a long prefix of it.
        assert!(!seen.contains(&token[..16]) && !logs.contains(&token[..16]));
    }
    assert!(!logs.contains(&env.caller));
}
